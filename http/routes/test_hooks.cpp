// /_test/...: routes for end-to-end tests, added only with --enable-test-hooks.

#include "http/call.hpp"

namespace muster::http::routes {
namespace {

void crash_agent(const std::shared_ptr<Call>& call) {
  AgentId agent_id;
  if (!call->require_agent_id(agent_id)) return;
  call->services.crash_injector->arm(agent_id.to_string());
  call->reply_json(200, {{"armed", agent_id.to_string()}});
}

}  // namespace

void add_test_hooks(RouteTable& table) {
  table.add("POST", "/_test/agents/{agent_id}/crash", {crash_agent, Credential::api_key, Role::admin});
}

}  // namespace muster::http::routes
