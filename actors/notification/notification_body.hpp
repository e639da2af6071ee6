#pragma once
/// What a notification says, built from its NotificationQueued event (and
/// the time it was queued) alone, so every attempt of one notification
/// sends the same bytes: the webhook's JSON (muster's own, Slack's or
/// Teams'), the email's subject and text, and the signature of a body.

#include <string>
#include <string_view>

#include "actors/notification/channel_state.hpp"
#include "actors/notification/notification_state.hpp"

namespace muster {

/// The webhook's body in `format`:
/// - json: {notification_id, kind, org, rule: {id, name}, severity, step,
///   alerts: [{alert_id, episode, subject: {kind, id}, summary, fired_at,
///   resolved_at?}], count} (times RFC 3339);
/// - slack: {"text": the text below};
/// - teams: a MessageCard {@type, @context, summary, title, text}.
std::string webhook_body(const NotificationQueued& notification, WebhookFormat format);

/// One line: "[FIRING] <rule> (<severity>): <n> alert(s)", "[RESOLVED] ...",
/// "[ESCALATION <step>] ...".
std::string notification_title(const NotificationQueued& notification);
/// The title, then one line per alert ("- agent <id>: <summary>").
std::string notification_text(const NotificationQueued& notification);

/// An email (RFC 5322: From, To, Subject, Date, Message-ID, then the text)
/// as libcurl's SMTP upload sends it, lines ending in CRLF.
std::string email_message(const NotificationQueued& notification, const ChannelSettings& channel,
                          TimeMs queued_at_ms);

/// "sha256=" and the lowercase hex HMAC-SHA256 of `body` under `secret`:
/// the X-Muster-Signature header.
std::string webhook_signature(std::string_view secret, std::string_view body);

}  // namespace muster
