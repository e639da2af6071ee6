// Commands to agents, the operators' side: queueing one for an agent
// (operator), listing and reading them (viewer), cancelling one (operator).
// The agents' side (their fetch, acknowledgements and results) is
// http/routes/agent_commands.cpp.

#include <fmt/format.h>

#include "actors/command/command_gate.hpp"
#include "common/time_format.hpp"
#include "http/call.hpp"
#include "http/command_json.hpp"

namespace muster::http::routes {
namespace {

using nlohmann::json;

constexpr std::uint64_t kDefaultCommandPage = 100;
constexpr std::uint64_t kMaxCommandPage = 1000;
constexpr std::size_t kMaxKeyLength = 128;

const json* member(const json& object, const char* key) {
  const auto found = object.find(key);
  return found == object.end() || found->is_null() ? nullptr : &*found;
}

bool is_short_text(const json& value) {
  if (!value.is_string()) return false;
  const auto& text = value.get_ref<const std::string&>();
  return !text.empty() && text.size() <= kMaxKeyLength && !has_control_character(text);
}

// {type, params?, priority?, not_before?, expires_in?, idempotency_key?}.
Parsed<CommandRequest> parse_command_request(const json& body, const AgentId& agent_id) {
  json problems = json::object();
  CommandRequest request;
  request.agent_id = agent_id;
  for (const auto& [key, value] : body.items()) {
    if (key != "type" && key != "params" && key != "priority" && key != "not_before" && key != "expires_in" &&
        key != "idempotency_key") {
      problems[key] = "is not a member of a command (type, params, priority, not_before, expires_in, idempotency_key)";
    }
  }
  const json* type = member(body, "type");
  if (type == nullptr || !type->is_string() || !is_valid_command_type(type->get_ref<const std::string&>())) {
    problems["type"] =
        "is required: [a-z][a-z0-9_.-]{0,63} (restart, shutdown, upgrade, request_diagnostics, switch, or your own)";
  } else {
    request.type = type->get<std::string>();
  }
  if (const json* params = member(body, "params")) {
    if (!params->is_object()) {
      problems["params"] = "must be an object";
    } else {
      request.params = *params;
    }
  }
  if (const json* priority = member(body, "priority")) {
    const auto parsed = priority->is_string() ? parse_command_priority(priority->get<std::string>()) : std::nullopt;
    if (!parsed) {
      problems["priority"] = "must be normal or emergency";
    } else {
      request.priority = *parsed;
    }
  }
  if (const json* not_before = member(body, "not_before")) {
    const auto parsed =
        not_before->is_string() ? parse_rfc3339(not_before->get_ref<const std::string&>()) : Result<TimeMs>(Error{});
    if (!parsed || *parsed <= 0) {
      problems["not_before"] = "must be an RFC 3339 time, such as 2026-12-01T10:00:00Z";
    } else {
      request.not_before_ms = *parsed;
    }
  }
  if (const json* expires_in = member(body, "expires_in")) {
    const auto parsed = expires_in->is_string() ? parse_duration_ms(expires_in->get_ref<const std::string&>())
                                                : Result<TimeMs>(Error{});
    if (!parsed || *parsed < kMinCommandExpiryMs || *parsed > kMaxCommandExpiryMs) {
      problems["expires_in"] = "must be a duration from 1s to 30d, such as \"30s\", \"24h\" or \"7d\"";
    } else {
      request.expires_in_ms = *parsed;
    }
  }
  if (const json* key = member(body, "idempotency_key")) {
    if (!is_short_text(*key)) {
      problems["idempotency_key"] =
          fmt::format("must be a string of 1 to {} characters without control characters", kMaxKeyLength);
    } else {
      request.idempotency_key = key->get<std::string>();
    }
  }
  if (!problems.empty()) {
    return Invalid{"request body failed validation", "VALIDATION_FAILED", std::move(problems)};
  }
  return request;
}

void invalid_parameter(Call& call, const std::string& name, const std::string& why) {
  call.reply_error(400, fmt::format("invalid query parameter '{}'", name), "INVALID_PARAMETER", json{{name, why}});
}

// The value of query parameter `name`, if given.
std::optional<std::string> query_value(const Call& call, const char* name) {
  const auto found = call.head.query.find(name);
  if (found == call.head.query.end()) return std::nullopt;
  return found->second;
}

void create_command(const std::shared_ptr<Call>& call) {
  AgentId agent_id;
  json body;
  if (!call->require_agent_id(agent_id) || !call->parse_body(false, body)) return;
  auto parsed = parse_command_request(body, agent_id);
  if (auto* invalid = std::get_if<Invalid>(&parsed)) return call->reply_invalid(*invalid);
  call->await<CommandOutcome>(
      "BUSY",
      [&](auto done) {
        call->services.commands->create(call->principal.org, std::get<CommandRequest>(parsed), call->context,
                                        std::move(done));
      },
      [call](Result<CommandOutcome> outcome) {
        if (!outcome) return call->reply_failure(outcome.error());
        Response response;
        response.status = outcome->created ? 201 : 200;
        response.headers.emplace_back("Location", "/api/v1/commands/" + outcome->command.command_id);
        response.body = command_to_json(outcome->command, true).dump(-1, ' ', false, json::error_handler_t::replace);
        call->reply(std::move(response));
      });
}

void get_command(const std::shared_ptr<Call>& call) {
  call->when_projected([call] {
    const auto detail = call->services.commands->find(call->principal, call->params["command_id"]);
    if (!detail) return call->reply_failure(detail.error());
    call->reply_json(200, command_detail_to_json(*detail));
  });
}

void cancel_command(const std::shared_ptr<Call>& call) {
  json body;
  if (!call->parse_body(true, body)) return;
  const std::string command_id = call->params["command_id"];
  call->await<CommandOutcome>(
      "BUSY",
      [&](auto done) {
        call->services.commands->cancel(call->principal, command_id, call->context, std::move(done));
      },
      [call](Result<CommandOutcome> outcome) {
        if (!outcome) return call->reply_failure(outcome.error());
        call->reply_json(200, command_to_json(outcome->command, true));
      });
}

}  // namespace

void list_commands(const std::shared_ptr<Call>& call, std::optional<AgentId> agent_id) {
  CommandFilter filter;
  filter.agent_id = agent_id;
  if (const auto agent = query_value(*call, "agent"); agent && !agent_id) {
    filter.agent_id = AgentId::parse(*agent);
    if (!filter.agent_id) return invalid_parameter(*call, "agent", "must be an agent id (a lowercase UUID)");
  }
  if (const auto type = query_value(*call, "type")) {
    if (!is_valid_command_type(*type)) return invalid_parameter(*call, "type", "must match [a-z][a-z0-9_.-]{0,63}");
    filter.type = *type;
  }
  if (const auto state = query_value(*call, "state")) {
    filter.state = parse_command_state(*state);
    if (!filter.state) {
      return invalid_parameter(*call, "state",
                               "must be queued, delivered, acknowledged, succeeded, failed, expired or cancelled");
    }
  }
  if (const auto batch = query_value(*call, "batch")) {
    if (!is_short_text(json(*batch))) {
      return invalid_parameter(*call, "batch", fmt::format("must be a batch id of 1 to {} characters", kMaxKeyLength));
    }
    filter.batch_id = *batch;
  }
  auto limit = parse_uint_param(call->head.query, "limit", kDefaultCommandPage, kMaxCommandPage);
  if (auto* invalid = std::get_if<Invalid>(&limit)) return call->reply_invalid(*invalid);
  if (std::get<std::uint64_t>(limit) == 0) {
    return invalid_parameter(*call, "limit", fmt::format("must be 1 to {}", kMaxCommandPage));
  }
  const std::optional<std::string> after = query_value(*call, "cursor");
  call->when_projected([call, filter, limit = std::get<std::uint64_t>(limit), after] {
    const auto page = call->services.commands->list(call->principal, filter, limit, after);
    if (!page) return invalid_parameter(*call, "cursor", page.error().message);
    json commands = json::array();
    for (const CommandRecord& command : page->commands) commands.push_back(command_to_json(command, false));
    call->reply_json(200, {{"commands", std::move(commands)},
                           {"next_cursor", page->next_after ? json(*page->next_after) : json(nullptr)}});
  });
}

void add_commands(RouteTable& table) {
  using C = Credential;
  table.add("POST", "/api/v1/agents/{agent_id}/commands", {create_command, C::api_key, Role::operator_, false, true});
  table.add("GET", "/api/v1/commands",
            {[](const std::shared_ptr<Call>& call) { list_commands(call, std::nullopt); }, C::api_key, Role::viewer});
  table.add("GET", "/api/v1/commands/{command_id}", {get_command, C::api_key, Role::viewer});
  table.add("POST", "/api/v1/commands/{command_id}/cancel",
            {cancel_command, C::api_key, Role::operator_, false, true});
}

}  // namespace muster::http::routes
