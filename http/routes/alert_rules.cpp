// /api/v1/alert-rules: what to watch, for which agents, how bad it is and
// whom to tell (actors/alert/alert_rule_state.hpp has the body's shape).
// Operators create, replace and delete rules (in the organization
// Call::require_org gives); viewers read them and test them (a test
// evaluates the rule now and notifies nobody).

#include "actors/alert/alert_service.hpp"
#include "common/time_format.hpp"
#include "http/call.hpp"

namespace muster::http::routes {
namespace {

using nlohmann::json;

json rule_json(const AlertRule& rule) {
  json out = to_json(rule);
  out.erase("created_at_ms");
  out.erase("updated_at_ms");
  out["created_at"] = format_rfc3339(rule.created_at_ms);
  out["updated_at"] = format_rfc3339(rule.updated_at_ms);
  out["deleted"] = rule.deleted;
  out["position"] = rule.last_position;
  return out;
}

void reply_rule(const std::shared_ptr<Call>& call, int status, Result<AlertRule> rule) {
  if (!rule) return call->reply_failure(rule.error());
  call->reply_json(status, rule_json(*rule));
}

bool parse_rule(const std::shared_ptr<Call>& call, AlertRuleSpec& out) {
  json body;
  if (!call->parse_body(false, body)) return false;
  auto spec = parse_alert_rule(body);
  if (!spec) {
    call->reply_failure(spec.error());
    return false;
  }
  out = std::move(*spec);
  return true;
}

void create_rule(const std::shared_ptr<Call>& call) {
  std::string org;
  AlertRuleSpec spec;
  if (!call->require_org(org) || !parse_rule(call, spec)) return;
  call->await<AlertRule>(
      "BUSY", [&](auto done) { call->services.alerts->create_rule(org, spec, call->context, std::move(done)); },
      [call](Result<AlertRule> rule) { reply_rule(call, 201, std::move(rule)); });
}

void replace_rule(const std::shared_ptr<Call>& call) {
  AlertRuleSpec spec;
  if (!parse_rule(call, spec)) return;
  call->await<AlertRule>(
      "BUSY",
      [&](auto done) {
        call->services.alerts->update_rule(call->principal, call->params["rule_id"], spec, call->context,
                                           std::move(done));
      },
      [call](Result<AlertRule> rule) { reply_rule(call, 200, std::move(rule)); });
}

void delete_rule(const std::shared_ptr<Call>& call) {
  call->await<AlertRule>(
      "BUSY",
      [&](auto done) {
        call->services.alerts->delete_rule(call->principal, call->params["rule_id"], call->context, std::move(done));
      },
      [call](Result<AlertRule> rule) { reply_rule(call, 200, std::move(rule)); });
}

void get_rule(const std::shared_ptr<Call>& call) {
  call->when_projected([call] { reply_rule(call, 200, call->services.alerts->find_rule(call->principal, call->params["rule_id"])); });
}

void list_rules(const std::shared_ptr<Call>& call) {
  call->when_projected([call] {
    json rules = json::array();
    for (const AlertRule& rule : call->services.alerts->list_rules(call->principal)) rules.push_back(rule_json(rule));
    call->reply_json(200, {{"alert_rules", std::move(rules)}});
  });
}

void test_rule(const std::shared_ptr<Call>& call) {
  call->when_projected([call] {
    const auto test = call->services.alerts->test_rule(call->principal, call->params["rule_id"]);
    if (!test) return call->reply_failure(test.error());
    json subjects = json::array();
    for (const AlertTransition& would : test->would_fire) {
      subjects.push_back({{"subject", would.subject.to_json()},
                          {"alert_id", alert_id_for(would.rule_id, would.subject)},
                          {"since", format_rfc3339(would.pending_since_ms)},
                          {"summary", would.summary},
                          {"details", would.details}});
    }
    call->reply_json(200, {{"rule_id", test->rule.rule_id},
                           {"evaluated_at", format_rfc3339(call->services.alerts->now_ms())},
                           {"would_fire", std::move(subjects)},
                           {"notified", false}});
  });
}

}  // namespace

void add_alert_rules(RouteTable& table) {
  using C = Credential;
  table.add("POST", "/api/v1/alert-rules", {create_rule, C::api_key, Role::operator_, false, true});
  table.add("GET", "/api/v1/alert-rules", any_node({list_rules, C::api_key, Role::viewer}));
  table.add("GET", "/api/v1/alert-rules/{rule_id}", any_node({get_rule, C::api_key, Role::viewer}));
  table.add("PUT", "/api/v1/alert-rules/{rule_id}", {replace_rule, C::api_key, Role::operator_, false, true});
  table.add("DELETE", "/api/v1/alert-rules/{rule_id}", {delete_rule, C::api_key, Role::operator_});
  table.add("POST", "/api/v1/alert-rules/{rule_id}/test", {test_rule, C::api_key, Role::viewer, false, true});
}

}  // namespace muster::http::routes
