#pragma once
/// The decisions of alert rules and alerts, and both aggregates as the
/// runtime runs them. Pure: the time comes from the decision's context.

#include <string>
#include <variant>
#include <vector>

#include "actors/alert/alert_rule_state.hpp"
#include "actors/alert/alert_state.hpp"
#include "actors/runtime/aggregate_host.hpp"
#include "actors/runtime/stream_id.hpp"

namespace muster {

inline constexpr const char* kAlertRuleNotFound = "ALERT_RULE_NOT_FOUND";
inline constexpr const char* kAlertNotFound = "ALERT_NOT_FOUND";
inline constexpr const char* kAlertNotFiring = "ALERT_NOT_FIRING";

Error alert_rule_not_found();
Error alert_not_found();

// --- Rules ------------------------------------------------------------------------

struct CreateAlertRule {
  AlertRuleCreated created;
};
struct UpdateAlertRule {
  AlertRuleSpec rule;
  std::string principal;
};
struct DeleteAlertRule {
  std::string principal;
};
using AlertRuleCommand = std::variant<CreateAlertRule, UpdateAlertRule, DeleteAlertRule>;

/// Create: AlertRuleCreated; `conflict` if it exists. Update: AlertRuleUpdated,
/// nothing when the rule is the same; delete: AlertRuleDeleted. Both refused
/// `not_found` / ALERT_RULE_NOT_FOUND for a rule that does not exist (or was deleted).
Result<std::vector<AlertRuleEvent>> decide_alert_rule(const AlertRule& rule, const AlertRuleCommand& command);

struct AlertRuleAggregate {
  static constexpr std::string_view kKind = kAlertRuleKind;
  using State = AlertRule;
  using Payload = AlertRuleEvent;
  using Command = AlertRuleCommand;
  using Context = runtime::DecideContext;
  /// `id` is "<org>/<rule_id>".
  static State initial_state(const std::string& id);
  static std::string stream_of(const State& state) { return alert_rule_stream(state.org, state.rule_id); }
  static Result<std::vector<Payload>> decide(const State& state, const Command& command, Context& context) {
    (void)context;
    return decide_alert_rule(state, command);
  }
  static Status apply(State& state, const Payload& event, const EventHeader& header) {
    return muster::apply(state, event, header);
  }
  static Status apply(State& state, const Event& event) { return muster::apply(state, event); }
};

// --- Alerts -----------------------------------------------------------------------

/// The evaluator saw the condition hold for the rule's `for`: AlertFired as
/// `fired` says, with the next episode; nothing while it fires already.
struct FireAlert {
  AlertFired fired;
};
/// The condition no longer holds (or the rule went): AlertResolved;
/// nothing when it is not firing (or never fired).
struct ResolveAlert {
  std::string reason;
};
/// AlertAcknowledged of the current episode; nothing when acknowledged
/// already. Refused: `not_found` / ALERT_NOT_FOUND, `conflict` / ALERT_NOT_FIRING.
struct AcknowledgeAlert {
  std::string by;
  std::string comment;
};
/// AlertSilenced until `until_ms` (later than now, checked by the caller).
/// Refused: `not_found` / ALERT_NOT_FOUND.
struct SilenceAlert {
  std::string by;
  TimeMs until_ms = 0;
  std::string reason;
};
using AlertCommand = std::variant<FireAlert, ResolveAlert, AcknowledgeAlert, SilenceAlert>;

Result<std::vector<AlertEvent>> decide_alert(const AlertRecord& record, const AlertCommand& command, TimeMs now_ms);

struct AlertAggregate {
  static constexpr std::string_view kKind = kAlertKind;
  using State = AlertRecord;
  using Payload = AlertEvent;
  using Command = AlertCommand;
  using Context = runtime::DecideContext;
  /// `id` is "<org>/<alert_id>".
  static State initial_state(const std::string& id);
  static std::string stream_of(const State& state) { return alert_stream(state.org, state.alert_id); }
  static Result<std::vector<Payload>> decide(const State& state, const Command& command, Context& context) {
    return decide_alert(state, command, context.now_ms);
  }
  static Status apply(State& state, const Payload& event, const EventHeader& header) {
    return muster::apply(state, event, header);
  }
  static Status apply(State& state, const Event& event) { return muster::apply(state, event); }
};

}  // namespace muster
