#include "actors/notification/notifier.hpp"

#include <algorithm>
#include <map>
#include <mutex>
#include <set>

#include <fmt/format.h>

#include "actors/alert/alert_scope.hpp"
#include "actors/runtime/stream_id.hpp"
#include "common/log.hpp"
#include "common/secrets.hpp"

namespace muster {
namespace {

// Alerts of one rule told together once the wait ends.
struct AlertGroup {
  std::string org;
  NotificationKind kind = NotificationKind::firing;
  std::uint32_t step = 0;                        ///< Escalation: the rule's step.
  std::map<std::string, std::uint64_t> members;  ///< "<org>/<alert_id>" -> episode.
  TimerService::TimerId timer = 0;
};

std::string tell_key(const std::string& alert_key, NotificationKind kind, std::uint64_t episode,
                     std::uint32_t step) {
  return fmt::format("{}\n{}\n{}\n{}", alert_key, to_string(kind), episode, step);
}

NotifiedAlert notified(const AlertRecord& record) {
  return NotifiedAlert{record.alert_id,
                       record.episode,
                       to_string(record.subject.kind),
                       record.subject.id,
                       record.summary,
                       record.fired_at_ms,
                       record.status == AlertStatus::resolved ? record.resolved_at_ms : 0};
}

}  // namespace

struct Notifier::Impl : std::enable_shared_from_this<Notifier::Impl> {
  Impl(NotificationService& service_in, const Notifications& model_in, const AgentRegistry& registry_in,
       const ConfigModel& configs_in, TimerService& timers_in)
      : service(service_in), model(model_in), registry(registry_in), configs(configs_in), timers(timers_in) {}

  // --- What was told ----------------------------------------------------------------

  // True if a notification of `kind` (and escalation `step`) tells about
  // this episode of the alert, or one is on its way. With `sent_only`,
  // suppressed ones do not count.
  bool told(const AlertRecord& record, NotificationKind kind, std::uint32_t step, bool sent_only = false) {
    const std::string alert_key = alert_instance_id(record.org, record.alert_id);
    {
      std::lock_guard<std::mutex> lock(mutex);
      if (!sent_only && in_flight.count(tell_key(alert_key, kind, record.episode, step)) > 0) return true;
    }
    return model.told(record.org, record.alert_id, record.episode, kind, step, sent_only);
  }

  // --- Following the alerts ---------------------------------------------------------

  void reconcile(const std::string& alert_key) {
    const auto parts = split_org_scoped_id(alert_key);
    if (!parts) return;
    const auto record = model.alert(parts->org, parts->name);
    if (!record || record->episode == 0) return;
    if (record->firing()) {
      if (!told(*record, NotificationKind::firing, 0)) add_to_group(*record, NotificationKind::firing);
      if (!record->acknowledged()) {
        for (std::size_t step = 0; step < record->escalation.size(); ++step) {
          if (!told(*record, NotificationKind::escalation, static_cast<std::uint32_t>(step))) {
            arm_escalation(*record, static_cast<std::uint32_t>(step));
          }
        }
      }
    } else if (told(*record, NotificationKind::firing, 0, /*sent_only=*/true) &&
               !told(*record, NotificationKind::resolved, 0)) {
      add_to_group(*record, NotificationKind::resolved);
    }
  }

  // Adds the alert to its rule's group of `kind` (and escalation `step`),
  // whose wait ends group_wait after the first member's moment: when it
  // fired, resolved, or reached the step.
  void add_to_group(const AlertRecord& record, NotificationKind kind, std::uint32_t step = 0) {
    const std::string alert_key = alert_instance_id(record.org, record.alert_id);
    const std::string group_key =
        fmt::format("{}\n{}\n{}\n{}", record.org, record.rule_id, to_string(kind), step);
    std::lock_guard<std::mutex> lock(mutex);
    if (stopping) return;
    AlertGroup& group = groups[group_key];
    if (group.members.count(alert_key) > 0 && group.members[alert_key] == record.episode) return;
    group.members[alert_key] = record.episode;
    if (group.timer != 0) return;
    group.org = record.org;
    group.kind = kind;
    group.step = step;
    TimeMs since = record.fired_at_ms;
    if (kind == NotificationKind::resolved) since = record.resolved_at_ms;
    if (kind == NotificationKind::escalation) since = record.fired_at_ms + record.escalation[step].after_ms;
    const TimeMs due = std::max(timers.now_ms(), since + record.group_wait_ms);
    group.timer = timers.schedule_at(due, [weak = weak_from_this(), group_key] {
      if (const auto self = weak.lock()) self->flush(group_key);
    });
  }

  void flush(const std::string& group_key) {
    AlertGroup group;
    {
      std::lock_guard<std::mutex> lock(mutex);
      const auto found = groups.find(group_key);
      if (found == groups.end() || stopping) return;
      group = std::move(found->second);
      groups.erase(found);
    }
    std::vector<AlertRecord> current;
    for (const auto& member : group.members) {
      const auto parts = split_org_scoped_id(member.first);
      if (!parts) continue;
      auto record = model.alert(parts->org, parts->name);
      if (!record || record->episode != member.second) continue;
      const bool firing = group.kind != NotificationKind::resolved;
      if (record->firing() != firing || told(*record, group.kind, group.step)) continue;
      if (group.kind == NotificationKind::escalation &&
          (record->acknowledged() || group.step >= record->escalation.size())) {
        continue;
      }
      current.push_back(std::move(*record));
    }
    if (!current.empty()) tell(current, group.kind, group.step);
  }

  void arm_escalation(const AlertRecord& record, std::uint32_t step) {
    const std::string alert_key = alert_instance_id(record.org, record.alert_id);
    const std::string key = tell_key(alert_key, NotificationKind::escalation, record.episode, step);
    std::lock_guard<std::mutex> lock(mutex);
    if (stopping || escalations.count(key) > 0) return;
    const TimeMs due = record.fired_at_ms + record.escalation[step].after_ms;
    const std::uint64_t episode = record.episode;
    escalations[key] = timers.schedule_at(due, [weak = weak_from_this(), alert_key, key, episode, step] {
      if (const auto self = weak.lock()) self->escalate(alert_key, key, episode, step);
    });
  }

  void escalate(const std::string& alert_key, const std::string& key, std::uint64_t episode,
                std::uint32_t step) {
    {
      std::lock_guard<std::mutex> lock(mutex);
      escalations.erase(key);
      if (stopping) return;
    }
    const auto parts = split_org_scoped_id(alert_key);
    if (!parts) return;
    const auto record = model.alert(parts->org, parts->name);
    if (!record || !record->firing() || record->episode != episode || record->acknowledged() ||
        step >= record->escalation.size() || told(*record, NotificationKind::escalation, step)) {
      return;
    }
    add_to_group(*record, NotificationKind::escalation, step);
  }

  // --- Telling ------------------------------------------------------------------------

  // The ids of the maintenance windows active now that cover the alert's subject.
  std::vector<std::string> covering_windows(const AlertRecord& record, TimeMs now_ms) const {
    std::vector<std::string> covering;
    for (const MaintenanceWindow& window : model.active_windows(record.org, now_ms)) {
      const auto scope = parse_alert_scope(window.scope, "scope");
      if (!scope) continue;
      bool covers = false;
      switch (record.subject.kind) {
        case AlertSubjectKind::agent: {
          const auto agent_id = AgentId::parse(record.subject.id);
          const auto state = agent_id ? registry.state_of(*agent_id) : std::nullopt;
          covers = state && scope->covers(*state, configs);
          break;
        }
        case AlertSubjectKind::group:
          covers = scope->kind == AlertScope::Kind::all ||
                   (scope->kind == AlertScope::Kind::group && scope->group == record.subject.id);
          break;
        case AlertSubjectKind::org: covers = scope->kind == AlertScope::Kind::all; break;
      }
      if (covers) covering.push_back(window.window_id);
    }
    return covering;
  }

  // Queues what `records` (one org, one rule) need told: one notification
  // per channel, and one record per reason for those suppressed.
  void tell(const std::vector<AlertRecord>& records, NotificationKind kind, std::uint32_t step) {
    const TimeMs now_ms = timers.now_ms();
    std::vector<const AlertRecord*> silenced;
    std::vector<const AlertRecord*> in_maintenance;
    std::set<std::string> windows;
    std::map<std::string, std::vector<const AlertRecord*>> by_channel;
    for (const AlertRecord& record : records) {
      if (record.silenced_at(now_ms)) {
        silenced.push_back(&record);
        continue;
      }
      const std::vector<std::string> covering = covering_windows(record, now_ms);
      if (!covering.empty()) {
        in_maintenance.push_back(&record);
        windows.insert(covering.begin(), covering.end());
        continue;
      }
      const std::vector<std::string>& channels =
          kind == NotificationKind::escalation ? record.escalation[step].channels : record.channels;
      for (const std::string& channel : channels) by_channel[channel].push_back(&record);
    }
    if (!silenced.empty()) queue(silenced, kind, step, "", Suppression{"silenced", {}});
    if (!in_maintenance.empty()) {
      queue(in_maintenance, kind, step, "",
            Suppression{"maintenance", std::vector<std::string>(windows.begin(), windows.end())});
    }
    for (const auto& entry : by_channel) {
      const std::string& org = entry.second.front()->org;
      const auto channel = model.channel(org, entry.first);
      if (!channel || channel->deleted) {
        log::warn("an alert names a notification channel that does not exist; not notified there",
                  {{"org", org}, {"channel_id", entry.first}, {"rule_id", entry.second.front()->rule_id}});
        continue;
      }
      if (kind == NotificationKind::resolved && !channel->settings.send_resolved) continue;
      queue(entry.second, kind, step, entry.first, std::nullopt);
    }
  }

  void queue(const std::vector<const AlertRecord*>& records, NotificationKind kind, std::uint32_t step,
             const std::string& channel_id, std::optional<Suppression> suppressed) {
    const AlertRecord& first = *records.front();
    NotificationQueued queued;
    queued.org = first.org;
    queued.channel_id = channel_id;
    queued.kind = kind;
    queued.step = step;
    queued.rule_id = first.rule_id;
    queued.rule_name = first.rule_name;
    queued.severity = to_string(first.severity);
    std::vector<std::string> told_keys;
    std::string identity =
        fmt::format("{}\n{}\n{}\n{}\n{}", first.org, channel_id,
                    suppressed ? suppressed->reason : std::string(), to_string(kind), step);
    std::vector<const AlertRecord*> sorted = records;
    std::sort(sorted.begin(), sorted.end(), [](const AlertRecord* left, const AlertRecord* right) {
      return left->alert_id < right->alert_id;
    });
    for (const AlertRecord* record : sorted) {
      queued.alerts.push_back(notified(*record));
      identity += fmt::format("\n{}#{}", record->alert_id, record->episode);
      told_keys.push_back(
          tell_key(alert_instance_id(record->org, record->alert_id), kind, record->episode, step));
    }
    queued.notification_id = sha256_hex(identity).substr(0, 32);
    queued.suppressed = std::move(suppressed);
    {
      std::lock_guard<std::mutex> lock(mutex);
      if (stopping) return;
      in_flight.insert(told_keys.begin(), told_keys.end());
    }
    RequestContext context;
    context.cause = "alert_notification";
    const std::string notification_id = queued.notification_id;
    service.queue(std::move(queued), context,
                  [weak = weak_from_this(), told_keys,
                   notification_id](Result<NotificationOutcome<NotificationRecord>> outcome) {
                    const auto self = weak.lock();
                    if (!self) return;
                    if (!outcome) {
                      log::warn("cannot queue a notification",
                                {{"notification_id", notification_id}, {"error", outcome.error().message}});
                    }
                    std::lock_guard<std::mutex> lock(self->mutex);
                    for (const std::string& key : told_keys) self->in_flight.erase(key);
                  });
  }

  NotificationService& service;
  const Notifications& model;
  const AgentRegistry& registry;
  const ConfigModel& configs;
  TimerService& timers;
  std::atomic<bool> resumed{false};
  mutable std::mutex mutex;
  bool stopping = false;                                     ///< Guarded by `mutex`.
  std::map<std::string, AlertGroup> groups;                  ///< Guarded by `mutex`.
  std::map<std::string, TimerService::TimerId> escalations;  ///< By tell key; guarded by `mutex`.
  std::set<std::string> in_flight;  ///< Tell keys queued, not yet folded; guarded by `mutex`.
};

Notifier::Notifier(NotificationService& service, const Notifications& notifications,
                   const AgentRegistry& registry, const ConfigModel& configs, TimerService& timers)
    : impl_(std::make_shared<Impl>(service, notifications, registry, configs, timers)) {}

Notifier::~Notifier() {
  stop();
}

void Notifier::stop() {
  std::vector<TimerService::TimerId> timers;
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    impl_->stopping = true;
    for (const auto& entry : impl_->groups) timers.push_back(entry.second.timer);
    for (const auto& entry : impl_->escalations) timers.push_back(entry.second);
    impl_->groups.clear();
    impl_->escalations.clear();
  }
  for (const TimerService::TimerId timer : timers) impl_->timers.cancel(timer);
}

Status Notifier::resume() {
  impl_->resumed = true;
  for (const AlertRecord& record : impl_->model.alerts()) {
    impl_->reconcile(alert_instance_id(record.org, record.alert_id));
  }
  return Status::success();
}

void Notifier::observe_batch(const std::vector<Event>& batch) {
  if (!impl_->resumed) return;
  std::set<std::string> touched;
  for (const Event& event : batch) {
    if (const auto id = stream_id_of(event.stream, kAlertKind)) touched.emplace(*id);
  }
  for (const std::string& alert_key : touched) impl_->reconcile(alert_key);
}

std::size_t Notifier::waiting() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->groups.size() + impl_->escalations.size();
}

}  // namespace muster
