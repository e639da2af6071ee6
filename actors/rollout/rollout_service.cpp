#include "actors/rollout/rollout_service.hpp"

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <unordered_set>

#include <fmt/format.h>

#include "actors/access/record_revocation.hpp"
#include "actors/organization.hpp"
#include "common/log.hpp"
#include "common/secrets.hpp"

namespace muster {
namespace {

// The slice stage `stage` of `rollout` takes from a target whose members'
// slice hashes are `hashes` (reordered): the n-th smallest hash, never
// below the previous stage's (stages are cumulative: an agent keeps the
// change), and the whole target, now and later, at the last stage.
RolloutSlice slice_for(const std::vector<RolloutStageSpec>& stages, std::size_t stage,
                       std::optional<std::uint64_t> previous, std::vector<std::uint64_t>& hashes) {
  RolloutSlice slice;
  if (stage + 1 >= stages.size()) return RolloutSlice{kWholeTarget, hashes.size()};
  const std::uint64_t agents = stage_agents(stages[stage], hashes.size());
  if (agents > 0) {
    const auto nth = hashes.begin() + static_cast<std::ptrdiff_t>(agents - 1);
    std::nth_element(hashes.begin(), nth, hashes.end());
    slice.threshold = *nth;
  }
  if (previous && (!slice.threshold || *slice.threshold < *previous)) slice.threshold = previous;
  slice.agents =
      static_cast<std::uint64_t>(std::count_if(hashes.begin(), hashes.end(), [&](std::uint64_t hash) {
        return slice.threshold && hash <= *slice.threshold;
      }));
  return slice;
}

}  // namespace

struct RolloutService::Impl {
  Impl(runtime::Runtime& runtime, EventStore& store_in, GroupService& groups_in,
       const AgentRegistry& registry_in, const ConfigModel& configs_in, const Rollouts& rollouts_in,
       WhenFolded when_folded_in, RolloutServiceOptions options_in)
      : groups(groups_in),
        registry(registry_in),
        configs(configs_in),
        rollouts(rollouts_in),
        when_folded(std::move(when_folded_in)),
        options(options_in),
        timers(runtime.timers()),
        host(runtime, store_in, repository, host_options()) {
    options.tick_ms = std::max<TimeMs>(options.tick_ms, 1);
  }

  static runtime::AggregateHostOptions host_options() {
    runtime::AggregateHostOptions host_options;
    host_options.core.kind = "rollout";
    return host_options;
  }

  // --- Measuring ----------------------------------------------------------------

  // The current stage's slice of `rollout` now, and the slice its next stage
  // would take.
  RolloutObservation observe(const Rollout& rollout) const {
    RolloutObservation seen;
    seen.stage = rollout.current_stage;
    seen.now_ms = timers.now_ms();
    const auto threshold = rollout.layer_threshold();
    std::vector<std::uint64_t> hashes;
    for (const RolloutTargetAgent& agent :
         configs.rollout_target(rollout.org, rollout.target, rollout.rollout_id)) {
      hashes.push_back(agent.slice_hash);
      if (!threshold || agent.slice_hash > *threshold) continue;
      ++seen.slice.agents;
      if (agent.status == ConfigStatus::applied) ++seen.slice.applied;
      if (agent.status == ConfigStatus::failed) ++seen.slice.failed;
      const auto view = registry.find(agent.agent_id);
      if (!view) continue;
      if (view->state.status == AgentStatus::offline) {
        ++seen.slice.offline;
      } else if (std::string_view(
                     assess_health(view->state, view->last_seen_ms, seen.now_ms, options.health).health) ==
                 "unhealthy") {
        ++seen.slice.unhealthy;
      }
    }
    if (rollout.current_stage + 1 < rollout.stages.size()) {
      seen.next = slice_for(rollout.stages, rollout.current_stage + 1, threshold, hashes);
    }
    return seen;
  }

  // --- Running ------------------------------------------------------------------

  void arm() {
    // Under the lock stop() takes: either stop() sees this timer and
    // cancels it, or this sees `stopping` and schedules nothing.
    std::lock_guard<std::mutex> lock(mutex);
    if (stopping) return;
    tick_timer = timers.schedule_after(options.tick_ms, [this] { tick(); });
  }

  void tick() {
    Gate::Holder in_flight(gate);
    if (!in_flight) return;
    for (const Rollout& rollout : rollouts.active()) {
      // Measure only what the config model holds the rollout's latest event
      // for: a new stage's agents must be in its layer before they count.
      if (rollout.status != RolloutStatus::running || configs.position() < rollout.last_position) continue;
      if (!begin(rollout.rollout_id)) continue;
      if (rollout.stages_done()) {
        complete(rollout);
      } else {
        send(rollout, ObserveRollout{observe(rollout)}, system_context(rollout), [](Result<Rollout>) {});
      }
    }
    arm();
  }

  // One command of the service's own per rollout at a time.
  bool begin(const std::string& rollout_id) {
    std::lock_guard<std::mutex> lock(mutex);
    return busy.insert(rollout_id).second;
  }
  void end(const std::string& rollout_id) {
    std::lock_guard<std::mutex> lock(mutex);
    busy.erase(rollout_id);
  }

  static RequestContext system_context(const Rollout& rollout) {
    RequestContext context;
    context.principal = "rollout:" + rollout.rollout_id;
    context.cause = "rollout:" + rollout.rollout_id;
    return context;
  }

  // A group target's assignment takes the change, then the rollout
  // completes (its layer goes, the hashes stay). Run again after a crash
  // between the two, the fold changes nothing the second time.
  void complete(const Rollout& rollout) {
    auto finish = [this, rollout](Result<GroupOutcome> folded) {
      // A group deleted meanwhile selects nobody: complete all the same.
      if (!folded && folded.error().reason != "GROUP_NOT_FOUND") {
        log::warn("a rollout cannot fold its change into its group yet",
                  {{"rollout_id", rollout.rollout_id}, {"error", folded.error().message}});
        return end(rollout.rollout_id);
      }
      send(rollout, CompleteRollout{}, system_context(rollout), [](Result<Rollout>) {});
    };
    if (!rollout.target.group) return finish(GroupOutcome{});
    const auto group = configs.group(rollout.org, *rollout.target.group);
    if (!group || !group->exists) return finish(make_error(ErrorCode::not_found, "gone", "GROUP_NOT_FOUND"));
    groups.set_assignment(rollout.org, *rollout.target.group,
                          fold_change_into(group->assignment, rollout.change), system_context(rollout),
                          std::move(finish));
  }

  // Sends one of the service's own commands; `end`s it once answered.
  void send(const Rollout& rollout, RolloutCommand command, const RequestContext& context, Done done) {
    Gate::Holder holder(gate);
    if (!holder) return end(rollout.rollout_id);
    auto in_flight = std::make_shared<Gate::Holder>(std::move(holder));
    const std::string rollout_id = rollout.rollout_id;
    host.send(
        org_scoped_id(rollout.org, rollout_id), std::move(command), context,
        [this, in_flight, rollout_id, done = std::move(done)](Result<runtime::Outcome<Rollout>> outcome) {
          end(rollout_id);
          if (!outcome) {
            log::warn("a rollout's step failed; the next tick tries again",
                      {{"rollout_id", rollout_id}, {"error", outcome.error().message}});
            return done(outcome.error());
          }
          log_transition(outcome->state, outcome->appended);
          done(std::move(outcome->state));
        });
  }

  static void log_transition(const Rollout& rollout, std::size_t appended) {
    if (appended == 0 || rollout.history.empty()) return;
    log::info("rollout", {{"rollout_id", rollout.rollout_id},
                          {"event", rollout.history.back().type},
                          {"stage", rollout.current_stage},
                          {"status", to_string(rollout.status)}});
  }

  // --- Operators ----------------------------------------------------------------

  void operate(const Principal& caller, const std::string& rollout_id, RolloutCommand command,
               const RequestContext& context, Done done) {
    const auto found = rollouts.find(rollout_id);
    if (!found || !org_visible(caller.org, found->org)) return done(rollout_not_found());
    host.send(org_scoped_id(found->org, rollout_id), std::move(command), context,
              [this, done = std::move(done)](Result<runtime::Outcome<Rollout>> outcome) {
                if (!outcome) return done(outcome.error());
                log_transition(outcome->state, outcome->appended);
                auto rollout = std::make_shared<Rollout>(std::move(outcome->state));
                once_folded(when_folded, outcome->position, [rollout, done] { done(std::move(*rollout)); });
              });
  }

  // --- Creation -----------------------------------------------------------------

  Status check(const std::string& org, const RolloutRequest& request) const {
    if (request.target.group) {
      if (auto group = groups.find(org, *request.target.group); !group)
        return with_field(group.error(), "target.group");
    }
    if (request.change.kind == RolloutChangeKind::assignment) {
      if (Status checked = configs.check_assignment(org, request.change.assignment); !checked) {
        const Error& error = checked.error();
        return with_field(error,
                     "change.assignment." + (error.field.empty() ? std::string("config") : error.field));
      }
    }
    return Status::success();
  }

  static Error conflict(const AgentId& agent, const std::string& other_id, const std::string& other_name,
                        const char* status) {
    return with_field(make_error(ErrorCode::conflict,
                            fmt::format("agent {} is in the target of rollout {} ('{}'), which is {}; "
                                        "one running rollout per agent",
                                        agent.to_string(), other_id, other_name, status),
                            "ROLLOUT_CONFLICT"),
                 "target");
  }

  // ROLLOUT_CONFLICT if an agent of `ids` is in the target of another
  // running or paused rollout of `org`, or of one being created; else
  // `ids` count as being created under `rollout_id` until `forget_pending`.
  Status claim(const std::string& org, const std::string& rollout_id, const std::string& name,
               std::shared_ptr<const std::unordered_set<AgentId, AgentIdHash>> ids) {
    std::lock_guard<std::mutex> lock(mutex);
    for (const auto& [other_id, other] : pending) {
      if (other.org != org) continue;
      for (const AgentId& id : *other.ids) {
        if (ids->count(id) != 0) return conflict(id, other_id, other.name, "being created");
      }
    }
    if (Status free = check_conflicts(org, *ids); !free) return free;
    pending[rollout_id] = Pending{org, name, std::move(ids)};
    return Status::success();
  }

  void forget_pending(const std::string& rollout_id) {
    std::lock_guard<std::mutex> lock(mutex);
    pending.erase(rollout_id);
  }

  Status check_conflicts(const std::string& org, const std::unordered_set<AgentId, AgentIdHash>& ids) const {
    if (ids.empty()) return Status::success();
    for (const Rollout& other : rollouts.active(org)) {
      for (const RolloutTargetAgent& agent : configs.rollout_target(org, other.target, other.rollout_id)) {
        if (ids.count(agent.agent_id) != 0) {
          return conflict(agent.agent_id, other.rollout_id, other.name, to_string(other.status));
        }
      }
    }
    return Status::success();
  }

  GroupService& groups;
  const AgentRegistry& registry;
  const ConfigModel& configs;
  const Rollouts& rollouts;
  const WhenFolded when_folded;
  RolloutServiceOptions options;
  TimerService& timers;
  runtime::FoldRepository<RolloutAggregate> repository;
  runtime::AggregateHost<RolloutAggregate> host;
  /// The tick and the service's commands in flight hold it.
  Gate gate;
  std::atomic<bool> stopping{false};
  std::mutex mutex;
  TimerService::TimerId tick_timer = 0;  ///< Guarded by `mutex`.
  std::set<std::string> busy;            ///< Guarded by `mutex`.
  /// Rollouts created but not yet in the read model: their targets' agents
  /// are claimed, so two creations at once cannot both take an agent.
  struct Pending {
    std::string org;
    std::string name;
    std::shared_ptr<const std::unordered_set<AgentId, AgentIdHash>> ids;
  };
  std::map<std::string, Pending> pending;  ///< Guarded by `mutex`.
};

RolloutService::RolloutService(runtime::Runtime& runtime, EventStore& store, GroupService& groups,
                               const AgentRegistry& registry, const ConfigModel& configs,
                               const Rollouts& rollouts, WhenFolded when_folded,
                               RolloutServiceOptions options)
    : impl_(std::make_unique<Impl>(runtime, store, groups, registry, configs, rollouts,
                                   std::move(when_folded), options)) {}

RolloutService::~RolloutService() {
  stop();
}

void RolloutService::stop() {
  TimerService::TimerId timer = 0;
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    impl_->stopping = true;
    timer = impl_->tick_timer;
  }
  impl_->timers.cancel(timer);
  impl_->gate.close();
  impl_->host.stop();
}

void RolloutService::resume() {
  const auto running = impl_->rollouts.active();
  if (!running.empty()) log::info("running rollouts again", {{"rollouts", running.size()}});
  impl_->arm();
}

void RolloutService::create(const std::string& org, const RolloutRequest& request,
                            const RequestContext& context, Done done) {
  if (Status checked = impl_->check(org, request); !checked) return done(checked.error());
  auto rollout_id = random_id();
  if (!rollout_id) return done(rollout_id.error());
  const auto members = impl_->configs.rollout_target(org, request.target, *rollout_id);
  auto ids = std::make_shared<std::unordered_set<AgentId, AgentIdHash>>();
  std::vector<std::uint64_t> hashes;
  hashes.reserve(members.size());
  for (const RolloutTargetAgent& agent : members) {
    hashes.push_back(agent.slice_hash);
    ids->insert(agent.agent_id);
  }
  // Claimed until the read models hold this rollout, where the next
  // creation's check finds it.
  if (Status free = impl_->claim(org, *rollout_id, request.name, std::move(ids)); !free)
    return done(free.error());
  CreateRollout command{RolloutCreated{*rollout_id, org, request.name, request.target, request.change,
                                       request.stages, request.gate, request.on_failure, context.principal},
                        slice_for(request.stages, 0, std::nullopt, hashes)};
  impl_->host.send(org_scoped_id(org, *rollout_id), std::move(command), context,
                   [impl = impl_.get(), rollout_id = *rollout_id,
                    done = std::move(done)](Result<runtime::Outcome<Rollout>> outcome) mutable {
                     if (!outcome) {
                       impl->forget_pending(rollout_id);
                       return done(outcome.error());
                     }
                     log::info("rollout created", {{"rollout_id", outcome->state.rollout_id},
                                                   {"org", outcome->state.org},
                                                   {"stages", outcome->state.stages.size()}});
                     auto rollout = std::make_shared<Rollout>(std::move(outcome->state));
                     once_folded(impl->when_folded, outcome->position, [impl, rollout, done] {
                       impl->forget_pending(rollout->rollout_id);
                       done(std::move(*rollout));
                     });
                   });
}

void RolloutService::pause(const Principal& caller, const std::string& rollout_id,
                           const RequestContext& context, Done done) {
  impl_->operate(caller, rollout_id, PauseRollout{"paused by " + context.principal}, context,
                 std::move(done));
}

void RolloutService::resume_rollout(const Principal& caller, const std::string& rollout_id,
                                    const RequestContext& context, Done done) {
  impl_->operate(caller, rollout_id, ResumeRollout{}, context, std::move(done));
}

void RolloutService::abort(const Principal& caller, const std::string& rollout_id,
                           const RequestContext& context, Done done) {
  impl_->operate(caller, rollout_id, AbortRollout{"aborted by " + context.principal}, context,
                 std::move(done));
}

void RolloutService::rollback(const Principal& caller, const std::string& rollout_id,
                              const RequestContext& context, Done done) {
  impl_->operate(caller, rollout_id, RollBackRollout{"rolled back by " + context.principal}, context,
                 std::move(done));
}

Result<RolloutView> RolloutService::find(const Principal& caller, const std::string& rollout_id) const {
  auto rollout = impl_->rollouts.find(rollout_id);
  if (!rollout || !org_visible(caller.org, rollout->org)) return rollout_not_found();
  RolloutView view{std::move(*rollout), std::nullopt};
  if (view.rollout.active()) view.live = impl_->observe(view.rollout).slice;
  return view;
}

Result<RolloutPage> RolloutService::list(const Principal& caller, std::size_t limit,
                                         const std::optional<std::string>& after) const {
  return impl_->rollouts.list(caller.org, limit, after);
}

}  // namespace muster
