#include "actors/rollout/rollout_decider.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace muster {
namespace {

using Events = std::vector<RolloutEvent>;

Error not_active(const Rollout& rollout, const char* what) {
  return make_error(ErrorCode::conflict,
                    fmt::format("the rollout is {}: {}", to_string(rollout.status), what),
                    "ROLLOUT_NOT_ACTIVE");
}

// Where the current phase's clock starts: the stage's start (applying) or
// its bake's (baking), or the latest resume if later.
TimeMs phase_start(const Rollout& rollout) {
  const RolloutStageProgress& stage = rollout.progress[rollout.current_stage];
  return std::max(stage.baking ? stage.baking_at_ms : stage.started_at_ms, rollout.resumed_at_ms);
}

}  // namespace

Error rollout_not_found() {
  return make_error(ErrorCode::not_found, "no rollout with this id", "ROLLOUT_NOT_FOUND");
}

std::optional<GateBreach> check_gate(const RolloutGate& gate, const RolloutCounts& counts) {
  if (counts.agents == 0) return std::nullopt;
  const auto share = [&](std::uint64_t part) { return 100.0 * static_cast<double>(part) / counts.agents; };
  const struct {
    const char* measure;
    std::uint64_t part;
    double max;
  } measures[] = {{"failed", counts.failed, gate.max_failed_percent},
                  {"unhealthy", counts.unhealthy, gate.max_unhealthy_percent},
                  {"offline", counts.offline, gate.max_offline_percent}};
  for (const auto& measure : measures) {
    if (share(measure.part) > measure.max) {
      return GateBreach{
          measure.measure,
          fmt::format("gate: {} of {} agents of the slice {} ({:.1f}%, more than max_{}_percent {})",
                      measure.part, counts.agents, measure.measure, share(measure.part), measure.measure,
                      measure.max)};
    }
  }
  return std::nullopt;
}

Result<Events> decide_create(const Rollout& rollout, const CreateRollout& command) {
  if (rollout.exists())
    return make_error(ErrorCode::conflict, "this rollout exists already", "ROLLOUT_EXISTS");
  return Events{command.created, RolloutStageStarted{0, command.first.threshold, command.first.agents}};
}

Result<Events> decide_observe(const Rollout& rollout, const ObserveRollout& command) {
  if (!rollout.exists()) return rollout_not_found();
  if (rollout.status != RolloutStatus::running || rollout.stages_done()) return Events{};
  const RolloutObservation& seen = command.observation;
  if (seen.stage != rollout.current_stage) return Events{};
  if (auto breach = check_gate(rollout.gate, seen.slice)) {
    if (rollout.on_failure == RolloutOnFailure::rollback) {
      return Events{RolloutRolledBack{breach->reason, breach->measure, seen.slice}};
    }
    return Events{RolloutPaused{breach->reason, breach->measure, seen.slice}};
  }
  const std::size_t stage = rollout.current_stage;
  const RolloutStageProgress& progress = rollout.progress[stage];
  const bool bake_elapsed = seen.now_ms - phase_start(rollout) >= rollout.stages[stage].bake_time_ms;
  if (!progress.baking) {
    const bool settled = seen.slice.applied + seen.slice.failed >= seen.slice.agents;
    if (!settled && !bake_elapsed) return Events{};
    return Events{RolloutStageBaking{stage, seen.now_ms}};
  }
  if (!bake_elapsed) return Events{};
  Events events{RolloutStageFinished{stage, seen.slice}};
  if (stage + 1 < rollout.stages.size()) {
    events.emplace_back(RolloutStageStarted{stage + 1, seen.next.threshold, seen.next.agents});
  } else if (!rollout.target.group) {
    // A selector's layer stays as the standing change: nothing to fold first.
    events.emplace_back(RolloutCompleted{});
  }
  return events;
}

Result<Events> decide_pause(const Rollout& rollout, const PauseRollout& command) {
  if (!rollout.exists()) return rollout_not_found();
  if (rollout.status != RolloutStatus::running || rollout.stages_done()) {
    return make_error(ErrorCode::conflict,
                      fmt::format("only a running rollout can be paused; this one is {}",
                                  rollout.stages_done() ? "completing" : to_string(rollout.status)),
                      "ROLLOUT_NOT_RUNNING");
  }
  return Events{RolloutPaused{command.reason, "", RolloutCounts{}}};
}

Result<Events> decide_resume(const Rollout& rollout) {
  if (!rollout.exists()) return rollout_not_found();
  if (rollout.status != RolloutStatus::paused) {
    return make_error(
        ErrorCode::conflict,
        fmt::format("only a paused rollout can be resumed; this one is {}", to_string(rollout.status)),
        "ROLLOUT_NOT_PAUSED");
  }
  return Events{RolloutResumed{}};
}

Result<Events> decide_abort(const Rollout& rollout, const AbortRollout& command) {
  if (!rollout.exists()) return rollout_not_found();
  if (!rollout.active() || rollout.stages_done())
    return not_active(rollout, "only a running or paused one aborts");
  return Events{RolloutAborted{command.reason}};
}

Result<Events> decide_rollback(const Rollout& rollout, const RollBackRollout& command) {
  if (!rollout.exists()) return rollout_not_found();
  // A group target completing is folding the change into its group: a
  // rollback now would leave the group changed.
  const bool completing =
      rollout.status == RolloutStatus::running && rollout.stages_done() && rollout.target.group;
  if (!rollout.has_layer() || completing) {
    return not_active(rollout, "there is no change of its own left to roll back");
  }
  return Events{RolloutRolledBack{command.reason, "", RolloutCounts{}}};
}

Result<Events> decide_complete(const Rollout& rollout) {
  if (!rollout.exists()) return rollout_not_found();
  if (rollout.status != RolloutStatus::running || !rollout.stages_done()) return Events{};
  return Events{RolloutCompleted{}};
}

RolloutAggregate::State RolloutAggregate::initial_state(const std::string& id) {
  Rollout rollout;
  if (const auto scoped = split_org_scoped_id(id)) {
    rollout.org = std::string(scoped->org);
    rollout.rollout_id = std::string(scoped->name);
  }
  return rollout;
}

Result<std::vector<RolloutEvent>> RolloutAggregate::decide(const State& state, const Command& command,
                                                           Context& /*context*/) {
  if (const auto* create = std::get_if<CreateRollout>(&command)) return decide_create(state, *create);
  if (const auto* observe = std::get_if<ObserveRollout>(&command)) return decide_observe(state, *observe);
  if (const auto* pause = std::get_if<PauseRollout>(&command)) return decide_pause(state, *pause);
  if (std::holds_alternative<ResumeRollout>(command)) return decide_resume(state);
  if (const auto* abort = std::get_if<AbortRollout>(&command)) return decide_abort(state, *abort);
  if (const auto* rollback = std::get_if<RollBackRollout>(&command)) return decide_rollback(state, *rollback);
  return decide_complete(state);
}

}  // namespace muster
