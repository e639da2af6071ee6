#include <doctest/doctest.h>

#include <set>

#include <nlohmann/json.hpp>

#include "actors/agent_decider.hpp"
#include "actors/agent_state.hpp"
#include "eventstore/rocksdb_storage.hpp"
#include "projections/projection_runner.hpp"
#include "tests/support/temp_dir.hpp"

using namespace muster;

namespace {

// A fleet written straight to a real store through the deciders, as the actors would.
struct FleetFixture {
  testing::TempDir dir;
  ManualClock clock;
  std::unique_ptr<Storage> storage;
  EventStore* store = nullptr;
  std::map<std::string, AgentState> agents;

  FleetFixture() {
    RocksDbOptions options;
    options.path = dir.file("data");
    options.store.clock = &clock;
    storage = std::move(*open_rocksdb_storage(options));
    store = &storage->events();
  }

  void commit(const std::string& agent_id, Result<std::vector<NewEvent>> decided) {
    REQUIRE(decided.ok());
    AgentState& state = agents[agent_id];
    state.agent_id = agent_id;
    if (decided->empty()) return;
    auto appended = store->append(agent_id, state.version, *decided);
    REQUIRE(appended.ok());
    auto events = store->read_stream(agent_id, state.version + 1, 100);
    REQUIRE(events.ok());
    for (const Event& event : *events) REQUIRE(apply(state, event).ok());
  }

  std::string add(int number, const std::string& version, const std::string& type,
                  std::map<std::string, std::string> labels, const std::string& org = "default") {
    const std::string agent_id = fmt_id(number);
    Registration registration;
    registration.instance_id = "instance-" + std::to_string(number);
    registration.name = "web-" + std::to_string(number);
    registration.hostname = "host" + std::to_string(number) + ".example";
    registration.version = version;
    registration.type = type;
    registration.labels = std::move(labels);
    AgentState& state = agents[agent_id];
    state.agent_id = agent_id;
    Admission admission;
    admission.org = org;
    commit(agent_id, decide_register(state, agent_id, registration, admission, "{}"));
    return agent_id;
  }

  static std::string fmt_id(int number) {
    char buffer[40];
    std::snprintf(buffer, sizeof buffer, "00000000-0000-4000-8000-%012d", number);
    return buffer;
  }
};

std::vector<std::string> ids_of(const AgentPage& page) {
  std::vector<std::string> ids;
  for (const AgentState& state : page.agents) ids.push_back(state.agent_id);
  return ids;
}

}  // namespace

SCENARIO("the fleet projection lists, filters and counts what the log says") {
  FleetFixture fleet;
  for (int number = 1; number <= 30; ++number) {
    fleet.add(number, number % 3 == 0 ? "2.0" : "1.0", number % 2 == 0 ? "otel" : "osquery",
              {{"env", number <= 10 ? "prod" : "dev"}, {"zone", number % 5 == 0 ? "a" : "b"}});
  }
  HeartbeatReport degraded;
  degraded.status = AgentStatus::degraded;
  fleet.commit(FleetFixture::fmt_id(1),
               decide_heartbeat(fleet.agents[FleetFixture::fmt_id(1)], degraded, "{}"));
  fleet.commit(FleetFixture::fmt_id(2),
               decide_timeout(fleet.agents[FleetFixture::fmt_id(2)], 0, 0, 1, 1, "{}"));
  fleet.commit(FleetFixture::fmt_id(3), decide_deregister(fleet.agents[FleetFixture::fmt_id(3)], "{}"));
  fleet.commit(FleetFixture::fmt_id(4), decide_decommission(fleet.agents[FleetFixture::fmt_id(4)], "{}"));

  ProjectionRunner runner(*fleet.store);
  runner.catch_up();
  const FleetProjection& projection = runner.fleet();

  THEN("counts cover listed agents only") {
    const FleetStats stats = projection.stats("*");
    CHECK(stats.total == 28);
    CHECK(stats.online == 26);
    CHECK(stats.degraded == 1);
    CHECK(stats.offline == 1);
    CHECK(stats.by_version.at("2.0") == 9);  // 3..30 step 3, less the deregistered 3
    CHECK(stats.by_type.at("otel") == 14);   // 2..30 even, less the decommissioned 4
    CHECK(stats.position == fleet.store->head_position().value());
  }
  THEN("each filter narrows the list and all must match") {
    AgentFilter offline;
    offline.status = AgentStatus::offline;
    CHECK(ids_of(projection.list(offline, 100, "")) == std::vector<std::string>{FleetFixture::fmt_id(2)});

    AgentFilter combined;
    combined.version = "1.0";
    combined.type = "osquery";
    combined.labels = {{"env", "prod"}, {"zone", "a"}};
    CHECK(ids_of(projection.list(combined, 100, "")) == std::vector<std::string>{FleetFixture::fmt_id(5)});

    AgentFilter text;
    text.text = "host2";  // host2, host20..29
    CHECK(projection.list(text, 100, "").total == 11);

    AgentFilter gone;
    gone.labels = {{"env", "staging"}};
    CHECK(projection.list(gone, 100, "").total == 0);
  }
  THEN("pages visit every match exactly once, in id order") {
    std::set<std::string> seen;
    std::string after;
    int pages = 0;
    while (true) {
      const AgentPage page = projection.list({}, 7, after);
      CHECK(page.total == 28);
      for (const auto& id : ids_of(page)) CHECK(seen.insert(id).second);
      ++pages;
      if (!page.next_after) break;
      after = *page.next_after;
    }
    CHECK(seen.size() == 28);
    CHECK(pages == 4);
  }
  THEN("deregistered and decommissioned agents stay findable, and every agent equals its fold") {
    CHECK(projection.find(FleetFixture::fmt_id(3))->status == AgentStatus::deregistered);
    CHECK(projection.find(FleetFixture::fmt_id(4))->status == AgentStatus::decommissioned);
    CHECK_FALSE(projection.find(FleetFixture::fmt_id(99)).has_value());
    for (const AgentState& state : projection.snapshot()) {
      CHECK(to_json(state) == to_json(fleet.agents.at(state.agent_id)));
    }
  }
}

TEST_CASE("a projection rebuilt from position 1 equals the one that followed the log live") {
  FleetFixture fleet;
  ProjectionRunner live(*fleet.store);
  live.start();
  for (int number = 1; number <= 50; ++number) {
    fleet.add(number, "1.0", "otel", {{"n", std::to_string(number % 4)}});
    if (number % 7 == 0) {
      fleet.commit(FleetFixture::fmt_id(number),
                   decide_deregister(fleet.agents[FleetFixture::fmt_id(number)], "{}"));
    }
  }
  REQUIRE(live.wait_for_position(fleet.store->head_position().value(), std::chrono::seconds(10)));
  live.stop();

  ProjectionRunner rebuilt(*fleet.store);
  rebuilt.catch_up();
  const auto live_agents = live.fleet().snapshot();
  const auto rebuilt_agents = rebuilt.fleet().snapshot();
  REQUIRE(live_agents.size() == rebuilt_agents.size());
  for (std::size_t index = 0; index < live_agents.size(); ++index) {
    CHECK(to_json(live_agents[index]) == to_json(rebuilt_agents[index]));
  }
  const FleetStats live_stats = live.fleet().stats("*");
  const FleetStats rebuilt_stats = rebuilt.fleet().stats("*");
  CHECK(live_stats.total == rebuilt_stats.total);
  CHECK(live_stats.by_version == rebuilt_stats.by_version);
  CHECK(live_stats.position == rebuilt_stats.position);
}

TEST_CASE("waiting for a position the projection will not reach times out") {
  FleetFixture fleet;
  ProjectionRunner runner(*fleet.store);
  runner.start();
  CHECK(runner.wait_for_position(0, std::chrono::milliseconds(0)));
  CHECK_FALSE(runner.wait_for_position(5, std::chrono::milliseconds(50)));
}

TEST_CASE("lists and counts per organization") {
  FleetFixture fleet;
  for (int number = 1; number <= 6; ++number) {
    fleet.add(number, "1.0", "otel", {}, number <= 4 ? "acme" : "globex");
  }
  fleet.commit(FleetFixture::fmt_id(1), decide_deregister(fleet.agents[FleetFixture::fmt_id(1)], "{}"));
  ProjectionRunner runner(*fleet.store);
  runner.catch_up();
  const FleetProjection& projection = runner.fleet();

  CHECK(projection.stats("*").total == 5);
  CHECK(projection.stats("acme").total == 3);
  CHECK(projection.stats("globex").total == 2);
  CHECK(projection.stats("initech").total == 0);
  CHECK(projection.stats("initech").position == fleet.store->head_position().value());
  AgentFilter in_globex;
  in_globex.org = "globex";
  CHECK(ids_of(projection.list(in_globex, 10, "")) ==
        std::vector<std::string>{FleetFixture::fmt_id(5), FleetFixture::fmt_id(6)});
  CHECK(runner.organization_of(FleetFixture::fmt_id(2)) == std::optional<std::string>("acme"));
  CHECK_FALSE(runner.organization_of(FleetFixture::fmt_id(99)).has_value());
}

TEST_CASE("lists by status and organization, served from the index, equal a scan of every agent") {
  FleetFixture fleet;
  for (int number = 1; number <= 40; ++number)
    fleet.add(number, "1.0", "otel", {}, number % 3 ? "acme" : "globex");
  HeartbeatReport degraded;
  degraded.status = AgentStatus::degraded;
  for (int number = 1; number <= 40; ++number) {
    AgentState& agent = fleet.agents[FleetFixture::fmt_id(number)];
    if (number % 4 == 0) fleet.commit(agent.agent_id, decide_timeout(agent, 0, 0, 1, 1, "{}"));
    if (number % 5 == 0) fleet.commit(agent.agent_id, decide_heartbeat(agent, degraded, "{}"));
    if (number % 7 == 0) fleet.commit(agent.agent_id, decide_deregister(agent, "{}"));
    // Offline, then back online: leaves the offline index.
    if (number % 8 == 0) fleet.commit(agent.agent_id, decide_heartbeat(agent, {}, "{}"));
  }
  ProjectionRunner runner(*fleet.store);
  runner.catch_up();
  const FleetProjection& projection = runner.fleet();

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
        std::string after;
        do {
          CAPTURE(limit);
          CAPTURE(after);
          const AgentPage fast = projection.list(indexed, limit, after);
          const AgentPage slow = projection.list(scanned, limit, after);
          CHECK(ids_of(fast) == ids_of(slow));
          CHECK(fast.total == slow.total);
          CHECK(fast.next_after == slow.next_after);
          after = fast.next_after.value_or("");
        } while (!after.empty());
      }
    }
  }
  AgentFilter offline;
  offline.status = AgentStatus::offline;
  // 4, 12 and 36: 28 is deregistered, and the multiples of 5 and of 8 heartbeat again.
  CHECK(projection.list(offline, 100, "").total == 3);
}
