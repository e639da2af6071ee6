// The agents on the runtime: registration, heartbeats (the hot path on the
// registry and the actor's path), deadlines on the manual timer service,
// supervision, tokens and organizations, and restarts from snapshots and the
// log. A real RocksDB store in a temp dir; time moves only when told.

#include "actors/agent/agent_service.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <thread>

#include <nlohmann/json.hpp>

#include "actors/crash_injector.hpp"
#include "eventstore/rocksdb_storage.hpp"
#include "projections/access_projection.hpp"
#include "projections/config_model.hpp"
#include "projections/projection_runner.hpp"
#include "tests/actors/agent_reports.hpp"
#include "tests/support/temp_dir.hpp"

using namespace muster;
using namespace std::chrono_literals;

namespace {

constexpr TimeMs kTimeoutMs = 10'000;

struct AgentsFixture {
  testing::TempDir dir;
  ManualTimerService timers;
  std::unique_ptr<Storage> storage;
  std::unique_ptr<AgentRegistry> registry;
  std::unique_ptr<AccessProjection> access;
  std::unique_ptr<ConfigModel> configs;
  std::unique_ptr<ProjectionRunner> projections;
  std::unique_ptr<runtime::Runtime> actors;
  std::unique_ptr<AgentService> agents;
  CrashInjector crashes;
  AgentServiceOptions options;

  explicit AgentsFixture(TimeMs passivate_after_ms = 10'000) {
    options.heartbeat_timeout_ms = kTimeoutMs;
    options.request_timeout_ms = 5'000;
    options.passivate_after_ms = passivate_after_ms;
    options.TEST_before_command = [this](const std::string& agent_id) { crashes.check(agent_id); };
    open();
  }
  ~AgentsFixture() { close(); }

  void open() {
    RocksDbOptions store_options;
    store_options.path = dir.file("data");
    store_options.store.clock = &timers;
    storage = std::move(*open_rocksdb_storage(store_options));
    registry = std::make_unique<AgentRegistry>();
    access = std::make_unique<AccessProjection>();
    configs = std::make_unique<ConfigModel>();
    ProjectionRunnerOptions runner_options;
    runner_options.follow = false;
    projections = std::make_unique<ProjectionRunner>(
        storage->events(), storage->snapshots(), std::vector<ReadModel*>{registry.get(), access.get(), configs.get()},
        timers, runner_options);
    REQUIRE(projections->start().ok());
    projections->catch_up();
    actors = std::make_unique<runtime::Runtime>(timers, runtime::RuntimeOptions{});
    agents = std::make_unique<AgentService>(*actors, storage->events(), storage->last_seen(), *registry,
                                            options);
    REQUIRE(agents->start().ok());
    REQUIRE(agents->resume().ok());
  }

  void close() {
    if (!agents) return;
    agents->stop();
    actors->stop();
    projections->catch_up();  // as the runner's own thread would have
    projections->stop();
    storage->stop();
    agents.reset();
    actors.reset();
  }

  void restart() {
    close();
    open();
  }

  AgentOutcome register_instance(const std::string& instance_id, const std::string& version = "1.0",
                                 const std::string& org = "default") {
    Registration registration;
    registration.instance_id = instance_id;
    registration.version = version;
    registration.labels = std::map<std::string, std::string>{{"env", "prod"}};
    Admission admission;
    admission.org = org;
    const AgentId agent_id = registry->agent_for_instance(org, instance_id).agent_id;
    auto outcome = agents->wait([&](AgentService::Done done) {
      agents->register_agent(agent_id, registration, admission, {"req-1", "127.0.0.1", "key:test", ""},
                             std::move(done));
    });
    REQUIRE_MESSAGE(outcome.ok(), (outcome.ok() ? "" : outcome.error().message));
    return *outcome;
  }

  Result<AgentOutcome> heartbeat(const AgentId& agent_id, const AgentAccess& access = {},
                                 const HeartbeatReport& report = {}) {
    return agents->wait([&](AgentService::Done done) {
      agents->heartbeat(agent_id, access, report, {}, std::move(done));
    });
  }

  Result<AgentOutcome> deregister(const AgentId& agent_id, const AgentAccess& access = {}) {
    return agents->wait(
        [&](AgentService::Done done) { agents->deregister(agent_id, access, {}, std::move(done)); });
  }

  Result<AgentOutcome> decommission(const AgentId& agent_id, const AgentAccess& access = {}) {
    return agents->wait(
        [&](AgentService::Done done) { agents->decommission(agent_id, access, {}, std::move(done)); });
  }

  Result<AgentOutcome> rotate(const AgentId& agent_id, const AgentAccess& access = {}) {
    return agents->wait(
        [&](AgentService::Done done) { agents->rotate_token(agent_id, access, {}, std::move(done)); });
  }

  Result<AgentOutcome> verify(const AgentId& agent_id, const AgentAccess& access) {
    return agents->wait(
        [&](AgentService::Done done) { agents->verify_access(agent_id, access, std::move(done)); });
  }

  AgentState state_of(const AgentId& agent_id) {
    auto state = registry->state_of(agent_id);
    REQUIRE(state.has_value());
    return *state;
  }

  // Moves the time by `delta_ms`, running the deadlines due, then waits
  // until the agent's actor has handled what they sent it (a command queued
  // behind them answers after them).
  void advance_and_settle(const AgentId& agent_id, TimeMs delta_ms) {
    timers.advance(delta_ms);
    (void)verify(agent_id, {});
  }

  std::vector<Event> stream(const AgentId& agent_id) {
    auto events = storage->events().read_stream(state_of(agent_id).stream(), 1, 1000);
    REQUIRE(events.ok());
    return std::move(events).value();
  }

  std::vector<std::string> stream_types(const AgentId& agent_id) {
    std::vector<std::string> types;
    for (const Event& event : stream(agent_id)) types.push_back(event.type);
    return types;
  }

  AgentState fold_of_log(const AgentId& agent_id) {
    AgentState state;
    for (const Event& event : stream(agent_id)) REQUIRE(apply(state, event).ok());
    return state;
  }

  std::uint64_t head() { return storage->events().head_position().value(); }
};

AgentAccess as_agent(const std::string& token_plaintext) {
  AgentAccess access;
  access.token = read_agent_token(token_plaintext)->digest;
  return access;
}

AgentAccess scoped_to(const std::string& org) {
  AgentAccess access;
  access.org_scope = org;
  return access;
}

HeartbeatReport with_status(AgentStatus status) {
  HeartbeatReport report;
  report.status = status;
  return report;
}

using testing::report_of;

}  // namespace

SCENARIO("registration is durable, one agent per instance, and recorded with its cause") {
  AgentsFixture fixture;
  const AgentOutcome first = fixture.register_instance("host-1");
  CHECK(first.created);
  CHECK(first.status == AgentStatus::online);
  CHECK(first.position == 2);
  CHECK(fixture.head() == 2);
  CHECK(fixture.state_of(first.agent_id).stream() == "agent:" + first.agent_id.to_string());

  // A repeated registration changes no profile but issues a new token.
  const AgentOutcome again = fixture.register_instance("host-1");
  CHECK_FALSE(again.created);
  CHECK(again.agent_id == first.agent_id);
  CHECK(again.agent_token != first.agent_token);
  CHECK(fixture.head() == 3);

  const AgentOutcome upgraded = fixture.register_instance("host-1", "1.1");
  CHECK(upgraded.position == 5);
  CHECK(fixture.stream_types(first.agent_id) ==
        std::vector<std::string>{"AgentRegistered", "AgentTokenIssued", "AgentTokenIssued", "AgentUpdated",
                                 "AgentTokenIssued"});
  const auto meta = nlohmann::json::parse(fixture.stream(first.agent_id)[0].meta);
  CHECK(meta["request_id"] == "req-1");
  CHECK(meta["source"] == "127.0.0.1");
}

TEST_CASE("concurrent first registrations of one instance make exactly one agent") {
  AgentsFixture fixture;
  std::atomic<int> created{0};
  std::vector<AgentId> ids(8);
  std::vector<std::thread> threads;
  for (std::size_t thread_idx = 0; thread_idx < ids.size(); ++thread_idx) {
    threads.emplace_back([&, thread_idx] {
      Registration registration;
      registration.instance_id = "same-host";
      const AgentId agent_id = fixture.registry->agent_for_instance("default", "same-host").agent_id;
      auto outcome = fixture.agents->wait([&](AgentService::Done done) {
        fixture.agents->register_agent(agent_id, registration, {}, {}, std::move(done));
      });
      if (outcome.ok()) {
        ids[thread_idx] = outcome->agent_id;
        if (outcome->created) ++created;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(created == 1);
  for (const AgentId& id : ids) CHECK(id == ids[0]);
  // One AgentRegistered, then one AgentTokenIssued per registration.
  CHECK(fixture.stream_types(ids[0]).front() == "AgentRegistered");
  CHECK(fixture.head() == 1 + ids.size());
}

SCENARIO("a silent agent goes offline one timeout after it was last heard from") {
  AgentsFixture fixture;
  const AgentId agent = fixture.register_instance("host-1").agent_id;

  fixture.timers.advance(kTimeoutMs / 2);
  REQUIRE(fixture.heartbeat(agent).ok());

  WHEN("the first deadline passes after a heartbeat moved it") {
    fixture.advance_and_settle(agent, kTimeoutMs / 2);
    THEN("the agent stays online") {
      CHECK(fixture.state_of(agent).status == AgentStatus::online);
      CHECK(fixture.head() == 2);
    }
    AND_WHEN("it stays silent until the moved deadline") {
      fixture.advance_and_settle(agent, kTimeoutMs / 2 - 1);
      CHECK(fixture.state_of(agent).status == AgentStatus::online);
      fixture.advance_and_settle(agent, 1);
      THEN("it is offline, and the next heartbeat brings it back") {
        CHECK(fixture.state_of(agent).status == AgentStatus::offline);
        const auto back = fixture.heartbeat(agent);
        REQUIRE(back.ok());
        CHECK(back->status == AgentStatus::online);
        CHECK(fixture.stream_types(agent) == std::vector<std::string>{"AgentRegistered", "AgentTokenIssued",
                                                                      "AgentWentOffline", "AgentCameOnline"});
      }
    }
  }
}

SCENARIO("a termination notice takes the agent offline at once - its heartbeat deadline stays consistent") {
  AgentsFixture fixture;
  const AgentOutcome registered = fixture.register_instance("spot-1");
  const AgentId agent = registered.agent_id;
  const AgentAccess own = as_agent(registered.agent_token);
  const auto report = [&](const std::string& type) {
    return fixture.agents->wait([&](AgentService::Done done) {
      fixture.agents->report(agent, own, report_of(type, fixture.timers.now_ms()), {}, std::move(done));
    });
  };
  fixture.timers.advance(kTimeoutMs / 2);
  REQUIRE(report("rebalance_recommendation").ok());
  const auto terminated = report("termination");
  REQUIRE(terminated.ok());
  CHECK(terminated->status == AgentStatus::offline);
  CHECK(fixture.state_of(agent).offline_reason == OfflineReason::termination_notice);
  CHECK(fixture.stream_types(agent) == std::vector<std::string>{"AgentRegistered", "AgentTokenIssued",
                                                                "AgentReported", "AgentReported",
                                                                "AgentWentOffline"});
  WHEN("the deadline armed before the notice comes due") {
    fixture.advance_and_settle(agent, kTimeoutMs);
    THEN("nothing more is appended") {
      CHECK(fixture.head() == 5);
    }
  }
  WHEN("it heartbeats again") {
    const auto back = fixture.heartbeat(agent, own);
    REQUIRE(back.ok());
    CHECK(back->status == AgentStatus::online);
    THEN("it is online until a full timeout of silence, then offline for that reason") {
      fixture.advance_and_settle(agent, kTimeoutMs - 1);
      CHECK(fixture.state_of(agent).status == AgentStatus::online);
      fixture.advance_and_settle(agent, 1);
      CHECK(fixture.state_of(agent).status == AgentStatus::offline);
      CHECK(fixture.state_of(agent).offline_reason == OfflineReason::heartbeat_timeout);
      CHECK(fixture.fold_of_log(agent) == fixture.state_of(agent));
    }
  }
}

TEST_CASE(
    "a heartbeat that changes nothing is answered without an actor - one that changes something is not") {
  AgentsFixture fixture(/*passivate_after_ms=*/1'000);
  const AgentOutcome registered = fixture.register_instance("host-1");
  const AgentId agent = registered.agent_id;
  // Let the registering actor be passivated (well before the heartbeat timeout).
  fixture.timers.advance(2'000);
  for (int attempt = 0; attempt < 500 && fixture.agents->active_actors() != 0; ++attempt) {
    std::this_thread::sleep_for(2ms);
  }
  REQUIRE(fixture.agents->active_actors() == 0);
  HeartbeatReport metrics;
  metrics.metrics = {{"cpu", 0.5}};
  const auto plain = fixture.heartbeat(agent, as_agent(registered.agent_token), metrics);
  REQUIRE(plain.ok());
  CHECK(plain->position == registered.position);
  CHECK(fixture.agents->active_actors() == 0);
  CHECK(fixture.registry->find(agent)->metrics.at("cpu") == 0.5);
  CHECK(fixture.registry->find(agent)->last_seen_ms == fixture.timers.now_ms());

  const auto degraded = fixture.heartbeat(agent, as_agent(registered.agent_token),
                                          with_status(AgentStatus::degraded));
  REQUIRE(degraded.ok());
  CHECK(degraded->status == AgentStatus::degraded);
  CHECK(fixture.agents->active_actors() == 1);
  CHECK(fixture.stream_types(agent).back() == "AgentStatusChanged");
}

TEST_CASE("after a restart, overdue agents get one full timeout before going offline") {
  AgentsFixture fixture;
  const AgentId agent = fixture.register_instance("host-1").agent_id;
  REQUIRE(fixture.agents->flush_last_seen().ok());
  fixture.close();

  fixture.timers.advance(kTimeoutMs * 5);  // down far longer than the timeout
  fixture.open();
  fixture.advance_and_settle(agent, 0);
  CHECK(fixture.state_of(agent).status == AgentStatus::online);

  fixture.advance_and_settle(agent, kTimeoutMs - 1);
  CHECK(fixture.state_of(agent).status == AgentStatus::online);

  fixture.advance_and_settle(agent, 1);
  CHECK(fixture.state_of(agent).status == AgentStatus::offline);
}

TEST_CASE("a restart rebuilds every agent as the live run left it, last-seen included") {
  AgentsFixture fixture;
  std::vector<AgentId> agents;
  for (int index = 0; index < 20; ++index) {
    agents.push_back(fixture.register_instance("host-" + std::to_string(index)).agent_id);
  }
  REQUIRE(fixture.heartbeat(agents[1], {}, with_status(AgentStatus::degraded)).ok());
  REQUIRE(fixture.deregister(agents[2]).ok());
  REQUIRE(fixture.decommission(agents[3]).ok());
  fixture.timers.advance(1234);
  REQUIRE(fixture.heartbeat(agents[4]).ok());
  const TimeMs heard_at = fixture.timers.now_ms();

  std::vector<AgentState> live;
  for (const auto& agent : agents) {
    const AgentState state = fixture.state_of(agent);
    CHECK(state == fixture.fold_of_log(agent));
    live.push_back(state);
  }
  fixture.restart();
  CHECK(fixture.projections->recovery().snapshot_position("fleet") == fixture.head());
  for (std::size_t index = 0; index < agents.size(); ++index) {
    CHECK(fixture.state_of(agents[index]) == live[index]);
  }
  CHECK(fixture.registry->find(agents[4])->last_seen_ms == heard_at);
}

TEST_CASE("a failed agent actor answers 503 to the command caught in it and is rebuilt by the next") {
  AgentsFixture fixture;
  const AgentId agent = fixture.register_instance("host-1", "2.5").agent_id;
  REQUIRE(fixture.heartbeat(agent, {}, with_status(AgentStatus::degraded)).ok());

  fixture.crashes.arm(agent.to_string());
  // A change goes to the actor (a plain heartbeat would be answered without it).
  const auto caught = fixture.heartbeat(agent, {}, with_status(AgentStatus::online));
  REQUIRE_FALSE(caught.ok());
  CHECK(caught.error().code == ErrorCode::unavailable);
  CHECK(caught.error().reason == "AGENT_UNAVAILABLE");

  const auto recovered = fixture.heartbeat(agent, {}, with_status(AgentStatus::online));
  REQUIRE(recovered.ok());
  const AgentState state = fixture.state_of(agent);
  CHECK(state.status == AgentStatus::online);
  CHECK(*state.profile.version == "2.5");
  CHECK(state.profile.labels->at("env") == "prod");
  CHECK(state == fixture.fold_of_log(agent));
}

TEST_CASE("commands on unknown agents are refused without touching the log") {
  AgentsFixture fixture;
  const AgentId nobody = *AgentId::parse("00000000-0000-4000-8000-000000000000");
  CHECK(fixture.heartbeat(nobody).error().reason == kAgentNotFound);
  CHECK(fixture.deregister(nobody).error().reason == kAgentNotFound);
  CHECK(fixture.decommission(nobody).error().reason == kAgentNotFound);
  CHECK(fixture.rotate(nobody).error().reason == kAgentNotFound);
  CHECK(fixture.head() == 0);
  CHECK(fixture.agents->active_actors() == 0);
}

TEST_CASE("regression: a made-up agent token on an unknown agent id answers as on a known one") {
  AgentsFixture fixture;
  const AgentId known = fixture.register_instance("host-1").agent_id;
  const AgentId nobody = *AgentId::parse("00000000-0000-4000-8000-000000000000");
  const AgentAccess on_known = as_agent("ma_" + known.to_string() + "_made-up");
  const AgentAccess on_nobody = as_agent("ma_" + nobody.to_string() + "_made-up");
  const std::uint64_t head = fixture.head();
  for (const auto& [refused, expected] :
       {std::pair{fixture.heartbeat(nobody, on_nobody), fixture.heartbeat(known, on_known)},
        std::pair{fixture.rotate(nobody, on_nobody), fixture.rotate(known, on_known)}}) {
    REQUIRE_FALSE(refused.ok());
    REQUIRE_FALSE(expected.ok());
    CHECK(refused.error().code == ErrorCode::unauthenticated);
    CHECK(refused.error().reason == kInvalidAgentToken);
    CHECK(refused.error().message == expected.error().message);
    CHECK(expected.error().reason == kInvalidAgentToken);
  }
  // An operator asking about an unknown agent is told so.
  CHECK(fixture.rotate(nobody).error().reason == kAgentNotFound);
  CHECK(fixture.head() == head);
}

SCENARIO("regression: a token in its grace period may only heartbeat, and an operator's rotation ends it") {
  AgentsFixture fixture;
  const AgentOutcome registered = fixture.register_instance("host-1");
  const AgentId agent = registered.agent_id;
  const auto rotated = fixture.rotate(agent, as_agent(registered.agent_token));
  REQUIRE(rotated.ok());
  const std::uint64_t head = fixture.head();

  THEN("the replaced token cannot rotate (or verify), as if wrong, and changes nothing") {
    const auto again = fixture.rotate(agent, as_agent(registered.agent_token));
    REQUIRE_FALSE(again.ok());
    CHECK(again.error().code == ErrorCode::unauthenticated);
    CHECK(again.error().reason == kInvalidAgentToken);
    CHECK_FALSE(fixture.verify(agent, as_agent(registered.agent_token)).ok());
    CHECK(fixture.head() == head);
    AND_THEN("it still heartbeats, on the hot path and through the actor") {
      CHECK(fixture.heartbeat(agent, as_agent(registered.agent_token)).ok());
      CHECK(fixture.heartbeat(agent, as_agent(registered.agent_token), with_status(AgentStatus::degraded)).ok());
      CHECK(fixture.state_of(agent).status == AgentStatus::degraded);
    }
  }
  WHEN("an operator rotates the token") {
    const auto by_operator = fixture.rotate(agent);
    REQUIRE(by_operator.ok());
    THEN("neither earlier token works any more, not even to heartbeat, across a restart") {
      CHECK(by_operator->previous_token_valid_until_ms == fixture.timers.now_ms());
      for (const std::string& old : {registered.agent_token, rotated->agent_token}) {
        CHECK(fixture.heartbeat(agent, as_agent(old)).error().reason == kInvalidAgentToken);
      }
      CHECK(fixture.heartbeat(agent, as_agent(by_operator->agent_token)).ok());
      fixture.restart();
      CHECK(fixture.heartbeat(agent, as_agent(rotated->agent_token)).error().reason == kInvalidAgentToken);
      CHECK(fixture.heartbeat(agent, as_agent(by_operator->agent_token)).ok());
    }
  }
}

SCENARIO("regression: a deregistered or decommissioned agent's own token is told so, not refused as wrong") {
  AgentsFixture fixture;
  const AgentOutcome leaving = fixture.register_instance("host-1");
  const AgentOutcome retiring = fixture.register_instance("host-2");
  REQUIRE(fixture.deregister(leaving.agent_id).ok());
  REQUIRE(fixture.decommission(retiring.agent_id).ok());

  const auto check_answers = [&] {
    for (const auto& refused : {fixture.heartbeat(leaving.agent_id, as_agent(leaving.agent_token)),
                                fixture.rotate(leaving.agent_id, as_agent(leaving.agent_token))}) {
      REQUIRE_FALSE(refused.ok());
      CHECK(refused.error().code == ErrorCode::not_found);
      CHECK(refused.error().reason == kAgentNotRegistered);
    }
    for (const auto& refused : {fixture.heartbeat(retiring.agent_id, as_agent(retiring.agent_token)),
                                fixture.rotate(retiring.agent_id, as_agent(retiring.agent_token))}) {
      REQUIRE_FALSE(refused.ok());
      CHECK(refused.error().code == ErrorCode::conflict);
      CHECK(refused.error().reason == kAgentDecommissioned);
    }
    // A wrong token on either is still a wrong token (a failed login).
    for (const AgentId& agent : {leaving.agent_id, retiring.agent_id}) {
      const auto wrong = fixture.heartbeat(agent, as_agent("ma_" + agent.to_string() + "_wrong"));
      CHECK(wrong.error().code == ErrorCode::unauthenticated);
      CHECK(wrong.error().reason == kInvalidAgentToken);
    }
  };
  THEN("heartbeat and rotation answer AGENT_NOT_REGISTERED / AGENT_DECOMMISSIONED") { check_answers(); }
  THEN("after a restart from the snapshot, the same") {
    fixture.restart();
    CHECK(fixture.projections->recovery().snapshot_position("fleet") == fixture.head());
    check_answers();
  }
}

TEST_CASE("regression: a flapping agent appends a bounded number of events, and every heartbeat is seen") {
  AgentsFixture fixture;
  const AgentOutcome registered = fixture.register_instance("host-1");
  const AgentId agent = registered.agent_id;
  const AgentAccess access = as_agent(registered.agent_token);
  const std::uint64_t head = fixture.head();
  for (int flap = 0; flap < 200; ++flap) {
    fixture.timers.advance(5);
    HeartbeatReport report = with_status(flap % 2 == 0 ? AgentStatus::degraded : AgentStatus::online);
    report.version = "1." + std::to_string(flap);
    const auto answered = fixture.heartbeat(agent, access, report);
    REQUIRE(answered.ok());
    // Answered, so heard: its last-seen time is now, event or not.
    CHECK(fixture.registry->find(agent)->last_seen_ms == fixture.timers.now_ms());
  }
  CHECK(fixture.head() - head <= kMaxChangesPerWindow);
  const AgentState limited = fixture.state_of(agent);
  CHECK(limited == fixture.fold_of_log(agent));

  // The window and its count survive a restart from the snapshot.
  fixture.restart();
  CHECK(fixture.state_of(agent) == limited);
  CHECK(fixture.heartbeat(agent, access, with_status(AgentStatus::degraded)).ok());
  CHECK(fixture.heartbeat(agent, access, with_status(AgentStatus::online)).ok());
  CHECK(fixture.head() - head <= kMaxChangesPerWindow);

  // A window later, the next heartbeat records what it reports.
  fixture.timers.advance(kChangeWindowMs);
  HeartbeatReport latest = with_status(AgentStatus::degraded);
  latest.version = "2.0";
  const auto recorded = fixture.heartbeat(agent, access, latest);
  REQUIRE(recorded.ok());
  CHECK(recorded->status == AgentStatus::degraded);
  CHECK(*fixture.state_of(agent).profile.version == "2.0");
}

TEST_CASE("a stopped service refuses commands") {
  AgentsFixture fixture;
  const AgentId agent = fixture.register_instance("host-1").agent_id;
  fixture.agents->stop();
  const auto refused = fixture.heartbeat(agent);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == ErrorCode::unavailable);
}

SCENARIO("agent tokens: checked on every heartbeat, rotated with a grace period, kept across restarts") {
  AgentsFixture fixture;
  const AgentOutcome registered = fixture.register_instance("host-1");
  const AgentId agent = registered.agent_id;
  REQUIRE(read_agent_token(registered.agent_token));
  CHECK(read_agent_token(registered.agent_token)->agent_id == agent);

  CHECK(fixture.heartbeat(agent, as_agent(registered.agent_token)).ok());
  const std::string forged = "ma_" + agent.to_string() + "_not-the-secret";
  const auto refused = fixture.heartbeat(agent, as_agent(forged));
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().reason == kInvalidAgentToken);
  CHECK(fixture.verify(agent, as_agent(registered.agent_token)).ok());
  CHECK_FALSE(fixture.verify(agent, as_agent(forged)).ok());

  WHEN("the token is rotated") {
    auto rotated = fixture.rotate(agent, as_agent(registered.agent_token));
    REQUIRE(rotated.ok());
    CHECK(rotated->previous_token_valid_until_ms == fixture.timers.now_ms() + 300'000);
    THEN("the old one works for the grace period, the new one after it, across a restart") {
      CHECK(fixture.heartbeat(agent, as_agent(registered.agent_token)).ok());
      fixture.restart();
      fixture.timers.advance(300'000);
      CHECK(fixture.heartbeat(agent, as_agent(registered.agent_token)).error().reason == kInvalidAgentToken);
      CHECK(fixture.heartbeat(agent, as_agent(rotated->agent_token)).ok());
    }
  }
  WHEN("the agent is deregistered") {
    REQUIRE(fixture.deregister(agent).ok());
    THEN("its token stops working; registering again issues a working one") {
      CHECK(fixture.heartbeat(agent, as_agent(registered.agent_token)).error().reason == kAgentNotRegistered);
      const AgentOutcome back = fixture.register_instance("host-1");
      CHECK(fixture.heartbeat(agent, as_agent(back.agent_token)).ok());
    }
  }
}

TEST_CASE("organizations: one instance id in two organizations is two agents, each hidden from the other") {
  AgentsFixture fixture;
  const AgentOutcome in_acme = fixture.register_instance("host-1", "1.0", "acme");
  const AgentOutcome in_globex = fixture.register_instance("host-1", "1.0", "globex");
  CHECK(in_acme.agent_id != in_globex.agent_id);
  CHECK(in_acme.org == "acme");

  const std::uint64_t head = fixture.head();
  for (const auto& refused :
       {fixture.heartbeat(in_acme.agent_id, scoped_to("globex")), fixture.deregister(in_acme.agent_id, scoped_to("globex")),
        fixture.decommission(in_acme.agent_id, scoped_to("globex")),
        fixture.rotate(in_acme.agent_id, scoped_to("globex"))}) {
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().reason == kAgentNotFound);
  }
  CHECK(fixture.head() == head);
  CHECK(fixture.deregister(in_acme.agent_id, scoped_to("acme")).ok());
  fixture.restart();
  // Placement by (organization, instance id) survives recovery.
  CHECK(fixture.register_instance("host-1", "1.0", "globex").agent_id == in_globex.agent_id);
}
