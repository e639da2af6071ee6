#pragma once
/// How the metrics history lays its data out in the families of
/// metric_table.hpp. Raw points are kept one row per heartbeat, ordered by
/// agent and time: a heartbeat's points cost one write, not one per metric
/// (the memtable's inserts were the history's main cost), and one series'
/// range is still one scan, over its agent's rows. A later heartbeat of the
/// same agent heard in the same millisecond replaces the earlier's row. Aggregates are kept one
/// row per series and bucket, ordered by agent, metric name and time.
///
///   raw:
///     agent (16) + BE time (ms) -> the heartbeat's points, each: name
///                                  length (1) | name | value (8)
///   minute, hour, day:
///     series + BE time (ms)  -> the value (count 1: 8 bytes), min, max and
///                               which was last (count 2: 17 bytes), else
///                               min, max, sum, last (8 bytes each) and
///                               count (4 bytes): 36 bytes
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

inline std::string point_key(std::string_view series, TimeMs time_ms) {
  std::string key(series);
  append_u64_be(key, static_cast<std::uint64_t>(time_ms < 0 ? 0 : time_ms));
  return key;
}

inline TimeMs time_of(std::string_view point_key) {
  return static_cast<TimeMs>(read_u64_be(point_key.substr(point_key.size() - 8)));
}

inline std::string_view metric_name_of(std::string_view series) { return series.substr(16, series.size() - 17); }

/// The agent's 16 bytes a series (or a raw row's key) begins with.
inline std::string_view agent_of(std::string_view series) { return series.substr(0, 16); }

/// A raw row's key: the agent's bytes and the heartbeat's time.
inline constexpr std::size_t kRawKeyBytes = 16 + 8;
inline std::string raw_key(std::string_view agent, TimeMs time_ms) {
  std::string key(agent);
  append_u64_be(key, static_cast<std::uint64_t>(time_ms < 0 ? 0 : time_ms));
  return key;
}

/// Calls `visit(name, value)` for each point of a raw row, in order; false
/// if the row is malformed (the points before were visited).
template <class Visit>
bool for_each_raw_point(std::string_view row, Visit visit) {
  while (!row.empty()) {
    const auto name_size = static_cast<unsigned char>(row[0]);
    if (row.size() < std::size_t{1} + name_size + 8) return false;
    visit(row.substr(1, name_size), read_double(row.substr(1 + name_size, 8)));
    row.remove_prefix(1 + name_size + 8);
  }
  return true;
}

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
