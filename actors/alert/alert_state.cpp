#include "actors/alert/alert_state.hpp"

#include <utility>

#include "actors/runtime/stream_id.hpp"
#include "common/enum_names.hpp"

namespace muster {
namespace {

using nlohmann::json;
using payload::read;

constexpr std::pair<AlertSeverity, const char*> kSeverityNames[] = {
    {AlertSeverity::info, "info"}, {AlertSeverity::warning, "warning"}, {AlertSeverity::critical, "critical"}};

constexpr std::pair<AlertSubjectKind, const char*> kSubjectKindNames[] = {
    {AlertSubjectKind::agent, "agent"}, {AlertSubjectKind::group, "group"}, {AlertSubjectKind::org, "org"}};

constexpr std::pair<AlertStatus, const char*> kStatusNames[] = {{AlertStatus::firing, "firing"},
                                                                {AlertStatus::resolved, "resolved"}};

bool read_severity(const json& data, AlertSeverity& out) {
  std::string text;
  if (!read(data, "severity", text)) return false;
  const auto parsed = parse_alert_severity(text);
  if (parsed) out = *parsed;
  return parsed.has_value();
}

bool read_subject(const json& data, AlertSubject& out) {
  const auto found = data.find("subject");
  if (found == data.end() || !found->is_object()) return false;
  std::string kind;
  if (!read(*found, "kind", kind) || !read(*found, "id", out.id) || out.id.empty()) return false;
  const auto parsed = parse_alert_subject_kind(kind);
  if (parsed) out.kind = *parsed;
  return parsed.has_value();
}

bool read_details(const json& data, json& out) {
  const auto found = data.find("details");
  if (found == data.end() || !found->is_object()) return false;
  out = *found;
  return true;
}

json escalation_to_json(const std::vector<AlertEscalationStep>& steps) {
  json out = json::array();
  for (const AlertEscalationStep& step : steps) out.push_back({{"after_ms", step.after_ms}, {"channels", step.channels}});
  return out;
}

bool read_escalation(const json& data, const char* key, std::vector<AlertEscalationStep>& out) {
  const auto found = data.find(key);
  if (found == data.end() || !found->is_array()) return false;
  std::vector<AlertEscalationStep> steps;
  for (const json& item : *found) {
    if (!item.is_object()) return false;
    AlertEscalationStep step;
    if (!read(item, "after_ms", step.after_ms) || step.after_ms < 0 || !read(item, "channels", step.channels)) {
      return false;
    }
    steps.push_back(std::move(step));
  }
  out = std::move(steps);
  return true;
}

// Fields every event after AlertFired carries: the alert and its episode.
bool read_alert_and_episode(const json& data, std::string& alert_id, std::uint64_t& episode) {
  return read(data, "alert_id", alert_id) && !alert_id.empty() && read(data, "episode", episode) && episode >= 1;
}

Status apply_change(AlertRecord& record, const AlertEvent& event, const EventHeader& header) {
  const std::string_view type = type_of(event).name;
  if (!record.exists()) return corrupt_event(header, type, "a change to an alert that never fired");
  const auto same_alert = [&](const std::string& alert_id, std::uint64_t episode) -> Status {
    if (alert_id != record.alert_id) return corrupt_event(header, type, "names another alert");
    if (episode != record.episode) return corrupt_event(header, type, "names another episode than the latest");
    return Status::success();
  };
  if (const auto* resolved = std::get_if<AlertResolved>(&event)) {
    if (Status same = same_alert(resolved->alert_id, resolved->episode); !same) return same;
    if (!record.firing()) return corrupt_event(header, type, "resolves an alert not firing");
    record.status = AlertStatus::resolved;
    record.resolved_at_ms = resolved->resolved_at_ms;
    record.resolve_reason = resolved->reason;
  } else if (const auto* acknowledged = std::get_if<AlertAcknowledged>(&event)) {
    if (Status same = same_alert(acknowledged->alert_id, acknowledged->episode); !same) return same;
    if (!record.firing()) return corrupt_event(header, type, "acknowledges an alert not firing");
    record.acknowledged_by = acknowledged->by;
    record.acknowledged_at_ms = acknowledged->at_ms;
    record.ack_comment = acknowledged->comment;
  } else if (const auto* silenced = std::get_if<AlertSilenced>(&event)) {
    if (Status same = same_alert(silenced->alert_id, silenced->episode); !same) return same;
    record.silenced_by = silenced->by;
    record.silenced_at_ms = silenced->at_ms;
    record.silenced_until_ms = silenced->until_ms;
    record.silence_reason = silenced->reason;
  }
  return Status::success();
}

json to_json_fields(const AlertRecord& record) {
  return {{"alert_id", record.alert_id},
          {"org", record.org},
          {"rule_id", record.rule_id},
          {"rule_name", record.rule_name},
          {"subject", record.subject.to_json()},
          {"severity", to_string(record.severity)},
          {"episode", record.episode},
          {"summary", record.summary},
          {"details", record.details},
          {"fired_at_ms", record.fired_at_ms},
          {"pending_since_ms", record.pending_since_ms},
          {"resolved_at_ms", record.resolved_at_ms},
          {"resolve_reason", record.resolve_reason},
          {"channels", record.channels},
          {"escalation", escalation_to_json(record.escalation)},
          {"group_wait_ms", record.group_wait_ms},
          {"acknowledged_by", record.acknowledged_by},
          {"acknowledged_at_ms", record.acknowledged_at_ms},
          {"ack_comment", record.ack_comment},
          {"silenced_by", record.silenced_by},
          {"silenced_at_ms", record.silenced_at_ms},
          {"silenced_until_ms", record.silenced_until_ms},
          {"silence_reason", record.silence_reason},
          {"version", record.version}};
}

}  // namespace

const char* to_string(AlertSeverity severity) {
  return name_in(kSeverityNames, severity);
}

std::optional<AlertSeverity> parse_alert_severity(std::string_view text) {
  return value_in(kSeverityNames, text);
}

const char* to_string(AlertSubjectKind kind) {
  return name_in(kSubjectKindNames, kind);
}

std::optional<AlertSubjectKind> parse_alert_subject_kind(std::string_view text) {
  return value_in(kSubjectKindNames, text);
}

const char* to_string(AlertStatus status) {
  return name_in(kStatusNames, status);
}

json AlertSubject::to_json() const {
  return {{"kind", muster::to_string(kind)}, {"id", id}};
}

bool operator==(const AlertSubject& left, const AlertSubject& right) {
  return left.kind == right.kind && left.id == right.id;
}

bool operator<(const AlertSubject& left, const AlertSubject& right) {
  if (left.kind != right.kind) return left.kind < right.kind;
  return left.id < right.id;
}

bool operator==(const AlertEscalationStep& left, const AlertEscalationStep& right) {
  return left.after_ms == right.after_ms && left.channels == right.channels;
}

std::string alert_id_for(std::string_view rule_id, const AlertSubject& subject) {
  std::string id(rule_id);
  id += '.';
  id += to_string(subject.kind);
  if (subject.kind != AlertSubjectKind::org) {
    id += '.';
    id += subject.id;
  }
  return id;
}

std::string alert_instance_id(std::string_view org, std::string_view alert_id) {
  return org_scoped_id(org, alert_id);
}

std::string alert_stream(std::string_view org, std::string_view alert_id) {
  return stream_name(kAlertKind, alert_instance_id(org, alert_id));
}

json AlertFired::to_json() const {
  return {{"alert_id", alert_id},
          {"org", org},
          {"rule_id", rule_id},
          {"rule_name", rule_name},
          {"episode", episode},
          {"subject", subject.to_json()},
          {"severity", muster::to_string(severity)},
          {"summary", summary},
          {"details", details},
          {"fired_at_ms", fired_at_ms},
          {"pending_since_ms", pending_since_ms},
          {"channels", channels},
          {"escalation", escalation_to_json(escalation)},
          {"group_wait_ms", group_wait_ms}};
}

Result<AlertFired> AlertFired::from_json(const json& data, std::uint32_t /*schema_version*/) {
  AlertFired event;
  if (!read(data, "alert_id", event.alert_id) || event.alert_id.empty() || !read(data, "org", event.org) ||
      event.org.empty() || !read(data, "rule_id", event.rule_id) || !read(data, "rule_name", event.rule_name) ||
      !read(data, "episode", event.episode) || event.episode < 1 || !read_subject(data, event.subject) ||
      !read_severity(data, event.severity) || !read(data, "summary", event.summary) ||
      !read_details(data, event.details) || !read(data, "fired_at_ms", event.fired_at_ms) ||
      !read(data, "pending_since_ms", event.pending_since_ms) || !read(data, "channels", event.channels) ||
      !read_escalation(data, "escalation", event.escalation) || !read(data, "group_wait_ms", event.group_wait_ms) ||
      event.group_wait_ms < 0) {
    return payload_error("bad AlertFired payload");
  }
  return event;
}

json AlertResolved::to_json() const {
  return {{"alert_id", alert_id}, {"episode", episode}, {"resolved_at_ms", resolved_at_ms}, {"reason", reason}};
}

Result<AlertResolved> AlertResolved::from_json(const json& data, std::uint32_t /*schema_version*/) {
  AlertResolved event;
  if (!read_alert_and_episode(data, event.alert_id, event.episode) ||
      !read(data, "resolved_at_ms", event.resolved_at_ms) || !read(data, "reason", event.reason)) {
    return payload_error("bad AlertResolved payload");
  }
  return event;
}

json AlertAcknowledged::to_json() const {
  return {{"alert_id", alert_id}, {"episode", episode}, {"by", by}, {"at_ms", at_ms}, {"comment", comment}};
}

Result<AlertAcknowledged> AlertAcknowledged::from_json(const json& data, std::uint32_t /*schema_version*/) {
  AlertAcknowledged event;
  if (!read_alert_and_episode(data, event.alert_id, event.episode) || !read(data, "by", event.by) ||
      !read(data, "at_ms", event.at_ms) || !read(data, "comment", event.comment)) {
    return payload_error("bad AlertAcknowledged payload");
  }
  return event;
}

json AlertSilenced::to_json() const {
  return {{"alert_id", alert_id}, {"episode", episode}, {"by", by},
          {"at_ms", at_ms},       {"until_ms", until_ms}, {"reason", reason}};
}

Result<AlertSilenced> AlertSilenced::from_json(const json& data, std::uint32_t /*schema_version*/) {
  AlertSilenced event;
  if (!read_alert_and_episode(data, event.alert_id, event.episode) || !read(data, "by", event.by) ||
      !read(data, "at_ms", event.at_ms) || !read(data, "until_ms", event.until_ms) ||
      !read(data, "reason", event.reason)) {
    return payload_error("bad AlertSilenced payload");
  }
  return event;
}

bool operator==(const AlertRecord& left, const AlertRecord& right) {
  return left.alert_id == right.alert_id && left.org == right.org && left.rule_id == right.rule_id &&
         left.rule_name == right.rule_name && left.subject == right.subject && left.severity == right.severity &&
         left.episode == right.episode && left.status == right.status && left.summary == right.summary &&
         left.details == right.details && left.fired_at_ms == right.fired_at_ms &&
         left.pending_since_ms == right.pending_since_ms && left.resolved_at_ms == right.resolved_at_ms &&
         left.resolve_reason == right.resolve_reason && left.channels == right.channels &&
         left.escalation == right.escalation && left.group_wait_ms == right.group_wait_ms &&
         left.acknowledged_by == right.acknowledged_by && left.acknowledged_at_ms == right.acknowledged_at_ms &&
         left.ack_comment == right.ack_comment && left.silenced_by == right.silenced_by &&
         left.silenced_at_ms == right.silenced_at_ms && left.silenced_until_ms == right.silenced_until_ms &&
         left.silence_reason == right.silence_reason && left.version == right.version &&
         left.last_position == right.last_position;
}

json to_json(const AlertRecord& record, TimeMs now_ms) {
  json out = to_json_fields(record);
  out.erase("version");
  out["state"] = to_string(record.status);
  out["acknowledged"] = record.acknowledged();
  out["silenced"] = record.silenced_at(now_ms);
  return out;
}

std::string encode_alert(const AlertRecord& record) {
  json out = to_json_fields(record);
  out["status"] = to_string(record.status);
  out["last_position"] = record.last_position;
  return out.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<AlertRecord> decode_alert(std::string_view bytes) {
  const auto data = json::parse(bytes, nullptr, /*allow_exceptions=*/false);
  const auto bad = [] { return payload_error("bad alert snapshot"); };
  if (!data.is_object()) return bad();
  AlertRecord record;
  std::string status;
  if (!read(data, "alert_id", record.alert_id) || !read(data, "org", record.org) ||
      !read(data, "rule_id", record.rule_id) || !read(data, "rule_name", record.rule_name) ||
      !read_subject(data, record.subject) || !read_severity(data, record.severity) ||
      !read(data, "episode", record.episode) || !read(data, "status", status) ||
      !read(data, "summary", record.summary) || !read_details(data, record.details) ||
      !read(data, "fired_at_ms", record.fired_at_ms) || !read(data, "pending_since_ms", record.pending_since_ms) ||
      !read(data, "resolved_at_ms", record.resolved_at_ms) || !read(data, "resolve_reason", record.resolve_reason) ||
      !read(data, "channels", record.channels) || !read_escalation(data, "escalation", record.escalation) ||
      !read(data, "group_wait_ms", record.group_wait_ms) || !read(data, "acknowledged_by", record.acknowledged_by) ||
      !read(data, "acknowledged_at_ms", record.acknowledged_at_ms) || !read(data, "ack_comment", record.ack_comment) ||
      !read(data, "silenced_by", record.silenced_by) || !read(data, "silenced_at_ms", record.silenced_at_ms) ||
      !read(data, "silenced_until_ms", record.silenced_until_ms) ||
      !read(data, "silence_reason", record.silence_reason) || !read(data, "version", record.version) ||
      !read(data, "last_position", record.last_position)) {
    return bad();
  }
  const auto parsed_status = value_in(kStatusNames, status);
  if (!parsed_status) return bad();
  record.status = *parsed_status;
  return record;
}

Status apply(AlertRecord& record, const AlertEvent& event, const EventHeader& header) {
  const std::string_view type = type_of(event).name;
  if (header.version != record.version + 1) return corrupt_event(header, type, "out of version order");
  if (const auto* fired = std::get_if<AlertFired>(&event)) {
    if (stream_id_of(header.stream, kAlertKind) !=
        std::optional<std::string_view>(alert_instance_id(fired->org, fired->alert_id))) {
      return corrupt_event(header, type, "org/alert_id differ from the stream id");
    }
    if (record.firing()) return corrupt_event(header, type, "fires an alert already firing");
    if (fired->episode != record.episode + 1) return corrupt_event(header, type, "not the next episode");
    record.alert_id = fired->alert_id;
    record.org = fired->org;
    record.rule_id = fired->rule_id;
    record.rule_name = fired->rule_name;
    record.subject = fired->subject;
    record.severity = fired->severity;
    record.episode = fired->episode;
    record.status = AlertStatus::firing;
    record.summary = fired->summary;
    record.details = fired->details;
    record.fired_at_ms = fired->fired_at_ms;
    record.pending_since_ms = fired->pending_since_ms;
    record.resolved_at_ms = 0;
    record.resolve_reason.clear();
    record.channels = fired->channels;
    record.escalation = fired->escalation;
    record.group_wait_ms = fired->group_wait_ms;
    record.acknowledged_by.clear();
    record.acknowledged_at_ms = 0;
    record.ack_comment.clear();
  } else if (Status changed = apply_change(record, event, header); !changed) {
    return changed;
  }
  record.version = header.version;
  record.last_position = header.position;
  return Status::success();
}

Status apply(AlertRecord& record, const Event& event) {
  return apply_stored<AlertEvent>(record, event);
}

}  // namespace muster
