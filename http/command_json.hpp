#pragma once
/// How a command looks in JSON, for operators (http/routes/commands.cpp)
/// and agents (http/routes/agent_commands.cpp) alike, and the list both
/// routes files answer.

#include <memory>
#include <optional>

#include <nlohmann/json.hpp>

#include "actors/command/command_service.hpp"
#include "http/call.hpp"

namespace muster::http {

/// {command_id, agent_id, org, type, params?, priority, state, created_at,
/// not_before, expires_at, delivered_at, acknowledged_at, finished_at,
/// deliveries, result, expiry_reason, batch_id, idempotency_key, principal,
/// position}: times RFC 3339 (null when not reached), result
/// {status, exit_code, output?, output_truncated} once it ended (null
/// otherwise). `whole`: with params and the result's output (a compact
/// record from the read model has neither).
nlohmann::json command_to_json(const CommandRecord& command, bool whole);

/// The command an operator asks for: {type, params?, priority?, not_before?,
/// expires_in?} and, for one agent, idempotency_key?; a batch's body
/// (`for_batch`) holds "selector" instead (the caller reads it). Each
/// problem goes into `problems` under its member's name; the agent is the
/// caller's to fill in.
CommandRequest parse_command_fields(const nlohmann::json& body, bool for_batch, nlohmann::json& problems);

/// command_to_json(detail.command, true) with "events": [{type, time,
/// principal, cause, data, position}], one per change.
nlohmann::json command_detail_to_json(const CommandDetail& detail);

namespace routes {
/// Answers a list of commands (GET /api/v1/commands; for an operator, GET
/// /api/v1/agents/{id}/commands, `agent_id` the path's): query
/// ?agent=&type=&state=&batch=&limit=&cursor=, newest first, as
/// {commands: [compact views], next_cursor}; 400 INVALID_PARAMETER naming a
/// bad parameter.
void list_commands(const std::shared_ptr<Call>& call, std::optional<AgentId> agent_id);
}  // namespace routes

}  // namespace muster::http
