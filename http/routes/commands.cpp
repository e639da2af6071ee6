// Commands to agents, the operators' side: queueing one for an agent
// (operator), listing and reading them (viewer), cancelling one (operator).
// The agents' side (their fetch, acknowledgements and results) is
// http/routes/agent_commands.cpp.

#include <fmt/format.h>

#include "actors/command/command_gate.hpp"
#include "http/call.hpp"
#include "http/command_json.hpp"

namespace muster::http::routes {
namespace {

using nlohmann::json;

constexpr std::uint64_t kDefaultCommandPage = 100;
constexpr std::uint64_t kMaxCommandPage = 1000;
constexpr std::size_t kMaxBatchIdLength = 128;
// {type, params?, priority?, not_before?, expires_in?, idempotency_key?} for the path's agent.
Parsed<CommandRequest> parse_command_request(const json& body, const AgentId& agent_id) {
  json problems = json::object();
  CommandRequest request = parse_command_fields(body, false, problems);
  request.agent_id = agent_id;
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
    if (batch->empty() || batch->size() > kMaxBatchIdLength || has_control_character(*batch)) {
      return invalid_parameter(*call, "batch",
                               fmt::format("must be a batch id of 1 to {} characters", kMaxBatchIdLength));
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
            any_node({[](const std::shared_ptr<Call>& call) { list_commands(call, std::nullopt); },
                      C::api_key, Role::viewer}));
  table.add("GET", "/api/v1/commands/{command_id}", any_node({get_command, C::api_key, Role::viewer}));
  table.add("POST", "/api/v1/commands/{command_id}/cancel",
            {cancel_command, C::api_key, Role::operator_, false, true});
}

}  // namespace muster::http::routes
