// The agent registry as the fleet read model: lists, filters and counts
// what the log says, folded by the projection runner from snapshots and the
// log's tail; and as the agents' actors and hot path see it.

#include "projections/agent_registry.hpp"

#include <doctest/doctest.h>

#include <set>

#include "actors/agent/agent_decider.hpp"
#include "eventstore/memory_storage.hpp"
#include "projections/access_projection.hpp"
#include "projections/config_model.hpp"
#include "projections/last_seen_follower.hpp"
#include "projections/projection_runner.hpp"

using namespace muster;

namespace {

// A fleet written straight to a store through the deciders, as the actors would.
struct FleetFixture {
  ManualTimerService timers;
  std::shared_ptr<MemoryDisk> disk = make_memory_disk();
  std::unique_ptr<Storage> storage;
  std::map<AgentId, AgentState> agents;

  FleetFixture() { reopen(); }

  void reopen() {
    if (storage) storage->stop();
    storage.reset();
    StoreOptions options;
    options.clock = &timers;
    storage = std::move(*open_memory_storage(options, disk));
  }

  EventStore& store() { return storage->events(); }
  std::uint64_t head() { return store().head_position().value(); }

  void commit(const AgentId& agent_id, Result<std::vector<AgentEvent>> decided) {
    REQUIRE(decided.ok());
    AgentState& state = agents.try_emplace(agent_id, fresh_agent_state(agent_id)).first->second;
    if (decided->empty()) return;
    std::vector<NewEvent> events;
    for (const AgentEvent& event : *decided) {
      events.push_back(encode_payload(event));
      events.back().meta = "{}";
    }
    REQUIRE(store().append(state.stream(), state.version, events).ok());
    auto stored = store().read_stream(state.stream(), state.version + 1, 100);
    REQUIRE(stored.ok());
    for (const Event& event : *stored) REQUIRE(apply(state, event).ok());
  }

  AgentState& agent(int number) { return agents.at(id(number)); }

  AgentId add(int number, const std::string& version, const std::string& type,
              std::map<std::string, std::string> labels, const std::string& org = "default") {
    Registration registration;
    registration.instance_id = "instance-" + std::to_string(number);
    registration.name = "web-" + std::to_string(number);
    registration.hostname = "host" + std::to_string(number) + ".example";
    registration.version = version;
    registration.type = type;
    registration.labels = std::move(labels);
    Admission admission;
    admission.org = org;
    commit(id(number), decide_register(fresh_agent_state(id(number)), registration, admission));
    return id(number);
  }

  static AgentId id(int number) {
    char buffer[40];
    std::snprintf(buffer, sizeof buffer, "00000000-0000-4000-8000-%012d", number);
    return *AgentId::parse(buffer);
  }
};

// A registry and its runner over the fixture's store, stepped by hand.
struct ReadModels {
  AgentRegistry registry;
  AccessProjection access;
  ConfigModel configs;
  ProjectionRunner runner;

  explicit ReadModels(FleetFixture& fleet)
      : runner(fleet.store(), fleet.storage->snapshots(), {&registry, &access, &configs}, fleet.timers, manual()) {
    REQUIRE(runner.start().ok());
    runner.catch_up();
  }

  static ProjectionRunnerOptions manual() {
    ProjectionRunnerOptions options;
    options.follow = false;
    return options;
  }
};

std::vector<AgentId> ids_of(const AgentPage& page) {
  std::vector<AgentId> ids;
  for (const AgentView& agent : page.agents) ids.push_back(agent.state.agent_id);
  return ids;
}

}  // namespace

SCENARIO("the registry lists, filters and counts what the log says") {
  FleetFixture fleet;
  for (int number = 1; number <= 30; ++number) {
    fleet.add(number, number % 3 == 0 ? "2.0" : "1.0", number % 2 == 0 ? "otel" : "osquery",
              {{"env", number <= 10 ? "prod" : "dev"}, {"zone", number % 5 == 0 ? "a" : "b"}});
  }
  HeartbeatReport degraded;
  degraded.status = AgentStatus::degraded;
  fleet.commit(FleetFixture::id(1), decide_heartbeat(fleet.agent(1), degraded, fleet.timers.now_ms()));
  fleet.commit(FleetFixture::id(2), decide_timeout(fleet.agent(2), 0, 0, 1, 1));
  fleet.commit(FleetFixture::id(3), decide_deregister(fleet.agent(3)));
  fleet.commit(FleetFixture::id(4), decide_decommission(fleet.agent(4)));

  ReadModels models(fleet);
  const AgentRegistry& registry = models.registry;

  THEN("counts cover listed agents only") {
    const FleetStats stats = registry.stats("*");
    CHECK(stats.total == 28);
    CHECK(stats.online == 26);
    CHECK(stats.degraded == 1);
    CHECK(stats.offline == 1);
    CHECK(stats.by_version.at("2.0") == 9);  // 3..30 step 3, less the deregistered 3
    CHECK(stats.by_type.at("otel") == 14);   // 2..30 even, less the decommissioned 4
    CHECK(stats.position == fleet.head());
  }
  THEN("each filter narrows the list and all must match") {
    AgentFilter offline;
    offline.status = AgentStatus::offline;
    CHECK(ids_of(registry.list(offline, 100, std::nullopt)) == std::vector<AgentId>{FleetFixture::id(2)});

    AgentFilter combined;
    combined.version = "1.0";
    combined.type = "osquery";
    combined.labels = {{"env", "prod"}, {"zone", "a"}};
    CHECK(ids_of(registry.list(combined, 100, std::nullopt)) == std::vector<AgentId>{FleetFixture::id(5)});

    AgentFilter text;
    text.text = "host2";  // host2, host20..29
    CHECK(registry.list(text, 100, std::nullopt).total == 11);
    text.text = "instance-7";  // an instance id (OpAMP agents often have neither name nor hostname)
    CHECK(ids_of(registry.list(text, 100, std::nullopt)) == std::vector<AgentId>{FleetFixture::id(7)});

    AgentFilter gone;
    gone.labels = {{"env", "staging"}};
    CHECK(registry.list(gone, 100, std::nullopt).total == 0);
  }
  THEN("pages visit every match exactly once, in id order") {
    std::set<AgentId> seen;
    std::optional<AgentId> after;
    int pages = 0;
    while (true) {
      const AgentPage page = registry.list({}, 7, after);
      CHECK(page.total == 28);
      for (const auto& id : ids_of(page)) CHECK(seen.insert(id).second);
      ++pages;
      if (!page.next_after) break;
      after = page.next_after;
    }
    CHECK(seen.size() == 28);
    CHECK(pages == 4);
  }
  THEN("deregistered and decommissioned agents stay findable, and every agent equals its fold") {
    CHECK(registry.find(FleetFixture::id(3))->state.status == AgentStatus::deregistered);
    CHECK(registry.find(FleetFixture::id(4))->state.status == AgentStatus::decommissioned);
    CHECK_FALSE(registry.find(FleetFixture::id(99)).has_value());
    const auto states = registry.states();
    CHECK(states.size() == fleet.agents.size());
    for (const AgentState& state : states) CHECK(state == fleet.agents.at(state.agent_id));
  }
}

TEST_CASE("a registry rebuilt from position 1 equals the one that followed the log live") {
  FleetFixture fleet;
  AgentRegistry live;
  AccessProjection access;
  ConfigModel configs;
  ProjectionRunner runner(fleet.store(), fleet.storage->snapshots(), {&live, &access, &configs}, fleet.timers);
  REQUIRE(runner.start().ok());
  for (int number = 1; number <= 50; ++number) {
    fleet.add(number, "1.0", "otel", {{"n", std::to_string(number % 4)}});
    if (number % 7 == 0) fleet.commit(FleetFixture::id(number), decide_deregister(fleet.agent(number)));
  }
  REQUIRE(runner.wait_for_position(fleet.head(), std::chrono::seconds(10)));
  runner.stop();
  REQUIRE(fleet.storage->snapshots().clear(AgentRegistry::kSnapshotScope).ok());
  REQUIRE(fleet.storage->snapshots().clear(AccessProjection::kSnapshotScope).ok());

  ReadModels rebuilt(fleet);
  CHECK(rebuilt.runner.recovery().snapshot_position("fleet") == 0);
  CHECK(live.states() == rebuilt.registry.states());
  const FleetStats live_stats = live.stats("*");
  const FleetStats rebuilt_stats = rebuilt.registry.stats("*");
  CHECK(live_stats.total == rebuilt_stats.total);
  CHECK(live_stats.by_version == rebuilt_stats.by_version);
  CHECK(live_stats.position == rebuilt_stats.position);
}

SCENARIO("start-up loads the snapshot and folds only the tail, and equals a full fold") {
  FleetFixture fleet;
  for (int number = 1; number <= 40; ++number) fleet.add(number, "1.0", "otel", {});
  std::uint64_t snapshot_position = 0;
  {
    ReadModels first(fleet);
    REQUIRE(first.runner.save_snapshots().ok());
    snapshot_position = fleet.head();
    first.runner.stop();
  }
  // The tail: changes to snapshotted agents, and new ones.
  HeartbeatReport degraded;
  degraded.status = AgentStatus::degraded;
  for (int number = 1; number <= 10; ++number) fleet.commit(FleetFixture::id(number), decide_heartbeat(fleet.agent(number), degraded, fleet.timers.now_ms()));
  fleet.commit(FleetFixture::id(11), decide_deregister(fleet.agent(11)));
  for (int number = 41; number <= 45; ++number) fleet.add(number, "2.0", "otel", {});

  ReadModels restarted(fleet);
  CHECK(restarted.runner.recovery().snapshot_position("fleet") >= snapshot_position);

  REQUIRE(fleet.storage->snapshots().clear(AgentRegistry::kSnapshotScope).ok());
  REQUIRE(fleet.storage->snapshots().clear(AccessProjection::kSnapshotScope).ok());
  ReadModels full(fleet);
  CHECK(full.runner.recovery().snapshot_position("fleet") == 0);
  THEN("snapshot plus tail, a full fold and the deciders' own fold agree") {
    CHECK(restarted.registry.states() == full.registry.states());
    for (const AgentState& state : full.registry.states()) CHECK(state == fleet.agents.at(state.agent_id));
    const FleetStats tail = restarted.registry.stats("*");
    const FleetStats whole = full.registry.stats("*");
    CHECK(tail.total == whole.total);
    CHECK(tail.degraded == whole.degraded);
    CHECK(tail.by_version == whole.by_version);
    AgentFilter degraded_only;
    degraded_only.status = AgentStatus::degraded;
    CHECK(ids_of(restarted.registry.list(degraded_only, 100, std::nullopt)) ==
          ids_of(full.registry.list(degraded_only, 100, std::nullopt)));
  }
}

TEST_CASE("a damaged snapshot, or one past the log's head, is dropped and the whole log folded") {
  FleetFixture fleet;
  for (int number = 1; number <= 5; ++number) fleet.add(number, "1.0", "otel", {});
  {
    ReadModels first(fleet);
    REQUIRE(first.runner.save_snapshots().ok());
    first.runner.stop();
  }
  SUBCASE("a record that cannot be decoded") {
    const AgentId damaged = FleetFixture::id(3);
    const auto& bytes = damaged.bytes();
    REQUIRE(fleet.storage->snapshots()
                .write(AgentRegistry::kSnapshotScope, {{std::string(bytes.begin(), bytes.end()), "garbage"}},
                       std::nullopt)
                .ok());
  }
  SUBCASE("a position past the head") {
    REQUIRE(fleet.storage->snapshots().write(AgentRegistry::kSnapshotScope, {}, fleet.head() + 100).ok());
  }
  ReadModels restarted(fleet);
  CHECK(restarted.runner.recovery().snapshot_position("fleet") == 0);
  CHECK(restarted.registry.states().size() == 5);
  for (const AgentState& state : restarted.registry.states()) CHECK(state == fleet.agents.at(state.agent_id));
  CHECK(restarted.registry.stats("*").total == 5);
}

TEST_CASE("versions an agent's actor folded already are skipped by the runner") {
  FleetFixture fleet;
  const AgentId agent = fleet.add(1, "1.0", "otel", {});
  AgentRegistry registry;
  // The actor's commit reaches the registry before the runner folds the log.
  registry.end_decision(fleet.agents.at(agent), fleet.timers.now_ms(), std::nullopt);
  CHECK(registry.stats("*").total == 1);
  auto log = fleet.store().read_log(1, 100);
  REQUIRE(log.ok());
  REQUIRE(registry.apply(*log).ok());
  CHECK(registry.stats("*").total == 1);
  CHECK(registry.states() == std::vector<AgentState>{fleet.agents.at(agent)});
  CHECK(registry.position() == fleet.head());
}

TEST_CASE("a node that does not run the fleet takes the last-seen times saved elsewhere, only ever later ones") {
  FleetFixture fleet;
  const AgentId agent = fleet.add(1, "1.0", "otel", {});
  ReadModels models(fleet);
  LastSeenStore& saved = fleet.storage->last_seen();
  const auto follow_once = [&] {
    LastSeenFollower follower(saved, models.registry, std::chrono::hours(1));
    follower.start();
    follower.stop();
  };
  REQUIRE(saved.save({{agent.to_string(), 9000}, {FleetFixture::id(2).to_string(), 9000}}).ok());
  follow_once();
  CHECK(models.registry.find(agent)->last_seen_ms == 9000);
  CHECK_FALSE(models.registry.contains(FleetFixture::id(2)));  // Times of unknown agents make no record.

  // An earlier saved time (a leader's flush that lost a race) changes nothing,
  // nor does one earlier than the node heard itself.
  REQUIRE(saved.save({{agent.to_string(), 8000}}).ok());
  follow_once();
  CHECK(models.registry.find(agent)->last_seen_ms == 9000);
  const auto heard = [](const AgentState&) { return true; };
  REQUIRE(models.registry.visit(agent, heard, 12000, {}) == AgentRegistry::Visit::visited);
  REQUIRE(saved.save({{agent.to_string(), 11000}}).ok());
  follow_once();
  CHECK(models.registry.find(agent)->last_seen_ms == 12000);
}

TEST_CASE("the hot path leaves an agent to its actor while the actor decides") {
  FleetFixture fleet;
  const AgentId agent = fleet.add(1, "1.0", "otel", {});
  AgentRegistry registry;
  registry.end_decision(fleet.agents.at(agent), std::nullopt, std::nullopt);
  int decided = 0;
  const auto decide = [&](const AgentState&) { return ++decided > 0; };
  CHECK(registry.visit(agent, decide, 5000, {}) == AgentRegistry::Visit::visited);
  CHECK(registry.find(agent)->last_seen_ms == 5000);
  CHECK(registry.begin_decision(agent) == std::optional<TimeMs>(5000));
  CHECK(registry.visit(agent, decide, 6000, {}) == AgentRegistry::Visit::busy);
  registry.end_decision(fleet.agents.at(agent), std::nullopt, std::nullopt);
  CHECK(registry.visit(agent, decide, 7000, {}) == AgentRegistry::Visit::visited);
  CHECK(decided == 2);
  CHECK(registry.visit(FleetFixture::id(2), decide, 7000, {}) == AgentRegistry::Visit::absent);
}

TEST_CASE("concurrent first registrations of one instance are given one agent") {
  AgentRegistry registry;
  const auto first = registry.agent_for_instance("acme", "host-1");
  CHECK(first.status == AgentStatus::unregistered);
  CHECK(registry.agent_for_instance("acme", "host-1").agent_id == first.agent_id);
  CHECK(registry.agent_for_instance("globex", "host-1").agent_id != first.agent_id);
}

TEST_CASE("waiting for a position the read models will not reach times out") {
  FleetFixture fleet;
  ReadModels models(fleet);
  CHECK(models.runner.wait_for_position(0, std::chrono::milliseconds(0)));
  CHECK_FALSE(models.runner.wait_for_position(5, std::chrono::milliseconds(50)));
}

TEST_CASE("lists and counts per organization") {
  FleetFixture fleet;
  for (int number = 1; number <= 6; ++number) fleet.add(number, "1.0", "otel", {}, number <= 4 ? "acme" : "globex");
  fleet.commit(FleetFixture::id(1), decide_deregister(fleet.agent(1)));
  ReadModels models(fleet);
  const AgentRegistry& registry = models.registry;

  CHECK(registry.stats("*").total == 5);
  CHECK(registry.stats("acme").total == 3);
  CHECK(registry.stats("globex").total == 2);
  CHECK(registry.stats("initech").total == 0);
  CHECK(registry.stats("initech").position == fleet.head());
  AgentFilter in_globex;
  in_globex.org = "globex";
  CHECK(ids_of(registry.list(in_globex, 10, std::nullopt)) ==
        std::vector<AgentId>{FleetFixture::id(5), FleetFixture::id(6)});
  CHECK(registry.org_of(FleetFixture::id(2)) == std::optional<std::string>("acme"));
  CHECK_FALSE(registry.org_of(FleetFixture::id(99)).has_value());
}

TEST_CASE("lists by status and organization, served from the index, equal a scan of every agent") {
  FleetFixture fleet;
  for (int number = 1; number <= 40; ++number) fleet.add(number, "1.0", "otel", {}, number % 3 ? "acme" : "globex");
  HeartbeatReport degraded;
  degraded.status = AgentStatus::degraded;
  for (int number = 1; number <= 40; ++number) {
    const AgentId id = FleetFixture::id(number);
    if (number % 4 == 0) fleet.commit(id, decide_timeout(fleet.agent(number), 0, 0, 1, 1));
    if (number % 5 == 0) fleet.commit(id, decide_heartbeat(fleet.agent(number), degraded, fleet.timers.now_ms()));
    if (number % 7 == 0) fleet.commit(id, decide_deregister(fleet.agent(number)));
    // Offline, then back online: leaves the offline index.
    if (number % 8 == 0) fleet.commit(id, decide_heartbeat(fleet.agent(number), {}, fleet.timers.now_ms()));
  }
  ReadModels models(fleet);
  const AgentRegistry& registry = models.registry;

  const std::vector<std::optional<AgentStatus>> statuses = {std::nullopt, AgentStatus::online,
                                                            AgentStatus::degraded, AgentStatus::offline};
  const std::vector<std::optional<std::string>> orgs = {std::nullopt, "acme", "globex", "initech"};
  for (const auto& status : statuses) {
    for (const auto& org : orgs) {
      AgentFilter indexed;
      indexed.status = status;
      indexed.org = org;
      AgentFilter scanned = indexed;
      scanned.text = "";  // matches every agent, and is not indexed
      for (const std::size_t limit : {1, 3, 100}) {
        std::optional<AgentId> after;
        do {
          CAPTURE(limit);
          const AgentPage fast = registry.list(indexed, limit, after);
          const AgentPage slow = registry.list(scanned, limit, after);
          CHECK(ids_of(fast) == ids_of(slow));
          CHECK(fast.total == slow.total);
          CHECK(fast.next_after == slow.next_after);
          after = fast.next_after;
        } while (after);
      }
    }
  }
  AgentFilter offline;
  offline.status = AgentStatus::offline;
  // 4, 12 and 36: 28 is deregistered, and the multiples of 5 and of 8 heartbeat again.
  CHECK(registry.list(offline, 100, std::nullopt).total == 3);
}
