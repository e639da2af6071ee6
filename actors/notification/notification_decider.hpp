#pragma once
/// A notification's decisions (the outbox entry), and the notification as
/// the runtime runs it. Pure: the time comes from the decision's context.
///
/// Retries back off exponentially: attempt n failing schedules the next
/// `min(backoff_base * 2^(n-1), backoff_max)` later; an attempt whose next
/// one would come after the notification's `retry_until` gives up.

#include <string>
#include <variant>
#include <vector>

#include "actors/notification/notification_state.hpp"
#include "actors/runtime/aggregate_host.hpp"
#include "actors/runtime/stream_id.hpp"

namespace muster {

struct QueueNotification {
  NotificationQueued queued;
};
/// How attempt `attempt` went (its sender's outcome).
struct RecordAttempt {
  std::uint32_t attempt = 1;
  bool ok = false;
  int http_status = 0;
  std::string error;
  TimeMs backoff_base_ms = 1'000;
  TimeMs backoff_max_ms = 300'000;
};
/// Gives up (the channel was deleted, say).
struct AbandonNotification {
  std::string reason;
};
using NotificationCommand = std::variant<QueueNotification, RecordAttempt, AbandonNotification>;

/// The delay after failed attempt `attempt` (1-based).
TimeMs retry_delay_ms(std::uint32_t attempt, TimeMs base_ms, TimeMs max_ms);

/// NotificationQueued; nothing for one queued already (its id is derived
/// from what it tells, so a repeat is the same notification).
Result<std::vector<NotificationEvent>> decide_queue(const NotificationRecord& record,
                                                    const QueueNotification& command);
/// NotificationAttempted, with NotificationDelivered when it went through or
/// NotificationAbandoned when the next try would pass `retry_until`. Nothing
/// for a notification not pending, or an attempt that is not the next one
/// (a repeat). Refused: `not_found` for none.
Result<std::vector<NotificationEvent>> decide_attempt(const NotificationRecord& record,
                                                      const RecordAttempt& command, TimeMs now_ms);
/// NotificationAbandoned while pending; nothing otherwise.
Result<std::vector<NotificationEvent>> decide_abandon(const NotificationRecord& record,
                                                      const AbandonNotification& command);

struct NotificationAggregate {
  static constexpr std::string_view kKind = kNotificationKind;
  using State = NotificationRecord;
  using Payload = NotificationEvent;
  using Command = NotificationCommand;
  using Context = runtime::DecideContext;

  static State initial_state(const std::string& id);
  static std::string stream_of(const State& state) {
    return notification_stream(state.queued.org, state.queued.notification_id);
  }
  static Result<std::vector<Payload>> decide(const State& state, const Command& command, Context& context);
  static Status apply(State& state, const Payload& event, const EventHeader& header) {
    return muster::apply(state, event, header);
  }
  static Status apply(State& state, const Event& event) { return muster::apply(state, event); }
};

}  // namespace muster
