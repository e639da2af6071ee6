#pragma once
/// Alert rules: what to watch, for which agents, how bad it is and whom to
/// tell. Each rule is a stream "alert-rule:<org>/<rule_id>":
///
///   AlertRuleCreated  {rule_id, org, rule, principal}
///   AlertRuleUpdated  {rule, principal}   (the whole rule, replaced)
///   AlertRuleDeleted  {principal}
///
/// `rule` is the rule's JSON as the API shows it (normalized: every member
/// present, durations as text), read back with `parse_alert_rule`:
///
///   {name, kind: threshold|absence|status|fleet|composite, condition,
///    scope, severity: info|warning|critical, channels: [ids],
///    escalation: [{after: "15m", channels: [ids]}], group_wait: "30s", for: "2m"}
///
/// Conditions by kind (each of an agent but fleet's):
///   threshold  {metric, fn: avg|max|min|last, window: "5m", op: ">"|">="|"<"|"<=", value}
///   absence    {}  (the agent went OFFLINE and stays so `for`, counted from its last seen)
///   status     {agent_status: "degraded"} | {config_status: "failed"|"drifted"} |
///              {rollout: "paused"} | {report_type: "<type>", window: "1h"}
///   fleet      {condition: offline|degraded|config_failed|config_drifted, share_percent: (0, 100]}
///   composite  {all: [c, ...]} | {any: [c, ...]}, each c {kind: threshold|absence|status, ...}
///              (1 to kMaxCompositeParts, no rollout condition: every part is of the same agent)

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "actors/alert/alert_scope.hpp"
#include "actors/alert/alert_state.hpp"
#include "actors/runtime/payload_codec.hpp"
#include "common/clock.hpp"
#include "common/result.hpp"

namespace muster {

inline constexpr std::string_view kAlertRuleKind = "alert-rule";
inline constexpr std::size_t kMaxCompositeParts = 10;
inline constexpr std::size_t kMaxRuleChannels = 20;
inline constexpr std::size_t kMaxEscalationSteps = 10;
/// A rule's group_wait when none is given: 30 s.
inline constexpr TimeMs kDefaultGroupWaitMs = 30'000;
/// How long a report keeps a report_type condition true when no window is given: 1 h.
inline constexpr TimeMs kDefaultReportWindowMs = 3'600'000;
/// Longest window a threshold may average or scan: 24 h.
inline constexpr TimeMs kMaxThresholdWindowMs = 24LL * 3'600'000;

enum class AlertRuleKind { threshold, absence, status, fleet, composite };
const char* to_string(AlertRuleKind kind);

enum class ThresholdFn { avg, max, min, last };
enum class CompareOp { greater, greater_or_equal, less, less_or_equal };
const char* to_string(ThresholdFn fn);
const char* to_string(CompareOp op);
bool compare(CompareOp op, double value, double threshold);

struct ThresholdCondition {
  std::string metric;
  ThresholdFn fn = ThresholdFn::avg;
  TimeMs window_ms = 300'000;
  CompareOp op = CompareOp::greater;
  double value = 0;
};

enum class StatusCheck { agent_degraded, config_failed, config_drifted, rollout_paused, report_type };

struct StatusCondition {
  StatusCheck check = StatusCheck::agent_degraded;
  std::string report_type;                     ///< report_type only.
  TimeMs window_ms = kDefaultReportWindowMs;  ///< report_type only: how long a report holds.
};

/// A condition on one agent (a rule's own, or a composite's part).
struct AgentCondition {
  AlertRuleKind kind = AlertRuleKind::threshold;  ///< threshold, absence or status.
  ThresholdCondition threshold;
  StatusCondition status;
};

enum class FleetCondition { offline, degraded, config_failed, config_drifted };
const char* to_string(FleetCondition condition);

struct AlertRuleSpec {
  std::string name;
  AlertRuleKind kind = AlertRuleKind::threshold;
  AgentCondition condition;  ///< threshold, absence, status.
  FleetCondition fleet_condition = FleetCondition::offline;
  double share_percent = 0;           ///< fleet: fires when the share in the condition exceeds it.
  bool composite_all = true;          ///< composite: all (true) or any.
  std::vector<AgentCondition> parts;  ///< composite.
  AlertScope scope;
  AlertSeverity severity = AlertSeverity::warning;
  std::vector<std::string> channels;
  std::vector<AlertEscalationStep> escalation;
  TimeMs group_wait_ms = kDefaultGroupWaitMs;
  TimeMs for_ms = 0;

  /// The normalized JSON (see above).
  nlohmann::json to_json() const;
  /// True if its subjects are agents (all kinds but fleet and a rollout status).
  bool per_agent() const;
};
bool operator==(const AlertRuleSpec& left, const AlertRuleSpec& right);

/// "1500ms", "30s", "5m", "2h", "1d": the largest unit that divides `ms`.
std::string format_duration(TimeMs ms);

/// A rule from a request body (or an event's `rule`). Errors:
/// `invalid_field` naming the member at fault ("name", "kind",
/// "condition.window", "condition.all[1].op", "scope.labels", "severity",
/// "channels", "escalation[0].after", "group_wait", "for"...). Unknown
/// metric names are fine (they may appear later); channel ids are checked
/// for their syntax only ([A-Za-z0-9._-]{1,64}).
Result<AlertRuleSpec> parse_alert_rule(const nlohmann::json& body);

struct AlertRuleCreated {
  static constexpr EventType kType{"AlertRuleCreated", kAlertRuleKind, 1};
  std::string rule_id;
  std::string org;
  AlertRuleSpec rule;
  std::string principal;

  nlohmann::json to_json() const;
  static Result<AlertRuleCreated> from_json(const nlohmann::json& data, std::uint32_t schema_version);
};

struct AlertRuleUpdated {
  static constexpr EventType kType{"AlertRuleUpdated", kAlertRuleKind, 1};
  AlertRuleSpec rule;
  std::string principal;

  nlohmann::json to_json() const;
  static Result<AlertRuleUpdated> from_json(const nlohmann::json& data, std::uint32_t schema_version);
};

struct AlertRuleDeleted {
  static constexpr EventType kType{"AlertRuleDeleted", kAlertRuleKind, 1};
  std::string principal;

  nlohmann::json to_json() const;
  static Result<AlertRuleDeleted> from_json(const nlohmann::json& data, std::uint32_t schema_version);
};

using AlertRuleEvent = std::variant<AlertRuleCreated, AlertRuleUpdated, AlertRuleDeleted>;

struct AlertRule {
  std::string rule_id;
  std::string org;
  AlertRuleSpec spec;
  bool deleted = false;
  std::string principal;  ///< Who made the latest change.
  TimeMs created_at_ms = 0;
  TimeMs updated_at_ms = 0;
  std::uint64_t created_position = 0;
  std::uint64_t version = 0;
  std::uint64_t last_position = 0;

  bool exists() const { return version > 0; }
  bool live() const { return exists() && !deleted; }
};
bool operator==(const AlertRule& left, const AlertRule& right);

/// The rule as the API shows it: its spec's members plus id, org, times.
nlohmann::json to_json(const AlertRule& rule);

std::string alert_rule_stream(std::string_view org, std::string_view rule_id);

/// Snapshot codec (the read model's). Total.
std::string encode_alert_rule(const AlertRule& rule);
Result<AlertRule> decode_alert_rule(std::string_view bytes);

/// Folds one event of an "alert-rule:" stream. Errors (`corruption`, state
/// unchanged): out of version order, created twice or with another stream
/// id, changed before creation or after deletion.
Status apply(AlertRule& rule, const Event& event);
Status apply(AlertRule& rule, const AlertRuleEvent& event, const EventHeader& header);

}  // namespace muster
