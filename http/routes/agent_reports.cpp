// /api/v1/agents/{id}/reports: what an agent reports of itself (a spot
// instance's termination notice, a rebalance recommendation, a crash), each
// an AgentReported event in its stream. A termination notice takes the agent
// OFFLINE at once (see decide_report). Operators read reports with the
// agent's events and the log (/api/v1/events?report_type=), and count them
// in /api/v1/stats.

#include "common/time_format.hpp"
#include "http/call.hpp"

namespace muster::http::routes {
namespace {

using nlohmann::json;

// POST: {type, time?, data?} -> 201 {agent_id, type, reported_at, status,
// position}: the agent's status after it, and the position of the last event
// appended (a termination notice's AgentWentOffline).
void report(const std::shared_ptr<Call>& call) {
  AgentId agent_id;
  json body;
  if (!call->require_agent_id(agent_id) || !call->parse_body(false, body)) return;
  auto parsed = parse_agent_report(body, call->services.timers->now_ms());
  if (auto* invalid = std::get_if<Invalid>(&parsed)) {
    if (invalid->code == kReportTooLarge) {
      return call->reply_error(413, invalid->message, invalid->code, invalid->details);
    }
    return call->reply_invalid(*invalid);
  }
  AgentReported report = std::get<AgentReported>(std::move(parsed));
  json answer{{"agent_id", agent_id.to_string()},
              {"type", report.type},
              {"reported_at", format_rfc3339(report.reported_at_ms)}};
  call->await<AgentOutcome>(
      "AGENT_BUSY",
      [&](auto done) {
        call->services.agents->report(agent_id, call->agent_access(), std::move(report), call->context,
                                      std::move(done));
      },
      [call, answer = std::move(answer)](Result<AgentOutcome> outcome) mutable {
        if (!outcome) return call->reply_failure(outcome.error());
        answer["status"] = to_string(outcome->status);
        answer["position"] = outcome->position;
        // Answered once the read models count it, so /stats right after shows it.
        call->services.projections->when_folded(
            outcome->position, [call, answer = std::move(answer)] { call->reply_json(201, answer); });
      });
}

}  // namespace

void add_agent_reports(RouteTable& table) {
  table.add("POST", "/api/v1/agents/{agent_id}/reports",
            {report, Credential::agent_token, Role::viewer, true, true});
}

}  // namespace muster::http::routes
