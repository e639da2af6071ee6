#pragma once
/// Which commands an agent takes: the rule that refuses a command its
/// settings disable, in one place (the service applies it to single
/// commands and batches alike). Pure: no I/O.

#include <string_view>

#include <nlohmann/json.hpp>

#include "common/result.hpp"

namespace muster {

/// API code of the refusal.
inline constexpr const char* kCommandDisabled = "COMMAND_DISABLED";

/// True for a command type: [a-z][a-z0-9_.-]{0,63}.
bool is_valid_command_type(std::string_view type);

/// restart, shutdown, upgrade, request_diagnostics, switch: the types
/// muster knows; others pass through to the agent unchanged.
bool is_known_command_type(std::string_view type);

/// Whether an agent whose merged settings are `settings` (null: it has
/// none) takes a command of `type`. Refused with `permission_denied` /
/// COMMAND_DISABLED, the field naming the setting, when
/// `commands.<type>.enabled` is false, or when the type is governed by a
/// setting flag of its own that is false (`switch`: `auto_switch_enabled`).
/// A setting that is absent, or not a boolean, disables nothing.
Status check_command_enabled(const nlohmann::json* settings, std::string_view type);

}  // namespace muster
