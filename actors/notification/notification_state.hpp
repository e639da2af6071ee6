#pragma once
/// Notifications: the outbox of alert notifications, in the log. Each
/// notification is one message to one channel (or the record that one was
/// suppressed), a stream "notification:<org>/<notification_id>":
///
///   NotificationQueued    {notification_id, org, channel_id, kind: firing|resolved|escalation,
///                          step, rule_id, rule_name, severity, alerts: [{alert_id, episode,
///                          subject: {kind, id}, summary, fired_at, resolved_at}],
///                          suppressed: null | {reason: maintenance|silenced, windows}, retry_until}
///   NotificationAttempted {attempt, ok, http_status, error, next_attempt_at}
///   NotificationDelivered {attempt}
///   NotificationAbandoned {reason}
///
/// The message's bytes are built from the NotificationQueued event and the
/// channel alone (notification_body.hpp), so every attempt sends the same
/// body. A suppressed notification is final when queued: nothing is sent.
/// States: pending → delivered | abandoned; or suppressed.

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

inline constexpr std::string_view kNotificationKind = "notification";

enum class NotificationKind { firing, resolved, escalation };
const char* to_string(NotificationKind kind);
std::optional<NotificationKind> parse_notification_kind(std::string_view text);

enum class NotificationState { pending, delivered, abandoned, suppressed };
const char* to_string(NotificationState state);
bool is_final(NotificationState state);

/// One alert a notification tells about.
struct NotifiedAlert {
  std::string alert_id;
  std::uint64_t episode = 0;
  std::string subject_kind;  ///< agent, group, org
  std::string subject_id;
  std::string summary;
  TimeMs fired_at_ms = 0;
  TimeMs resolved_at_ms = 0;  ///< 0 unless resolved.
};
bool operator==(const NotifiedAlert& left, const NotifiedAlert& right);

/// Why nothing was sent.
struct Suppression {
  std::string reason;                ///< "maintenance" or "silenced".
  std::vector<std::string> windows;  ///< The maintenance windows' ids.
};
bool operator==(const Suppression& left, const Suppression& right);

struct NotificationQueued {
  static constexpr EventType kType{"NotificationQueued", kNotificationKind, 1};
  std::string notification_id;
  std::string org;
  std::string channel_id;  ///< Empty when suppressed.
  NotificationKind kind = NotificationKind::firing;
  std::uint32_t step = 0;  ///< Escalation: the rule's step (0-based); else 0.
  std::string rule_id;
  std::string rule_name;
  std::string severity;
  std::vector<NotifiedAlert> alerts;
  std::optional<Suppression> suppressed;
  TimeMs retry_until_ms = 0;  ///< No attempt after this; then abandoned.

  nlohmann::json to_json() const;
  static Result<NotificationQueued> from_json(const nlohmann::json& data, std::uint32_t schema_version);
};

struct NotificationAttempted {
  static constexpr EventType kType{"NotificationAttempted", kNotificationKind, 1};
  std::uint32_t attempt = 1;
  bool ok = false;
  int http_status = 0;            ///< 0: no HTTP answer (email, a connection error).
  std::string error;              ///< Empty when ok.
  TimeMs next_attempt_at_ms = 0;  ///< 0: none (delivered, or given up).

  nlohmann::json to_json() const;
  static Result<NotificationAttempted> from_json(const nlohmann::json& data, std::uint32_t schema_version);
};

struct NotificationDelivered {
  static constexpr EventType kType{"NotificationDelivered", kNotificationKind, 1};
  std::uint32_t attempt = 1;

  nlohmann::json to_json() const { return {{"attempt", attempt}}; }
  static Result<NotificationDelivered> from_json(const nlohmann::json& data, std::uint32_t schema_version);
};

struct NotificationAbandoned {
  static constexpr EventType kType{"NotificationAbandoned", kNotificationKind, 1};
  std::string reason;

  nlohmann::json to_json() const { return {{"reason", reason}}; }
  static Result<NotificationAbandoned> from_json(const nlohmann::json& data, std::uint32_t schema_version);
};

using NotificationEvent =
    std::variant<NotificationQueued, NotificationAttempted, NotificationDelivered, NotificationAbandoned>;

/// One attempt as recorded.
struct NotificationAttempt {
  std::uint32_t attempt = 0;
  TimeMs at_ms = 0;
  bool ok = false;
  int http_status = 0;
  std::string error;
};
bool operator==(const NotificationAttempt& left, const NotificationAttempt& right);

/// Attempts a record keeps (the latest); the count goes on.
inline constexpr std::size_t kMaxKeptAttempts = 20;

struct NotificationRecord {
  NotificationQueued queued;  ///< What to send (ids, kind, alerts...).
  NotificationState state = NotificationState::pending;
  TimeMs queued_at_ms = 0;
  TimeMs next_attempt_at_ms = 0;  ///< Pending: when the next attempt is due.
  TimeMs finished_at_ms = 0;
  std::uint32_t attempts = 0;
  std::vector<NotificationAttempt> recent_attempts;  ///< At most kMaxKeptAttempts, oldest first.
  std::string abandon_reason;
  std::uint64_t created_position = 0;
  std::uint64_t version = 0;
  std::uint64_t last_position = 0;

  bool exists() const { return version > 0; }
  const std::string& notification_id() const { return queued.notification_id; }
  const std::string& org() const { return queued.org; }
};
bool operator==(const NotificationRecord& left, const NotificationRecord& right);

std::string notification_instance_id(std::string_view org, std::string_view notification_id);
std::string notification_stream(std::string_view org, std::string_view notification_id);

std::string encode_notification(const NotificationRecord& record);
Result<NotificationRecord> decode_notification(std::string_view bytes);

/// Folds one event of a "notification:" stream. Errors: `corruption`, state unchanged.
Status apply(NotificationRecord& record, const NotificationEvent& event, const EventHeader& header);
Status apply(NotificationRecord& record, const Event& event);

}  // namespace muster
