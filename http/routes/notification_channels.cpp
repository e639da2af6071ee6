// /api/v1/notification-channels: where alerts are sent (webhooks, email).
// Viewers read, operators create and delete. A channel's secret, header
// values and SMTP password are taken on creation and never answered: the
// answer shows "***" where one is set. Also GET /api/v1/alerts/{alert_id}/deliveries
// (viewer): each notification about an alert with its attempts and outcome.

#include <fmt/format.h>

#include "actors/notification/channel_decider.hpp"
#include "common/time_format.hpp"
#include "http/call.hpp"
#include "http/json_views.hpp"

namespace muster::http::routes {
namespace {

using nlohmann::json;

constexpr const char* kRedacted = "***";

// `out` = the member `key` as a string; a problem when it is there but not one.
void read_string(const json& body, const char* key, std::string& out, json& problems,
                 const char* problem_key) {
  const json* value = present_member(body, key);
  if (value == nullptr) return;
  if (!value->is_string()) {
    problems[problem_key] = "must be a string";
    return;
  }
  out = value->get<std::string>();
}

Parsed<ChannelRequest> parse_channel(const json& body) {
  json problems = json::object();
  ChannelRequest request;
  const json* type = present_member(body, "type");
  std::optional<ChannelType> parsed_type;
  if (type != nullptr && type->is_string())
    parsed_type = parse_channel_type(type->get_ref<const std::string&>());
  if (!parsed_type) {
    problems["type"] = "is required: webhook or email";
    return Invalid{"request body failed validation", "VALIDATION_FAILED", std::move(problems)};
  }
  request.settings.type = *parsed_type;
  const bool webhook = *parsed_type == ChannelType::webhook;
  for (const auto& item : body.items()) {
    const std::string& key = item.key();
    const bool common = key == "name" || key == "type" || key == "send_resolved";
    const bool known =
        common || (webhook ? key == "url" || key == "headers" || key == "secret" || key == "format"
                           : key == "to" || key == "from" || key == "smtp");
    if (!known) {
      problems[key] = webhook
                          ? "is not a member of a webhook channel (name, type, url, headers, secret, format, "
                            "send_resolved)"
                          : "is not a member of an email channel (name, type, to, from, smtp, send_resolved)";
    }
  }
  const json* name = present_member(body, "name");
  if (name == nullptr || !name->is_string()) {
    problems["name"] = "is required: a string";
  } else {
    request.settings.name = name->get<std::string>();
  }
  if (const json* send_resolved = present_member(body, "send_resolved")) {
    if (!send_resolved->is_boolean()) {
      problems["send_resolved"] = "must be true or false";
    } else {
      request.settings.send_resolved = send_resolved->get<bool>();
    }
  }
  if (webhook) {
    const json* url = present_member(body, "url");
    if (url == nullptr || !url->is_string()) {
      problems["url"] = "is required: an http:// or https:// URL";
    } else {
      request.settings.url = url->get<std::string>();
    }
    if (const json* headers = present_member(body, "headers")) {
      if (!headers->is_object()) {
        problems["headers"] = "must be an object of header names to string values";
      } else {
        for (const auto& header : headers->items()) {
          if (!header.value().is_string()) {
            problems["headers"] = "must be an object of header names to string values";
            break;
          }
          request.secret.headers[header.key()] = header.value().get<std::string>();
        }
      }
    }
    read_string(body, "secret", request.secret.secret, problems, "secret");
    if (const json* format = present_member(body, "format")) {
      const auto parsed =
          format->is_string() ? parse_webhook_format(format->get_ref<const std::string&>()) : std::nullopt;
      if (!parsed) {
        problems["format"] = "must be json, slack or teams";
      } else {
        request.settings.format = *parsed;
      }
    }
  } else {
    const json* to = present_member(body, "to");
    if (to == nullptr || !to->is_array()) {
      problems["to"] = "is required: a list of email addresses";
    } else {
      for (const json& address : *to) {
        if (!address.is_string()) {
          problems["to"] = "must be a list of email addresses";
          break;
        }
        request.settings.to.push_back(address.get<std::string>());
      }
    }
    const json* from = present_member(body, "from");
    if (from == nullptr || !from->is_string()) {
      problems["from"] = "is required: an email address";
    } else {
      request.settings.from = from->get<std::string>();
    }
    const json* smtp = present_member(body, "smtp");
    if (smtp == nullptr || !smtp->is_object()) {
      problems["smtp"] = "is required: {url, username?, password?, starttls?}";
    } else {
      for (const auto& item : smtp->items()) {
        if (item.key() != "url" && item.key() != "username" && item.key() != "password" &&
            item.key() != "starttls") {
          problems["smtp." + item.key()] = "is not a member of smtp (url, username, password, starttls)";
        }
      }
      const json* url = present_member(*smtp, "url");
      if (url == nullptr || !url->is_string()) {
        problems["smtp.url"] = "is required: an smtp:// or smtps:// URL";
      } else {
        request.settings.smtp_url = url->get<std::string>();
      }
      read_string(*smtp, "username", request.settings.smtp_username, problems, "smtp.username");
      read_string(*smtp, "password", request.secret.smtp_password, problems, "smtp.password");
      if (const json* starttls = present_member(*smtp, "starttls")) {
        if (!starttls->is_boolean()) {
          problems["smtp.starttls"] = "must be true or false";
        } else {
          request.settings.starttls = starttls->get<bool>();
        }
      }
    }
  }
  if (!problems.empty())
    return Invalid{"request body failed validation", "VALIDATION_FAILED", std::move(problems)};
  return request;
}

json channel_to_json(const NotificationChannel& channel) {
  const ChannelSettings& settings = channel.settings;
  json out = {{"channel_id", channel.channel_id},
              {"org", channel.org},
              {"name", settings.name},
              {"type", to_string(settings.type)},
              {"send_resolved", settings.send_resolved},
              {"created_at", format_rfc3339(channel.created_at_ms)},
              {"created_by", channel.principal}};
  if (settings.type == ChannelType::webhook) {
    json headers = json::object();
    for (const std::string& header : settings.header_names) headers[header] = kRedacted;
    out["url"] = settings.url;
    out["headers"] = std::move(headers);
    out["secret"] = settings.has_secret ? json(kRedacted) : json(nullptr);
    out["has_secret"] = settings.has_secret;
    out["format"] = to_string(settings.format);
  } else {
    out["to"] = settings.to;
    out["from"] = settings.from;
    out["smtp"] = {{"url", settings.smtp_url},
                   {"username", settings.smtp_username},
                   {"password", settings.has_smtp_password ? json(kRedacted) : json(nullptr)},
                   {"starttls", settings.starttls}};
  }
  return out;
}

void create_channel(const std::shared_ptr<Call>& call) {
  std::string org;
  json body;
  if (!call->require_org(org) || !call->parse_body(false, body)) return;
  auto parsed = parse_channel(body);
  if (auto* invalid = std::get_if<Invalid>(&parsed)) return call->reply_invalid(*invalid);
  call->await<NotificationOutcome<NotificationChannel>>(
      "BUSY",
      [&](auto done) {
        call->services.notifications->create_channel(org, std::get<ChannelRequest>(parsed), call->context,
                                                     std::move(done));
      },
      [call](Result<NotificationOutcome<NotificationChannel>> outcome) {
        if (!outcome) return call->reply_failure(outcome.error());
        Response response;
        response.status = 201;
        response.headers.emplace_back("Location",
                                      "/api/v1/notification-channels/" + outcome->record.channel_id);
        response.body = channel_to_json(outcome->record).dump(-1, ' ', false, json::error_handler_t::replace);
        call->reply(std::move(response));
      });
}

void list_channels(const std::shared_ptr<Call>& call) {
  call->when_projected([call] {
    json channels = json::array();
    for (const NotificationChannel& channel : call->services.notifications->channels(call->principal)) {
      channels.push_back(channel_to_json(channel));
    }
    call->reply_json(200, {{"channels", std::move(channels)}});
  });
}

void get_channel(const std::shared_ptr<Call>& call) {
  call->when_projected([call] {
    const auto channel = call->services.notifications->channel(call->principal, call->params["channel_id"]);
    if (!channel) return call->reply_failure(channel.error());
    call->reply_json(200, channel_to_json(*channel));
  });
}

void delete_channel(const std::shared_ptr<Call>& call) {
  const std::string channel_id = call->params["channel_id"];
  call->await<NotificationOutcome<NotificationChannel>>(
      "BUSY",
      [&](auto done) {
        call->services.notifications->delete_channel(call->principal, channel_id, call->context,
                                                     std::move(done));
      },
      [call](Result<NotificationOutcome<NotificationChannel>> outcome) {
        if (!outcome) return call->reply_failure(outcome.error());
        call->reply_json(
            200,
            {{"channel_id", outcome->record.channel_id}, {"deleted", true}, {"position", outcome->position}});
      });
}

void list_deliveries(const std::shared_ptr<Call>& call) {
  call->when_projected([call] {
    const std::string alert_id = call->params["alert_id"];
    json deliveries = json::array();
    for (const NotificationRecord& record :
         call->services.notifications->deliveries(call->principal, alert_id)) {
      deliveries.push_back(delivery_to_json(record));
    }
    call->reply_json(200, {{"alert_id", alert_id}, {"deliveries", std::move(deliveries)}});
  });
}

}  // namespace

void add_notification_channels(RouteTable& table) {
  using C = Credential;
  table.add("POST", "/api/v1/notification-channels",
            {create_channel, C::api_key, Role::operator_, false, true});
  table.add("GET", "/api/v1/notification-channels", any_node({list_channels, C::api_key, Role::viewer}));
  table.add("GET", "/api/v1/notification-channels/{channel_id}",
            any_node({get_channel, C::api_key, Role::viewer}));
  table.add("DELETE", "/api/v1/notification-channels/{channel_id}",
            {delete_channel, C::api_key, Role::operator_});
  table.add("GET", "/api/v1/alerts/{alert_id}/deliveries",
            any_node({list_deliveries, C::api_key, Role::viewer}));
}

}  // namespace muster::http::routes
