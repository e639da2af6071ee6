// /api/v1/agents: registration, heartbeats and token rotation (agents),
// listing, reading, deregistering and decommissioning (operators).

#include <fmt/format.h>

#include "common/time_format.hpp"
#include "http/call.hpp"
#include "http/opamp/opamp_server.hpp"

namespace muster::http::routes {
namespace {

using nlohmann::json;

using AgentCommand = void (AgentService::*)(const AgentId&, const AgentAccess&, const RequestContext&,
                                             AgentService::Done);

// The commands on one agent that take nothing but the caller: the path's
// agent id, an optional empty JSON body when `takes_body`, then `command`.
template <class OnResult>
void run_agent_command(const std::shared_ptr<Call>& call, AgentCommand command, bool takes_body,
                       OnResult on_result) {
  AgentId agent_id;
  json body;
  if (!call->require_agent_id(agent_id) || (takes_body && !call->parse_body(true, body))) return;
  call->await<AgentOutcome>(
      "AGENT_BUSY",
      [&](auto done) {
        (call->services.agents->*command)(agent_id, call->agent_access(), call->context, std::move(done));
      },
      std::move(on_result));
}

// Deregistration and decommissioning answer the agent's new status.
void run_status_change(const std::shared_ptr<Call>& call, AgentCommand command, bool takes_body) {
  run_agent_command(call, command, takes_body, [call](Result<AgentOutcome> outcome) {
    if (!outcome) return call->reply_failure(outcome.error());
    call->reply_json(200, {{"agent_id", outcome->agent_id.to_string()},
                           {"status", to_string(outcome->status)},
                           {"position", outcome->position}});
  });
}

void register_agent(const std::shared_ptr<Call>& call) {
  json body;
  if (!call->parse_body(false, body)) return;
  auto registration = parse_registration(body);
  if (auto* invalid = std::get_if<Invalid>(&registration)) return call->reply_invalid(*invalid);
  call->await<AgentOutcome>(
      "AGENT_BUSY",
      [&](auto done) {
        call->services.registrations->register_agent(*call->enrollment_grant, std::get<Registration>(registration),
                                                     call->context, std::move(done));
      },
      [call](Result<AgentOutcome> outcome) {
        if (!outcome) return call->reply_failure(outcome.error());
        call->reply_json(outcome->created ? 201 : 200,
                         {{"agent_id", outcome->agent_id.to_string()},
                          {"instance_id", outcome->instance_id},
                          {"org", outcome->org},
                          {"status", to_string(outcome->status)},
                          {"registered_at", format_rfc3339(outcome->registered_at_ms)},
                          {"config_version", call->services.config_model->desired_of(outcome->agent_id).config_version},
                          {"agent_token", outcome->agent_token},
                          {"position", outcome->position}});
      });
}

void heartbeat(const std::shared_ptr<Call>& call) {
  AgentId agent_id;
  json body;
  if (!call->require_agent_id(agent_id) || !call->parse_body(true, body)) return;
  auto report = parse_heartbeat(body);
  if (auto* invalid = std::get_if<Invalid>(&report)) return call->reply_invalid(*invalid);
  call->await<AgentOutcome>(
      "AGENT_BUSY",
      [&](auto done) {
        call->services.agents->heartbeat(agent_id, call->agent_access(), std::get<HeartbeatReport>(report),
                                         call->context, std::move(done));
      },
      [call](Result<AgentOutcome> outcome) {
        if (!outcome) return call->reply_failure(outcome.error());
        const DesiredSummary desired = call->services.config_model->desired_of(outcome->agent_id);
        const std::size_t pending =
            call->services.commands != nullptr ? call->services.commands->pending_of(outcome->agent_id) : 0;
        call->reply_body(200, fmt::format(R"({{"agent_id":"{}","commands_pending":{},"config_hash":"{}",)"
                                          R"("config_version":{},"position":{},"status":"{}","success":true}})",
                                          outcome->agent_id.to_string(), pending,
                                          desired.desired ? std::string_view(desired.desired->hash) : "",
                                          desired.config_version, outcome->position, to_string(outcome->status)));
      });
}

void rotate_token(const std::shared_ptr<Call>& call) {
  run_agent_command(call, &AgentService::rotate_token, true, [call](Result<AgentOutcome> outcome) {
    if (!outcome) return call->reply_failure(outcome.error());
    call->reply_json(200, {{"agent_id", outcome->agent_id.to_string()},
                           {"agent_token", outcome->agent_token},
                           {"previous_token_valid_until", format_rfc3339(outcome->previous_token_valid_until_ms)},
                           {"position", outcome->position}});
  });
}

void list_agents(const std::shared_ptr<Call>& call) {
  auto query = parse_list_query(call->head.query);
  if (auto* invalid = std::get_if<Invalid>(&query)) return call->reply_invalid(*invalid);
  call->when_projected([call, list = std::get<ListQuery>(std::move(query))]() mutable {
    if (call->principal.org != kAllOrgs) {
      // A scoped key lists its own organization; asking for another finds nothing.
      if (list.filter.org && *list.filter.org != call->principal.org) list.limit = 0;
      list.filter.org = call->principal.org;
    }
    reply_agent_page(*call, std::move(list));
  });
}

void get_agent(const std::shared_ptr<Call>& call) {
  AgentId agent_id;
  if (!call->require_agent_id(agent_id)) return;
  call->when_projected([call, agent_id] {
    auto agent = call->services.registry->find(agent_id);
    if (!agent || !org_visible(call->principal.org, *agent->state.org)) {
      return call->reply_error(404, "no agent with this id", kAgentNotFound);
    }
    fill_config(*agent, *call->services.config_model);
    std::string body;
    append_agent_json(body, *agent, call->services.timers->now_ms(), call->options.health, true);
    // What OpAMP knows of it (transport, capabilities, health), for agents heard over OpAMP.
    if (call->services.opamp != nullptr) {
      if (const auto opamp = call->services.opamp->describe(agent_id)) {
        body.pop_back();
        body += ",\"opamp\":" + opamp->dump(-1, ' ', false, json::error_handler_t::replace) + "}";
      }
    }
    call->reply_body(200, std::move(body));
  });
}

void deregister(const std::shared_ptr<Call>& call) {
  run_status_change(call, &AgentService::deregister, false);
}

void decommission(const std::shared_ptr<Call>& call) {
  run_status_change(call, &AgentService::decommission, true);
}

}  // namespace

void add_agents(RouteTable& table) {
  using C = Credential;
  table.add("POST", "/api/v1/agents/register", {register_agent, C::enrollment_token, Role::viewer, true, true});
  table.add("POST", "/api/v1/agents/{agent_id}/heartbeat", {heartbeat, C::agent_token, Role::viewer, true, true});
  table.add("POST", "/api/v1/agents/{agent_id}/token/rotate",
            {rotate_token, C::agent_or_api_key, Role::operator_, true, true});
  table.add("GET", "/api/v1/agents", any_node({list_agents, C::api_key, Role::viewer}));
  table.add("GET", "/api/v1/agents/{agent_id}", {get_agent, C::api_key, Role::viewer});
  table.add("DELETE", "/api/v1/agents/{agent_id}", {deregister, C::api_key, Role::operator_});
  table.add("POST", "/api/v1/agents/{agent_id}/decommission",
            {decommission, C::api_key, Role::operator_, false, true});
}

}  // namespace muster::http::routes
