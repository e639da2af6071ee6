#include <doctest/doctest.h>

#include <atomic>
#include <thread>

#include <nlohmann/json.hpp>

#include "actors/agent_events.hpp"
#include "actors/agent_host.hpp"
#include "actors/crash_injector.hpp"
#include "eventstore/rocksdb_storage.hpp"
#include "tests/support/temp_dir.hpp"

using namespace muster;
using namespace std::chrono_literals;

namespace {

constexpr TimeMs kTimeoutMs = 10'000;

// A real store in a temp dir, a manual clock, and a host driven by hand.
struct HostFixture {
  testing::TempDir dir;
  ManualClock clock;
  std::unique_ptr<Storage> storage;
  EventStore* store = nullptr;
  CrashInjector crashes;
  std::unique_ptr<AgentHost> host;

  HostFixture() {
    open_store();
    start_host();
  }

  void open_store() {
    RocksDbOptions options;
    options.path = dir.file("data");
    options.store.clock = &clock;
    storage = std::move(*open_rocksdb_storage(options));
    store = &storage->events();
  }

  void start_host() {
    AgentHostOptions options;
    options.heartbeat_timeout_ms = kTimeoutMs;
    options.run_background_threads = false;
    options.request_timeout_ms = 5'000;
    options.TEST_before_command = [this](const std::string& agent_id) { crashes.check(agent_id); };
    auto started = AgentHost::start(*store, storage->last_seen(), clock, options);
    REQUIRE(started.ok());
    host = std::move(*started);
  }

  void restart_host() {
    host->stop();
    host.reset();
    start_host();
  }

  AgentOutcome register_instance(const std::string& instance_id, const std::string& version = "1.0") {
    Registration registration;
    registration.instance_id = instance_id;
    registration.version = version;
    registration.labels = std::map<std::string, std::string>{{"env", "prod"}};
    auto outcome = host->register_agent(registration, {}, {"req-1", "127.0.0.1", "key:test"});
    REQUIRE(outcome.ok());
    return *outcome;
  }

  AgentState state_of(const std::string& agent_id) {
    auto state = host->TEST_state(agent_id);
    REQUIRE(state.ok());
    return *state;
  }

  // Fires due timeouts, then waits until the actors have handled them (a
  // state query queued behind the checks answers after them).
  void fire_timeouts_and_settle(const std::string& agent_id) {
    host->fire_due_timeouts();
    state_of(agent_id);
  }

  std::vector<Event> stream(const std::string& agent_id) {
    auto events = store->read_stream(agent_id, 1, 1000);
    REQUIRE(events.ok());
    return std::move(events).value();
  }

  std::vector<std::string> stream_types(const std::string& agent_id) {
    std::vector<std::string> types;
    for (const Event& event : stream(agent_id)) types.push_back(event.type);
    return types;
  }

  AgentState fold_of_log(const std::string& agent_id) {
    AgentState state;
    state.agent_id = agent_id;
    for (const Event& event : stream(agent_id)) REQUIRE(apply(state, event).ok());
    return state;
  }
};

}  // namespace

SCENARIO("registration is durable, one agent per instance, and recorded with its cause") {
  HostFixture fixture;
  const AgentOutcome first = fixture.register_instance("host-1");
  CHECK(first.created);
  CHECK(first.status == AgentStatus::online);
  CHECK(first.agent_id.size() == 36);
  CHECK(first.position == 2);
  CHECK(fixture.store->head_position().value() == 2);

  // A repeated registration changes no profile but issues a new token.
  const AgentOutcome again = fixture.register_instance("host-1");
  CHECK_FALSE(again.created);
  CHECK(again.agent_id == first.agent_id);
  CHECK(again.agent_token != first.agent_token);
  CHECK(fixture.store->head_position().value() == 3);

  const AgentOutcome upgraded = fixture.register_instance("host-1", "1.1");
  CHECK(upgraded.position == 5);
  CHECK(fixture.stream_types(first.agent_id) ==
        std::vector<std::string>{agent_events::kRegistered, agent_events::kTokenIssued,
                                 agent_events::kTokenIssued, agent_events::kUpdated,
                                 agent_events::kTokenIssued});
  const auto events = fixture.stream(first.agent_id);
  const auto meta = nlohmann::json::parse(events[0].meta);
  CHECK(meta["request_id"] == "req-1");
  CHECK(meta["source"] == "127.0.0.1");
}

TEST_CASE("concurrent first registrations of one instance make exactly one agent") {
  HostFixture fixture;
  std::atomic<int> created{0};
  std::vector<std::string> ids(8);
  std::vector<std::thread> threads;
  for (std::size_t thread_idx = 0; thread_idx < ids.size(); ++thread_idx) {
    threads.emplace_back([&, thread_idx] {
      Registration registration;
      registration.instance_id = "same-host";
      auto outcome = fixture.host->register_agent(registration, {}, {});
      if (outcome.ok()) {
        ids[thread_idx] = outcome->agent_id;
        if (outcome->created) ++created;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(created == 1);
  for (const std::string& id : ids) CHECK(id == ids[0]);
  // One AgentRegistered, then one AgentTokenIssued per registration.
  CHECK(fixture.stream_types(ids[0]).front() == agent_events::kRegistered);
  CHECK(fixture.store->head_position().value() == 1 + ids.size());
}

SCENARIO("a silent agent goes offline one timeout after it was last heard from") {
  HostFixture fixture;
  const std::string agent = fixture.register_instance("host-1").agent_id;

  fixture.clock.advance_ms(kTimeoutMs / 2);
  REQUIRE(fixture.host->heartbeat(agent, {}, {}, {}).ok());

  WHEN("the first deadline passes after a heartbeat moved it") {
    fixture.clock.advance_ms(kTimeoutMs / 2);
    fixture.fire_timeouts_and_settle(agent);
    THEN("the agent stays online") {
      CHECK(fixture.state_of(agent).status == AgentStatus::online);
      CHECK(fixture.store->head_position().value() == 2);
    }
    AND_WHEN("it stays silent until the moved deadline") {
      fixture.clock.advance_ms(kTimeoutMs / 2 - 1);
      fixture.fire_timeouts_and_settle(agent);
      CHECK(fixture.state_of(agent).status == AgentStatus::online);
      fixture.clock.advance_ms(1);
      fixture.fire_timeouts_and_settle(agent);
      THEN("it is offline, and the next heartbeat brings it back") {
        CHECK(fixture.state_of(agent).status == AgentStatus::offline);
        const auto back = fixture.host->heartbeat(agent, {}, {}, {});
        REQUIRE(back.ok());
        CHECK(back->status == AgentStatus::online);
        CHECK(fixture.stream_types(agent) ==
              std::vector<std::string>{agent_events::kRegistered, agent_events::kTokenIssued,
                                       agent_events::kWentOffline, agent_events::kCameOnline});
      }
    }
  }
}

TEST_CASE("after a restart, overdue agents get one full timeout before going offline") {
  HostFixture fixture;
  const std::string agent = fixture.register_instance("host-1").agent_id;
  REQUIRE(fixture.host->flush_last_seen().ok());
  fixture.host->stop();
  fixture.host.reset();

  fixture.clock.advance_ms(kTimeoutMs * 5);  // down far longer than the timeout
  fixture.start_host();
  fixture.fire_timeouts_and_settle(agent);
  CHECK(fixture.state_of(agent).status == AgentStatus::online);

  fixture.clock.advance_ms(kTimeoutMs - 1);
  fixture.fire_timeouts_and_settle(agent);
  CHECK(fixture.state_of(agent).status == AgentStatus::online);

  fixture.clock.advance_ms(1);
  fixture.fire_timeouts_and_settle(agent);
  CHECK(fixture.state_of(agent).status == AgentStatus::offline);
}

TEST_CASE("recovery rebuilds every agent as the live run left it, last-seen included") {
  HostFixture fixture;
  std::vector<std::string> agents;
  for (int index = 0; index < 20; ++index) {
    agents.push_back(fixture.register_instance("host-" + std::to_string(index)).agent_id);
  }
  HeartbeatReport degraded;
  degraded.status = AgentStatus::degraded;
  REQUIRE(fixture.host->heartbeat(agents[1], {}, degraded, {}).ok());
  REQUIRE(fixture.host->deregister(agents[2], {}, {}).ok());
  REQUIRE(fixture.host->decommission(agents[3], {}, {}).ok());
  fixture.clock.advance_ms(1234);
  REQUIRE(fixture.host->heartbeat(agents[4], {}, {}, {}).ok());
  const TimeMs heard_at = fixture.clock.now_ms();

  std::vector<nlohmann::json> live;
  for (const auto& agent : agents) {
    const AgentState state = fixture.state_of(agent);
    CHECK(to_json(state) == to_json(fixture.fold_of_log(agent)));
    live.push_back(to_json(state));
  }
  fixture.restart_host();
  CHECK(fixture.host->recovery_stats().agents == agents.size());
  for (std::size_t index = 0; index < agents.size(); ++index) {
    CHECK(to_json(fixture.state_of(agents[index])) == live[index]);
  }
  CHECK(fixture.host->live_info(agents[4])->last_seen_ms == heard_at);
}

TEST_CASE("a failed agent actor is respawned from its stream and keeps working") {
  HostFixture fixture;
  const std::string agent = fixture.register_instance("host-1", "2.5").agent_id;
  HeartbeatReport degraded;
  degraded.status = AgentStatus::degraded;
  REQUIRE(fixture.host->heartbeat(agent, {}, degraded, {}).ok());

  fixture.crashes.arm(agent);
  const auto caught = fixture.host->heartbeat(agent, {}, {}, {});
  REQUIRE_FALSE(caught.ok());
  CHECK(caught.error().code == ErrorCode::unavailable);
  CHECK(caught.error().reason == "AGENT_UNAVAILABLE");

  // The supervisor respawns asynchronously; the next call may still meet the old handle.
  Result<AgentOutcome> recovered = make_error(ErrorCode::unavailable, "not yet");
  for (int attempt = 0; attempt < 200 && !recovered.ok(); ++attempt) {
    recovered = fixture.host->heartbeat(agent, {}, degraded, {});
    if (!recovered.ok()) std::this_thread::sleep_for(10ms);
  }
  REQUIRE(recovered.ok());
  const AgentState state = fixture.state_of(agent);
  CHECK(state.status == AgentStatus::degraded);
  CHECK(state.profile.version == "2.5");
  CHECK(state.profile.labels.at("env") == "prod");
  CHECK(to_json(state) == to_json(fixture.fold_of_log(agent)));
}

TEST_CASE("commands on unknown agents are refused without touching the log") {
  HostFixture fixture;
  const std::string nobody = "00000000-0000-4000-8000-000000000000";
  CHECK(fixture.host->heartbeat(nobody, {}, {}, {}).error().reason == kAgentNotFound);
  CHECK(fixture.host->deregister(nobody, {}, {}).error().reason == kAgentNotFound);
  CHECK(fixture.host->decommission(nobody, {}, {}).error().reason == kAgentNotFound);
  CHECK(fixture.store->head_position().value() == 0);
}

TEST_CASE("a stopped host refuses commands") {
  HostFixture fixture;
  const std::string agent = fixture.register_instance("host-1").agent_id;
  fixture.host->stop();
  const auto refused = fixture.host->heartbeat(agent, {}, {}, {});
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == ErrorCode::unavailable);
}

namespace {

AgentAccess as_agent(const std::string& token_plaintext) {
  AgentAccess access;
  access.token_sha256 = read_agent_token(token_plaintext)->sha256;
  return access;
}

AgentAccess scoped_to(const std::string& org) {
  AgentAccess access;
  access.org_scope = org;
  return access;
}

}  // namespace

SCENARIO("agent tokens: checked by the agent's actor, rotated with a grace period, kept across restarts") {
  HostFixture fixture;
  const AgentOutcome registered = fixture.register_instance("host-1");
  const std::string agent = registered.agent_id;
  REQUIRE(read_agent_token(registered.agent_token));
  CHECK(read_agent_token(registered.agent_token)->agent_id == agent);

  CHECK(fixture.host->heartbeat(agent, as_agent(registered.agent_token), {}, {}).ok());
  const std::string forged = "ma_" + agent + "_not-the-secret";
  const auto refused = fixture.host->heartbeat(agent, as_agent(forged), {}, {});
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().reason == kInvalidAgentToken);
  CHECK(fixture.host->verify_token(agent, read_agent_token(registered.agent_token)->sha256).ok());
  CHECK_FALSE(fixture.host->verify_token(agent, read_agent_token(forged)->sha256).ok());

  WHEN("the token is rotated") {
    auto rotated = fixture.host->rotate_token(agent, as_agent(registered.agent_token), {});
    REQUIRE(rotated.ok());
    CHECK(rotated->previous_token_valid_until_ms == fixture.clock.now_ms() + 300'000);
    THEN("the old one works for the grace period, the new one after it, across a restart") {
      CHECK(fixture.host->heartbeat(agent, as_agent(registered.agent_token), {}, {}).ok());
      fixture.restart_host();
      fixture.clock.advance_ms(300'000);
      CHECK(fixture.host->heartbeat(agent, as_agent(registered.agent_token), {}, {}).error().reason ==
            kInvalidAgentToken);
      CHECK(fixture.host->heartbeat(agent, as_agent(rotated->agent_token), {}, {}).ok());
    }
  }
  WHEN("the agent is deregistered") {
    REQUIRE(fixture.host->deregister(agent, {}, {}).ok());
    THEN("its token stops working; registering again issues a working one") {
      CHECK(fixture.host->heartbeat(agent, as_agent(registered.agent_token), {}, {}).error().reason ==
            kInvalidAgentToken);
      const AgentOutcome back = fixture.register_instance("host-1");
      CHECK(fixture.host->heartbeat(agent, as_agent(back.agent_token), {}, {}).ok());
    }
  }
}

TEST_CASE("organizations: one instance id in two organizations is two agents, each hidden from the other") {
  HostFixture fixture;
  Registration registration;
  registration.instance_id = "host-1";
  Admission acme;
  acme.org = "acme";
  Admission globex;
  globex.org = "globex";
  const auto in_acme = fixture.host->register_agent(registration, acme, {});
  const auto in_globex = fixture.host->register_agent(registration, globex, {});
  REQUIRE(in_acme.ok());
  REQUIRE(in_globex.ok());
  CHECK(in_acme->agent_id != in_globex->agent_id);
  CHECK(in_acme->org == "acme");

  const std::uint64_t head = fixture.store->head_position().value();
  for (const auto& refused : {fixture.host->heartbeat(in_acme->agent_id, scoped_to("globex"), {}, {}),
                              fixture.host->deregister(in_acme->agent_id, scoped_to("globex"), {}),
                              fixture.host->decommission(in_acme->agent_id, scoped_to("globex"), {}),
                              fixture.host->rotate_token(in_acme->agent_id, scoped_to("globex"), {})}) {
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().reason == kAgentNotFound);
  }
  CHECK(fixture.store->head_position().value() == head);
  CHECK(fixture.host->deregister(in_acme->agent_id, scoped_to("acme"), {}).ok());
  fixture.restart_host();
  // Placement by (organization, instance id) survives recovery.
  const auto again = fixture.host->register_agent(registration, globex, {});
  REQUIRE(again.ok());
  CHECK(again->agent_id == in_globex->agent_id);
}
