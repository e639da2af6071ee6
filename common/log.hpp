#pragma once
/// Structured logging: one JSON object per line on stderr, e.g.
/// {"time":"2026-11-22T05:51:00.123Z","level":"info","msg":"listening","listen":"127.0.0.1:8080"}
///
/// Thread-safe; a line is written with one call so lines never interleave.

#include <string_view>

#include <nlohmann/json.hpp>

namespace muster::log {

enum class Level { debug, info, warn, error };

/// Lines below `level` are dropped. Default: info.
void set_level(Level level);

/// Writes one line with `msg` and the members of `fields` (an object or null).
void write(Level level, std::string_view msg, const nlohmann::json& fields = nullptr);

inline void info(std::string_view msg, const nlohmann::json& fields = nullptr) {
  write(Level::info, msg, fields);
}
inline void warn(std::string_view msg, const nlohmann::json& fields = nullptr) {
  write(Level::warn, msg, fields);
}
inline void error(std::string_view msg, const nlohmann::json& fields = nullptr) {
  write(Level::error, msg, fields);
}

}  // namespace muster::log
