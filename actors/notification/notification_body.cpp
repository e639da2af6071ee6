#include "actors/notification/notification_body.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <ctime>

#include <fmt/format.h>

#include "actors/notification/json_fields.hpp"
#include "common/time_format.hpp"

namespace muster {
namespace {

using nlohmann::json;

const char* kind_label(const NotificationQueued& notification) {
  switch (notification.kind) {
    case NotificationKind::firing: return "FIRING";
    case NotificationKind::resolved: return "RESOLVED";
    case NotificationKind::escalation: return "ESCALATION";
  }
  return "FIRING";
}

// Header values stay one line: control characters become spaces.
std::string one_line(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  }
  return out;
}

// "Wed, 02 Dec 2026 08:05:04 +0000".
std::string rfc5322_date(TimeMs time_ms) {
  const std::time_t seconds = static_cast<std::time_t>(time_ms / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[64];
  std::strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S +0000", &utc);
  return text;
}

}  // namespace

std::string notification_title(const NotificationQueued& notification) {
  std::string label = kind_label(notification);
  if (notification.kind == NotificationKind::escalation) label += fmt::format(" {}", notification.step + 1);
  return one_line(fmt::format("[{}] {} ({}): {} alert{}", label, notification.rule_name,
                              notification.severity, notification.alerts.size(),
                              notification.alerts.size() == 1 ? "" : "s"));
}

std::string notification_text(const NotificationQueued& notification) {
  std::string text = notification_title(notification);
  for (const NotifiedAlert& alert : notification.alerts) {
    text += fmt::format("\n- {} {}: {}", alert.subject_kind, alert.subject_id, one_line(alert.summary));
  }
  return text;
}

std::string webhook_body(const NotificationQueued& notification, WebhookFormat format) {
  if (format == WebhookFormat::slack)
    return notification_fields::dump({{"text", notification_text(notification)}});
  if (format == WebhookFormat::teams) {
    std::string text = notification_text(notification);
    // Teams renders Markdown: one paragraph per line.
    std::string paragraphs;
    for (const char c : text) {
      if (c == '\n') {
        paragraphs += "\n\n";
      } else {
        paragraphs += c;
      }
    }
    return notification_fields::dump({{"@type", "MessageCard"},
                                      {"@context", "http://schema.org/extensions"},
                                      {"summary", notification_title(notification)},
                                      {"title", notification_title(notification)},
                                      {"text", paragraphs}});
  }
  json alerts = json::array();
  for (const NotifiedAlert& alert : notification.alerts) {
    json item = {{"alert_id", alert.alert_id},
                 {"episode", alert.episode},
                 {"subject", {{"kind", alert.subject_kind}, {"id", alert.subject_id}}},
                 {"summary", alert.summary},
                 {"fired_at", format_rfc3339(alert.fired_at_ms)}};
    if (alert.resolved_at_ms > 0) item["resolved_at"] = format_rfc3339(alert.resolved_at_ms);
    alerts.push_back(std::move(item));
  }
  return notification_fields::dump(
      {{"notification_id", notification.notification_id},
       {"kind", to_string(notification.kind)},
       {"org", notification.org},
       {"rule", {{"id", notification.rule_id}, {"name", notification.rule_name}}},
       {"severity", notification.severity},
       {"step", notification.step},
       {"count", notification.alerts.size()},
       {"alerts", std::move(alerts)}});
}

std::string email_message(const NotificationQueued& notification, const ChannelSettings& channel,
                          TimeMs queued_at_ms) {
  std::string to;
  for (const std::string& address : channel.to) to += (to.empty() ? "" : ", ") + one_line(address);
  std::string message;
  message += "From: " + one_line(channel.from) + "\r\n";
  message += "To: " + to + "\r\n";
  message += "Subject: " + notification_title(notification) + "\r\n";
  message += "Date: " + rfc5322_date(queued_at_ms) + "\r\n";
  message += "Message-ID: <" + notification.notification_id + "@muster>\r\n";
  message += "X-Muster-Notification-Id: " + notification.notification_id + "\r\n";
  message += "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n";
  const std::string text = notification_text(notification);
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t end = text.find('\n', start);
    // libcurl dot-stuffs lines that start with '.' itself.
    message += text.substr(start, end == std::string::npos ? std::string::npos : end - start) + "\r\n";
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return message;
}

std::string webhook_signature(std::string_view secret, std::string_view body) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(body.data()), body.size(), digest, &length);
  std::string hex = "sha256=";
  for (unsigned int index = 0; index < length; ++index) hex += fmt::format("{:02x}", digest[index]);
  return hex;
}

}  // namespace muster
