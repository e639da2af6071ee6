#include "actors/command/command_gate.hpp"

#include <string>
#include <utility>

#include <fmt/format.h>

namespace muster {
namespace {

constexpr std::string_view kKnownTypes[] = {"restart", "shutdown", "upgrade", "request_diagnostics", "switch"};

// Types an older setting flag of their own turns off (true by default).
constexpr std::pair<std::string_view, std::string_view> kTypeFlags[] = {
    {"switch", "auto_switch_enabled"},
};

bool is_false(const nlohmann::json& value) {
  return value.is_boolean() && !value.get<bool>();
}

Error disabled(std::string_view type, std::string setting) {
  std::string message =
      fmt::format("commands of type '{}' are disabled for this agent by its settings ({} is false)", type, setting);
  return Error{ErrorCode::permission_denied, std::move(message), kCommandDisabled, std::move(setting)};
}

}  // namespace

bool is_valid_command_type(std::string_view type) {
  if (type.empty() || type.size() > 64 || type[0] < 'a' || type[0] > 'z') return false;
  for (const char c : type) {
    const bool allowed = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
    if (!allowed) return false;
  }
  return true;
}

bool is_known_command_type(std::string_view type) {
  for (const std::string_view known : kKnownTypes) {
    if (type == known) return true;
  }
  return false;
}

Status check_command_enabled(const nlohmann::json* settings, std::string_view type) {
  if (settings == nullptr || !settings->is_object()) return Status::success();
  const auto commands = settings->find("commands");
  if (commands != settings->end() && commands->is_object()) {
    const auto entry = commands->find(std::string(type));
    if (entry != commands->end() && entry->is_object()) {
      const auto enabled = entry->find("enabled");
      if (enabled != entry->end() && is_false(*enabled)) {
        return disabled(type, fmt::format("commands.{}.enabled", type));
      }
    }
  }
  for (const auto& [flagged, flag] : kTypeFlags) {
    if (type != flagged) continue;
    const auto value = settings->find(std::string(flag));
    if (value != settings->end() && is_false(*value)) return disabled(type, std::string(flag));
  }
  return Status::success();
}

}  // namespace muster
