#pragma once
/// Commands to agents: what the API asks of them, and the timers and long
/// polls that move them. Each command is an aggregate on the runtime
/// (command_decider.hpp); lists, counts and what an agent may fetch come
/// from the commands' read model (projections/commands.hpp).
///
/// - create: checks the agent (it exists for the caller, is registered and
///   not decommissioned) and whether its settings allow the type
///   (command_gate.hpp), then queues the command. With an idempotency key
///   the command id is derived from (organization, agent, key), so requests
///   repeating a key, even concurrent ones, meet the same command: the
///   first queues it, the others get it back (`created` false).
/// - fetch (the agent's long poll): delivers the agent's deliverable
///   commands (emergency first, then oldest; not before their not_before,
///   not after their expiry), each through its actor, and answers those it
///   delivered. With none, it waits up to `wait_ms`: a command queued for
///   the agent, a not_before or a redelivery coming due wakes it at once.
///   Delivery is at least once: a command delivered but not acknowledged
///   within `redeliver_after_ms` is delivered again; agents dedupe by
///   command_id.
/// - Expiry: one timer wheel, keyed by command, sends a command its expiry
///   when it falls due; it is armed when a command is queued, and by
///   resume() for every command not final.
///
/// Lifecycle: start() does nothing; resume(), once the read models hold the
/// log as it was at start-up, arms the timers of every open command. stop()
/// answers every parked fetch with no command (so a shutdown is not held by
/// them), stops the timers and the commands' actors; later calls answer
/// `unavailable` / SHUTTING_DOWN. Stop it before the HTTP listener drains.
///
/// Thread safety: every method may be called from any thread. Callbacks run
/// on a command's actor, the projection runner's thread, the timer thread
/// or the caller's (refusals), never blocking; each runs exactly once.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "actors/access/principal.hpp"
#include "actors/command/command_state.hpp"
#include "actors/runtime/request_context.hpp"
#include "actors/runtime/runtime.hpp"
#include "actors/runtime/when_folded.hpp"
#include "common/lifecycle.hpp"
#include "eventstore/event_store.hpp"
#include "projections/agent_registry.hpp"
#include "projections/commands.hpp"
#include "projections/config_model.hpp"

namespace muster {

/// A command's expiry when none is asked: 24 hours.
inline constexpr TimeMs kDefaultCommandExpiryMs = 24LL * 3600 * 1000;
/// The shortest and longest expiry one may ask: 1 second, 30 days.
inline constexpr TimeMs kMinCommandExpiryMs = 1000;
inline constexpr TimeMs kMaxCommandExpiryMs = 30LL * 24 * 3600 * 1000;

struct CommandServiceOptions {
  /// A command delivered but not acknowledged may be delivered again after
  /// this long. Default: 60 s.
  TimeMs redeliver_after_ms = 60'000;
  /// Commands one fetch delivers, at most. Default: 100.
  std::size_t max_per_fetch = 100;
  /// The timer wheel's buckets: expiries and not_before wake-ups fire up to
  /// this late. Default: 1 s.
  TimeMs timer_resolution_ms = 1'000;
};

/// A command as an operator (or a batch) asks for it.
struct CommandRequest {
  AgentId agent_id;
  std::string type;  ///< [a-z][a-z0-9_.-]{0,63}
  nlohmann::json params = nlohmann::json::object();
  CommandPriority priority = CommandPriority::normal;
  TimeMs not_before_ms = 0;  ///< Not delivered before; 0: at once.
  TimeMs expires_in_ms = kDefaultCommandExpiryMs;  ///< From now; kMin..kMaxCommandExpiryMs.
  /// Repeating a key returns the command it made (empty: none). A batch
  /// passes a key of its own per agent (its batch id does).
  std::string idempotency_key;
  std::string batch_id;  ///< Recorded with the command; empty: none.
};

/// What a command request left behind.
struct CommandOutcome {
  CommandRecord command;       ///< Whole: params and output included.
  bool created = false;        ///< False: it existed (an idempotency key) or nothing changed.
  std::uint64_t position = 0;  ///< The log position the command reflects.
};

/// One change in a command's history.
struct CommandChange {
  std::string type;  ///< The event's type ("CommandDelivered").
  TimeMs time_ms = 0;
  std::string principal;  ///< Who made it ("key:<id>", "agent:<id>"); empty for the server's own.
  std::string cause;      ///< Why, when no request did ("command_expiry").
  nlohmann::json data;    ///< The event's payload.
  std::uint64_t position = 0;
};

/// A command whole, with every change.
struct CommandDetail {
  CommandRecord command;
  std::vector<CommandChange> history;
};

class CommandService : public Service {
 public:
  /// References must outlive the service.
  CommandService(runtime::Runtime& runtime, EventStore& store, const AgentRegistry& registry,
                 const ConfigModel& configs, CommandQueue& commands, WhenFolded when_folded,
                 CommandServiceOptions options = {});
  ~CommandService() override;

  std::string_view name() const override { return "commands"; }
  Status start() override { return Status::success(); }
  void stop() override;

  /// Arms expiry and wake-up timers for every command not final. Call once
  /// the read models hold the log as it was at start-up.
  Status resume();

  using Done = std::function<void(Result<CommandOutcome>)>;
  using Delivered = std::function<void(Result<std::vector<CommandRecord>>)>;

  /// The command id a request with `idempotency_key` gets for `agent_id` in `org`.
  static std::string derived_command_id(std::string_view org, const AgentId& agent_id,
                                        std::string_view idempotency_key);

  /// Queues `request` for its agent, which a caller scoped to `org_scope`
  /// must see; answers once the read models hold it. Refused before
  /// anything is recorded: `invalid_argument` (field "type", "expires_in",
  /// "not_before"), `not_found` / AGENT_NOT_FOUND (none, or another
  /// organization's), `not_found` / AGENT_NOT_REGISTERED, `conflict` /
  /// AGENT_DECOMMISSIONED, `permission_denied` / COMMAND_DISABLED (the
  /// field names the setting); by the command: `conflict` /
  /// IDEMPOTENCY_KEY_REUSED (field "idempotency_key").
  void create(const std::string& org_scope, const CommandRequest& request, const RequestContext& context,
              Done done);

  /// Which commands a fetch takes (an OpAMP agent takes only the types its
  /// capabilities carry); called on any thread, must not block.
  using Accepts = std::function<bool(const CommandRecord& command)>;

  /// The agent's fetch: delivers what it may (see above), waiting up to
  /// `wait_ms` (0: answer at once) when nothing is deliverable; answers the
  /// commands delivered, whole, in delivery order, once the read models
  /// hold their delivery (empty when the wait ends or the service stops).
  /// With `accepts`, only the commands it accepts count (the others stay
  /// queued for another fetch). The caller has checked the agent's token.
  void fetch(const AgentId& agent_id, TimeMs wait_ms, const RequestContext& context, Delivered done,
             Accepts accepts = nullptr);

  /// The agent acknowledges its command. Refused: `not_found` /
  /// COMMAND_NOT_FOUND (none, or another agent's), `conflict` /
  /// COMMAND_NOT_DELIVERED, `conflict` / COMMAND_FINISHED.
  void acknowledge(const AgentId& agent_id, const std::string& command_id, const RequestContext& context,
                   Done done);
  /// The agent reports how its command ended. Refused as `acknowledge`
  /// (the same result reported again is no refusal: nothing changes).
  void complete(const AgentId& agent_id, const std::string& command_id, const CommandResult& result,
                const RequestContext& context, Done done);
  /// An operator cancels a command not final. Refused: `not_found` /
  /// COMMAND_NOT_FOUND (none, or not visible to `caller`), `conflict` / COMMAND_FINISHED.
  void cancel(const Principal& caller, const std::string& command_id, const RequestContext& context, Done done);

  /// The command whole with its history, read from its stream; `not_found`
  /// / COMMAND_NOT_FOUND unless `caller` may see it; store errors.
  Result<CommandDetail> find(const Principal& caller, const std::string& command_id) const;
  /// The commands `caller` may see matching `filter`, newest first (compact:
  /// without params and output). Errors: `invalid_argument` (field "cursor").
  Result<CommandPage> list(const Principal& caller, const CommandFilter& filter, std::size_t limit,
                           const std::optional<std::string>& after) const;
  /// How many of the agent's commands are queued (heartbeats' commands_pending).
  std::size_t pending_of(const AgentId& agent_id) const;
  /// A batch's commands per state; nullopt for a batch without commands.
  /// The caller checks that the batch is the caller's to see.
  std::optional<CommandStateCounts> batch_counts(const std::string& batch_id) const;

  /// Fetches waiting now (tests, metrics).
  std::size_t waiting() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace muster
