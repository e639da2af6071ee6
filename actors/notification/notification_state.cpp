#include "actors/notification/notification_state.hpp"

#include <utility>

#include "actors/notification/json_fields.hpp"
#include "actors/runtime/stream_id.hpp"
#include "common/enum_names.hpp"

namespace muster {
namespace {

using nlohmann::json;
using notification_fields::read_bool;
using payload::read;

constexpr std::pair<NotificationKind, const char*> kKindNames[] = {
    {NotificationKind::firing, "firing"},
    {NotificationKind::resolved, "resolved"},
    {NotificationKind::escalation, "escalation"},
};
constexpr std::pair<NotificationState, const char*> kStateNames[] = {
    {NotificationState::pending, "pending"},
    {NotificationState::delivered, "delivered"},
    {NotificationState::abandoned, "abandoned"},
    {NotificationState::suppressed, "suppressed"},
};

bool read_u32(const json& data, const char* key, std::uint32_t& out) {
  std::uint64_t value = 0;
  if (!read(data, key, value) || value > 0xFFFFFFFFu) return false;
  out = static_cast<std::uint32_t>(value);
  return true;
}

bool read_int(const json& data, const char* key, int& out) {
  std::int64_t value = 0;
  if (!read(data, key, value) || value < -1000000 || value > 1000000) return false;
  out = static_cast<int>(value);
  return true;
}

json alert_to_json(const NotifiedAlert& alert) {
  return {{"alert_id", alert.alert_id},
          {"episode", alert.episode},
          {"subject", {{"kind", alert.subject_kind}, {"id", alert.subject_id}}},
          {"summary", alert.summary},
          {"fired_at", alert.fired_at_ms},
          {"resolved_at", alert.resolved_at_ms}};
}

bool read_alert(const json& data, NotifiedAlert& alert) {
  if (!data.is_object()) return false;
  const auto subject = data.find("subject");
  return read(data, "alert_id", alert.alert_id) && read(data, "episode", alert.episode) &&
         subject != data.end() && subject->is_object() && read(*subject, "kind", alert.subject_kind) &&
         read(*subject, "id", alert.subject_id) && read(data, "summary", alert.summary) &&
         read(data, "fired_at", alert.fired_at_ms) && read(data, "resolved_at", alert.resolved_at_ms);
}

json attempt_to_json(const NotificationAttempt& attempt) {
  return {{"attempt", attempt.attempt},
          {"at", attempt.at_ms},
          {"ok", attempt.ok},
          {"http_status", attempt.http_status},
          {"error", attempt.error}};
}

bool read_attempt(const json& data, NotificationAttempt& attempt) {
  return data.is_object() && read_u32(data, "attempt", attempt.attempt) && read(data, "at", attempt.at_ms) &&
         read_bool(data, "ok", attempt.ok) && read_int(data, "http_status", attempt.http_status) &&
         read(data, "error", attempt.error);
}

}  // namespace

const char* to_string(NotificationKind kind) {
  return name_in(kKindNames, kind);
}

std::optional<NotificationKind> parse_notification_kind(std::string_view text) {
  return value_in(kKindNames, text);
}

const char* to_string(NotificationState state) {
  return name_in(kStateNames, state);
}

bool is_final(NotificationState state) {
  return state != NotificationState::pending;
}

bool operator==(const NotifiedAlert& left, const NotifiedAlert& right) {
  return left.alert_id == right.alert_id && left.episode == right.episode &&
         left.subject_kind == right.subject_kind && left.subject_id == right.subject_id &&
         left.summary == right.summary && left.fired_at_ms == right.fired_at_ms &&
         left.resolved_at_ms == right.resolved_at_ms;
}

bool operator==(const Suppression& left, const Suppression& right) {
  return left.reason == right.reason && left.windows == right.windows;
}

bool operator==(const NotificationAttempt& left, const NotificationAttempt& right) {
  return left.attempt == right.attempt && left.at_ms == right.at_ms && left.ok == right.ok &&
         left.http_status == right.http_status && left.error == right.error;
}

json NotificationQueued::to_json() const {
  json listed = json::array();
  for (const NotifiedAlert& alert : alerts) listed.push_back(alert_to_json(alert));
  return {{"notification_id", notification_id},
          {"org", org},
          {"channel_id", channel_id},
          {"kind", muster::to_string(kind)},
          {"step", step},
          {"rule_id", rule_id},
          {"rule_name", rule_name},
          {"severity", severity},
          {"alerts", std::move(listed)},
          {"suppressed", suppressed ? json{{"reason", suppressed->reason}, {"windows", suppressed->windows}}
                                    : json(nullptr)},
          {"retry_until", retry_until_ms}};
}

Result<NotificationQueued> NotificationQueued::from_json(const json& data, std::uint32_t /*schema_version*/) {
  const auto bad = [] { return payload_error("bad NotificationQueued payload"); };
  NotificationQueued event;
  std::string kind;
  if (!data.is_object() || !read(data, "notification_id", event.notification_id) ||
      !read(data, "org", event.org) || !read(data, "channel_id", event.channel_id) ||
      !read(data, "kind", kind) || !read_u32(data, "step", event.step) ||
      !read(data, "rule_id", event.rule_id) || !read(data, "rule_name", event.rule_name) ||
      !read(data, "severity", event.severity) || !read(data, "retry_until", event.retry_until_ms)) {
    return bad();
  }
  const auto parsed_kind = parse_notification_kind(kind);
  if (!parsed_kind) return bad();
  event.kind = *parsed_kind;
  const auto alerts = data.find("alerts");
  if (alerts == data.end() || !alerts->is_array()) return bad();
  for (const json& item : *alerts) {
    NotifiedAlert alert;
    if (!read_alert(item, alert)) return bad();
    event.alerts.push_back(std::move(alert));
  }
  const auto suppressed = data.find("suppressed");
  if (suppressed == data.end()) return bad();
  if (!suppressed->is_null()) {
    Suppression suppression;
    if (!suppressed->is_object() || !read(*suppressed, "reason", suppression.reason) ||
        !read(*suppressed, "windows", suppression.windows)) {
      return bad();
    }
    event.suppressed = std::move(suppression);
  }
  return event;
}

json NotificationAttempted::to_json() const {
  return {{"attempt", attempt},
          {"ok", ok},
          {"http_status", http_status},
          {"error", error},
          {"next_attempt_at", next_attempt_at_ms}};
}

Result<NotificationAttempted> NotificationAttempted::from_json(const json& data,
                                                               std::uint32_t /*schema_version*/) {
  NotificationAttempted event;
  if (!data.is_object() || !read_u32(data, "attempt", event.attempt) || !read_bool(data, "ok", event.ok) ||
      !read_int(data, "http_status", event.http_status) || !read(data, "error", event.error) ||
      !read(data, "next_attempt_at", event.next_attempt_at_ms)) {
    return payload_error("bad NotificationAttempted payload");
  }
  return event;
}

Result<NotificationDelivered> NotificationDelivered::from_json(const json& data,
                                                               std::uint32_t /*schema_version*/) {
  NotificationDelivered event;
  if (!data.is_object() || !read_u32(data, "attempt", event.attempt)) {
    return payload_error("bad NotificationDelivered payload");
  }
  return event;
}

Result<NotificationAbandoned> NotificationAbandoned::from_json(const json& data,
                                                               std::uint32_t /*schema_version*/) {
  NotificationAbandoned event;
  if (!data.is_object() || !read(data, "reason", event.reason)) {
    return payload_error("bad NotificationAbandoned payload");
  }
  return event;
}

bool operator==(const NotificationRecord& left, const NotificationRecord& right) {
  return left.queued.to_json() == right.queued.to_json() && left.state == right.state &&
         left.queued_at_ms == right.queued_at_ms && left.next_attempt_at_ms == right.next_attempt_at_ms &&
         left.finished_at_ms == right.finished_at_ms && left.attempts == right.attempts &&
         left.recent_attempts == right.recent_attempts && left.abandon_reason == right.abandon_reason &&
         left.created_position == right.created_position && left.version == right.version &&
         left.last_position == right.last_position;
}

std::string notification_instance_id(std::string_view org, std::string_view notification_id) {
  return org_scoped_id(org, notification_id);
}

std::string notification_stream(std::string_view org, std::string_view notification_id) {
  return stream_name(kNotificationKind, notification_instance_id(org, notification_id));
}

std::string encode_notification(const NotificationRecord& record) {
  json attempts = json::array();
  for (const NotificationAttempt& attempt : record.recent_attempts)
    attempts.push_back(attempt_to_json(attempt));
  return notification_fields::dump({{"queued", record.queued.to_json()},
                                    {"state", to_string(record.state)},
                                    {"queued_at", record.queued_at_ms},
                                    {"next_attempt_at", record.next_attempt_at_ms},
                                    {"finished_at", record.finished_at_ms},
                                    {"attempts", record.attempts},
                                    {"recent_attempts", std::move(attempts)},
                                    {"abandon_reason", record.abandon_reason},
                                    {"created_position", record.created_position},
                                    {"version", record.version},
                                    {"last_position", record.last_position}});
}

Result<NotificationRecord> decode_notification(std::string_view bytes) {
  const auto data = json::parse(bytes, nullptr, /*allow_exceptions=*/false);
  const auto bad = [] { return payload_error("bad notification snapshot"); };
  if (!data.is_object()) return bad();
  NotificationRecord record;
  const auto queued = data.find("queued");
  if (queued == data.end()) return bad();
  auto parsed = NotificationQueued::from_json(*queued, NotificationQueued::kType.schema_version);
  if (!parsed) return bad();
  record.queued = std::move(*parsed);
  std::string state;
  if (!read(data, "state", state) || !read(data, "queued_at", record.queued_at_ms) ||
      !read(data, "next_attempt_at", record.next_attempt_at_ms) ||
      !read(data, "finished_at", record.finished_at_ms) || !read_u32(data, "attempts", record.attempts) ||
      !read(data, "abandon_reason", record.abandon_reason) ||
      !read(data, "created_position", record.created_position) || !read(data, "version", record.version) ||
      !read(data, "last_position", record.last_position)) {
    return bad();
  }
  const auto parsed_state = value_in(kStateNames, state);
  if (!parsed_state) return bad();
  record.state = *parsed_state;
  const auto attempts = data.find("recent_attempts");
  if (attempts == data.end() || !attempts->is_array()) return bad();
  for (const json& item : *attempts) {
    NotificationAttempt attempt;
    if (!read_attempt(item, attempt)) return bad();
    record.recent_attempts.push_back(std::move(attempt));
  }
  return record;
}

Status apply(NotificationRecord& record, const NotificationEvent& event, const EventHeader& header) {
  const std::string_view type = type_of(event).name;
  if (header.version != record.version + 1) return corrupt_event(header, type, "out of version order");
  if (const auto* queued = std::get_if<NotificationQueued>(&event)) {
    if (record.exists()) return corrupt_event(header, type, "a notification is queued once");
    if (stream_id_of(header.stream, kNotificationKind) !=
        std::optional<std::string_view>(notification_instance_id(queued->org, queued->notification_id))) {
      return corrupt_event(header, type, "org/notification_id differs from the stream id");
    }
    record.queued = *queued;
    record.queued_at_ms = header.time_ms;
    record.created_position = header.position;
    if (queued->suppressed) {
      record.state = NotificationState::suppressed;
      record.finished_at_ms = header.time_ms;
    } else {
      record.state = NotificationState::pending;
      record.next_attempt_at_ms = header.time_ms;
    }
  } else {
    if (!record.exists()) return corrupt_event(header, type, "a change to a notification never queued");
    if (is_final(record.state)) return corrupt_event(header, type, "a change to a finished notification");
    if (const auto* attempted = std::get_if<NotificationAttempted>(&event)) {
      if (attempted->attempt != record.attempts + 1)
        return corrupt_event(header, type, "attempts out of order");
      record.attempts = attempted->attempt;
      record.next_attempt_at_ms = attempted->next_attempt_at_ms;
      record.recent_attempts.push_back(NotificationAttempt{attempted->attempt, header.time_ms, attempted->ok,
                                                           attempted->http_status, attempted->error});
      if (record.recent_attempts.size() > kMaxKeptAttempts)
        record.recent_attempts.erase(record.recent_attempts.begin());
    } else if (std::holds_alternative<NotificationDelivered>(event)) {
      record.state = NotificationState::delivered;
      record.next_attempt_at_ms = 0;
      record.finished_at_ms = header.time_ms;
    } else {
      record.state = NotificationState::abandoned;
      record.abandon_reason = std::get<NotificationAbandoned>(event).reason;
      record.next_attempt_at_ms = 0;
      record.finished_at_ms = header.time_ms;
    }
  }
  record.version = header.version;
  record.last_position = header.position;
  return Status::success();
}

Status apply(NotificationRecord& record, const Event& event) {
  return apply_stored<NotificationEvent>(record, event);
}

}  // namespace muster
