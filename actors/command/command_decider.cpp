#include "actors/command/command_decider.hpp"

#include <type_traits>

namespace muster {
namespace {

Error not_delivered() {
  return make_error(ErrorCode::conflict, "the command has not been delivered to the agent yet",
                    kCommandNotDelivered);
}

Error finished(const CommandRecord& record) {
  return make_error(ErrorCode::conflict, std::string("the command is ") + to_string(record.state) + " already",
                    kCommandFinished);
}

// The refusals an agent's report on `record` meets; nullopt if it may report.
std::optional<Error> refuse_report(const CommandRecord& record, const AgentId& agent_id) {
  if (!record.exists() || record.agent_id != agent_id) return command_not_found();
  if (record.state == CommandState::queued) return not_delivered();
  return std::nullopt;
}

}  // namespace

Error command_not_found() {
  return make_error(ErrorCode::not_found, "no command with this id", kCommandNotFound);
}

Result<std::vector<CommandEvent>> decide_queue(const CommandRecord& record, const QueueCommand& command) {
  const CommandQueued& queued = command.queued;
  if (!record.exists()) return std::vector<CommandEvent>{queued};
  if (queued.idempotency_key.empty()) {
    return make_error(ErrorCode::conflict, "a command with this id exists already", kCommandExists);
  }
  if (record.idempotency_key != queued.idempotency_key || record.agent_id != queued.agent_id ||
      record.type != queued.type || record.params != queued.params) {
    return Error{ErrorCode::conflict,
                 "was used already for a command of another type, params or agent: use a new key for a new command",
                 kIdempotencyKeyReused, "idempotency_key"};
  }
  return std::vector<CommandEvent>{};
}

Result<std::vector<CommandEvent>> decide_deliver(const CommandRecord& record, const DeliverCommand& command,
                                                 TimeMs now_ms) {
  if (!record.exists()) return command_not_found();
  const bool queued = record.state == CommandState::queued;
  if (!queued && record.state != CommandState::delivered) return std::vector<CommandEvent>{};
  if (now_ms >= record.expires_at_ms) {
    return std::vector<CommandEvent>{
        CommandExpired{queued ? ExpiryReason::not_delivered : ExpiryReason::not_finished}};
  }
  const bool due = queued ? now_ms >= record.not_before_ms
                          : now_ms >= record.delivered_at_ms + command.redeliver_after_ms;
  if (!due) return std::vector<CommandEvent>{};
  return std::vector<CommandEvent>{CommandDelivered{}};
}

Result<std::vector<CommandEvent>> decide_acknowledge(const CommandRecord& record,
                                                     const AcknowledgeCommand& command) {
  if (auto refused = refuse_report(record, command.agent_id)) return std::move(*refused);
  if (record.state == CommandState::acknowledged) return std::vector<CommandEvent>{};
  if (is_final(record.state)) return finished(record);
  return std::vector<CommandEvent>{CommandAcknowledged{}};
}

Result<std::vector<CommandEvent>> decide_complete(const CommandRecord& record, const CompleteCommand& command) {
  if (auto refused = refuse_report(record, command.agent_id)) return std::move(*refused);
  if (is_final(record.state)) {
    if (record.result && *record.result == command.result) return std::vector<CommandEvent>{};
    return finished(record);
  }
  return std::vector<CommandEvent>{CommandCompleted{command.result}};
}

Result<std::vector<CommandEvent>> decide_cancel(const CommandRecord& record) {
  if (!record.exists()) return command_not_found();
  if (is_final(record.state)) return finished(record);
  return std::vector<CommandEvent>{CommandCancelled{}};
}

Result<std::vector<CommandEvent>> decide_expire(const CommandRecord& record, TimeMs now_ms) {
  if (!record.exists() || is_final(record.state) || now_ms < record.expires_at_ms) {
    return std::vector<CommandEvent>{};
  }
  return std::vector<CommandEvent>{CommandExpired{
      record.state == CommandState::queued ? ExpiryReason::not_delivered : ExpiryReason::not_finished}};
}

CommandRecord CommandAggregate::initial_state(const std::string& id) {
  CommandRecord record;
  if (const auto parts = split_org_scoped_id(id)) {
    record.org = std::string(parts->org);
    record.command_id = std::string(parts->name);
  } else {
    record.command_id = id;
  }
  return record;
}

Result<std::vector<CommandEvent>> CommandAggregate::decide(const State& state, const Command& command,
                                                           Context& context) {
  return std::visit(
      [&](const auto& typed) -> Result<std::vector<CommandEvent>> {
        using Typed = std::decay_t<decltype(typed)>;
        if constexpr (std::is_same_v<Typed, QueueCommand>) {
          return decide_queue(state, typed);
        } else if constexpr (std::is_same_v<Typed, DeliverCommand>) {
          return decide_deliver(state, typed, context.now_ms);
        } else if constexpr (std::is_same_v<Typed, AcknowledgeCommand>) {
          return decide_acknowledge(state, typed);
        } else if constexpr (std::is_same_v<Typed, CompleteCommand>) {
          return decide_complete(state, typed);
        } else if constexpr (std::is_same_v<Typed, CancelCommand>) {
          return decide_cancel(state);
        } else {
          return decide_expire(state, context.now_ms);
        }
      },
      command);
}

}  // namespace muster
