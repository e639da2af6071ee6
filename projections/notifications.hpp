#pragma once
/// The read model of notifications: channels, maintenance windows and the
/// outbox's notifications (actors/notification/), folded from their
/// streams with their own `apply`, so the API lists them, the notification
/// service finds at start the notifications still to send, and the notifier
/// knows which alerts were told about. It also folds the alerts
/// (actors/alert/alert_state.hpp, with the alert's own `apply`): the
/// notifier reads an alert and its notifications from one model, as of one
/// position.
///
/// Folded by the projection runner, in log order; snapshotted per record
/// (only those changed since the last snapshot), one scope per kind, each
/// with the position it reflects (loading folds from the oldest; a record
/// skips what it holds). Thread-safe: one writer, many readers.

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "actors/alert/alert_state.hpp"
#include "actors/notification/channel_state.hpp"
#include "actors/notification/maintenance_window_state.hpp"
#include "actors/notification/notification_state.hpp"
#include "common/result.hpp"
#include "eventstore/event.hpp"
#include "eventstore/snapshot_store.hpp"
#include "projections/keyed_records.hpp"
#include "projections/read_model.hpp"

namespace muster {

/// The outbox's notifications counted, by their channel's type
/// (`ChannelType`'s values; a suppressed notification names no channel).
struct DeliveryCounts {
  /// [channel type][NotificationState]: notifications that name a channel.
  std::array<std::array<std::size_t, 4>, 2> by_channel_type{};
  /// Suppressed notifications (a maintenance window or a silence): no channel, no attempt.
  std::size_t suppressed = 0;
  /// [channel type]: attempts to send that succeeded (one per delivered
  /// notification) and those that failed.
  std::array<std::uint64_t, 2> attempts_ok{};
  std::array<std::uint64_t, 2> attempts_failed{};
};

class Notifications : public ReadModel {
 public:
  /// Folds the events of "notification-channel:", "maintenance-window:" and
  /// "notification:" streams in `batch`, skipping events at or before
  /// `position()`. A failing event is reported and skipped.
  Status apply(const std::vector<Event>& batch) override;
  std::uint64_t position() const;

  /// The channel `channel_id` of `org` (deleted ones too); nullopt for none.
  std::optional<NotificationChannel> channel(std::string_view org, std::string_view channel_id) const;
  /// Channels not deleted of the orgs `org_scope` covers, oldest first.
  std::vector<NotificationChannel> channels(std::string_view org_scope) const;

  /// The channel `channel_id` (not deleted or deleted) of an org `org_scope` covers.
  std::optional<NotificationChannel> channel_by_id(std::string_view org_scope,
                                                   std::string_view channel_id) const;

  std::optional<MaintenanceWindow> window(std::string_view org, std::string_view window_id) const;
  std::optional<MaintenanceWindow> window_by_id(std::string_view org_scope, std::string_view window_id) const;
  /// Windows not deleted of the orgs `org_scope` covers, by start time;
  /// those ended before `ended_after_ms` left out.
  std::vector<MaintenanceWindow> windows(std::string_view org_scope, TimeMs ended_after_ms = 0) const;
  /// The windows of `org` active at `now_ms`.
  std::vector<MaintenanceWindow> active_windows(std::string_view org, TimeMs now_ms) const;

  std::optional<NotificationRecord> notification(std::string_view org,
                                                 std::string_view notification_id) const;
  /// Notifications still to send, oldest first.
  std::vector<NotificationRecord> pending() const;
  /// The notifications that tell about the alert `alert_id`, of the orgs
  /// `org_scope` covers, oldest first.
  std::vector<NotificationRecord> of_alert(std::string_view org_scope, std::string_view alert_id) const;

  /// True if a notification of `kind` (and escalation `step`) about episode
  /// `episode` of the alert `alert_id` of `org` was queued; with
  /// `sent_only`, suppressed ones do not count. Copies nothing (a
  /// notification may list thousands of alerts).
  bool told(std::string_view org, std::string_view alert_id, std::uint64_t episode, NotificationKind kind,
            std::uint32_t step, bool sent_only) const;
  /// The alert `alert_id` of `org`; nullopt if it never fired.
  std::optional<AlertRecord> alert(std::string_view org, std::string_view alert_id) const;
  /// Every alert (firing or resolved), in id order.
  std::vector<AlertRecord> alerts() const;
  /// Every notification counted; copies none.
  DeliveryCounts delivery_counts() const;

  static constexpr const char* kAlertScope = "notifier-alerts";
  static constexpr const char* kChannelScope = "notification-channels";
  static constexpr const char* kWindowScope = "maintenance-windows";
  static constexpr const char* kNotificationScope = "notifications";
  std::string_view name() const override { return kNotificationScope; }
  Status save_snapshot(SnapshotStore& store) override;
  Result<std::uint64_t> load_snapshot(SnapshotStore& store, std::uint64_t head_position) override;

 private:
  void index(const NotificationRecord& record, const std::string& key);

  mutable std::shared_mutex mutex_;
  std::uint64_t position_ = 0;
  std::map<std::string, NotificationChannel> channels_;      ///< By "<org>/<id>".
  std::map<std::string, AlertRecord> alerts_;                ///< By "<org>/<id>".
  std::map<std::string, MaintenanceWindow> windows_;         ///< By "<org>/<id>".
  std::map<std::string, NotificationRecord> notifications_;  ///< By "<org>/<id>".
  std::map<std::uint64_t, std::string> pending_;             ///< created_position -> key, while pending.
  /// Alert id -> (created position, key) of the notifications telling about it.
  std::map<std::string, std::set<std::pair<std::uint64_t, std::string>>> by_alert_;
  SnapshotMarks alert_marks_;
  SnapshotMarks channel_marks_;
  SnapshotMarks window_marks_;
  SnapshotMarks notification_marks_;
};

}  // namespace muster
