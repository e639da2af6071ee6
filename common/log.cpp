#include "common/log.hpp"

#include <atomic>
#include <cstdio>

#include "common/clock.hpp"
#include "common/time_format.hpp"

namespace muster::log {
namespace {

std::atomic<Level> min_level{Level::info};

const char* level_name(Level level) {
  switch (level) {
    case Level::debug: return "debug";
    case Level::info: return "info";
    case Level::warn: return "warn";
    case Level::error: return "error";
  }
  return "info";
}

}  // namespace

void set_level(Level level) {
  min_level = level;
}

void write(Level level, std::string_view msg, const nlohmann::json& fields) {
  if (level < min_level.load()) return;
  nlohmann::json line = {
      {"time", format_rfc3339(SystemClock().now_ms())}, {"level", level_name(level)}, {"msg", msg}};
  if (fields.is_object()) {
    for (const auto& [key, value] : fields.items()) line[key] = value;
  }
  // Replace rather than throw on invalid UTF-8 from outside input.
  std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  text += '\n';
  std::fwrite(text.data(), 1, text.size(), stderr);
}

}  // namespace muster::log
