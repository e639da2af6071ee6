#include "actors/notification/notification_decider.hpp"

#include <algorithm>

namespace muster {

TimeMs retry_delay_ms(std::uint32_t attempt, TimeMs base_ms, TimeMs max_ms) {
  TimeMs delay = std::max<TimeMs>(base_ms, 1);
  for (std::uint32_t step = 1; step < attempt && delay < max_ms; ++step) delay *= 2;
  return std::min(delay, std::max<TimeMs>(max_ms, 1));
}

Result<std::vector<NotificationEvent>> decide_queue(const NotificationRecord& record,
                                                    const QueueNotification& command) {
  if (record.exists()) return std::vector<NotificationEvent>{};
  return std::vector<NotificationEvent>{command.queued};
}

Result<std::vector<NotificationEvent>> decide_attempt(const NotificationRecord& record,
                                                      const RecordAttempt& command, TimeMs now_ms) {
  if (!record.exists())
    return make_error(ErrorCode::not_found, "no notification with this id", "NOTIFICATION_NOT_FOUND");
  if (record.state != NotificationState::pending || command.attempt != record.attempts + 1) {
    return std::vector<NotificationEvent>{};
  }
  NotificationAttempted attempted{command.attempt, command.ok, command.http_status,
                                  command.ok ? "" : command.error, 0};
  if (command.ok) return std::vector<NotificationEvent>{attempted, NotificationDelivered{command.attempt}};
  const TimeMs next =
      now_ms + retry_delay_ms(command.attempt, command.backoff_base_ms, command.backoff_max_ms);
  if (next > record.queued.retry_until_ms) {
    return std::vector<NotificationEvent>{
        attempted,
        NotificationAbandoned{"no attempt went through before the retry period (--webhook-retry-for) ended"}};
  }
  attempted.next_attempt_at_ms = next;
  return std::vector<NotificationEvent>{attempted};
}

Result<std::vector<NotificationEvent>> decide_abandon(const NotificationRecord& record,
                                                      const AbandonNotification& command) {
  if (!record.exists() || record.state != NotificationState::pending) return std::vector<NotificationEvent>{};
  return std::vector<NotificationEvent>{NotificationAbandoned{command.reason}};
}

NotificationRecord NotificationAggregate::initial_state(const std::string& id) {
  NotificationRecord record;
  if (const auto parts = split_org_scoped_id(id)) {
    record.queued.org = std::string(parts->org);
    record.queued.notification_id = std::string(parts->name);
  } else {
    record.queued.notification_id = id;
  }
  return record;
}

Result<std::vector<NotificationEvent>> NotificationAggregate::decide(const State& state,
                                                                     const Command& command,
                                                                     Context& context) {
  if (const auto* queue = std::get_if<QueueNotification>(&command)) return decide_queue(state, *queue);
  if (const auto* attempt = std::get_if<RecordAttempt>(&command))
    return decide_attempt(state, *attempt, context.now_ms);
  return decide_abandon(state, std::get<AbandonNotification>(command));
}

}  // namespace muster
