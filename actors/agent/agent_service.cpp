#include "actors/agent/agent_service.hpp"

#include <atomic>

#include "actors/runtime/aggregate_host.hpp"
#include "common/log.hpp"
#include "common/periodic_timer.hpp"
#include "common/timeout_wheel.hpp"

namespace muster {
namespace {

using AgentHost = runtime::AggregateHost<AgentAggregate>;

// The refusal for an id with no agent: AGENT_NOT_FOUND to an operator, and
// to an agent token the same as a wrong token, so that a made-up token does
// not tell known ids from unknown ones.
Error unknown_agent(const AgentAccess& access) {
  if (access.token) return invalid_agent_token();
  return make_error(ErrorCode::not_found, "no agent with this id", kAgentNotFound);
}

AgentOutcome outcome_of(const AgentState& state, std::uint64_t position) {
  AgentOutcome outcome;
  outcome.agent_id = state.agent_id;
  outcome.instance_id = state.instance_id;
  outcome.org = *state.org;
  outcome.status = state.status;
  outcome.registered_at_ms = state.registered_at_ms;
  outcome.position = position;
  outcome.previous_token_valid_until_ms = state.credentials.previous_valid_until_ms;
  return outcome;
}

}  // namespace

struct AgentService::Impl : runtime::Repository<AgentAggregate> {
  Impl(runtime::Runtime& runtime_in, EventStore& store_in, LastSeenStore& last_seen_in, AgentRegistry& registry_in,
       AgentServiceOptions options_in)
      : timers(runtime_in.timers()),
        last_seen(last_seen_in),
        registry(registry_in),
        options(std::move(options_in)),
        host(runtime_in, store_in, *this, host_options(options)),
        deadlines(timers, options.timer_resolution_ms,
                  [this](std::vector<AgentId>& due) { fire_deadlines(due); }),
        flusher(timers, options.last_seen_flush_interval_ms, [this] { flush_in_background(); }) {}

  static runtime::AggregateHostOptions host_options(const AgentServiceOptions& options) {
    runtime::AggregateHostOptions host;
    host.core.kind = "agent";
    host.core.passivate_after_ms = options.passivate_after_ms;
    host.max_queued_commands = options.max_queued_commands;
    host.call_timeout_ms = options.request_timeout_ms;
    host.busy_code = "AGENT_BUSY";
    host.failed_code = "AGENT_UNAVAILABLE";
    host.TEST_before_command = options.TEST_before_command;
    return host;
  }

  // --- Repository: an agent's actor starts from its registry record ---------------

  Result<AgentState> load(const std::string& id) override {
    const auto agent_id = AgentId::parse(id);
    if (!agent_id) return make_error(ErrorCode::internal, "an agent actor for a malformed id");
    auto state = registry.state_of(*agent_id);
    return state ? std::move(*state) : fresh_agent_state(*agent_id);
  }

  AgentDecideContext begin(const AgentState& state, TimeMs now_ms) override {
    AgentDecideContext context;
    context.now_ms = now_ms;
    context.last_seen_ms = registry.begin_decision(state.agent_id).value_or(state.updated_at_ms);
    return context;
  }

  void end(const AgentState& state, const AgentDecideContext& context, std::size_t /*appended*/) override {
    registry.end_decision(state, context.heard ? std::optional<TimeMs>(context.last_seen_ms) : std::nullopt,
                          context.metrics);
    arm_deadline(state.agent_id);
    if (context.heard && context.metrics && !context.metrics->empty() && options.on_metrics) {
      options.on_metrics(state.agent_id, *state.org, context.last_seen_ms, *context.metrics);
    }
  }

  void failed(const std::string& id) override {
    if (const auto agent_id = AgentId::parse(id)) {
      registry.abandon_decision(*agent_id);
      arm_deadline(*agent_id);
    }
  }

  // --- Deadlines ------------------------------------------------------------------

  void arm_deadline(const AgentId& agent_id) {
    if (stopping) return;
    if (const auto deadline = registry.arm_deadline(agent_id, options.heartbeat_timeout_ms, started_at_ms)) {
      deadlines.schedule(*deadline, agent_id);
    }
  }

  void fire_deadlines(std::vector<AgentId>& due) {
    const Gate::Holder running(timer_callbacks);
    if (!running) return;
    const TimeMs now = timers.now_ms();
    for (const AgentId& agent_id : due) {
      const auto checked = registry.deadline_due(agent_id, now, options.heartbeat_timeout_ms, started_at_ms);
      switch (checked.what) {
        case AgentRegistry::Due::What::drop: break;
        case AgentRegistry::Due::What::wait: deadlines.schedule(checked.deadline_ms, agent_id); break;
        case AgentRegistry::Due::What::fire: {
          RequestContext cause;
          cause.cause = "heartbeat_timeout";
          // A refused or failed check (the store saturated or failing) arms
          // again: its deadline has passed, so it is retried at the next tick.
          host.send(agent_id.to_string(), CheckAgentTimeout{options.heartbeat_timeout_ms, started_at_ms}, cause,
                    [this, agent_id](Result<runtime::Outcome<AgentState>>) { arm_deadline(agent_id); });
          break;
        }
      }
    }
  }

  // --- Commands ---------------------------------------------------------------------

  /// Sends a command to an agent that has a record: an unknown id answers
  /// without activating anything (see unknown_agent).
  void send(const AgentId& agent_id, const AgentAccess& access, AgentCommand command, const RequestContext& context,
            Done done, std::string agent_token = {}) {
    if (!registry.contains(agent_id)) return done(unknown_agent(access));
    host.send(agent_id.to_string(), std::move(command), context,
              [done = std::move(done), token = std::move(agent_token)](
                  Result<runtime::Outcome<AgentState>> outcome) mutable {
                if (!outcome) return done(outcome.error());
                AgentOutcome answer = outcome_of(outcome->state, outcome->position);
                answer.agent_token = std::move(token);
                done(std::move(answer));
              });
  }

  void flush_in_background() {
    if (Status saved = flush(); !saved) {
      log::error("cannot save last-seen times", {{"error", saved.error().message}});
    }
  }

  Status flush() {
    auto dirty = registry.take_dirty_last_seen();
    if (dirty.empty()) return Status::success();
    Status saved = last_seen.save(dirty);
    if (!saved) registry.restore_dirty_last_seen(dirty);
    return saved;
  }

  TimerService& timers;
  LastSeenStore& last_seen;
  AgentRegistry& registry;
  const AgentServiceOptions options;
  /// When the fleet was last resumed: agents silent since before get one full timeout from then.
  std::atomic<TimeMs> started_at_ms{0};
  std::atomic<bool> stopping{false};
  /// Deadline handlers in progress: stop() waits for them before anything goes away.
  Gate timer_callbacks;
  AgentHost host;
  TimeoutWheel<AgentId> deadlines;
  PeriodicTimer flusher;
};

AgentService::AgentService(runtime::Runtime& runtime, EventStore& store, LastSeenStore& last_seen,
                           AgentRegistry& registry, AgentServiceOptions options)
    : impl_(std::make_unique<Impl>(runtime, store, last_seen, registry, std::move(options))) {}

AgentService::~AgentService() {
  stop();
}

Status AgentService::start() {
  impl_->flusher.start();
  return Status::success();
}

Status AgentService::resume() {
  // A node that takes the fleet over from another (a cluster's new leader)
  // may have started long before: the full timeout counts from now.
  impl_->started_at_ms = impl_->timers.now_ms();
  if (Status loaded = impl_->registry.load_last_seen(impl_->last_seen); !loaded) return loaded;
  impl_->registry.arm_live_deadlines(impl_->options.heartbeat_timeout_ms, impl_->started_at_ms,
                                     [this](const AgentId& agent_id, TimeMs deadline_ms) {
                                       impl_->deadlines.schedule(deadline_ms, agent_id);
                                     });
  return Status::success();
}

void AgentService::stop() {
  if (impl_->stopping.exchange(true)) return;
  impl_->timer_callbacks.close();
  impl_->flusher.stop();
  impl_->deadlines.stop();
  impl_->host.stop();
  if (Status saved = impl_->flush(); !saved) {
    log::error("cannot save last-seen times at shutdown", {{"error", saved.error().message}});
  }
}

void AgentService::register_agent(const AgentId& agent_id, const Registration& registration, Admission admission,
                                  const RequestContext& context, Done done) {
  auto token = issue_agent_token(agent_id);
  if (!token) return done(token.error());
  admission.agent_token = token->digest;
  const bool known = impl_->registry.contains(agent_id);
  impl_->host.send(agent_id.to_string(), RegisterAgent{registration, std::move(admission)}, context,
                   [done = std::move(done), plaintext = std::move(token->plaintext),
                    known](Result<runtime::Outcome<AgentState>> outcome) mutable {
                     if (!outcome) return done(outcome.error());
                     AgentOutcome answer = outcome_of(outcome->state, outcome->position);
                     answer.agent_token = std::move(plaintext);
                     // New: its stream began with this command.
                     answer.created = !known && outcome->state.version == outcome->appended;
                     done(std::move(answer));
                   });
}

void AgentService::heartbeat(const AgentId& agent_id, const AgentAccess& access, const HeartbeatReport& report,
                             const RequestContext& context, Done done) {
  if (impl_->stopping) {
    return done(shutting_down());
  }
  if (impl_->options.TEST_to_actor && impl_->options.TEST_to_actor(agent_id.to_string())) {
    return impl_->send(agent_id, access, AgentHeartbeat{access, report}, context, std::move(done));
  }
  // The hot path: decided on the registry's record, under its lock.
  const TimeMs now = impl_->timers.now_ms();
  std::optional<Result<AgentOutcome>> answer;
  std::optional<InternedString> heard_in_org;
  const auto visit = impl_->registry.visit(
      agent_id,
      [&](const AgentState& state) {
        if (Status allowed = check_agent_access(state, access, now, PreviousToken::accepted); !allowed) {
          answer = allowed.error();
          return false;
        }
        auto decision = decide_heartbeat(state, report, now);
        if (!decision) {
          answer = decision.error();
          return false;
        }
        if (!decision->empty()) return false;  // a change: the agent's actor appends it
        answer = outcome_of(state, state.last_position);
        heard_in_org = state.org;
        return true;
      },
      now, report.metrics);
  if (visit == AgentRegistry::Visit::absent) return done(unknown_agent(access));
  if (heard_in_org && !report.metrics.empty() && impl_->options.on_metrics) {
    impl_->options.on_metrics(agent_id, **heard_in_org, now, report.metrics);
  }
  if (answer) return done(std::move(*answer));
  impl_->send(agent_id, access, AgentHeartbeat{access, report}, context, std::move(done));
}

void AgentService::deregister(const AgentId& agent_id, const AgentAccess& access, const RequestContext& context,
                              Done done) {
  impl_->send(agent_id, access, DeregisterAgent{access}, context, std::move(done));
}

void AgentService::decommission(const AgentId& agent_id, const AgentAccess& access,
                                const RequestContext& context, Done done) {
  impl_->send(agent_id, access, DecommissionAgent{access}, context, std::move(done));
}

void AgentService::rotate_token(const AgentId& agent_id, const AgentAccess& access,
                                const RequestContext& context, Done done) {
  auto token = issue_agent_token(agent_id);
  if (!token) return done(token.error());
  const TimeMs valid_until = impl_->timers.now_ms() + impl_->options.agent_token_grace_ms;
  impl_->send(agent_id, access, RotateAgentToken{access, token->digest, valid_until}, context, std::move(done),
              std::move(token->plaintext));
}

void AgentService::set_assignment(const AgentId& agent_id, const AgentAccess& access,
                                  std::optional<Assignment> assignment, const RequestContext& context, Done done) {
  impl_->send(agent_id, access, SetAgentAssignment{access, std::move(assignment)}, context, std::move(done));
}

void AgentService::set_labels(const AgentId& agent_id, const AgentAccess& access,
                              std::map<std::string, std::string> labels, const RequestContext& context, Done done) {
  impl_->send(agent_id, access, SetAgentLabels{access, std::move(labels)}, context, std::move(done));
}

void AgentService::report_config(const AgentId& agent_id, const AgentAccess& access, AgentConfigReported report,
                                 const RequestContext& context, Done done) {
  impl_->send(agent_id, access, ReportAgentConfig{access, std::move(report)}, context, std::move(done));
}

void AgentService::report_effective(const AgentId& agent_id, const AgentAccess& access,
                                    AgentEffectiveConfigReported effective, const RequestContext& context,
                                    Done done) {
  impl_->send(agent_id, access, ReportEffectiveConfig{access, std::move(effective)}, context, std::move(done));
}

void AgentService::report(const AgentId& agent_id, const AgentAccess& access, AgentReported report,
                          const RequestContext& context, Done done) {
  impl_->send(agent_id, access, RecordAgentReport{access, std::move(report)}, context, std::move(done));
}

void AgentService::verify_access(const AgentId& agent_id, const AgentAccess& access, Done done) {
  impl_->send(agent_id, access, VerifyAgentAccess{access}, {}, std::move(done));
}

Status AgentService::check_access(const AgentId& agent_id, const AgentAccess& access) const {
  static const std::map<std::string, double> kNoMetrics;
  const TimeMs now = impl_->timers.now_ms();
  Status verdict = Status::success();
  const auto visit = impl_->registry.visit(
      agent_id,
      [&](const AgentState& state) {
        // The loosest rule of any agent route (a replaced token in its grace
        // period heartbeats); the command itself applies its own.
        verdict = check_agent_access(state, access, now, PreviousToken::accepted);
        return false;  // Only looking: the agent is not heard from.
      },
      now, kNoMetrics);
  if (visit == AgentRegistry::Visit::absent) {
    return make_error(ErrorCode::unauthenticated, "the agent token is malformed, unknown or revoked",
                      kInvalidAgentToken);
  }
  return verdict;
}

TimeMs AgentService::request_timeout_ms() const {
  return impl_->options.request_timeout_ms;
}

Status AgentService::flush_last_seen() {
  return impl_->flush();
}

std::size_t AgentService::active_actors() const {
  return impl_->host.active();
}

}  // namespace muster
