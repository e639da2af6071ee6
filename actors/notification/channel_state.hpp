#pragma once
/// Notification channels: where alerts are sent, a webhook or an email
/// address list. Each channel is a stream "notification-channel:<org>/<id>":
///
///   NotificationChannelCreated {channel_id, org, name, type: webhook|email,
///                               webhook: url, header_names, has_secret, format, send_resolved;
///                               email: to, from, smtp_url, smtp_username, has_smtp_password,
///                               starttls; principal}
///   NotificationChannelDeleted {}
///
/// What is secret (the webhook's URL beyond its host, signing secret and
/// header values, the SMTP password) is never in an event: the channel service keeps it in a file of
/// its own (channel_secrets.hpp), written before the event is appended. The
/// event records only that there is one (`has_secret`, `header_names`).

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

inline constexpr std::string_view kNotificationChannelKind = "notification-channel";

enum class ChannelType { webhook, email };
const char* to_string(ChannelType type);
std::optional<ChannelType> parse_channel_type(std::string_view text);

/// How a webhook's body is written: muster's own JSON, Slack's `{"text"}`,
/// or a Microsoft Teams message card.
enum class WebhookFormat { json, slack, teams };
const char* to_string(WebhookFormat format);
std::optional<WebhookFormat> parse_webhook_format(std::string_view text);

/// A channel as the log knows it (no secret in it).
struct ChannelSettings {
  std::string name;
  ChannelType type = ChannelType::webhook;
  // webhook
  /// http:// or https://, scheme, host and port only, "/***" standing for
  /// a path (the whole URL is a secret: see ChannelSecret).
  std::string url;
  std::vector<std::string> header_names;  ///< Values are secret.
  bool has_secret = false;
  WebhookFormat format = WebhookFormat::json;
  bool send_resolved = true;  ///< Also for email.
  // email
  std::vector<std::string> to;
  std::string from;
  std::string smtp_url;  ///< smtp:// or smtps://
  std::string smtp_username;
  bool has_smtp_password = false;
  bool starttls = false;
};
bool operator==(const ChannelSettings& left, const ChannelSettings& right);

nlohmann::json channel_settings_to_json(const ChannelSettings& settings);
/// Errors: `corruption` for a payload that is not one.
Result<ChannelSettings> channel_settings_from_json(const nlohmann::json& data);

struct NotificationChannelCreated {
  static constexpr EventType kType{"NotificationChannelCreated", kNotificationChannelKind, 1};
  std::string channel_id;
  std::string org;
  ChannelSettings settings;
  std::string principal;

  nlohmann::json to_json() const;
  static Result<NotificationChannelCreated> from_json(const nlohmann::json& data,
                                                      std::uint32_t schema_version);
};

struct NotificationChannelDeleted {
  static constexpr EventType kType{"NotificationChannelDeleted", kNotificationChannelKind, 1};
  nlohmann::json to_json() const { return nlohmann::json::object(); }
  static Result<NotificationChannelDeleted> from_json(const nlohmann::json&, std::uint32_t) {
    return NotificationChannelDeleted{};
  }
};

using NotificationChannelEvent = std::variant<NotificationChannelCreated, NotificationChannelDeleted>;

struct NotificationChannel {
  std::string channel_id;
  std::string org;
  ChannelSettings settings;
  std::string principal;
  bool deleted = false;
  TimeMs created_at_ms = 0;
  TimeMs deleted_at_ms = 0;
  std::uint64_t created_position = 0;
  std::uint64_t version = 0;
  std::uint64_t last_position = 0;

  bool exists() const { return version > 0; }
};
bool operator==(const NotificationChannel& left, const NotificationChannel& right);

/// "<org>/<channel_id>", and "notification-channel:<org>/<channel_id>".
std::string channel_instance_id(std::string_view org, std::string_view channel_id);
std::string channel_stream(std::string_view org, std::string_view channel_id);

/// The read model's snapshot form, and back (`corruption` for damage).
std::string encode_channel(const NotificationChannel& channel);
Result<NotificationChannel> decode_channel(std::string_view bytes);

/// Folds one event of a "notification-channel:" stream. Errors: `corruption`, state unchanged.
Status apply(NotificationChannel& channel, const NotificationChannelEvent& event, const EventHeader& header);
Status apply(NotificationChannel& channel, const Event& event);

}  // namespace muster
