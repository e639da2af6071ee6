// Commands to agents, the agents' side (agent token): fetching what is
// pending (a long poll), acknowledging a command, reporting its result. An
// operator's key on the fetch's path lists the agent's commands instead,
// delivering nothing.

#include <fmt/format.h>

#include "actors/command/command_decider.hpp"
#include "common/time_format.hpp"
#include "http/call.hpp"
#include "http/command_json.hpp"

namespace muster::http::routes {
namespace {

using nlohmann::json;

/// The longest an agent's fetch may wait.
constexpr TimeMs kMaxFetchWaitMs = 60'000;

// ?wait=: absent or "0" for none, else a duration up to kMaxFetchWaitMs.
std::optional<TimeMs> parse_wait(const Call& call) {
  const auto found = call.head.query.find("wait");
  if (found == call.head.query.end() || found->second == "0") return TimeMs{0};
  const auto parsed = parse_duration_ms(found->second);
  if (!parsed || *parsed > kMaxFetchWaitMs) return std::nullopt;
  return *parsed;
}

void fetch_commands(const std::shared_ptr<Call>& call) {
  AgentId agent_id;
  if (!call->require_agent_id(agent_id)) return;
  if (!call->agent_token) return list_commands(call, agent_id);
  const auto wait_ms = parse_wait(*call);
  if (!wait_ms) {
    return call->reply_error(400, "invalid query parameter 'wait'", "INVALID_PARAMETER",
                             json{{"wait", "must be a duration of at most 60s, such as \"30s\" (or 0)"}});
  }
  // Not through Call::await: its deadline is shorter than the longest wait.
  // The fetch always answers, at the latest when its wait ends.
  call->services.commands->fetch(agent_id, *wait_ms, call->context,
                                 [call](Result<std::vector<CommandRecord>> delivered) {
                                   if (!delivered) return call->reply_failure(delivered.error());
                                   json commands = json::array();
                                   for (const CommandRecord& command : *delivered) {
                                     commands.push_back(command_to_json(command, true));
                                   }
                                   call->reply_json(200, {{"commands", std::move(commands)}});
                                 });
}

// The answer to an agent's report on its command: the command as it is now.
void reply_command(const std::shared_ptr<Call>& call, Result<CommandOutcome> outcome) {
  if (!outcome) return call->reply_failure(outcome.error());
  call->reply_json(200, command_to_json(outcome->command, true));
}

void acknowledge(const std::shared_ptr<Call>& call) {
  AgentId agent_id;
  json body;
  if (!call->require_agent_id(agent_id) || !call->parse_body(true, body)) return;
  const std::string command_id = call->params["command_id"];
  call->await<CommandOutcome>(
      "BUSY",
      [&](auto done) {
        call->services.commands->acknowledge(agent_id, command_id, call->context, std::move(done));
      },
      [call](Result<CommandOutcome> outcome) { reply_command(call, std::move(outcome)); });
}

// {status: succeeded|failed, exit_code?, output?}.
Parsed<CommandResult> parse_result(const json& body) {
  json problems = json::object();
  for (const auto& [key, value] : body.items()) {
    if (key != "status" && key != "exit_code" && key != "output") {
      problems[key] = "is not a member of a result (status, exit_code, output)";
    }
  }
  const auto status = body.find("status");
  const bool valid_status = status != body.end() && status->is_string() &&
                            (*status == "succeeded" || *status == "failed");
  if (!valid_status) problems["status"] = "is required: succeeded or failed";
  std::optional<std::int64_t> exit_code;
  if (const auto code = body.find("exit_code"); code != body.end() && !code->is_null()) {
    if (!code->is_number_integer()) {
      problems["exit_code"] = "must be an integer";
    } else {
      exit_code = code->get<std::int64_t>();
    }
  }
  std::string output;
  if (const auto text = body.find("output"); text != body.end() && !text->is_null()) {
    if (!text->is_string()) {
      problems["output"] = "must be a string";
    } else {
      output = text->get<std::string>();
    }
  }
  if (!problems.empty()) {
    return Invalid{"request body failed validation", "VALIDATION_FAILED", std::move(problems)};
  }
  return make_command_result(*status == "succeeded", exit_code, std::move(output));
}

void report_result(const std::shared_ptr<Call>& call) {
  AgentId agent_id;
  json body;
  if (!call->require_agent_id(agent_id) || !call->parse_body(false, body)) return;
  auto parsed = parse_result(body);
  if (auto* invalid = std::get_if<Invalid>(&parsed)) return call->reply_invalid(*invalid);
  const std::string command_id = call->params["command_id"];
  call->await<CommandOutcome>(
      "BUSY",
      [&](auto done) {
        call->services.commands->complete(agent_id, command_id, std::get<CommandResult>(parsed), call->context,
                                          std::move(done));
      },
      [call](Result<CommandOutcome> outcome) { reply_command(call, std::move(outcome)); });
}

}  // namespace

void add_agent_commands(RouteTable& table) {
  using C = Credential;
  table.add("GET", "/api/v1/agents/{agent_id}/commands", {fetch_commands, C::agent_or_api_key, Role::viewer, true});
  table.add("POST", "/api/v1/agents/{agent_id}/commands/{command_id}/ack",
            {acknowledge, C::agent_token, Role::viewer, true, true});
  table.add("POST", "/api/v1/agents/{agent_id}/commands/{command_id}/result",
            {report_result, C::agent_token, Role::viewer, true, true});
}

}  // namespace muster::http::routes
