#include "actors/alert/alert_decider.hpp"

namespace muster {

Error alert_rule_not_found() {
  return make_error(ErrorCode::not_found, "no alert rule with this id", kAlertRuleNotFound);
}

Error alert_not_found() {
  return make_error(ErrorCode::not_found, "no alert with this id", kAlertNotFound);
}

Result<std::vector<AlertRuleEvent>> decide_alert_rule(const AlertRule& rule, const AlertRuleCommand& command) {
  if (const auto* create = std::get_if<CreateAlertRule>(&command)) {
    if (rule.exists()) return make_error(ErrorCode::conflict, "an alert rule with this id exists already");
    return std::vector<AlertRuleEvent>{create->created};
  }
  if (!rule.live()) return alert_rule_not_found();
  if (const auto* update = std::get_if<UpdateAlertRule>(&command)) {
    if (update->rule == rule.spec) return std::vector<AlertRuleEvent>{};
    return std::vector<AlertRuleEvent>{AlertRuleUpdated{update->rule, update->principal}};
  }
  return std::vector<AlertRuleEvent>{AlertRuleDeleted{std::get<DeleteAlertRule>(command).principal}};
}

AlertRuleAggregate::State AlertRuleAggregate::initial_state(const std::string& id) {
  AlertRule rule;
  if (const auto scoped = split_org_scoped_id(id)) {
    rule.org = std::string(scoped->org);
    rule.rule_id = std::string(scoped->name);
  }
  return rule;
}

Result<std::vector<AlertEvent>> decide_alert(const AlertRecord& record, const AlertCommand& command, TimeMs now_ms) {
  if (const auto* fire = std::get_if<FireAlert>(&command)) {
    if (record.firing()) return std::vector<AlertEvent>{};
    AlertFired fired = fire->fired;
    fired.episode = record.episode + 1;
    return std::vector<AlertEvent>{std::move(fired)};
  }
  if (const auto* resolve = std::get_if<ResolveAlert>(&command)) {
    if (!record.firing()) return std::vector<AlertEvent>{};
    return std::vector<AlertEvent>{AlertResolved{record.alert_id, record.episode, now_ms, resolve->reason}};
  }
  if (!record.exists()) return alert_not_found();
  if (const auto* acknowledge = std::get_if<AcknowledgeAlert>(&command)) {
    if (!record.firing()) {
      return make_error(ErrorCode::conflict, "the alert is not firing: nothing to acknowledge", kAlertNotFiring);
    }
    if (record.acknowledged()) return std::vector<AlertEvent>{};
    return std::vector<AlertEvent>{
        AlertAcknowledged{record.alert_id, record.episode, acknowledge->by, now_ms, acknowledge->comment}};
  }
  const auto& silence = std::get<SilenceAlert>(command);
  return std::vector<AlertEvent>{
      AlertSilenced{record.alert_id, record.episode, silence.by, now_ms, silence.until_ms, silence.reason}};
}

AlertAggregate::State AlertAggregate::initial_state(const std::string& id) {
  AlertRecord record;
  if (const auto scoped = split_org_scoped_id(id)) {
    record.org = std::string(scoped->org);
    record.alert_id = std::string(scoped->name);
  }
  return record;
}

}  // namespace muster
