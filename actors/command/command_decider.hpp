#pragma once
/// A command's decisions, and the command as the runtime runs it. Pure: the
/// time comes from the decision's context.
///
/// Delivery is at least once: a command delivered but neither acknowledged
/// nor finished within the redelivery interval may be delivered again (the
/// agent recognizes it by its command_id). Two fetches racing for one
/// command are decided one after the other by its actor, so only one of
/// them delivers it.

#include <string>
#include <variant>
#include <vector>

#include "actors/command/command_state.hpp"
#include "actors/runtime/aggregate_host.hpp"
#include "actors/runtime/stream_id.hpp"

namespace muster {

/// API codes of the refusals.
inline constexpr const char* kCommandNotFound = "COMMAND_NOT_FOUND";
inline constexpr const char* kCommandNotDelivered = "COMMAND_NOT_DELIVERED";
inline constexpr const char* kCommandFinished = "COMMAND_FINISHED";
inline constexpr const char* kIdempotencyKeyReused = "IDEMPOTENCY_KEY_REUSED";
inline constexpr const char* kCommandExists = "COMMAND_EXISTS";

/// `not_found` / COMMAND_NOT_FOUND.
Error command_not_found();

/// Queue a new command (its CommandQueued, command_id and org included).
struct QueueCommand {
  CommandQueued queued;
};
/// The agent fetches it. A delivered command is delivered again once
/// `redeliver_after_ms` passed since its last delivery.
struct DeliverCommand {
  TimeMs redeliver_after_ms = 60'000;
};
/// The agent `agent_id` acknowledges it.
struct AcknowledgeCommand {
  AgentId agent_id;
};
/// The agent `agent_id` reports how it ended.
struct CompleteCommand {
  AgentId agent_id;
  CommandResult result;
};
/// An operator cancels it.
struct CancelCommand {};
/// Its expiry fell due (the service's timer).
struct ExpireCommand {};

using CommandCommand =
    std::variant<QueueCommand, DeliverCommand, AcknowledgeCommand, CompleteCommand, CancelCommand, ExpireCommand>;

/// CommandQueued. A command that exists already: nothing when it was
/// queued with the same idempotency key for the same agent, type and
/// params (a repeated request; the caller answers the existing command);
/// refused `conflict` / IDEMPOTENCY_KEY_REUSED (field "idempotency_key")
/// when any of them differs, `conflict` / COMMAND_EXISTS without a key.
Result<std::vector<CommandEvent>> decide_queue(const CommandRecord& record, const QueueCommand& command);
/// CommandDelivered for a queued command whose not_before has come, or a
/// delivered one due for redelivery; CommandExpired if its expiry passed
/// (the fetch does not get it); nothing otherwise (a final or acknowledged
/// command, one delivered lately, one not due yet). Refused: `not_found`.
Result<std::vector<CommandEvent>> decide_deliver(const CommandRecord& record, const DeliverCommand& command,
                                                 TimeMs now_ms);
/// CommandAcknowledged from delivered; nothing when acknowledged already.
/// Refused: `not_found` / COMMAND_NOT_FOUND (none, or another agent's),
/// `conflict` / COMMAND_NOT_DELIVERED (queued), `conflict` / COMMAND_FINISHED.
Result<std::vector<CommandEvent>> decide_acknowledge(const CommandRecord& record,
                                                     const AcknowledgeCommand& command);
/// CommandCompleted from delivered or acknowledged; nothing for the result
/// it recorded already (a retried report). Refused as `decide_acknowledge`.
Result<std::vector<CommandEvent>> decide_complete(const CommandRecord& record, const CompleteCommand& command);
/// CommandCancelled from any state not final. Refused: `not_found`,
/// `conflict` / COMMAND_FINISHED.
Result<std::vector<CommandEvent>> decide_cancel(const CommandRecord& record);
/// CommandExpired (not_delivered while queued, not_finished once delivered)
/// when `now_ms` reached its expiry and it is not final; nothing otherwise.
Result<std::vector<CommandEvent>> decide_expire(const CommandRecord& record, TimeMs now_ms);

struct CommandAggregate {
  static constexpr std::string_view kKind = kCommandKind;
  using State = CommandRecord;
  using Payload = CommandEvent;
  using Command = CommandCommand;
  using Context = runtime::DecideContext;

  /// `id` is "<org>/<command_id>" (command_instance_id).
  static State initial_state(const std::string& id);
  static std::string stream_of(const State& state) { return command_stream(state.org, state.command_id); }
  static Result<std::vector<Payload>> decide(const State& state, const Command& command, Context& context);
  static Status apply(State& state, const Payload& event, const EventHeader& header) {
    return muster::apply(state, event, header);
  }
  static Status apply(State& state, const Event& event) { return muster::apply(state, event); }
};

}  // namespace muster
