#include "projections/notifications.hpp"

#include <algorithm>
#include <mutex>

#include "actors/organization.hpp"
#include "actors/runtime/stream_id.hpp"
#include "common/log.hpp"

namespace muster {
namespace {

constexpr std::string_view kEntry = "r:";

// Folds `event` into the record of `records` keyed by the stream's id;
// true if it folded.
template <class Record>
bool fold_into(std::map<std::string, Record>& records, std::string_view id, const Event& event,
               Status& first_failure, SnapshotMarks& marks) {
  const std::string key(id);
  Record& record = records[key];
  // Loaded from a snapshot newer than the model's position: held already.
  if (record.exists() && event.version <= record.version) return false;
  Status folded = muster::apply(record, event);
  if (!folded) {
    if (first_failure.ok()) first_failure = folded;
    if (!record.exists()) records.erase(key);
    return false;
  }
  marks.changed.insert(key);
  return true;
}

}  // namespace

Status Notifications::apply(const std::vector<Event>& batch) {
  Status first_failure;
  std::unique_lock<std::shared_mutex> lock(mutex_);
  for (const Event& event : batch) {
    if (event.position <= position_) continue;
    position_ = event.position;
    const auto stream = parse_stream(event.stream);
    if (!stream) continue;
    if (stream->kind == kAlertKind) {
      fold_into(alerts_, stream->id, event, first_failure, alert_marks_);
    } else if (stream->kind == kNotificationChannelKind) {
      fold_into(channels_, stream->id, event, first_failure, channel_marks_);
    } else if (stream->kind == kMaintenanceWindowKind) {
      fold_into(windows_, stream->id, event, first_failure, window_marks_);
    } else if (stream->kind == kNotificationKind) {
      if (fold_into(notifications_, stream->id, event, first_failure, notification_marks_)) {
        const std::string key(stream->id);
        index(notifications_.at(key), key);
      }
    }
  }
  return first_failure;
}

void Notifications::index(const NotificationRecord& record, const std::string& key) {
  if (record.state == NotificationState::pending) {
    pending_[record.created_position] = key;
  } else {
    pending_.erase(record.created_position);
  }
  if (record.version == 1) {
    for (const NotifiedAlert& alert : record.queued.alerts) {
      by_alert_[alert.alert_id].emplace(record.created_position, key);
    }
  }
}

DeliveryCounts Notifications::delivery_counts() const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  DeliveryCounts counts;
  for (const auto& [key, record] : notifications_) {
    if (record.state == NotificationState::suppressed) {
      ++counts.suppressed;
      continue;
    }
    const auto channel = channels_.find(org_scoped_id(record.queued.org, record.queued.channel_id));
    if (channel == channels_.end()) continue;
    const auto type = static_cast<std::size_t>(channel->second.settings.type);
    ++counts.by_channel_type[type][static_cast<std::size_t>(record.state)];
    const std::uint64_t ok = record.state == NotificationState::delivered && record.attempts > 0 ? 1 : 0;
    counts.attempts_ok[type] += ok;
    counts.attempts_failed[type] += record.attempts - ok;
  }
  return counts;
}

std::uint64_t Notifications::position() const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  return position_;
}

std::optional<AlertRecord> Notifications::alert(std::string_view org, std::string_view alert_id) const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  const auto found = alerts_.find(alert_instance_id(org, alert_id));
  if (found == alerts_.end()) return std::nullopt;
  return found->second;
}

std::vector<AlertRecord> Notifications::alerts() const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  std::vector<AlertRecord> out;
  out.reserve(alerts_.size());
  for (const auto& entry : alerts_) out.push_back(entry.second);
  return out;
}

std::optional<NotificationChannel> Notifications::channel(std::string_view org,
                                                          std::string_view channel_id) const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  const auto found = channels_.find(org_scoped_id(org, channel_id));
  if (found == channels_.end()) return std::nullopt;
  return found->second;
}

std::vector<NotificationChannel> Notifications::channels(std::string_view org_scope) const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  std::vector<NotificationChannel> out;
  for (const auto& entry : channels_) {
    if (!entry.second.deleted && org_visible(org_scope, entry.second.org)) out.push_back(entry.second);
  }
  std::sort(out.begin(), out.end(), [](const NotificationChannel& left, const NotificationChannel& right) {
    return left.created_position < right.created_position;
  });
  return out;
}

std::optional<MaintenanceWindow> Notifications::window(std::string_view org,
                                                       std::string_view window_id) const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  const auto found = windows_.find(org_scoped_id(org, window_id));
  if (found == windows_.end()) return std::nullopt;
  return found->second;
}

std::vector<MaintenanceWindow> Notifications::windows(std::string_view org_scope,
                                                      TimeMs ended_after_ms) const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  std::vector<MaintenanceWindow> out;
  for (const auto& entry : windows_) {
    const MaintenanceWindow& window = entry.second;
    if (!window.deleted && org_visible(org_scope, window.org) && window.ends_at_ms > ended_after_ms) {
      out.push_back(window);
    }
  }
  std::sort(out.begin(), out.end(), [](const MaintenanceWindow& left, const MaintenanceWindow& right) {
    return left.starts_at_ms != right.starts_at_ms ? left.starts_at_ms < right.starts_at_ms
                                                   : left.created_position < right.created_position;
  });
  return out;
}

std::vector<MaintenanceWindow> Notifications::active_windows(std::string_view org, TimeMs now_ms) const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  std::vector<MaintenanceWindow> out;
  for (const auto& entry : windows_) {
    if (entry.second.org == org && entry.second.active_at(now_ms)) out.push_back(entry.second);
  }
  return out;
}

std::optional<NotificationRecord> Notifications::notification(std::string_view org,
                                                              std::string_view notification_id) const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  const auto found = notifications_.find(org_scoped_id(org, notification_id));
  if (found == notifications_.end()) return std::nullopt;
  return found->second;
}

std::vector<NotificationRecord> Notifications::pending() const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  std::vector<NotificationRecord> out;
  for (const auto& entry : pending_) out.push_back(notifications_.at(entry.second));
  return out;
}

std::vector<NotificationRecord> Notifications::of_alert(std::string_view org_scope,
                                                        std::string_view alert_id) const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  std::vector<NotificationRecord> out;
  const auto found = by_alert_.find(std::string(alert_id));
  if (found == by_alert_.end()) return out;
  for (const auto& entry : found->second) {
    const NotificationRecord& record = notifications_.at(entry.second);
    if (org_visible(org_scope, record.org())) out.push_back(record);
  }
  return out;
}

bool Notifications::told(std::string_view org, std::string_view alert_id, std::uint64_t episode,
                         NotificationKind kind, std::uint32_t step, bool sent_only) const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  const auto found = by_alert_.find(std::string(alert_id));
  if (found == by_alert_.end()) return false;
  for (const auto& entry : found->second) {
    const NotificationRecord& record = notifications_.at(entry.second);
    const NotificationQueued& queued = record.queued;
    if (queued.org != org || queued.kind != kind || queued.step != step) continue;
    if (sent_only && record.state == NotificationState::suppressed) continue;
    for (const NotifiedAlert& alert : queued.alerts) {
      if (alert.alert_id == alert_id && alert.episode == episode) return true;
    }
  }
  return false;
}

std::optional<NotificationChannel> Notifications::channel_by_id(std::string_view org_scope,
                                                                std::string_view channel_id) const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  for (const auto& entry : channels_) {
    if (entry.second.channel_id == channel_id && org_visible(org_scope, entry.second.org))
      return entry.second;
  }
  return std::nullopt;
}

std::optional<MaintenanceWindow> Notifications::window_by_id(std::string_view org_scope,
                                                             std::string_view window_id) const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  for (const auto& entry : windows_) {
    if (entry.second.window_id == window_id && org_visible(org_scope, entry.second.org)) return entry.second;
  }
  return std::nullopt;
}

Status Notifications::save_snapshot(SnapshotStore& store) {
  // Each scope with the position its records reflect; the fold skips what a
  // record holds already, so loading folds from the oldest of the three.
  if (Status saved =
          save_changed_records(store, kAlertScope, kEntry, mutex_, alert_marks_, position_,
                               [this](const std::string& key) { return encode_alert(alerts_.at(key)); });
      !saved) {
    return saved;
  }
  if (Status saved =
          save_changed_records(store, kChannelScope, kEntry, mutex_, channel_marks_, position_,
                               [this](const std::string& key) { return encode_channel(channels_.at(key)); });
      !saved) {
    return saved;
  }
  if (Status saved = save_changed_records(
          store, kWindowScope, kEntry, mutex_, window_marks_, position_,
          [this](const std::string& key) { return encode_maintenance_window(windows_.at(key)); });
      !saved) {
    return saved;
  }
  return save_changed_records(
      store, kNotificationScope, kEntry, mutex_, notification_marks_, position_,
      [this](const std::string& key) { return encode_notification(notifications_.at(key)); });
}

Result<std::uint64_t> Notifications::load_snapshot(SnapshotStore& store, std::uint64_t head_position) {
  auto alerts = load_keyed_records<AlertRecord>(
      store, kAlertScope, kEntry, head_position, "the notifier's alerts'", decode_alert,
      [](const AlertRecord& alert) { return alert_instance_id(alert.org, alert.alert_id); });
  if (!alerts) return alerts.error();
  auto channels = load_keyed_records<NotificationChannel>(
      store, kChannelScope, kEntry, head_position, "the notification channels'", decode_channel,
      [](const NotificationChannel& channel) {
        return channel_instance_id(channel.org, channel.channel_id);
      });
  if (!channels) return channels.error();
  auto windows = load_keyed_records<MaintenanceWindow>(
      store, kWindowScope, kEntry, head_position, "the maintenance windows'", decode_maintenance_window,
      [](const MaintenanceWindow& window) {
        return maintenance_window_instance_id(window.org, window.window_id);
      });
  if (!windows) return windows.error();
  auto notifications = load_keyed_records<NotificationRecord>(
      store, kNotificationScope, kEntry, head_position, "the notifications'", decode_notification,
      [](const NotificationRecord& record) {
        return notification_instance_id(record.org(), record.notification_id());
      });
  if (!notifications) return notifications.error();
  if (!*alerts || !*channels || !*windows || !*notifications) {
    // One scope is missing: fold the whole log into an empty model.
    return std::uint64_t{0};
  }
  std::unique_lock<std::shared_mutex> lock(mutex_);
  for (AlertRecord& alert : (*alerts)->records) {
    const std::string key = alert_instance_id(alert.org, alert.alert_id);
    alerts_.emplace(key, std::move(alert));
  }
  for (NotificationChannel& channel : (*channels)->records) {
    const std::string key = channel_instance_id(channel.org, channel.channel_id);
    channels_.emplace(key, std::move(channel));
  }
  for (MaintenanceWindow& window : (*windows)->records) {
    const std::string key = maintenance_window_instance_id(window.org, window.window_id);
    windows_.emplace(key, std::move(window));
  }
  for (NotificationRecord& record : (*notifications)->records) {
    const std::string key = notification_instance_id(record.org(), record.notification_id());
    const auto placed = notifications_.emplace(key, std::move(record)).first;
    if (placed->second.state == NotificationState::pending) pending_[placed->second.created_position] = key;
    for (const NotifiedAlert& alert : placed->second.queued.alerts) {
      by_alert_[alert.alert_id].emplace(placed->second.created_position, key);
    }
  }
  alert_marks_ = SnapshotMarks{{}, (*alerts)->position};
  channel_marks_ = SnapshotMarks{{}, (*channels)->position};
  window_marks_ = SnapshotMarks{{}, (*windows)->position};
  notification_marks_ = SnapshotMarks{{}, (*notifications)->position};
  position_ = std::min(
      {(*alerts)->position, (*channels)->position, (*windows)->position, (*notifications)->position});
  return position_;
}

}  // namespace muster
