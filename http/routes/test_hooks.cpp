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

// {"ms": N}: moves the manual clock N ms forward and wakes the timer thread,
// which runs what fell due (it re-reads the clock only once a second otherwise).
void advance_clock(const std::shared_ptr<Call>& call) {
  ManualClock* clock = call->services.test_clock;
  if (clock == nullptr) {
    return call->reply_error(409, "the server's clock is real: start it with --test-manual-clock",
                             "CLOCK_NOT_MANUAL");
  }
  nlohmann::json body;
  if (!call->parse_body(false, body)) return;
  const auto ms = body.find("ms");
  if (ms == body.end() || !ms->is_number_integer() || ms->get<std::int64_t>() < 0) {
    return call->reply_failure(invalid_field("ms", "must be a non-negative integer of milliseconds"));
  }
  clock->advance_ms(ms->get<std::int64_t>());
  call->services.timers->schedule_at(0, [] {});
  call->reply_json(200, {{"now_ms", clock->now_ms()}});
}

}  // namespace

void add_test_hooks(RouteTable& table) {
  table.add("POST", "/_test/agents/{agent_id}/crash", {crash_agent, Credential::api_key, Role::admin});
  table.add("POST", "/_test/clock/advance", {advance_clock, Credential::api_key, Role::admin, false, true});
}

}  // namespace muster::http::routes
