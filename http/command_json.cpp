#include "http/command_json.hpp"

#include "common/time_format.hpp"

namespace muster::http {
namespace {

using nlohmann::json;

json time_or_null(TimeMs time_ms) {
  return time_ms > 0 ? json(format_rfc3339(time_ms)) : json(nullptr);
}

json text_or_null(const std::string& text) {
  return text.empty() ? json(nullptr) : json(text);
}

}  // namespace

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
