#pragma once
/// The notifier: the process that turns alerts (actors/alert/alert_state.hpp)
/// into notifications (the outbox: notification_service.hpp). It follows
/// the log through ProjectionRunner::observe, reading each alert as the
/// notifications' read model holds it:
///
/// - Grouping: alerts of one rule that fire within the rule's `group_wait`
///   of the first go out together: when the wait ends, one notification per
///   channel lists every alert of the group still firing (a thousand agents
///   going offline at once is one message).
/// - Resolved: an alert whose firing was notified is told resolved, grouped
///   the same way, to the channels that take resolved notifications.
/// - Escalation: each step of the rule's escalation (`after`, `channels`) is
///   notified `after` the alert fired, if it is still firing (the same
///   episode), unacknowledged and not silenced; alerts of one rule reaching
///   a step together are grouped as firing ones are (the wait adds
///   `group_wait` to `after`).
/// - Silences and maintenance windows: an alert silenced, or whose subject an
///   active maintenance window covers, is not notified; a suppressed
///   notification (no channel) records that it was not, and why.
///
/// Restart-safe: resume(), once the read models hold the log, looks at every
/// alert again: one firing without a firing notification is grouped again
/// (its wait ends `group_wait` after it fired, or at once), one resolved
/// after a notified firing without a resolved notification is told, and
/// escalation timers are armed again. Notification ids are derived from
/// what they tell (channel, kind, step, alerts and episodes), so telling
/// twice is queueing the same notification: nothing changes.
///
/// Thread safety: `observe_batch` runs on the projection runner's thread
/// and never blocks; timers run on the timer thread; every method may be
/// called from any thread.

#include <memory>
#include <vector>

#include "actors/notification/notification_service.hpp"
#include "common/lifecycle.hpp"
#include "common/timers.hpp"
#include "eventstore/event.hpp"
#include "projections/agent_registry.hpp"
#include "projections/config_model.hpp"
#include "projections/notifications.hpp"

namespace muster {

class Notifier : public Service {
 public:
  /// References must outlive the notifier.
  Notifier(NotificationService& service, const Notifications& notifications, const AgentRegistry& registry,
           const ConfigModel& configs, TimerService& timers);
  ~Notifier() override;

  std::string_view name() const override { return "notifier"; }
  Status start() override { return Status::success(); }
  /// Cancels the timers; later batches are ignored.
  void stop() override;

  /// Looks at every alert (see above) and from then on follows the batches.
  Status resume();
  /// A batch the read models folded (ProjectionRunner::observe). Ignored
  /// before resume(): resume looks at what the catch-up brought.
  void observe_batch(const std::vector<Event>& batch);

  /// Groups waiting and escalation timers armed (tests).
  std::size_t waiting() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace muster
