#pragma once
/// Notification channels, maintenance windows and the outbox's delivery.
/// Each channel, window and notification is an aggregate on the runtime
/// (channel_decider.hpp, maintenance_window_decider.hpp,
/// notification_decider.hpp); lists and lookups come from the
/// notifications' read model (projections/notifications.hpp).
///
/// - Channels: created with their secret (and a webhook's URL whole),
///   which goes to ChannelSecrets (a 0600 file, fsynced) before the event is
///   appended; the event and answers keep the URL's scheme and host only.
/// - Delivery: every pending notification waits in its channel's line,
///   oldest first; the line's head is attempted when due (at once when
///   queued, then after each failure's backoff) on one of the sender
///   threads, its outcome recorded (NotificationAttempted, then Delivered
///   or, past `retry_until`, Abandoned) before the next of that line goes.
///   So each channel has one notification in flight, notifications of one
///   alert go out in order, and a receiver that hangs or fails holds its own
///   line only (and one sender thread for `sender.timeout_ms` at most).
///   Delivery is at least once: a crash between a send and its record sends
///   it again, with the same X-Muster-Notification-Id.
///
/// Lifecycle: start() starts the sender threads; resume(), once the read
/// models hold the log as it was at start-up, lines up every pending
/// notification again. stop() refuses new work, cancels the timers and
/// waits for the sends in flight. Later calls answer `unavailable`.
///
/// Thread safety: every method may be called from any thread. Callbacks
/// run on an aggregate's actor, the projection runner's thread or the
/// caller's (refusals), never blocking; each runs exactly once.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "actors/access/principal.hpp"
#include "actors/notification/channel_state.hpp"
#include "actors/notification/maintenance_window_state.hpp"
#include "actors/notification/notification_state.hpp"
#include "actors/notification/senders.hpp"
#include "actors/runtime/request_context.hpp"
#include "actors/runtime/runtime.hpp"
#include "actors/runtime/when_folded.hpp"
#include "common/lifecycle.hpp"
#include "eventstore/event_store.hpp"
#include "projections/notifications.hpp"

namespace muster {

struct NotificationServiceOptions {
  /// Where channel secrets are kept (`<data>/secrets`); empty: in memory only.
  std::string secrets_directory;
  /// How long a notification is retried before it is abandoned
  /// (--webhook-retry-for). Default: 1 h.
  TimeMs retry_for_ms = 3'600'000;
  /// The delay after the first failed attempt, doubled after each further
  /// one up to `backoff_max_ms`. Defaults: 1 s, 5 min.
  TimeMs backoff_base_ms = 1'000;
  TimeMs backoff_max_ms = 300'000;
  /// Threads sending notifications (each channel uses one at a time). Default: 4.
  std::size_t sender_threads = 4;
  /// Timeouts of one attempt.
  SenderOptions sender;
};

/// A channel as asked for: what the log keeps and what it must not.
struct ChannelRequest {
  ChannelSettings settings;
  ChannelSecret secret;
};

/// A maintenance window as asked for.
struct MaintenanceWindowRequest {
  nlohmann::json scope = nlohmann::json::object();  ///< Checked by the caller (parse_alert_scope).
  TimeMs starts_at_ms = 0;
  TimeMs ends_at_ms = 0;
  std::string reason;
};

template <class Record>
struct NotificationOutcome {
  Record record;
  std::uint64_t position = 0;
};

class NotificationService : public Service {
 public:
  /// References must outlive the service.
  NotificationService(runtime::Runtime& runtime, EventStore& store, const Notifications& notifications,
                      WhenFolded when_folded, NotificationServiceOptions options = {});
  ~NotificationService() override;

  std::string_view name() const override { return "notifications"; }
  Status start() override;
  void stop() override;
  /// Lines up every pending notification. Call once the read models hold
  /// the log as it was at start-up.
  Status resume();

  template <class Record>
  using Done = std::function<void(Result<NotificationOutcome<Record>>)>;

  /// Checks `request` (`invalid_argument` naming the field: name, type,
  /// url (http or https only), headers, format, to, from, smtp.url), keeps
  /// its secret, creates the channel in `org`; answers once the read models hold it.
  void create_channel(const std::string& org, const ChannelRequest& request, const RequestContext& context,
                      Done<NotificationChannel> done);
  /// Deletes a channel `caller` may see (its secret too). Refused:
  /// `not_found` / CHANNEL_NOT_FOUND. Its pending notifications are abandoned.
  void delete_channel(const Principal& caller, const std::string& channel_id, const RequestContext& context,
                      Done<NotificationChannel> done);
  std::vector<NotificationChannel> channels(const Principal& caller) const;
  /// `not_found` / CHANNEL_NOT_FOUND unless `caller` may see it (and it is not deleted).
  Result<NotificationChannel> channel(const Principal& caller, const std::string& channel_id) const;

  /// Refused: `invalid_argument` (field "ends_at") for an end not after the start.
  void create_window(const std::string& org, const MaintenanceWindowRequest& request,
                     const RequestContext& context, Done<MaintenanceWindow> done);
  void delete_window(const Principal& caller, const std::string& window_id, const RequestContext& context,
                     Done<MaintenanceWindow> done);
  /// Windows `caller` may see that have not ended by `ended_after_ms`.
  std::vector<MaintenanceWindow> windows(const Principal& caller, TimeMs ended_after_ms = 0) const;
  Result<MaintenanceWindow> window(const Principal& caller, const std::string& window_id) const;

  /// The notifications of alert `alert_id` that `caller` may see, oldest first.
  std::vector<NotificationRecord> deliveries(const Principal& caller, const std::string& alert_id) const;

  /// Queues `queued` (the notifier's): its id names it, so queueing it
  /// again changes nothing. `retry_until` is set from `retry_for_ms` when 0.
  /// Answers once the read models hold it, after lining it up.
  void queue(NotificationQueued queued, const RequestContext& context, Done<NotificationRecord> done);

  /// Sends waiting or in flight now (tests).
  std::size_t in_flight() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace muster
