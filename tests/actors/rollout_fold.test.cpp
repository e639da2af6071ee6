// Rollouts: the decider's transitions table (applying, baking, the next
// stage, completion), the gate in each phase with pause or rollback, the
// operator's steps and their refusals, resume restarting the phase's clock,
// observations of another stage ignored, the slice hash and stage sizes,
// and the fold and its snapshot codec.

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "actors/rollout/rollout_decider.hpp"

using namespace muster;

namespace {

constexpr TimeMs kBake = 60'000;

// A rollout's log: decisions stored as the store would (JSON, position,
// version, time) and folded back from the stored form.
struct RolloutLog {
  Rollout rollout = RolloutAggregate::initial_state("acme/0123456789abcdef");
  std::uint64_t position = 40;
  std::vector<Event> events;

  std::vector<std::string> run(const RolloutCommand& command, TimeMs time_ms) {
    runtime::DecideContext context{time_ms};
    auto decided = RolloutAggregate::decide(rollout, command, context);
    REQUIRE_MESSAGE(decided.ok(), (decided.ok() ? "" : decided.error().message));
    std::vector<std::string> types;
    for (const RolloutEvent& event : *decided) {
      const NewEvent proposed = encode_payload(event);
      events.push_back(Event{++position, RolloutAggregate::stream_of(rollout), rollout.version + 1,
                             proposed.type, time_ms, proposed.schema_version, proposed.data, "{}"});
      REQUIRE(apply(rollout, events.back()).ok());
      types.push_back(proposed.type);
    }
    return types;
  }

  Error refusal(const RolloutCommand& command) {
    runtime::DecideContext context{0};
    auto decided = RolloutAggregate::decide(rollout, command, context);
    REQUIRE(!decided.ok());
    return decided.error();
  }

  Rollout refold() const {
    Rollout fresh = RolloutAggregate::initial_state("acme/0123456789abcdef");
    for (const Event& event : events) REQUIRE(apply(fresh, event).ok());
    return fresh;
  }

  // An observation of the current stage at `now_ms`.
  std::vector<std::string> observe(TimeMs now_ms, RolloutCounts slice, RolloutSlice next = {500, 5}) {
    return run(ObserveRollout{RolloutObservation{rollout.current_stage, slice, now_ms, next}}, now_ms);
  }
};

CreateRollout two_stages(RolloutOnFailure on_failure = RolloutOnFailure::pause, bool group = true) {
  RolloutCreated created;
  created.rollout_id = "0123456789abcdef";
  created.org = "acme";
  created.name = "collector v2";
  if (group) {
    created.target.group = "prod";
  } else {
    created.target.selector = {{"env", "prod"}};
  }
  created.change.assignment.config = ConfigRef{"collector", 2};
  created.stages = {{50.0, std::nullopt, kBake}, {100.0, std::nullopt, kBake}};
  created.gate = RolloutGate{10, 20, 30};
  created.on_failure = on_failure;
  created.principal = "key:0123456789abcdef";
  return CreateRollout{created, RolloutSlice{100, 2}};
}

RolloutCounts counts(std::uint64_t agents, std::uint64_t applied, std::uint64_t failed = 0,
                     std::uint64_t unhealthy = 0, std::uint64_t offline = 0) {
  return RolloutCounts{agents, applied, failed, unhealthy, offline};
}

using Types = std::vector<std::string>;

}  // namespace

SCENARIO("a rollout advances stage by stage as its slices apply and bake") {
  RolloutLog log;
  REQUIRE(log.run(two_stages(), 1'000) == Types{"RolloutCreated", "RolloutStageStarted"});
  CHECK(log.rollout.status == RolloutStatus::running);
  CHECK(log.rollout.layer_threshold() == std::optional<std::uint64_t>(100));
  CHECK(log.rollout.progress[0].started_at_ms == 1'000);

  WHEN("the slice is still applying and the bake time has not run out") {
    CHECK(log.observe(2'000, counts(2, 1)).empty());
  }
  WHEN("the slice's agents all applied or failed (within the gate)") {
    CHECK(log.observe(2'000, counts(10, 9, 1)) == Types{"RolloutStageBaking"});
    CHECK(log.rollout.progress[0].baking_at_ms == 2'000);
  }
  WHEN("the bake time runs out while it applies") {
    CHECK(log.observe(1'000 + kBake, counts(2, 0)) == Types{"RolloutStageBaking"});
  }
  WHEN("it bakes its whole bake time, counted from the logged bake start") {
    REQUIRE(log.observe(2'000, counts(2, 2)) == Types{"RolloutStageBaking"});
    CHECK(log.observe(2'000 + kBake - 1, counts(2, 2)).empty());
    CHECK(log.observe(2'000 + kBake, counts(2, 2), RolloutSlice{kWholeTarget, 4}) ==
          Types{"RolloutStageFinished", "RolloutStageStarted"});
    CHECK(log.rollout.current_stage == 1);
    CHECK(log.rollout.progress[0].counts == counts(2, 2));
    CHECK(log.rollout.layer_threshold() == std::optional<std::uint64_t>(kWholeTarget));
    CHECK(log.rollout.progress[1].agents == 4);

    THEN("a group target's last stage waits for the fold into the group, then completes") {
      const TimeMs at = 2'000 + kBake;
      REQUIRE(log.observe(at, counts(4, 4)) == Types{"RolloutStageBaking"});
      REQUIRE(log.observe(at + kBake, counts(4, 4)) == Types{"RolloutStageFinished"});
      CHECK(log.rollout.stages_done());
      CHECK(log.rollout.status == RolloutStatus::running);
      CHECK(log.observe(at + 2 * kBake, counts(4, 4)).empty());
      CHECK(log.refusal(PauseRollout{"op"}).reason == "ROLLOUT_NOT_RUNNING");
      CHECK(log.refusal(RollBackRollout{"op"}).reason == "ROLLOUT_NOT_ACTIVE");
      CHECK(log.run(CompleteRollout{}, at + 2 * kBake) == Types{"RolloutCompleted"});
      CHECK(log.rollout.status == RolloutStatus::completed);
      CHECK_FALSE(log.rollout.has_layer());
      CHECK(log.refusal(RollBackRollout{"op"}).reason == "ROLLOUT_NOT_ACTIVE");
      CHECK(log.run(CompleteRollout{}, at + 3 * kBake).empty());
    }
  }
  WHEN("an observation measured another stage (a read model behind)") {
    CHECK(log.run(ObserveRollout{RolloutObservation{1, counts(2, 2), 5'000, {}}}, 5'000).empty());
  }
  CHECK(log.refold() == log.rollout);
}

SCENARIO("a selector's rollout completes with its last stage and keeps its layer until rolled back") {
  RolloutLog log;
  REQUIRE(log.run(two_stages(RolloutOnFailure::pause, false), 0).size() == 2);
  REQUIRE(log.observe(1, counts(1, 1)) == Types{"RolloutStageBaking"});
  REQUIRE(log.observe(1 + kBake, counts(1, 1), RolloutSlice{kWholeTarget, 2}).size() == 2);
  REQUIRE(log.observe(2 + kBake, counts(2, 2)) == Types{"RolloutStageBaking"});
  CHECK(log.observe(2 + 2 * kBake, counts(2, 2)) == Types{"RolloutStageFinished", "RolloutCompleted"});
  CHECK(log.rollout.status == RolloutStatus::completed);
  CHECK(log.rollout.has_layer());
  CHECK(log.rollout.layer_threshold() == std::optional<std::uint64_t>(kWholeTarget));
  CHECK(log.run(RollBackRollout{"rolled back by key:k"}, 3 * kBake) == Types{"RolloutRolledBack"});
  CHECK_FALSE(log.rollout.has_layer());
  CHECK(log.refold() == log.rollout);
}

SCENARIO("the gate stops a rollout in either phase: it pauses, or rolls back") {
  // gate: failed 10%, unhealthy 20%, offline 30%.
  const struct {
    const char* measure;
    RolloutCounts seen;
  } breaches[] = {
      {"failed", counts(10, 0, 2)}, {"unhealthy", counts(10, 0, 0, 3)}, {"offline", counts(10, 0, 0, 0, 4)}};
  for (const auto& breach : breaches) {
    CAPTURE(breach.measure);
    for (const bool baking : {false, true}) {
      CAPTURE(baking);
      RolloutLog paused;
      REQUIRE(paused.run(two_stages(), 0).size() == 2);
      if (baking) REQUIRE(paused.observe(1, counts(10, 10)) == Types{"RolloutStageBaking"});
      CHECK(paused.observe(2, breach.seen) == Types{"RolloutPaused"});
      CHECK(paused.rollout.status == RolloutStatus::paused);
      CHECK(paused.rollout.measure == breach.measure);
      CHECK(paused.rollout.reason.find(breach.measure) != std::string::npos);
      CHECK(paused.rollout.has_layer());
      CHECK(paused.observe(3, breach.seen).empty());

      RolloutLog rolled;
      REQUIRE(rolled.run(two_stages(RolloutOnFailure::rollback), 0).size() == 2);
      if (baking) REQUIRE(rolled.observe(1, counts(10, 10)) == Types{"RolloutStageBaking"});
      CHECK(rolled.observe(2, breach.seen) == Types{"RolloutRolledBack"});
      CHECK(rolled.rollout.status == RolloutStatus::rolled_back);
      CHECK_FALSE(rolled.rollout.has_layer());
      CHECK(rolled.refold() == rolled.rollout);
    }
  }
  // At the maximum is within the gate; an empty slice never breaches it.
  CHECK_FALSE(check_gate(RolloutGate{10, 20, 30}, counts(10, 0, 1, 2, 3)));
  CHECK_FALSE(check_gate(RolloutGate{0, 0, 0}, counts(0, 0)));
  CHECK(check_gate(RolloutGate{0, 0, 0}, counts(100, 0, 1))->measure == "failed");
}

SCENARIO("operators pause, resume, abort and roll back - resuming restarts the phase's clock") {
  RolloutLog log;
  REQUIRE(log.run(two_stages(), 0).size() == 2);
  REQUIRE(log.observe(1'000, counts(2, 2)) == Types{"RolloutStageBaking"});
  CHECK(log.refusal(ResumeRollout{}).reason == "ROLLOUT_NOT_PAUSED");
  CHECK(log.run(PauseRollout{"paused by key:k"}, 2'000) == Types{"RolloutPaused"});
  CHECK(log.rollout.reason == "paused by key:k");
  CHECK(log.rollout.measure.empty());
  CHECK(log.refusal(PauseRollout{"again"}).reason == "ROLLOUT_NOT_RUNNING");
  // Paused, it does not advance however long it waits.
  CHECK(log.observe(10 * kBake, counts(2, 2)).empty());
  CHECK(log.run(ResumeRollout{}, 30'000) == Types{"RolloutResumed"});
  // The bake counts from the resume, not from its logged start.
  CHECK(log.observe(1'000 + kBake, counts(2, 2)).empty());
  CHECK(log.observe(30'000 + kBake, counts(2, 2), {kWholeTarget, 4}).size() == 2);

  THEN("abort freezes the layer; rollback then undoes it") {
    CHECK(log.run(AbortRollout{"aborted by key:k"}, 40'000) == Types{"RolloutAborted"});
    CHECK(log.rollout.status == RolloutStatus::aborted);
    CHECK(log.rollout.has_layer());
    CHECK(log.rollout.layer_threshold() == std::optional<std::uint64_t>(kWholeTarget));
    CHECK(log.observe(50'000 + 10 * kBake, counts(4, 4)).empty());
    CHECK(log.refusal(AbortRollout{"again"}).reason == "ROLLOUT_NOT_ACTIVE");
    CHECK(log.refusal(ResumeRollout{}).reason == "ROLLOUT_NOT_PAUSED");
    CHECK(log.run(RollBackRollout{"rolled back by key:k"}, 60'000) == Types{"RolloutRolledBack"});
    CHECK(log.refusal(RollBackRollout{"again"}).reason == "ROLLOUT_NOT_ACTIVE");
    CHECK(log.refusal(PauseRollout{"again"}).reason == "ROLLOUT_NOT_RUNNING");
    CHECK(log.rollout.history.size() == log.events.size());
    CHECK(log.refold() == log.rollout);
  }
}

TEST_CASE("a rollout never created refuses every step - a second creation is refused") {
  RolloutLog log;
  CHECK(log.refusal(PauseRollout{"x"}).reason == "ROLLOUT_NOT_FOUND");
  CHECK(log.refusal(ObserveRollout{}).reason == "ROLLOUT_NOT_FOUND");
  CHECK(log.refusal(RollBackRollout{"x"}).reason == "ROLLOUT_NOT_FOUND");
  REQUIRE(log.run(two_stages(), 0).size() == 2);
  CHECK(log.refusal(two_stages()).reason == "ROLLOUT_EXISTS");
}

TEST_CASE("the fold refuses events out of order and leaves the state as it was") {
  RolloutLog log;
  REQUIRE(log.run(two_stages(), 0).size() == 2);
  const Rollout before = log.rollout;
  const auto stored = [&](const RolloutEvent& event) {
    const NewEvent proposed = encode_payload(event);
    return Event{99,
                 RolloutAggregate::stream_of(log.rollout),
                 log.rollout.version + 1,
                 proposed.type,
                 5,
                 proposed.schema_version,
                 proposed.data,
                 "{}"};
  };
  CHECK_FALSE(apply(log.rollout, stored(RolloutStageStarted{1, 7, 1})).ok());
  CHECK_FALSE(apply(log.rollout, stored(RolloutStageFinished{0, {}})).ok());
  CHECK_FALSE(apply(log.rollout, stored(RolloutResumed{})).ok());
  CHECK_FALSE(apply(log.rollout, stored(RolloutCompleted{})).ok());
  CHECK_FALSE(apply(log.rollout, stored(two_stages().created)).ok());
  CHECK(log.rollout == before);
}

TEST_CASE("a rollout's snapshot reads back equal") {
  RolloutLog log;
  REQUIRE(log.run(two_stages(), 0).size() == 2);
  REQUIRE(log.observe(1, counts(2, 2)).size() == 1);
  REQUIRE(log.run(PauseRollout{"p"}, 2).size() == 1);
  const auto decoded = rollout_from_snapshot_json(rollout_to_snapshot_json(log.rollout));
  REQUIRE(decoded.ok());
  CHECK(*decoded == log.rollout);
  CHECK_FALSE(rollout_from_snapshot_json(nlohmann::json{{"created", 1}}).ok());
}

TEST_CASE("slice hashes are fixed, and stages cover what they say") {
  const AgentId agent = *AgentId::parse("3f6c9a1e-8d2b-4c1f-9e7a-0b5d4c3a2f10");
  // Pinned: logged thresholds depend on this function never changing.
  CHECK(rollout_slice_hash("0123456789abcdef", agent) == rollout_slice_hash("0123456789abcdef", agent));
  CHECK(rollout_slice_hash("0123456789abcdef", agent) != rollout_slice_hash("0123456789abcdee", agent));
  CHECK(rollout_slice_hash("0123456789abcdef", agent) == 0x408b7c169670dfb5ULL);

  CHECK(stage_agents({1.0, std::nullopt, 0}, 0) == 0);
  CHECK(stage_agents({1.0, std::nullopt, 0}, 5) == 1);
  CHECK(stage_agents({10.0, std::nullopt, 0}, 30) == 3);
  CHECK(stage_agents({50.0, std::nullopt, 0}, 5) == 3);
  CHECK(stage_agents({100.0, std::nullopt, 0}, 7) == 7);
  CHECK(stage_agents({std::nullopt, 10, 0}, 4) == 4);
  CHECK(stage_agents({std::nullopt, 2, 0}, 4) == 2);
  const auto defaults = default_rollout_stages();
  REQUIRE(defaults.size() == 4);
  CHECK(defaults.back().percent == std::optional<double>(100.0));
  CHECK(defaults.front().bake_time_ms == 300'000);
}

TEST_CASE(
    "folding a change into a group's assignment: the change's config, policies united, settings merged") {
  Assignment group;
  group.config = ConfigRef{"collector", 1};
  group.policies = {{"tls", 1}, {"audit", 0}};
  group.settings = {{"log", {{"level", "info"}, {"format", "json"}}}};
  RolloutChange change;
  change.assignment.config = ConfigRef{"collector", 2};
  change.assignment.policies = {{"tls", 3}, {"limits", 0}};
  const Assignment folded = fold_change_into(group, change);
  CHECK(folded.config == std::optional<ConfigRef>(ConfigRef{"collector", 2}));
  CHECK(folded.policies == std::vector<ConfigRef>{{"tls", 3}, {"audit", 0}, {"limits", 0}});
  CHECK(folded.settings == group.settings);

  RolloutChange settings;
  settings.kind = RolloutChangeKind::settings;
  settings.assignment.settings = {{"log", {{"level", "debug"}}}};
  const Assignment merged = fold_change_into(group, settings);
  CHECK(merged.config == group.config);
  CHECK(merged.settings == nlohmann::json{{"log", {{"level", "debug"}, {"format", "json"}}}});
  CHECK(fold_change_into(std::nullopt, settings).settings == settings.assignment.settings);
}
