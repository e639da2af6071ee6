#include "http/command_json.hpp"

#include <fmt/format.h>

#include "actors/command/command_gate.hpp"
#include "common/time_format.hpp"

namespace muster::http {
namespace {

using nlohmann::json;

json time_or_null(TimeMs time_ms) {
  return time_ms > 0 ? json(format_rfc3339(time_ms)) : json(nullptr);
}

constexpr std::size_t kMaxKeyLength = 128;

bool is_short_text(const json& value) {
  if (!value.is_string()) return false;
  const auto& text = value.get_ref<const std::string&>();
  return !text.empty() && text.size() <= kMaxKeyLength && !has_control_character(text);
}

json text_or_null(const std::string& text) {
  return text.empty() ? json(nullptr) : json(text);
}

}  // namespace

CommandRequest parse_command_fields(const json& body, bool for_batch, json& problems) {
  CommandRequest request;
  for (const auto& item : body.items()) {
    const std::string& key = item.key();
    const bool known = key == "type" || key == "params" || key == "priority" || key == "not_before" ||
                       key == "expires_in" || key == (for_batch ? "selector" : "idempotency_key");
    if (!known) {
      problems[key] = for_batch ? "is not a member of a batch of commands (selector, type, params, priority, "
                                  "not_before, expires_in)"
                                : "is not a member of a command (type, params, priority, not_before, expires_in, "
                                  "idempotency_key)";
    }
  }
  const json* type = present_member(body, "type");
  if (type == nullptr || !type->is_string() || !is_valid_command_type(type->get_ref<const std::string&>())) {
    problems["type"] =
        "is required: [a-z][a-z0-9_.-]{0,63} (restart, shutdown, upgrade, request_diagnostics, switch, or your own)";
  } else {
    request.type = type->get<std::string>();
  }
  if (const json* params = present_member(body, "params")) {
    if (!params->is_object()) {
      problems["params"] = "must be an object";
    } else {
      request.params = *params;
    }
  }
  if (const json* priority = present_member(body, "priority")) {
    const auto parsed = priority->is_string() ? parse_command_priority(priority->get<std::string>()) : std::nullopt;
    if (!parsed) {
      problems["priority"] = "must be normal or emergency";
    } else {
      request.priority = *parsed;
    }
  }
  if (const json* not_before = present_member(body, "not_before")) {
    const auto parsed =
        not_before->is_string() ? parse_rfc3339(not_before->get_ref<const std::string&>()) : Result<TimeMs>(Error{});
    if (!parsed || *parsed <= 0) {
      problems["not_before"] = "must be an RFC 3339 time, such as 2026-12-01T10:00:00Z";
    } else {
      request.not_before_ms = *parsed;
    }
  }
  if (const json* expires_in = present_member(body, "expires_in")) {
    const auto parsed = expires_in->is_string() ? parse_duration_ms(expires_in->get_ref<const std::string&>())
                                                : Result<TimeMs>(Error{});
    if (!parsed || *parsed < kMinCommandExpiryMs || *parsed > kMaxCommandExpiryMs) {
      problems["expires_in"] = "must be a duration from 1s to 30d, such as \"30s\", \"24h\" or \"7d\"";
    } else {
      request.expires_in_ms = *parsed;
    }
  }
  if (const json* key = for_batch ? nullptr : present_member(body, "idempotency_key")) {
    if (!is_short_text(*key)) {
      problems["idempotency_key"] =
          fmt::format("must be a string of 1 to {} characters without control characters", kMaxKeyLength);
    } else {
      request.idempotency_key = key->get<std::string>();
    }
  }
  return request;
}


json command_to_json(const CommandRecord& command, bool whole) {
  json result = nullptr;
  if (command.result) {
    result = {{"status", command.result->succeeded ? "succeeded" : "failed"},
              {"exit_code", command.result->exit_code ? json(*command.result->exit_code) : json(nullptr)},
              {"output_truncated", command.result->output_truncated}};
    if (whole) result["output"] = command.result->output;
  }
  json view = {{"command_id", command.command_id},
               {"agent_id", command.agent_id.to_string()},
               {"org", command.org},
               {"type", command.type},
               {"priority", to_string(command.priority)},
               {"state", to_string(command.state)},
               {"created_at", time_or_null(command.created_at_ms)},
               {"not_before", time_or_null(command.not_before_ms)},
               {"expires_at", time_or_null(command.expires_at_ms)},
               {"delivered_at", time_or_null(command.delivered_at_ms)},
               {"acknowledged_at", time_or_null(command.acknowledged_at_ms)},
               {"finished_at", time_or_null(command.finished_at_ms)},
               {"deliveries", command.deliveries},
               {"result", std::move(result)},
               {"expiry_reason", command.expiry_reason ? json(to_string(*command.expiry_reason)) : json(nullptr)},
               {"batch_id", text_or_null(command.batch_id)},
               {"idempotency_key", text_or_null(command.idempotency_key)},
               {"principal", command.principal},
               {"position", command.last_position}};
  if (whole) view["params"] = command.params;
  return view;
}

json command_detail_to_json(const CommandDetail& detail) {
  json view = command_to_json(detail.command, true);
  json events = json::array();
  for (const CommandChange& change : detail.history) {
    events.push_back({{"type", change.type},
                      {"time", format_rfc3339(change.time_ms)},
                      {"principal", text_or_null(change.principal)},
                      {"cause", text_or_null(change.cause)},
                      {"data", change.data},
                      {"position", change.position}});
  }
  view["events"] = std::move(events);
  return view;
}

}  // namespace muster::http
