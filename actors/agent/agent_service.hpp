#pragma once
/// The agents: what the API (and later OpAMP) asks of them. Each agent is a
/// virtual actor on the runtime (agent_aggregate.hpp), whose state comes
/// from the registry's record plus its stream's tail; a heartbeat that
/// changes nothing is decided and answered on the registry's record alone,
/// with no actor (see projections/agent_registry.hpp). Heartbeat deadlines
/// sit in one timeout wheel on the timer service, at most one per agent: a
/// due one whose agent was heard from since is moved, without an actor; a
/// silent one sends the agent's actor a timeout check.
///
/// Lifecycle: start() starts the last-seen flusher; `resume`, once
/// the registry has caught up with the log, arms every live agent's
/// deadline; stop() refuses new commands, lets those in flight finish, and
/// saves last-seen times.
///
/// Thread safety: every method may be called from any thread. `done`
/// callbacks run on the agent's actor, or on the caller's thread when the
/// answer needs no actor (the hot path, refusals); they must not block.

#include <functional>
#include <memory>
#include <string>

#include "actors/agent/agent_aggregate.hpp"
#include "actors/runtime/await.hpp"
#include "actors/runtime/request_context.hpp"
#include "actors/runtime/runtime.hpp"
#include "common/lifecycle.hpp"
#include "common/timers.hpp"
#include "eventstore/event_store.hpp"
#include "eventstore/last_seen_store.hpp"
#include "projections/agent_registry.hpp"

namespace muster {

struct AgentServiceOptions {
  /// No heartbeat for this long marks an agent OFFLINE. Default: 120 s.
  TimeMs heartbeat_timeout_ms = 120'000;
  /// Granularity of heartbeat deadlines: an agent goes offline at most this
  /// much after its deadline. Default: 100 ms.
  TimeMs timer_resolution_ms = 100;
  /// After the agent's own rotation its previous token keeps working for
  /// heartbeats this long, so an agent that missed the answer is not locked
  /// out (an operator's rotation gives none). Default: 5 min.
  TimeMs agent_token_grace_ms = 300'000;
  /// How often changed last-seen times are saved. Default: 1 s.
  TimeMs last_seen_flush_interval_ms = 1000;
  /// Commands waiting at one agent behind its append in flight, at most;
  /// beyond, AGENT_BUSY. Default: 64.
  std::size_t max_queued_commands = 64;
  /// How long a blocking caller waits for an agent's answer. Default: 10 s.
  TimeMs request_timeout_ms = 10'000;
  /// An agent's actor idle this long leaves memory (its record stays). Default: 10 s.
  TimeMs passivate_after_ms = 10'000;
  /// Runs once for each heartbeat the agent was heard by that carried
  /// metrics, with the time it was heard (the registry's last seen), on the
  /// answering thread, outside every lock of the service: the metrics
  /// history and the alert evaluator take them here. Must not block.
  /// Default: none.
  std::function<void(const AgentId& agent_id, std::string_view org, TimeMs heard_at_ms,
                     const std::map<std::string, double>& metrics)>
      on_metrics;
  /// Test-only: runs on an agent's actor before each command, with its id;
  /// whatever it throws fails the actor (to test supervision).
  std::function<void(const std::string& agent_id)> TEST_before_command;
  /// Test-only: true sends the agent's heartbeat to its actor even when it
  /// changes nothing (the hot path would answer it without one).
  std::function<bool(const std::string& agent_id)> TEST_to_actor;
};

/// What a command left behind.
struct AgentOutcome {
  AgentId agent_id;
  std::string instance_id;
  std::string org;
  AgentStatus status = AgentStatus::unregistered;
  TimeMs registered_at_ms = 0;
  /// The log position that reflects this outcome: the last event appended,
  /// or the agent's latest event when nothing was appended.
  std::uint64_t position = 0;
  /// True when this command registered a new instance.
  bool created = false;
  /// The new agent token (registration and rotation only): its only copy.
  std::string agent_token;
  /// After a rotation: until when the replaced token still works.
  TimeMs previous_token_valid_until_ms = 0;
};

class AgentService : public Service {
 public:
  using Done = std::function<void(Result<AgentOutcome>)>;

  /// Each reference must outlive the service.
  AgentService(runtime::Runtime& runtime, EventStore& store, LastSeenStore& last_seen, AgentRegistry& registry,
               AgentServiceOptions options);
  ~AgentService() override;

  std::string_view name() const override { return "agents"; }
  Status start() override;
  void stop() override;

  /// Loads the saved last-seen times and arms the heartbeat deadline of
  /// every live agent. Call once the registry holds the log as it was at
  /// start-up (or, taking a cluster's fleet over, as the last leader left
  /// it); agents silent since before resume() get one full timeout from
  /// resume(). Errors: those of reading the last-seen times.
  Status resume();

  /// Registers `registration.instance_id` as `agent_id` (see
  /// `AgentRegistry::agent_for_instance`) and issues a new agent token; any
  /// earlier token of the agent stops working.
  void register_agent(const AgentId& agent_id, const Registration& registration, Admission admission,
                      const RequestContext& context, Done done);
  void heartbeat(const AgentId& agent_id, const AgentAccess& access, const HeartbeatReport& report,
                 const RequestContext& context, Done done);
  void deregister(const AgentId& agent_id, const AgentAccess& access, const RequestContext& context, Done done);
  void decommission(const AgentId& agent_id, const AgentAccess& access, const RequestContext& context,
                    Done done);
  /// Issues a new agent token. After the agent's own rotation (`access.token`
  /// set) the current one keeps working for heartbeats during the grace
  /// period; an operator's rotation ends it at once.
  void rotate_token(const AgentId& agent_id, const AgentAccess& access, const RequestContext& context,
                    Done done);
  /// The config commands (agent_aggregate.hpp): an operator's assignment of
  /// this agent alone (nullopt clears it) or labels; the agent's own reports
  /// of what it did with its config and what it runs. Each appends its event
  /// (a repeat is the caller's to skip: the config model knows the last one).
  void set_assignment(const AgentId& agent_id, const AgentAccess& access, std::optional<Assignment> assignment,
                      const RequestContext& context, Done done);
  void set_labels(const AgentId& agent_id, const AgentAccess& access, std::map<std::string, std::string> labels,
                  const RequestContext& context, Done done);
  void report_config(const AgentId& agent_id, const AgentAccess& access, AgentConfigReported report,
                     const RequestContext& context, Done done);
  void report_effective(const AgentId& agent_id, const AgentAccess& access, AgentEffectiveConfigReported effective,
                        const RequestContext& context, Done done);

  /// The agent's own report (decide_report): AgentReported, and for a
  /// termination notice AgentWentOffline at once. Refused like a heartbeat
  /// for unusable agents.
  void report(const AgentId& agent_id, const AgentAccess& access, AgentReported report,
              const RequestContext& context, Done done);

  /// Success if the agent exists and `access` may act on it.
  void verify_access(const AgentId& agent_id, const AgentAccess& access, Done done);

  /// Whether `access` may act on the agent now, decided on the registry's
  /// record without a round trip to the actor: what a front end asks before
  /// it parses a request's body. An unknown agent answers like a wrong
  /// token (`unauthenticated`), so ids do not leak. This is the loosest
  /// check any agent route makes (a replaced token within its grace period
  /// passes, as heartbeats take it); each command applies its own rule
  /// again. Passes while the actor is deciding.
  Status check_access(const AgentId& agent_id, const AgentAccess& access) const;

  /// Blocking: runs `start(done)` and waits at most `request_timeout_ms`
  /// (then AGENT_BUSY).
  template <class Start>
  Result<AgentOutcome> wait(Start&& start) const {
    return await_result<AgentOutcome>(std::forward<Start>(start), request_timeout_ms(), "AGENT_BUSY");
  }
  TimeMs request_timeout_ms() const;

  /// Saves changed last-seen times now.
  Status flush_last_seen();

  /// Agents' actors active now (the rest live only in the registry).
  std::size_t active_actors() const;

  /// Internal; named here only so agent_service.cpp can reach it.
  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace muster
