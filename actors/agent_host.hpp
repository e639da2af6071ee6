#pragma once
/// The agent host: one supervised CAF actor per agent, rebuilt from the log.
///
/// Each command (register, heartbeat, deregister, decommission) goes to the
/// agent's actor, which decides the events (`agent_decider.hpp`), appends them
/// to the store with the stream's expected version, folds them with `apply`
/// once they are durable, and only then answers. A supervisor respawns a
/// failed actor with its state rebuilt from its stream; a request caught in
/// the failure answers `unavailable`, never hangs. Each live agent holds at
/// most one pending heartbeat-timeout entry; when it fires without a heartbeat
/// since, the actor appends AgentWentOffline.
///
/// Thread safety: every public method may be called from any thread (HTTP
/// handlers call them concurrently). Calls block the caller, never an actor.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "actors/agent_decider.hpp"
#include "actors/agent_state.hpp"
#include "actors/last_seen_table.hpp"
#include "common/clock.hpp"
#include "common/result.hpp"
#include "eventstore/event_store.hpp"
#include "eventstore/last_seen_store.hpp"

namespace muster {

struct AgentHostOptions {
  /// No heartbeat for this long marks an agent OFFLINE. Default: 120 s.
  TimeMs heartbeat_timeout_ms = 120'000;
  /// How long a caller waits for an actor's answer before `unavailable`. Default: 10 s.
  TimeMs request_timeout_ms = 10'000;
  /// Granularity of heartbeat deadlines: an agent goes offline at most this
  /// much after its deadline (plus polling). Default: 100 ms.
  TimeMs timer_resolution_ms = 100;
  /// After a rotation the agent's previous token keeps working this long, so
  /// an agent that missed the answer is not locked out. Default: 5 min.
  TimeMs agent_token_grace_ms = 300'000;
  /// How often changed last-seen times are saved to the store. Default: 1 s.
  TimeMs last_seen_flush_interval_ms = 1000;
  /// Run the threads that fire timeouts and save last-seen times. Tests that
  /// drive time with a ManualClock turn this off and call `fire_due_timeouts`.
  bool run_background_threads = true;
  /// Commands waiting at one agent at most (behind its append in flight);
  /// beyond, a command answers `unavailable` (AGENT_BUSY) at once, so one
  /// hot agent cannot queue without bound. Default: 64.
  std::size_t max_queued_commands = 64;
  /// CAF scheduler threads; 0 means one per core.
  std::size_t worker_threads = 0;
  /// Test-only: called by an agent's actor before each command it handles,
  /// with the agent id. Whatever it throws fails the actor (to test supervision).
  std::function<void(const std::string& agent_id)> TEST_before_command;
};

/// Who caused a command; recorded in the events' metadata.
struct RequestContext {
  std::string request_id;
  std::string source_address;
  /// "key:<key_id>" (operator), "agent:<agent_id>", "enrollment:<token_id>"; empty when unauthenticated.
  std::string principal;
};

/// Who may act on an existing agent: checked by the agent's actor against its
/// own state, so the check and the command see the same state.
struct AgentAccess {
  /// Set for the agent itself: the digest of the token it presented. Refused
  /// with `unauthenticated` / INVALID_AGENT_TOKEN unless the agent accepts it.
  std::optional<std::string> token_sha256;
  /// The organization the caller may act in ("*": any). Another
  /// organization's agent answers `not_found` / AGENT_NOT_FOUND.
  std::string org_scope{kAllOrgs};
};

/// The metadata JSON recorded with the events a request causes.
std::string event_meta(const RequestContext& context);

/// What a command left behind.
struct AgentOutcome {
  std::string agent_id;
  std::string instance_id;
  std::string org;
  AgentStatus status = AgentStatus::unregistered;
  TimeMs registered_at_ms = 0;
  std::uint64_t config_version = 0;
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

/// What recovery found, for logs and benchmarks.
struct RecoveryStats {
  std::uint64_t events = 0;
  std::uint64_t agents = 0;
  TimeMs fold_ms = 0;      ///< Reading the log and folding every agent.
  TimeMs spawn_ms = 0;     ///< Starting an actor per agent.
  TimeMs duration_ms = 0;  ///< Both, and loading last-seen times.
};

class AgentHost {
 public:
  /// Rebuilds every agent from `store` and the times saved in `last_seen`,
  /// and starts serving; saves last-seen times back to `last_seen`. Agents
  /// whose deadline passed while the server was down get one full timeout
  /// from now. `store`, `last_seen` and `clock` must outlive the host.
  /// Errors: those of reading the log or the last-seen times, and
  /// `corruption` if an event cannot be folded.
  static Result<std::unique_ptr<AgentHost>> start(EventStore& store, LastSeenStore& last_seen,
                                                  const Clock& clock, AgentHostOptions options);
  ~AgentHost();
  AgentHost(const AgentHost&) = delete;
  AgentHost& operator=(const AgentHost&) = delete;

  /// Registers `registration.instance_id` in `admission.org` (the same
  /// instance id in two organizations is two agents) and issues a new agent
  /// token (filling in `admission.agent_token_sha256`); any earlier token of
  /// the agent stops working.
  [[nodiscard]] Result<AgentOutcome> register_agent(const Registration& registration, Admission admission,
                                                    const RequestContext& context);
  [[nodiscard]] Result<AgentOutcome> heartbeat(const std::string& agent_id, const AgentAccess& access,
                                               const HeartbeatReport& report, const RequestContext& context);
  [[nodiscard]] Result<AgentOutcome> deregister(const std::string& agent_id, const AgentAccess& access,
                                                const RequestContext& context);
  [[nodiscard]] Result<AgentOutcome> decommission(const std::string& agent_id, const AgentAccess& access,
                                                  const RequestContext& context);
  /// Issues a new agent token; the current one keeps working for the grace period.
  [[nodiscard]] Result<AgentOutcome> rotate_token(const std::string& agent_id, const AgentAccess& access,
                                                  const RequestContext& context);
  /// Success if `agent_id` exists and accepts `token_sha256` (to tell a
  /// valid token used on another agent's route from a bad one).
  [[nodiscard]] Status verify_token(const std::string& agent_id, const std::string& token_sha256);

  /// Last-seen time and latest metrics of an agent, if it was ever heard from.
  std::optional<LastSeenTable::Entry> live_info(const std::string& agent_id) const;

  /// The actor's state once the commands it has already received are done
  /// (for tests comparing live state with a fold of the log).
  Result<AgentState> TEST_state(const std::string& agent_id);

  /// Sends every due heartbeat-timeout check to its actor now; returns how many.
  std::size_t fire_due_timeouts();

  /// Saves changed last-seen times now.
  Status flush_last_seen();

  const RecoveryStats& recovery_stats() const;

  /// Stops timers, waits for appends in flight, stops every actor and saves
  /// last-seen times. Idempotent; the destructor calls it. Later calls answer
  /// `unavailable`.
  void stop();

  /// Internal; named here only so the actor code in agent_host.cpp can reach it.
  struct Impl;

 private:
  explicit AgentHost(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace muster
