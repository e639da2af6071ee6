#pragma once
/// Sending one notification once: a webhook POST or an email over SMTP,
/// both through libcurl, each bounded by timeouts so a receiver that hangs
/// holds its sender's thread for `timeout` at most. Blocking: callers run
/// them on the notification service's sender threads, never on an actor,
/// the timer thread or the projection runner's.

#include <map>
#include <string>

#include "actors/notification/channel_state.hpp"
#include "actors/notification/notification_state.hpp"
#include "common/clock.hpp"

namespace muster {

/// What a channel keeps outside the log (channel_secrets.hpp).
struct ChannelSecret {
  /// The webhook's URL whole: a path or query may carry a token (Slack's
  /// do), so the log and answers keep only its scheme and host.
  std::string url;
  std::string secret;                          ///< Webhook signing secret; empty: unsigned.
  std::map<std::string, std::string> headers;  ///< Webhook headers, name -> value.
  std::string smtp_password;
};

struct SenderOptions {
  /// Longest a connection may take to open. Default: 5 s.
  TimeMs connect_timeout_ms = 5'000;
  /// Longest one attempt may take in all. Default: 10 s.
  TimeMs timeout_ms = 10'000;
};

struct SendOutcome {
  bool ok = false;
  int http_status = 0;  ///< The webhook's answer; 0 for none (and for email).
  std::string error;    ///< Why it failed, for the record (never a secret).
};

/// POSTs the notification's body (notification_body.hpp) to the channel's
/// URL (the secret's, whole) with its headers, Content-Type: application/json,
/// X-Muster-Notification-Id and, with a secret, X-Muster-Signature. Any
/// 2xx is delivered.
SendOutcome send_webhook(const NotificationQueued& notification, const ChannelSettings& channel,
                         const ChannelSecret& secret, const SenderOptions& options);

/// Sends the notification's email through the channel's SMTP server
/// (STARTTLS required when `starttls`; login when a username is set).
SendOutcome send_email(const NotificationQueued& notification, TimeMs queued_at_ms,
                       const ChannelSettings& channel, const ChannelSecret& secret,
                       const SenderOptions& options);

}  // namespace muster
