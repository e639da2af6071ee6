#include "actors/notification/channel_state.hpp"

#include <utility>

#include "actors/notification/json_fields.hpp"
#include "actors/runtime/stream_id.hpp"
#include "common/enum_names.hpp"

namespace muster {
namespace {

using nlohmann::json;
using notification_fields::read_bool;
using payload::read;

constexpr std::pair<ChannelType, const char*> kTypeNames[] = {
    {ChannelType::webhook, "webhook"},
    {ChannelType::email, "email"},
};
constexpr std::pair<WebhookFormat, const char*> kFormatNames[] = {
    {WebhookFormat::json, "json"},
    {WebhookFormat::slack, "slack"},
    {WebhookFormat::teams, "teams"},
};

bool read_channel_fields(const json& data, NotificationChannel& channel) {
  return read(data, "channel_id", channel.channel_id) && read(data, "org", channel.org) &&
         read(data, "principal", channel.principal);
}

}  // namespace

const char* to_string(ChannelType type) {
  return name_in(kTypeNames, type);
}

std::optional<ChannelType> parse_channel_type(std::string_view text) {
  return value_in(kTypeNames, text);
}

const char* to_string(WebhookFormat format) {
  return name_in(kFormatNames, format);
}

std::optional<WebhookFormat> parse_webhook_format(std::string_view text) {
  return value_in(kFormatNames, text);
}

bool operator==(const ChannelSettings& left, const ChannelSettings& right) {
  return left.name == right.name && left.type == right.type && left.url == right.url &&
         left.header_names == right.header_names && left.has_secret == right.has_secret &&
         left.format == right.format && left.send_resolved == right.send_resolved && left.to == right.to &&
         left.from == right.from && left.smtp_url == right.smtp_url &&
         left.smtp_username == right.smtp_username && left.has_smtp_password == right.has_smtp_password &&
         left.starttls == right.starttls;
}

json channel_settings_to_json(const ChannelSettings& settings) {
  json out = {
      {"name", settings.name}, {"type", to_string(settings.type)}, {"send_resolved", settings.send_resolved}};
  if (settings.type == ChannelType::webhook) {
    out["url"] = settings.url;
    out["header_names"] = settings.header_names;
    out["has_secret"] = settings.has_secret;
    out["format"] = to_string(settings.format);
  } else {
    out["to"] = settings.to;
    out["from"] = settings.from;
    out["smtp_url"] = settings.smtp_url;
    out["smtp_username"] = settings.smtp_username;
    out["has_smtp_password"] = settings.has_smtp_password;
    out["starttls"] = settings.starttls;
  }
  return out;
}

Result<ChannelSettings> channel_settings_from_json(const json& data) {
  const auto bad = [] { return payload_error("bad notification channel settings"); };
  if (!data.is_object()) return bad();
  ChannelSettings settings;
  std::string type;
  if (!read(data, "name", settings.name) || !read(data, "type", type) ||
      !read_bool(data, "send_resolved", settings.send_resolved)) {
    return bad();
  }
  const auto parsed_type = parse_channel_type(type);
  if (!parsed_type) return bad();
  settings.type = *parsed_type;
  if (settings.type == ChannelType::webhook) {
    std::string format;
    if (!read(data, "url", settings.url) || !read(data, "header_names", settings.header_names) ||
        !read_bool(data, "has_secret", settings.has_secret) || !read(data, "format", format)) {
      return bad();
    }
    const auto parsed_format = parse_webhook_format(format);
    if (!parsed_format) return bad();
    settings.format = *parsed_format;
  } else if (!read(data, "to", settings.to) || !read(data, "from", settings.from) ||
             !read(data, "smtp_url", settings.smtp_url) ||
             !read(data, "smtp_username", settings.smtp_username) ||
             !read_bool(data, "has_smtp_password", settings.has_smtp_password) ||
             !read_bool(data, "starttls", settings.starttls)) {
    return bad();
  }
  return settings;
}

json NotificationChannelCreated::to_json() const {
  return {{"channel_id", channel_id},
          {"org", org},
          {"settings", channel_settings_to_json(settings)},
          {"principal", principal}};
}

Result<NotificationChannelCreated> NotificationChannelCreated::from_json(const json& data,
                                                                         std::uint32_t /*schema_version*/) {
  NotificationChannelCreated event;
  if (!read(data, "channel_id", event.channel_id) || !read(data, "org", event.org) ||
      !read(data, "principal", event.principal)) {
    return payload_error("bad NotificationChannelCreated payload");
  }
  const auto settings = data.find("settings");
  if (settings == data.end()) return payload_error("bad NotificationChannelCreated payload");
  auto parsed = channel_settings_from_json(*settings);
  if (!parsed) return parsed.error();
  event.settings = std::move(*parsed);
  return event;
}

bool operator==(const NotificationChannel& left, const NotificationChannel& right) {
  return left.channel_id == right.channel_id && left.org == right.org && left.settings == right.settings &&
         left.principal == right.principal && left.deleted == right.deleted &&
         left.created_at_ms == right.created_at_ms && left.deleted_at_ms == right.deleted_at_ms &&
         left.created_position == right.created_position && left.version == right.version &&
         left.last_position == right.last_position;
}

std::string channel_instance_id(std::string_view org, std::string_view channel_id) {
  return org_scoped_id(org, channel_id);
}

std::string channel_stream(std::string_view org, std::string_view channel_id) {
  return stream_name(kNotificationChannelKind, channel_instance_id(org, channel_id));
}

std::string encode_channel(const NotificationChannel& channel) {
  return notification_fields::dump({{"channel_id", channel.channel_id},
                                    {"org", channel.org},
                                    {"settings", channel_settings_to_json(channel.settings)},
                                    {"principal", channel.principal},
                                    {"deleted", channel.deleted},
                                    {"created_at", channel.created_at_ms},
                                    {"deleted_at", channel.deleted_at_ms},
                                    {"created_position", channel.created_position},
                                    {"version", channel.version},
                                    {"last_position", channel.last_position}});
}

Result<NotificationChannel> decode_channel(std::string_view bytes) {
  const auto data = json::parse(bytes, nullptr, /*allow_exceptions=*/false);
  const auto bad = [] { return payload_error("bad notification channel snapshot"); };
  if (!data.is_object()) return bad();
  NotificationChannel channel;
  if (!read_channel_fields(data, channel) || !read_bool(data, "deleted", channel.deleted) ||
      !read(data, "created_at", channel.created_at_ms) || !read(data, "deleted_at", channel.deleted_at_ms) ||
      !read(data, "created_position", channel.created_position) || !read(data, "version", channel.version) ||
      !read(data, "last_position", channel.last_position)) {
    return bad();
  }
  const auto settings = data.find("settings");
  if (settings == data.end()) return bad();
  auto parsed = channel_settings_from_json(*settings);
  if (!parsed) return bad();
  channel.settings = std::move(*parsed);
  return channel;
}

Status apply(NotificationChannel& channel, const NotificationChannelEvent& event, const EventHeader& header) {
  const std::string_view type = type_of(event).name;
  if (header.version != channel.version + 1) return corrupt_event(header, type, "out of version order");
  if (const auto* created = std::get_if<NotificationChannelCreated>(&event)) {
    if (channel.exists()) return corrupt_event(header, type, "a channel is created once");
    if (stream_id_of(header.stream, kNotificationChannelKind) !=
        std::optional<std::string_view>(channel_instance_id(created->org, created->channel_id))) {
      return corrupt_event(header, type, "org/channel_id differs from the stream id");
    }
    channel.channel_id = created->channel_id;
    channel.org = created->org;
    channel.settings = created->settings;
    channel.principal = created->principal;
    channel.created_at_ms = header.time_ms;
    channel.created_position = header.position;
  } else {
    if (!channel.exists()) return corrupt_event(header, type, "a change to a channel never created");
    if (channel.deleted) return corrupt_event(header, type, "a change to a deleted channel");
    channel.deleted = true;
    channel.deleted_at_ms = header.time_ms;
  }
  channel.version = header.version;
  channel.last_position = header.position;
  return Status::success();
}

Status apply(NotificationChannel& channel, const Event& event) {
  return apply_stored<NotificationChannelEvent>(channel, event);
}

}  // namespace muster
