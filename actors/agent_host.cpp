#include "actors/agent_host.hpp"

#include <chrono>
#include <condition_variable>
#include <future>
#include <list>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_map>

#include <fmt/format.h>
#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include "actors/access.hpp"
#include "actors/agent_directory.hpp"
#include "actors/timeout_wheel.hpp"
#include "common/log.hpp"
#include "common/tsan_annotations.hpp"

namespace muster::host_internal {

enum class CommandKind {
  register_agent,
  heartbeat,
  deregister,
  decommission,
  rotate_token,
  verify_token,
  timeout
};

/// A command travelling to an agent's actor, with the promise its caller waits on.
/// If the actor dies holding it, the promise breaks and the caller answers `unavailable`.
struct AgentCommand {
  CommandKind kind = CommandKind::heartbeat;
  AgentAccess access;
  Registration registration;
  Admission admission;
  HeartbeatReport heartbeat;
  std::string new_token_sha256;  ///< For rotate_token.
  std::string meta;
  int conflict_retries = 0;
  std::promise<Result<AgentOutcome>> reply;
};
using CommandPtr = std::shared_ptr<AgentCommand>;

/// The store's answer to an actor's append, delivered back into its mailbox.
struct AppendDone {
  CommandPtr command;
  std::vector<NewEvent> events;
  Result<AppendResult> result;
};
using AppendDonePtr = std::shared_ptr<AppendDone>;

struct StateQuery {
  std::promise<AgentState> reply;
};
using StateQueryPtr = std::shared_ptr<StateQuery>;

using check_timeout_atom = caf::atom_constant<caf::atom("chktimeout")>;
using append_done_atom = caf::atom_constant<caf::atom("appenddone")>;
using respawn_atom = caf::atom_constant<caf::atom("respawn")>;

}  // namespace muster::host_internal

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(muster::host_internal::CommandPtr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(muster::host_internal::AppendDonePtr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(muster::host_internal::StateQueryPtr)

namespace muster {

using namespace host_internal;

namespace {

std::string new_agent_id() {
  thread_local std::mt19937_64 generator{std::random_device{}()};
  std::uint64_t high = generator();
  std::uint64_t low = generator();
  high = (high & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;  // version 4
  low = (low & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;    // RFC 4122 variant
  return fmt::format("{:08x}-{:04x}-{:04x}-{:04x}-{:012x}", high >> 32, (high >> 16) & 0xffff, high & 0xffff,
                     low >> 48, low & 0xffffffffffffULL);
}

AgentOutcome outcome_of(const AgentState& state, bool created) {
  AgentOutcome outcome;
  outcome.agent_id = state.agent_id;
  outcome.instance_id = state.instance_id;
  outcome.org = state.org;
  outcome.status = state.status;
  outcome.registered_at_ms = state.registered_at_ms;
  outcome.config_version = state.config_version;
  outcome.position = state.last_position;
  outcome.created = created;
  outcome.previous_token_valid_until_ms = state.credentials.previous_valid_until_ms;
  return outcome;
}

// The directory's key for an instance: the same instance id in two
// organizations names two agents. '/' occurs in neither part.
std::string instance_key(const std::string& org, const std::string& instance_id) {
  return org + "/" + instance_id;
}

// Refusals before deciding: the caller's organization, then the agent's token.
Status check_access(const AgentState& agent, const AgentAccess& access, TimeMs now_ms) {
  if (Status scoped = check_org_scope(agent, access.org_scope); !scoped) return scoped;
  if (access.token_sha256) return authenticate_agent(agent, *access.token_sha256, now_ms);
  return Status::success();
}

std::string describe(const std::exception_ptr& failure) {
  try {
    std::rethrow_exception(failure);
  } catch (const std::exception& error) {
    return error.what();
  } catch (...) {
    return "unknown exception";
  }
}

// Sends `message` to `target` and waits, at most `timeout_ms`, for the
// promise it carries. If the actor dies holding the message, the promise
// breaks: the caller answers `unavailable` instead of hanging.
template <class T, class Message>
Result<T> await_reply(const caf::actor& target, std::shared_ptr<Message> message, TimeMs timeout_ms) {
  auto answer = message->reply.get_future();
  tsan::release(message.get());
  caf::anon_send(target, std::move(message));
  if (answer.wait_for(std::chrono::milliseconds(timeout_ms)) != std::future_status::ready) {
    return make_error(ErrorCode::unavailable, "the agent did not answer in time; retry", "AGENT_BUSY");
  }
  try {
    return answer.get();
  } catch (const std::future_error&) {
    return make_error(ErrorCode::unavailable,
                      "the agent's actor failed while handling this request and was restarted; retry",
                      "AGENT_UNAVAILABLE");
  }
}

// Folds the events of `state.agent_id` after `state.version` into `state`.
Status fold_stream(const EventStore& store, AgentState& state) {
  while (true) {
    auto batch = store.read_stream(state.agent_id, state.version + 1, 1024);
    if (!batch) return batch.error();
    if (batch->empty()) return Status::success();
    for (const Event& event : *batch) {
      if (Status folded = apply(state, event); !folded) return folded;
    }
  }
}

struct AgentActorState {
  AgentState agent;
  TimeMs last_seen_ms = 0;
  bool append_in_flight = false;
  bool timer_armed = false;
  /// Commands that arrived while an append was in flight. A list, because an
  /// empty std::deque still allocates a 512-byte block: half a kilobyte for
  /// every agent, when nearly all of them have nothing waiting.
  std::list<CommandPtr> waiting;
  std::vector<StateQueryPtr> deferred_queries;  ///< Answered once no append is in flight.
  static inline const char* name = "muster.agent";
};
using AgentActor = caf::stateful_actor<AgentActorState>;

struct HostConfig : caf::actor_system_config {
  explicit HostConfig(const AgentHostOptions& options) {
    if (options.worker_threads > 0) set("scheduler.max-threads", options.worker_threads);
    // Work stealing keeps idle workers polling and sleeping in 50 us steps;
    // on two cores that took the CPU the HTTP threads needed. Sharing wakes
    // workers on a condition variable: measured +55% heartbeats/s, +55%
    // durable registrations/s (bench/RESULTS.md).
    set("scheduler.policy", caf::atom("sharing"));
  }
};

}  // namespace

struct AgentHost::Impl {
  Impl(EventStore& store_in, LastSeenStore& last_seen_store_in, const Clock& clock_in,
       AgentHostOptions options_in)
      : store(store_in),
        last_seen_store(last_seen_store_in),
        clock(clock_in),
        options(std::move(options_in)),
        config(options),
        system(config),
        wheel(options.timer_resolution_ms) {}

  // --- Wiring -------------------------------------------------------------

  caf::actor spawn_agent(AgentState state, TimeMs last_seen_ms);
  Result<AgentOutcome> ask(const caf::actor& target, CommandPtr command);
  Result<AgentOutcome> ask_agent(const std::string& agent_id, CommandPtr command);
  void run_ticker();
  std::size_t fire_due_timeouts() {
    const auto due = wheel.take_due(clock.now_ms());
    for (const caf::actor& agent : due) caf::anon_send(agent, check_timeout_atom::value);
    return due.size();
  }
  Status flush_last_seen();

  // --- Actor behaviour ----------------------------------------------------

  void enqueue(AgentActor* self, CommandPtr command);
  void handle(AgentActor* self, CommandPtr command);
  void start_append(AgentActor* self, CommandPtr command, std::vector<NewEvent> events);
  void finish_append(AgentActor* self, AppendDone& done);
  void check_timeout(AgentActor* self);
  void arm_timer_if_live(AgentActor* self);
  TimeMs deadline_after(TimeMs last_seen_ms) const {
    return std::max(last_seen_ms, started_at_ms) + options.heartbeat_timeout_ms;
  }
  TimeMs deadline_of(const AgentActorState& state) const { return deadline_after(state.last_seen_ms); }
  void drain_waiting(AgentActor* self);
  void respawn(const std::string& agent_id);

  void begin_append() {
    std::lock_guard<std::mutex> lock(appends_mutex);
    ++appends_in_flight;
  }
  void end_append() {
    std::lock_guard<std::mutex> lock(appends_mutex);
    if (--appends_in_flight == 0) appends_done.notify_all();
  }

  EventStore& store;
  LastSeenStore& last_seen_store;
  const Clock& clock;
  const AgentHostOptions options;
  TimeMs started_at_ms = 0;
  RecoveryStats recovery;
  LastSeenTable last_seen;
  std::atomic<bool> stopping{false};

  std::mutex appends_mutex;
  std::condition_variable appends_done;
  int appends_in_flight = 0;

  std::mutex ticker_mutex;
  std::condition_variable ticker_wakeup;
  std::thread ticker;

  // Declared in this order so that handles below die before the system.
  HostConfig config;
  caf::actor_system system;
  caf::actor supervisor;
  AgentDirectory directory;
  TimeoutWheel<caf::actor> wheel;
};

// --- Agent actor --------------------------------------------------------------

namespace {

caf::behavior agent_actor(AgentActor* self, AgentHost::Impl* host, AgentState initial, TimeMs last_seen_ms) {
  self->state.agent = std::move(initial);
  self->state.last_seen_ms = last_seen_ms;
  // Captures nothing: a captured copy of the id cost ~100 bytes per agent.
  self->set_exception_handler([](caf::scheduled_actor* failed, std::exception_ptr& failure) {
    const std::string what = describe(failure);
    log::error("agent actor failed",
               {{"agent_id", static_cast<AgentActor*>(failed)->state.agent.agent_id}, {"error", what}});
    return caf::make_error(caf::sec::runtime_error, what);
  });
  // spawn_agent armed the first timeout entry.
  self->state.timer_armed = is_live(self->state.agent.status);
  tsan::release(self);  // the state set up here, for the first handler on a worker
  return {
      [=](const CommandPtr& command) {
        const tsan::Scope actor(self);
        tsan::acquire(command.get());
        host->enqueue(self, command);
      },
      [=](append_done_atom, const AppendDonePtr& done) {
        const tsan::Scope actor(self);
        tsan::acquire(done.get());
        host->finish_append(self, *done);
      },
      [=](check_timeout_atom) {
        const tsan::Scope actor(self);
        host->check_timeout(self);
      },
      [=](const StateQueryPtr& query) {
        const tsan::Scope actor(self);
        tsan::acquire(query.get());
        self->state.deferred_queries.push_back(query);
        host->drain_waiting(self);
      },
  };
}

// Rebuilds agents whose actor failed. Detached: a rebuild reads the agent's
// stream from the store, which blocks.
caf::behavior supervisor_actor(caf::event_based_actor*, AgentHost::Impl* host) {
  return {
      [=](respawn_atom, const std::string& agent_id, const std::string& reason) {
        if (host->stopping) return;
        log::warn("restarting agent actor", {{"agent_id", agent_id}, {"reason", reason}});
        host->respawn(agent_id);
      },
  };
}

}  // namespace

caf::actor AgentHost::Impl::spawn_agent(AgentState state, TimeMs last_seen_ms) {
  std::string agent_id = state.agent_id;
  const bool live = is_live(state.status);
  // Lazy: the actor is set up by its first message (a command or its timeout
  // check), not scheduled now. Scheduling each of a million agents at
  // recovery woke the workers once per agent: 37 us per spawn.
  caf::actor agent = system.spawn<caf::lazy_init>(agent_actor, this, std::move(state), last_seen_ms);
  if (live && !stopping) wheel.schedule(deadline_after(last_seen_ms), agent);
  // Supervision without a message per spawn (which would wake the detached
  // supervisor once per agent at recovery): only an abnormal exit reports.
  agent->attach_functor([this, agent_id = std::move(agent_id)](const caf::error& reason) {
    if (stopping || !reason || reason == caf::exit_reason::user_shutdown) return;
    caf::anon_send(supervisor, respawn_atom::value, agent_id, caf::to_string(reason));
  });
  return agent;
}

void AgentHost::Impl::respawn(const std::string& agent_id) {
  AgentState state;
  state.agent_id = agent_id;
  if (Status folded = fold_stream(store, state); !folded) {
    // Leave no actor: requests answer `unavailable` until a restart recovers it.
    log::error("cannot rebuild agent", {{"agent_id", agent_id}, {"error", folded.error().message}});
    directory.replace(agent_id, caf::actor());
    return;
  }
  const auto seen = last_seen.find(agent_id);
  const TimeMs last_seen_ms = seen ? seen->last_seen_ms : state.updated_at_ms;
  directory.replace(agent_id, spawn_agent(std::move(state), last_seen_ms));
}

void AgentHost::Impl::enqueue(AgentActor* self, CommandPtr command) {
  if (!self->state.append_in_flight) return handle(self, std::move(command));
  // Heartbeat timeouts come from the host itself and are never refused.
  if (self->state.waiting.size() >= options.max_queued_commands && command->kind != CommandKind::timeout) {
    command->reply.set_value(make_error(ErrorCode::unavailable,
                                        "too many requests for this agent are in flight; retry shortly",
                                        "AGENT_BUSY"));
    return;
  }
  self->state.waiting.push_back(std::move(command));
}

void AgentHost::Impl::handle(AgentActor* self, CommandPtr command) {
  AgentActorState& actor_state = self->state;
  const AgentState& agent = actor_state.agent;
  if (command->kind != CommandKind::timeout && options.TEST_before_command) {
    options.TEST_before_command(agent.agent_id);
  }
  if (stopping) {
    command->reply.set_value(make_error(ErrorCode::unavailable, "muster is shutting down", "SHUTTING_DOWN"));
    return;
  }
  const TimeMs now = clock.now_ms();
  if (command->kind != CommandKind::register_agent && command->kind != CommandKind::timeout) {
    if (Status allowed = check_access(agent, command->access, now); !allowed) {
      command->reply.set_value(allowed.error());
      return;
    }
  }
  Result<std::vector<NewEvent>> decision = std::vector<NewEvent>{};
  switch (command->kind) {
    case CommandKind::register_agent:
      decision =
          decide_register(agent, agent.agent_id, command->registration, command->admission, command->meta);
      if (decision) {
        actor_state.last_seen_ms = now;
        last_seen.touch(agent.agent_id, now);
      }
      break;
    case CommandKind::heartbeat:
      decision = decide_heartbeat(agent, command->heartbeat, command->meta);
      if (decision) {
        actor_state.last_seen_ms = now;
        last_seen.touch(agent.agent_id, now, &command->heartbeat.metrics);
      }
      break;
    case CommandKind::deregister: decision = decide_deregister(agent, command->meta); break;
    case CommandKind::decommission: decision = decide_decommission(agent, command->meta); break;
    case CommandKind::rotate_token:
      decision = decide_rotate_token(agent, command->new_token_sha256, now + options.agent_token_grace_ms,
                                     command->meta);
      break;
    case CommandKind::verify_token: break;
    case CommandKind::timeout:
      decision = decide_timeout(agent, actor_state.last_seen_ms, deadline_of(actor_state),
                                options.heartbeat_timeout_ms, now, command->meta);
      break;
  }
  if (!decision) {
    command->reply.set_value(decision.error());
    return;
  }
  if (decision->empty()) {
    command->reply.set_value(outcome_of(agent, false));
    arm_timer_if_live(self);
    return;
  }
  start_append(self, std::move(command), std::move(*decision));
}

void AgentHost::Impl::start_append(AgentActor* self, CommandPtr command, std::vector<NewEvent> events) {
  self->state.append_in_flight = true;
  begin_append();
  std::vector<NewEvent> to_append = events;
  store.append_async(self->state.agent.agent_id, self->state.agent.version, std::move(to_append),
                     [this, target = caf::actor_cast<caf::actor>(self), command = std::move(command),
                      events = std::move(events)](Result<AppendResult> result) mutable {
                       auto done = std::make_shared<AppendDone>(
                           AppendDone{std::move(command), std::move(events), std::move(result)});
                       tsan::release(done.get());
                       caf::anon_send(target, append_done_atom::value, std::move(done));
                       end_append();
                     });
}

void AgentHost::Impl::finish_append(AgentActor* self, AppendDone& done) {
  AgentActorState& actor_state = self->state;
  actor_state.append_in_flight = false;
  if (!done.result) {
    const Error& error = done.result.error();
    // Another writer got ahead of this actor (a predecessor's append landing
    // after a respawn): catch up with the stream and decide again, once.
    if (error.code == ErrorCode::conflict && done.command->conflict_retries == 0) {
      ++done.command->conflict_retries;
      if (Status caught_up = fold_stream(store, actor_state.agent); !caught_up) {
        done.command->reply.set_value(caught_up.error());
        self->quit(caf::make_error(caf::sec::runtime_error, caught_up.error().message));
        return;
      }
      handle(self, std::move(done.command));
    } else {
      done.command->reply.set_value(error);
      // A failed heartbeat-timeout append (store saturated or failing) is
      // retried when the wheel next fires: the deadline has passed already.
      arm_timer_if_live(self);
    }
    drain_waiting(self);
    return;
  }
  const AppendResult& appended = *done.result;
  const bool created = actor_state.agent.version == 0;
  for (std::size_t index = 0; index < done.events.size(); ++index) {
    NewEvent& proposed = done.events[index];
    const Event event{
        appended.first_position + index, actor_state.agent.agent_id, actor_state.agent.version + 1,
        std::move(proposed.type),        appended.time_ms,           proposed.schema_version,
        std::move(proposed.data),        std::move(proposed.meta)};
    if (Status folded = apply(actor_state.agent, event); !folded) {
      // The events are durable but this actor cannot fold them: a bug. Let the
      // supervisor rebuild the agent from its stream.
      log::error("cannot fold own event", {{"error", folded.error().message}});
      done.command->reply.set_value(folded.error());
      self->quit(caf::make_error(caf::sec::runtime_error, folded.error().message));
      return;
    }
  }
  done.command->reply.set_value(outcome_of(actor_state.agent, created));
  arm_timer_if_live(self);
  drain_waiting(self);
}

void AgentHost::Impl::drain_waiting(AgentActor* self) {
  AgentActorState& actor_state = self->state;
  while (!actor_state.append_in_flight && !actor_state.waiting.empty()) {
    CommandPtr next = std::move(actor_state.waiting.front());
    actor_state.waiting.pop_front();
    handle(self, std::move(next));
  }
  if (actor_state.append_in_flight) return;
  for (const StateQueryPtr& query : actor_state.deferred_queries) query->reply.set_value(actor_state.agent);
  actor_state.deferred_queries.clear();
}

void AgentHost::Impl::check_timeout(AgentActor* self) {
  AgentActorState& actor_state = self->state;
  actor_state.timer_armed = false;
  if (!is_live(actor_state.agent.status)) return;
  if (clock.now_ms() < deadline_of(actor_state)) {
    arm_timer_if_live(self);  // heard from since the entry was made: wait for the new deadline
    return;
  }
  auto command = std::make_shared<AgentCommand>();
  command->kind = CommandKind::timeout;
  command->meta = R"({"cause":"heartbeat_timeout"})";
  enqueue(self, std::move(command));
}

void AgentHost::Impl::arm_timer_if_live(AgentActor* self) {
  AgentActorState& actor_state = self->state;
  if (actor_state.timer_armed || !is_live(actor_state.agent.status) || stopping) return;
  actor_state.timer_armed = true;
  wheel.schedule(deadline_of(actor_state), caf::actor_cast<caf::actor>(self));
}

// --- Calls from other threads ---------------------------------------------------

Result<AgentOutcome> AgentHost::Impl::ask(const caf::actor& target, CommandPtr command) {
  if (stopping) return make_error(ErrorCode::unavailable, "muster is shutting down", "SHUTTING_DOWN");
  if (!target) {
    return make_error(ErrorCode::unavailable, "this agent cannot be served right now; see the server log",
                      "AGENT_UNAVAILABLE");
  }
  return await_reply<AgentOutcome>(target, std::move(command), options.request_timeout_ms);
}

Result<AgentOutcome> AgentHost::Impl::ask_agent(const std::string& agent_id, CommandPtr command) {
  const auto target = directory.find(agent_id);
  if (!target) return make_error(ErrorCode::not_found, "no agent with this id", kAgentNotFound);
  return ask(*target, std::move(command));
}

void AgentHost::Impl::run_ticker() {
  TimeMs next_flush_ms = clock.now_ms() + options.last_seen_flush_interval_ms;
  std::unique_lock<std::mutex> lock(ticker_mutex);
  while (!stopping) {
    ticker_wakeup.wait_for(lock, std::chrono::milliseconds(options.timer_resolution_ms));
    if (stopping) break;
    lock.unlock();
    fire_due_timeouts();
    if (clock.now_ms() >= next_flush_ms) {
      if (Status saved = flush_last_seen(); !saved) {
        log::error("cannot save last-seen times", {{"error", saved.error().message}});
      }
      next_flush_ms = clock.now_ms() + options.last_seen_flush_interval_ms;
    }
    lock.lock();
  }
}

// --- AgentHost ------------------------------------------------------------------

std::string event_meta(const RequestContext& context) {
  nlohmann::json meta = nlohmann::json::object();
  if (!context.request_id.empty()) meta["request_id"] = context.request_id;
  if (!context.source_address.empty()) meta["source"] = context.source_address;
  if (!context.principal.empty()) meta["principal"] = context.principal;
  return meta.dump();
}

AgentHost::AgentHost(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

AgentHost::~AgentHost() {
  stop();
}

Result<std::unique_ptr<AgentHost>> AgentHost::start(EventStore& store, LastSeenStore& last_seen,
                                                    const Clock& clock, AgentHostOptions options) {
  auto impl = std::make_unique<Impl>(store, last_seen, clock, std::move(options));
  impl->started_at_ms = clock.now_ms();
  impl->supervisor = impl->system.spawn<caf::detached>(supervisor_actor, impl.get());

  std::unordered_map<std::string, AgentState> agents;
  for (std::uint64_t next_position = 1;;) {
    auto batch = store.read_log(next_position, 8192);
    if (!batch) return batch.error();
    if (batch->empty()) break;
    for (const Event& event : *batch) {
      if (!is_agent_stream(event.stream)) continue;
      AgentState& state = agents[event.stream];
      if (state.agent_id.empty()) state.agent_id = event.stream;
      if (Status folded = apply(state, event); !folded) return folded.error();
      ++impl->recovery.events;
    }
    next_position = batch->back().position + 1;
  }
  impl->recovery.fold_ms = clock.now_ms() - impl->started_at_ms;
  std::vector<LastSeen> saved;
  Status loaded = last_seen.for_each([&saved](std::string_view key, TimeMs time_ms) {
    saved.push_back({std::string(key), time_ms});
  });
  if (!loaded) return loaded.error();
  const TimeMs spawn_started_ms = clock.now_ms();
  impl->last_seen.load(saved);
  for (auto& [agent_id, state] : agents) {
    const auto seen = impl->last_seen.find(agent_id);
    const TimeMs last_seen_ms = seen ? seen->last_seen_ms : state.updated_at_ms;
    const std::string key = instance_key(state.org, state.instance_id);
    impl->directory.insert(agent_id, key, impl->spawn_agent(std::move(state), last_seen_ms));
  }
  impl->recovery.agents = agents.size();
  impl->recovery.spawn_ms = clock.now_ms() - spawn_started_ms;
  impl->recovery.duration_ms = clock.now_ms() - impl->started_at_ms;
  if (impl->options.run_background_threads) {
    impl->ticker = std::thread([raw = impl.get()] { raw->run_ticker(); });
  }
  return std::unique_ptr<AgentHost>(new AgentHost(std::move(impl)));
}

Result<AgentOutcome> AgentHost::register_agent(const Registration& registration, Admission admission,
                                               const RequestContext& context) {
  if (impl_->stopping) {
    return make_error(ErrorCode::unavailable, "muster is shutting down", "SHUTTING_DOWN");
  }
  auto [agent_id, target] =
      impl_->directory.find_or_create(instance_key(admission.org, registration.instance_id), [this] {
        AgentState fresh;
        fresh.agent_id = new_agent_id();
        const std::string agent_id = fresh.agent_id;
        return std::make_pair(agent_id, impl_->spawn_agent(std::move(fresh), impl_->clock.now_ms()));
      });
  auto token = issue_agent_token(agent_id);
  if (!token) return token.error();
  auto command = std::make_shared<AgentCommand>();
  command->kind = CommandKind::register_agent;
  command->registration = registration;
  admission.agent_token_sha256 = token->sha256;
  command->admission = std::move(admission);
  command->meta = event_meta(context);
  auto outcome = impl_->ask(target, std::move(command));
  if (outcome) outcome->agent_token = std::move(token->plaintext);
  return outcome;
}

namespace {

CommandPtr make_command(CommandKind kind, const AgentAccess& access, const RequestContext& context) {
  auto command = std::make_shared<AgentCommand>();
  command->kind = kind;
  command->access = access;
  command->meta = event_meta(context);
  return command;
}

}  // namespace

Result<AgentOutcome> AgentHost::heartbeat(const std::string& agent_id, const AgentAccess& access,
                                          const HeartbeatReport& report, const RequestContext& context) {
  CommandPtr command = make_command(CommandKind::heartbeat, access, context);
  command->heartbeat = report;
  return impl_->ask_agent(agent_id, std::move(command));
}

Result<AgentOutcome> AgentHost::deregister(const std::string& agent_id, const AgentAccess& access,
                                           const RequestContext& context) {
  return impl_->ask_agent(agent_id, make_command(CommandKind::deregister, access, context));
}

Result<AgentOutcome> AgentHost::decommission(const std::string& agent_id, const AgentAccess& access,
                                             const RequestContext& context) {
  return impl_->ask_agent(agent_id, make_command(CommandKind::decommission, access, context));
}

Result<AgentOutcome> AgentHost::rotate_token(const std::string& agent_id, const AgentAccess& access,
                                             const RequestContext& context) {
  auto token = issue_agent_token(agent_id);
  if (!token) return token.error();
  CommandPtr command = make_command(CommandKind::rotate_token, access, context);
  command->new_token_sha256 = token->sha256;
  auto outcome = impl_->ask_agent(agent_id, std::move(command));
  if (outcome) outcome->agent_token = std::move(token->plaintext);
  return outcome;
}

Status AgentHost::verify_token(const std::string& agent_id, const std::string& token_sha256) {
  AgentAccess access;
  access.token_sha256 = token_sha256;
  auto verified = impl_->ask_agent(agent_id, make_command(CommandKind::verify_token, access, {}));
  if (!verified) return verified.error();
  return Status::success();
}

std::optional<LastSeenTable::Entry> AgentHost::live_info(const std::string& agent_id) const {
  return impl_->last_seen.find(agent_id);
}

Result<AgentState> AgentHost::TEST_state(const std::string& agent_id) {
  const auto target = impl_->directory.find(agent_id);
  if (!target || !*target) return make_error(ErrorCode::not_found, "no live actor for this agent");
  return await_reply<AgentState>(*target, std::make_shared<StateQuery>(), impl_->options.request_timeout_ms);
}

std::size_t AgentHost::fire_due_timeouts() {
  return impl_->fire_due_timeouts();
}

Status AgentHost::Impl::flush_last_seen() {
  auto dirty = last_seen.take_dirty();
  if (dirty.empty()) return Status::success();
  Status saved = last_seen_store.save(dirty);
  if (!saved) last_seen.restore_dirty(dirty);
  return saved;
}

Status AgentHost::flush_last_seen() {
  return impl_->flush_last_seen();
}

const RecoveryStats& AgentHost::recovery_stats() const {
  return impl_->recovery;
}

void AgentHost::stop() {
  if (!impl_ || impl_->stopping.exchange(true)) return;
  impl_->ticker_wakeup.notify_all();
  if (impl_->ticker.joinable()) impl_->ticker.join();
  {
    std::unique_lock<std::mutex> lock(impl_->appends_mutex);
    impl_->appends_done.wait(lock, [this] { return impl_->appends_in_flight == 0; });
  }
  impl_->wheel.clear();
  for (const caf::actor& agent : impl_->directory.actors()) {
    if (agent) caf::anon_send_exit(agent, caf::exit_reason::user_shutdown);
  }
  caf::anon_send_exit(impl_->supervisor, caf::exit_reason::user_shutdown);
  impl_->system.await_all_actors_done();
  if (Status saved = flush_last_seen(); !saved) {
    log::error("cannot save last-seen times at shutdown", {{"error", saved.error().message}});
  }
}

}  // namespace muster
