#pragma once
/// Alerts: one instance per (alert rule, subject), where the subject is an
/// agent (threshold, absence, status and composite rules), a group or the
/// whole organization (fleet rules). Each is a stream
/// "alert:<org>/<alert_id>", `alert_id` derived from the rule and the
/// subject (`alert_id_for`), so the same condition on the same subject is
/// always the same alert, fired again as a new *episode*:
///
///   AlertFired         {alert_id, org, rule_id, rule_name, episode, subject: {kind, id},
///                       severity, summary, details, fired_at_ms, pending_since_ms,
///                       channels, escalation: [{after_ms, channels}], group_wait_ms}
///   AlertResolved      {alert_id, episode, resolved_at_ms, reason}
///   AlertAcknowledged  {alert_id, episode, by, at_ms, comment}
///   AlertSilenced      {alert_id, episode, by, at_ms, until_ms, reason}
///
/// AlertFired carries the rule's notification settings as they were when it
/// fired: whoever notifies needs nothing else. Pending (the condition holds,
/// not yet for the rule's `for`) is the evaluator's memory only, never an
/// event. States: firing → resolved → firing (the next episode) ...
///
/// An acknowledgement belongs to its episode (the next firing is
/// unacknowledged again). A silence belongs to the alert until `until_ms`,
/// across episodes: an alert firing again before then is still silenced.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "actors/runtime/payload_codec.hpp"
#include "common/clock.hpp"
#include "common/result.hpp"

namespace muster {

inline constexpr std::string_view kAlertKind = "alert";

enum class AlertSeverity { info, warning, critical };
const char* to_string(AlertSeverity severity);
std::optional<AlertSeverity> parse_alert_severity(std::string_view text);

/// What an alert is about.
enum class AlertSubjectKind { agent, group, org };
const char* to_string(AlertSubjectKind kind);
std::optional<AlertSubjectKind> parse_alert_subject_kind(std::string_view text);

/// The subject of an alert: an agent (its id), a group (its name) or the
/// organization (its name).
struct AlertSubject {
  AlertSubjectKind kind = AlertSubjectKind::agent;
  std::string id;

  nlohmann::json to_json() const;
};
bool operator==(const AlertSubject& left, const AlertSubject& right);
bool operator<(const AlertSubject& left, const AlertSubject& right);

/// One escalation step: after the alert fired `after_ms` ago and is still
/// firing and unacknowledged, notify `channels`.
struct AlertEscalationStep {
  TimeMs after_ms = 0;
  std::vector<std::string> channels;
};
bool operator==(const AlertEscalationStep& left, const AlertEscalationStep& right);

/// The id of the alert of rule `rule_id` about `subject`: "<rule_id>.agent.<agent id>",
/// "<rule_id>.group.<group name>" or "<rule_id>.org". Stable (never
/// changes for the pair) and made of [A-Za-z0-9._-] (rule ids, agent ids
/// and group names are), so it goes in a path unescaped.
std::string alert_id_for(std::string_view rule_id, const AlertSubject& subject);

/// The aggregate's instance id of an alert: "<org>/<alert_id>".
std::string alert_instance_id(std::string_view org, std::string_view alert_id);
/// "alert:<org>/<alert_id>".
std::string alert_stream(std::string_view org, std::string_view alert_id);

struct AlertFired {
  static constexpr EventType kType{"AlertFired", kAlertKind, 1};
  std::string alert_id;
  std::string org;
  std::string rule_id;
  std::string rule_name;
  std::uint64_t episode = 1;  ///< 1 for the first firing, then one more each time.
  AlertSubject subject;
  AlertSeverity severity = AlertSeverity::warning;
  std::string summary;  ///< One line of text.
  nlohmann::json details = nlohmann::json::object();  ///< What was seen: value, threshold...
  TimeMs fired_at_ms = 0;
  TimeMs pending_since_ms = 0;  ///< When the condition began to hold.
  std::vector<std::string> channels;
  std::vector<AlertEscalationStep> escalation;
  TimeMs group_wait_ms = 0;

  nlohmann::json to_json() const;
  static Result<AlertFired> from_json(const nlohmann::json& data, std::uint32_t schema_version);
};

struct AlertResolved {
  static constexpr EventType kType{"AlertResolved", kAlertKind, 1};
  std::string alert_id;
  std::uint64_t episode = 1;
  TimeMs resolved_at_ms = 0;
  std::string reason;  ///< Why: "condition cleared", "rule deleted", "rule changed", "agent deregistered"...

  nlohmann::json to_json() const;
  static Result<AlertResolved> from_json(const nlohmann::json& data, std::uint32_t schema_version);
};

struct AlertAcknowledged {
  static constexpr EventType kType{"AlertAcknowledged", kAlertKind, 1};
  std::string alert_id;
  std::uint64_t episode = 1;
  std::string by;  ///< The principal ("key:<id>").
  TimeMs at_ms = 0;
  std::string comment;

  nlohmann::json to_json() const;
  static Result<AlertAcknowledged> from_json(const nlohmann::json& data, std::uint32_t schema_version);
};

struct AlertSilenced {
  static constexpr EventType kType{"AlertSilenced", kAlertKind, 1};
  std::string alert_id;
  std::uint64_t episode = 1;
  std::string by;  ///< The principal ("key:<id>").
  TimeMs at_ms = 0;
  TimeMs until_ms = 0;  ///< Silenced while time < until_ms.
  std::string reason;

  nlohmann::json to_json() const;
  static Result<AlertSilenced> from_json(const nlohmann::json& data, std::uint32_t schema_version);
};

using AlertEvent = std::variant<AlertFired, AlertResolved, AlertAcknowledged, AlertSilenced>;

enum class AlertStatus { firing, resolved };
const char* to_string(AlertStatus status);

/// An alert's state: its latest episode, and the silence that may cover it.
struct AlertRecord {
  std::string alert_id;
  std::string org;
  std::string rule_id;
  std::string rule_name;
  AlertSubject subject;
  AlertSeverity severity = AlertSeverity::warning;
  std::uint64_t episode = 0;  ///< The latest episode; 0: never fired.
  AlertStatus status = AlertStatus::resolved;
  std::string summary;
  nlohmann::json details = nlohmann::json::object();
  TimeMs fired_at_ms = 0;
  TimeMs pending_since_ms = 0;
  TimeMs resolved_at_ms = 0;  ///< 0 while firing.
  std::string resolve_reason;
  std::vector<std::string> channels;
  std::vector<AlertEscalationStep> escalation;
  TimeMs group_wait_ms = 0;
  /// The acknowledgement of this episode, if any (a new episode clears it).
  std::string acknowledged_by;
  TimeMs acknowledged_at_ms = 0;  ///< 0: not acknowledged.
  std::string ack_comment;
  /// The latest silence, whatever its episode.
  std::string silenced_by;
  TimeMs silenced_at_ms = 0;
  TimeMs silenced_until_ms = 0;  ///< 0: never silenced.
  std::string silence_reason;
  std::uint64_t version = 0;
  std::uint64_t last_position = 0;

  bool exists() const { return version > 0; }
  bool firing() const { return exists() && status == AlertStatus::firing; }
  bool acknowledged() const { return acknowledged_at_ms != 0; }
  /// True while a silence covers the alert at `now_ms`.
  bool silenced_at(TimeMs now_ms) const { return now_ms < silenced_until_ms; }
};

bool operator==(const AlertRecord& left, const AlertRecord& right);

/// The alert as the API shows it (`now_ms` decides `silenced`).
nlohmann::json to_json(const AlertRecord& record, TimeMs now_ms);

/// An alert's state as JSON text (the read model's snapshots), and back.
/// Total: damage gives `corruption`.
std::string encode_alert(const AlertRecord& record);
Result<AlertRecord> decode_alert(std::string_view bytes);

/// Folds one event of an "alert:" stream. Errors (`corruption`, state
/// unchanged): out of version order; an AlertFired whose org/alert_id
/// differ from the stream id, while firing, or not the next episode; any
/// other event naming another alert id or another episode than the
/// latest; a resolution or acknowledgement while not firing (a silence
/// may cover a resolved alert: it would keep its next episode quiet).
Status apply(AlertRecord& record, const Event& event);
Status apply(AlertRecord& record, const AlertEvent& event, const EventHeader& header);

}  // namespace muster
