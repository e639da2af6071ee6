#include "actors/command/command_service.hpp"

#include <algorithm>
#include <atomic>
#include <list>
#include <mutex>
#include <unordered_map>

#include <fmt/format.h>

#include "actors/agent/agent_decider.hpp"
#include "actors/command/command_decider.hpp"
#include "actors/command/command_gate.hpp"
#include "actors/runtime/aggregate_host.hpp"
#include "common/log.hpp"
#include "common/secrets.hpp"
#include "common/timeout_wheel.hpp"

namespace muster {
namespace {

/// Events one command's stream holds, at most (queued, a few deliveries, an
/// acknowledgement, an end); a longer one is read up to this.
constexpr std::size_t kMaxHistory = 1000;

// What falls due on the wheel: a command's expiry, or a moment an agent's
// fetch may find something new (a not_before, a redelivery).
struct CommandTimer {
  enum class Kind { expire, wake } kind = Kind::wake;
  std::string instance_id;  ///< expire: "<org>/<command_id>".
  AgentId agent_id;         ///< wake: whose fetches.
};

// One fetch in progress or parked.
struct Fetch {
  AgentId agent_id;
  TimeMs deadline_ms = 0;
  RequestContext context;
  CommandService::Accepts accepts;  ///< Null: every type.
  CommandService::Delivered done;
  std::atomic<bool> answered{false};
  TimerService::TimerId timer = 0;  ///< While parked; guarded by the service's mutex.

  void answer(Result<std::vector<CommandRecord>> result) {
    if (answered.exchange(true)) return;
    auto callback = std::move(done);
    done = nullptr;
    callback(std::move(result));
  }
};
using FetchPtr = std::shared_ptr<Fetch>;

// One round's Deliver answers, in the order sent.
struct Round {
  explicit Round(std::size_t count) : delivered(count), pending(count) {}
  std::vector<std::optional<CommandRecord>> delivered;
  std::atomic<std::size_t> pending;
  std::atomic<std::uint64_t> position{0};
};

}  // namespace

struct CommandService::Impl : std::enable_shared_from_this<CommandService::Impl> {
  Impl(runtime::Runtime& runtime, EventStore& store_in, const AgentRegistry& registry_in,
       const ConfigModel& configs_in, CommandQueue& commands_in, WhenFolded when_folded_in,
       CommandServiceOptions options_in)
      : store(store_in),
        registry(registry_in),
        configs(configs_in),
        commands(commands_in),
        when_folded(std::move(when_folded_in)),
        options(options_in),
        timers(runtime.timers()),
        host(runtime, store_in, repository, host_options()),
        wheel(timers, options.timer_resolution_ms, [this](std::vector<CommandTimer>& due) { fire(due); }) {
    options.max_per_fetch = std::max<std::size_t>(options.max_per_fetch, 1);
  }

  static runtime::AggregateHostOptions host_options() {
    runtime::AggregateHostOptions host_options;
    host_options.core.kind = "command";
    return host_options;
  }

  // --- Timers ---------------------------------------------------------------------

  // Arms what `record` waits for: its expiry, and the moment its agent's
  // fetches may get it (its not_before, or its redelivery).
  void arm(const CommandRecord& record) {
    if (is_final(record.state)) return;
    wheel.schedule(record.expires_at_ms, CommandTimer{CommandTimer::Kind::expire,
                                                      command_instance_id(record.org, record.command_id), {}});
    TimeMs wake_at = 0;
    if (record.state == CommandState::queued && record.not_before_ms > timers.now_ms()) {
      wake_at = record.not_before_ms;
    } else if (record.state == CommandState::delivered) {
      wake_at = record.delivered_at_ms + options.redeliver_after_ms;
    }
    if (wake_at > 0 && wake_at < record.expires_at_ms) {
      wheel.schedule(wake_at, CommandTimer{CommandTimer::Kind::wake, {}, record.agent_id});
    }
  }

  void fire(std::vector<CommandTimer>& due) {
    RequestContext context;
    context.cause = "command_expiry";
    std::vector<AgentId> woken;
    for (CommandTimer& timer : due) {
      if (timer.kind == CommandTimer::Kind::wake) {
        woken.push_back(timer.agent_id);
        continue;
      }
      host.send(timer.instance_id, ExpireCommand{}, context, [](Result<runtime::Outcome<CommandRecord>>) {});
    }
    std::sort(woken.begin(), woken.end());
    woken.erase(std::unique(woken.begin(), woken.end()), woken.end());
    for (const AgentId& agent_id : woken) wake(agent_id);
  }

  // --- Fetches --------------------------------------------------------------------

  // What `fetch` may get now: the agent's deliverable commands of the types it takes.
  std::vector<CommandRecord> deliverable(const Fetch& fetch, TimeMs now_ms) const {
    std::vector<CommandRecord> candidates =
        commands.deliverable(fetch.agent_id, now_ms, options.redeliver_after_ms, options.max_per_fetch);
    if (fetch.accepts) {
      candidates.erase(std::remove_if(candidates.begin(), candidates.end(),
                                      [&](const CommandRecord& record) { return !fetch.accepts(record); }),
                       candidates.end());
    }
    return candidates;
  }

  // Delivers what the fetch may get now; parks it if there is nothing.
  void run_round(const FetchPtr& fetch) {
    if (stopping) return fetch->answer(std::vector<CommandRecord>{});
    std::vector<CommandRecord> candidates = deliverable(*fetch, timers.now_ms());
    if (candidates.empty()) return park_or_end(fetch);
    auto round = std::make_shared<Round>(candidates.size());
    const DeliverCommand deliver{options.redeliver_after_ms};
    for (std::size_t index = 0; index < candidates.size(); ++index) {
      const CommandRecord& candidate = candidates[index];
      host.send(command_instance_id(candidate.org, candidate.command_id), deliver, fetch->context,
                [self = shared_from_this(), fetch, round, index](Result<runtime::Outcome<CommandRecord>> outcome) {
                  if (outcome && outcome->appended > 0 && outcome->state.state == CommandState::delivered) {
                    self->arm(outcome->state);  // its redelivery
                    round->delivered[index] = std::move(outcome->state);
                  }
                  if (outcome) {
                    std::uint64_t seen = round->position.load();
                    while (outcome->position > seen && !round->position.compare_exchange_weak(seen, outcome->position)) {
                    }
                  }
                  if (round->pending.fetch_sub(1) == 1) self->end_round(fetch, round);
                });
    }
  }

  void end_round(const FetchPtr& fetch, const std::shared_ptr<Round>& round) {
    std::vector<CommandRecord> delivered;
    for (auto& record : round->delivered) {
      if (record) delivered.push_back(std::move(*record));
    }
    // Another fetch of the same agent got them first, or they expired.
    if (delivered.empty()) return park_or_end(fetch);
    auto answer = std::make_shared<std::vector<CommandRecord>>(std::move(delivered));
    once_folded(round->position.load(), [fetch, answer] { fetch->answer(std::move(*answer)); });
  }

  void park_or_end(const FetchPtr& fetch) {
    const TimeMs now_ms = timers.now_ms();
    if (stopping || now_ms >= fetch->deadline_ms) return fetch->answer(std::vector<CommandRecord>{});
    {
      std::lock_guard<std::mutex> lock(mutex);
      if (stopping) return fetch->answer(std::vector<CommandRecord>{});
      waiters[fetch->agent_id].push_back(fetch);
      fetch->timer = timers.schedule_at(fetch->deadline_ms, [weak = weak_from_this(), fetch] {
        if (const auto self = weak.lock()) self->end_wait(fetch);
      });
    }
    // A command queued between the look and the parking woke nobody: look again.
    if (!deliverable(*fetch, now_ms).empty()) {
      wake(fetch->agent_id);
    }
  }

  // The fetch's wait is over: it answers nothing, unless a wake took it first.
  void end_wait(const FetchPtr& fetch) {
    if (!unpark(fetch)) return;
    fetch->answer(std::vector<CommandRecord>{});
  }

  // Takes `fetch` out of the waiters; false if it was not there (woken, or answered).
  bool unpark(const FetchPtr& fetch) {
    std::lock_guard<std::mutex> lock(mutex);
    const auto found = waiters.find(fetch->agent_id);
    if (found == waiters.end()) return false;
    auto& parked = found->second;
    const auto position = std::find(parked.begin(), parked.end(), fetch);
    if (position == parked.end()) return false;
    parked.erase(position);
    if (parked.empty()) waiters.erase(found);
    return true;
  }

  // Every fetch the agent has parked looks again.
  void wake(const AgentId& agent_id) {
    std::list<FetchPtr> woken;
    {
      std::lock_guard<std::mutex> lock(mutex);
      const auto found = waiters.find(agent_id);
      if (found == waiters.end()) return;
      woken.swap(found->second);
      waiters.erase(found);
    }
    for (const FetchPtr& fetch : woken) {
      timers.cancel(fetch->timer);
      run_round(fetch);
    }
  }

  void once_folded(std::uint64_t position, std::function<void()> then) {
    if (when_folded) return when_folded(position, std::move(then));
    then();
  }

  // --- Creation ---------------------------------------------------------------------

  // The agent's organization, if `org_scope` may queue a command of `type` for it.
  Result<std::string> check_agent(const std::string& org_scope, const AgentId& agent_id,
                                  const std::string& type) const {
    const auto state = registry.state_of(agent_id);
    if (!state) return make_error(ErrorCode::not_found, "no agent with this id", kAgentNotFound);
    if (Status visible = check_org_scope(*state, org_scope); !visible) return visible.error();
    if (Status usable = check_agent_usable(*state); !usable) return usable.error();
    const DesiredSummary desired = configs.desired_of(agent_id);
    if (Status enabled = check_command_enabled(desired.desired ? &desired.desired->settings : nullptr, type);
        !enabled) {
      return enabled.error();
    }
    return std::string(*state->org);
  }

  // Sends `command` to the command `record` names (as the read model knows it).
  void send(const CommandRecord& record, CommandCommand command, const RequestContext& context, Done done) {
    host.send(command_instance_id(record.org, record.command_id), std::move(command), context,
              [self = shared_from_this(), done = std::move(done)](Result<runtime::Outcome<CommandRecord>> outcome) {
                if (!outcome) return done(outcome.error());
                auto answer = std::make_shared<CommandOutcome>(
                    CommandOutcome{std::move(outcome->state), outcome->appended > 0, outcome->position});
                self->once_folded(answer->position, [answer, done] { done(std::move(*answer)); });
              });
  }

  EventStore& store;
  const AgentRegistry& registry;
  const ConfigModel& configs;
  CommandQueue& commands;
  const WhenFolded when_folded;
  CommandServiceOptions options;
  TimerService& timers;
  runtime::FoldRepository<CommandAggregate> repository;
  runtime::AggregateHost<CommandAggregate> host;
  TimeoutWheel<CommandTimer> wheel;
  std::atomic<bool> stopping{false};
  mutable std::mutex mutex;
  std::unordered_map<AgentId, std::list<FetchPtr>, AgentIdHash> waiters;  ///< Guarded by `mutex`.
};

CommandService::CommandService(runtime::Runtime& runtime, EventStore& store, const AgentRegistry& registry,
                               const ConfigModel& configs, CommandQueue& commands, WhenFolded when_folded,
                               CommandServiceOptions options)
    : impl_(std::make_shared<Impl>(runtime, store, registry, configs, commands, std::move(when_folded), options)) {
  commands.set_on_queued([weak = std::weak_ptr<Impl>(impl_)](const std::vector<AgentId>& agents) {
    const auto impl = weak.lock();
    if (!impl) return;
    for (const AgentId& agent_id : agents) impl->wake(agent_id);
  });
}

CommandService::~CommandService() {
  stop();
  impl_->commands.set_on_queued(nullptr);
}

void CommandService::stop() {
  Impl& impl = *impl_;
  impl.stopping = true;
  std::unordered_map<AgentId, std::list<FetchPtr>, AgentIdHash> parked;
  {
    std::lock_guard<std::mutex> lock(impl.mutex);
    parked.swap(impl.waiters);
  }
  for (auto& entry : parked) {
    for (const FetchPtr& fetch : entry.second) {
      impl.timers.cancel(fetch->timer);
      fetch->answer(std::vector<CommandRecord>{});
    }
  }
  impl.wheel.stop();
  impl.host.stop();
}

Status CommandService::resume() {
  for (const CommandRecord& record : impl_->commands.open()) impl_->arm(record);
  return Status::success();
}

std::string CommandService::derived_command_id(std::string_view org, const AgentId& agent_id,
                                               std::string_view idempotency_key) {
  return sha256_hex(fmt::format("{}\n{}\n{}", org, agent_id.to_string(), idempotency_key)).substr(0, 16);
}

void CommandService::create(const std::string& org_scope, const CommandRequest& request,
                            const RequestContext& context, Done done) {
  if (impl_->stopping) return done(shutting_down());
  if (!is_valid_command_type(request.type)) {
    return done(invalid_field("type", "must match [a-z][a-z0-9_.-]{0,63}"));
  }
  if (request.expires_in_ms < kMinCommandExpiryMs || request.expires_in_ms > kMaxCommandExpiryMs) {
    return done(invalid_field("expires_in", "must be a duration from 1s to 30d"));
  }
  if (!request.params.is_object()) return done(invalid_field("params", "must be an object"));
  auto org = impl_->check_agent(org_scope, request.agent_id, request.type);
  if (!org) return done(org.error());
  std::string command_id;
  if (request.idempotency_key.empty()) {
    auto random = random_id();
    if (!random) return done(random.error());
    command_id = std::move(*random);
  } else {
    command_id = derived_command_id(*org, request.agent_id, request.idempotency_key);
  }
  const TimeMs now_ms = impl_->timers.now_ms();
  if (request.not_before_ms >= now_ms + request.expires_in_ms) {
    return done(invalid_field("not_before", "must come before the command expires (expires_in from now)"));
  }
  CommandQueued queued;
  queued.command_id = command_id;
  queued.org = *org;
  queued.agent_id = request.agent_id;
  queued.type = request.type;
  queued.params = request.params;
  queued.priority = request.priority;
  queued.not_before_ms = request.not_before_ms;
  queued.expires_at_ms = now_ms + request.expires_in_ms;
  queued.idempotency_key = request.idempotency_key;
  queued.batch_id = request.batch_id;
  queued.principal = context.principal;
  CommandRecord target;
  target.org = queued.org;
  target.command_id = queued.command_id;
  impl_->send(target, QueueCommand{std::move(queued)}, context,
              [impl = impl_, done = std::move(done)](Result<CommandOutcome> outcome) {
                if (outcome && outcome->created) impl->arm(outcome->command);
                done(std::move(outcome));
              });
}

void CommandService::fetch(const AgentId& agent_id, TimeMs wait_ms, const RequestContext& context,
                           Delivered done, Accepts accepts) {
  auto fetch = std::make_shared<Fetch>();
  fetch->agent_id = agent_id;
  fetch->deadline_ms = impl_->timers.now_ms() + std::max<TimeMs>(wait_ms, 0);
  fetch->context = context;
  fetch->accepts = std::move(accepts);
  fetch->done = std::move(done);
  impl_->run_round(fetch);
}

void CommandService::acknowledge(const AgentId& agent_id, const std::string& command_id,
                                 const RequestContext& context, Done done) {
  const auto record = impl_->commands.find(command_id);
  if (!record || record->agent_id != agent_id) return done(command_not_found());
  impl_->send(*record, AcknowledgeCommand{agent_id}, context, std::move(done));
}

void CommandService::complete(const AgentId& agent_id, const std::string& command_id,
                              const CommandResult& result, const RequestContext& context, Done done) {
  const auto record = impl_->commands.find(command_id);
  if (!record || record->agent_id != agent_id) return done(command_not_found());
  impl_->send(*record, CompleteCommand{agent_id, result}, context, std::move(done));
}

void CommandService::cancel(const Principal& caller, const std::string& command_id,
                            const RequestContext& context, Done done) {
  const auto record = impl_->commands.find(command_id);
  if (!record || !org_visible(caller.org, record->org)) return done(command_not_found());
  impl_->send(*record, CancelCommand{}, context, std::move(done));
}

Result<CommandDetail> CommandService::find(const Principal& caller, const std::string& command_id) const {
  const auto known = impl_->commands.find(command_id);
  if (!known || !org_visible(caller.org, known->org)) return command_not_found();
  auto events = impl_->store.read_stream(command_stream(known->org, known->command_id), 1, kMaxHistory);
  if (!events) return events.error();
  CommandDetail detail;
  detail.command = CommandAggregate::initial_state(command_instance_id(known->org, known->command_id));
  for (const Event& event : *events) {
    if (Status folded = apply(detail.command, event); !folded) return folded.error();
    CommandChange change;
    change.type = event.type;
    change.time_ms = event.time_ms;
    change.position = event.position;
    change.data = nlohmann::json::parse(event.data, nullptr, /*allow_exceptions=*/false);
    const auto meta = nlohmann::json::parse(event.meta, nullptr, /*allow_exceptions=*/false);
    if (meta.is_object()) {
      (void)payload::read(meta, "principal", change.principal, payload::Presence::optional);
      (void)payload::read(meta, "cause", change.cause, payload::Presence::optional);
    }
    detail.history.push_back(std::move(change));
  }
  if (!detail.command.exists()) return command_not_found();
  return detail;
}

Result<CommandPage> CommandService::list(const Principal& caller, const CommandFilter& filter, std::size_t limit,
                                         const std::optional<std::string>& after) const {
  return impl_->commands.list(caller.org, filter, limit, after);
}

std::size_t CommandService::pending_of(const AgentId& agent_id) const {
  return impl_->commands.pending_of(agent_id);
}

std::optional<CommandStateCounts> CommandService::batch_counts(const std::string& batch_id) const {
  return impl_->commands.batch_counts(batch_id);
}

std::size_t CommandService::waiting() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  std::size_t count = 0;
  for (const auto& entry : impl_->waiters) count += entry.second.size();
  return count;
}

}  // namespace muster
