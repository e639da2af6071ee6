#pragma once
/// What a metric's name may be: `[a-zA-Z_:][a-zA-Z0-9_:.]{0,127}` (as
/// Prometheus' names, with dots), so names need no escaping in a key, a URL
/// query or an exposition.

#include <cstddef>
#include <string_view>

namespace muster {

/// The longest name.
inline constexpr std::size_t kMaxMetricNameLength = 128;
/// The most metrics one heartbeat may carry.
inline constexpr std::size_t kMaxMetricsPerHeartbeat = 64;
/// How the rule reads in an error's details.
inline constexpr const char* kMetricNameRule = "[a-zA-Z_:][a-zA-Z0-9_:.]{0,127}";

inline bool is_valid_metric_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxMetricNameLength) return false;
  auto is_letter = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':'; };
  if (!is_letter(name[0])) return false;
  for (char c : name.substr(1)) {
    if (!is_letter(c) && !(c >= '0' && c <= '9') && c != '.') return false;
  }
  return true;
}

}  // namespace muster
