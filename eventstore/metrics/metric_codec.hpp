#pragma once
/// How the metrics history lays its data out in the families of
/// metric_table.hpp. Keys sort by agent, metric name and time, so one
/// series' range at one level is one scan.
///
///   raw, minute, hour, day:
///     series + BE time (ms)  -> raw: the value (8 bytes);
///                               aggregates: the value (count 1: 8 bytes),
///                               min, max and which was last (count 2: 17
///                               bytes), else min, max, sum, last (8 bytes
///                               each) and count (4 bytes): 36 bytes
///   series = the agent id's 16 bytes + metric name + '\0'
///   meta:
///     's' + series           -> the series' marks (SeriesMarks, 7 x BE u64)
///     'n' + org + '\0' + name -> empty: a name seen in the organization

#include <array>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "common/clock.hpp"

namespace muster::metric_codec {

inline void append_u64_be(std::string& out, std::uint64_t value) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>((value >> shift) & 0xff));
}

inline std::uint64_t read_u64_be(std::string_view bytes) {
  std::uint64_t value = 0;
  for (std::size_t index = 0; index < 8; ++index) value = value << 8 | static_cast<unsigned char>(bytes[index]);
  return value;
}

inline void append_double(std::string& out, double value) {
  char bytes[sizeof(double)];
  std::memcpy(bytes, &value, sizeof(double));
  out.append(bytes, sizeof(double));
}

inline double read_double(std::string_view bytes) {
  double value = 0;
  std::memcpy(&value, bytes.data(), sizeof(double));
  return value;
}

/// The bytes of an agent id.
using AgentBytes = std::array<std::uint8_t, 16>;

/// agent + name + '\0': the prefix of every key of one series.
inline std::string series_key(const AgentBytes& agent, std::string_view name) {
  std::string key(reinterpret_cast<const char*>(agent.data()), agent.size());
  key.append(name);
  key.push_back('\0');
  return key;
}

/// The first key after every key of `series` (its '\0' made '\1').
inline std::string series_end(std::string_view series) {
  std::string end(series);
  end.back() = '\1';
  return end;
}

/// The series a point's key belongs to; nullopt for a malformed key.
inline std::optional<std::string_view> series_of(std::string_view point_key) {
  if (point_key.size() < 16 + 1 + 8 || point_key[point_key.size() - 9] != '\0') return std::nullopt;
  return point_key.substr(0, point_key.size() - 8);
}

inline std::string point_key(std::string_view series, TimeMs time_ms) {
  std::string key(series);
  append_u64_be(key, static_cast<std::uint64_t>(time_ms < 0 ? 0 : time_ms));
  return key;
}

inline TimeMs time_of(std::string_view point_key) {
  return static_cast<TimeMs>(read_u64_be(point_key.substr(point_key.size() - 8)));
}

inline std::string_view metric_name_of(std::string_view series) { return series.substr(16, series.size() - 17); }

inline std::string series_marks_key(std::string_view series) {
  std::string key("s");
  key.append(series);
  return key;
}

inline std::string name_key(std::string_view org, std::string_view name) {
  std::string key("n");
  key.append(org);
  key.push_back('\0');
  key.append(name);
  return key;
}

}  // namespace muster::metric_codec
