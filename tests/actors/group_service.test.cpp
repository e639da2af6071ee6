// Groups on the runtime: commands through each group's actor, answers once
// the read models hold them, members only from the group's organization,
// counts of what a member change changed, and snapshots of long streams.

#include <doctest/doctest.h>

#include "actors/agent/agent_decider.hpp"
#include "actors/group/group_decider.hpp"
#include "actors/group/group_service.hpp"
#include "eventstore/memory_storage.hpp"
#include "projections/access_projection.hpp"
#include "projections/agent_registry.hpp"
#include "projections/config_model.hpp"
#include "projections/projection_runner.hpp"
#include "tests/actors/append_registration.hpp"
#include "tests/actors/await_limit.hpp"

using namespace muster;

namespace {

using testing::kWaitMs;

struct GroupFixture {
  ManualTimerService timers;
  std::unique_ptr<Storage> storage;
  AgentRegistry registry;
  AccessProjection access;
  ConfigModel configs;
  std::unique_ptr<ProjectionRunner> projections;
  std::unique_ptr<runtime::Runtime> actors;
  std::unique_ptr<GroupService> groups;
  int instances = 0;

  GroupFixture() {
    StoreOptions options;
    options.clock = &timers;
    storage = std::move(*open_memory_storage(options));
    projections =
        std::make_unique<ProjectionRunner>(storage->events(), storage->snapshots(),
                                           std::vector<ReadModel*>{&registry, &access, &configs}, timers);
    REQUIRE(projections->start().ok());
    actors = std::make_unique<runtime::Runtime>(timers, runtime::RuntimeOptions{});
    start_groups();
  }

  ~GroupFixture() {
    groups->stop();
    actors->stop();
    projections->stop();
    storage->stop();
  }

  // A new service on the same log, as after a restart.
  void start_groups() {
    if (groups) groups->stop();
    const WhenFolded when_folded = [this](std::uint64_t position, std::function<void()> then) {
      projections->when_folded(position, std::move(then));
    };
    groups = std::make_unique<GroupService>(*actors, storage->events(), storage->snapshots(), configs,
                                            registry, when_folded);
  }

  // An agent of `org`, registered straight into the log and folded.
  AgentId register_agent(const std::string& org) {
    const AgentId id = AgentId::random();
    Registration registration;
    registration.instance_id = "host-" + std::to_string(++instances);
    testing::append_registration(storage->events(), *projections, id, registration, org);
    return id;
  }

  template <class Start>
  Result<GroupOutcome> wait(Start start) {
    return await_result<GroupOutcome>(start, kWaitMs, "BUSY");
  }
  Result<GroupOutcome> create(const std::string& org, const std::string& name, std::int64_t priority = 0) {
    return wait([&](auto done) { groups->create(org, {name, {}, priority, ""}, {}, std::move(done)); });
  }
  Result<GroupOutcome> add(const std::string& name, const std::vector<AgentId>& ids) {
    return wait([&](auto done) { groups->add_members("acme", name, ids, {}, std::move(done)); });
  }
  Result<GroupOutcome> remove(const std::string& name, const std::vector<AgentId>& ids) {
    return wait([&](auto done) { groups->remove_members("acme", name, ids, {}, std::move(done)); });
  }
};

}  // namespace

SCENARIO("groups are made, changed and deleted through their actors") {
  GroupFixture fixture;
  const auto created = fixture.create("acme", "prod", 7);
  REQUIRE(created.ok());
  CHECK(created->group.exists);
  CHECK(created->group.priority == 7);
  CHECK(created->position == fixture.storage->events().head_position().value());
  THEN("the answer comes once the read models hold it") {
    CHECK(fixture.projections->position() >= created->position);
  }
  THEN("a second creation is refused; another org may use the name") {
    CHECK(fixture.create("acme", "prod").error().reason == "GROUP_EXISTS");
    CHECK(fixture.create("globex", "prod").ok());
  }
  THEN("names no group can have are refused, naming the field") {
    for (const std::string& bad :
         {std::string("Prod"), std::string(""), std::string("-x"), std::string(64, 'a')}) {
      const auto refused = fixture.create("acme", bad);
      REQUIRE_FALSE(refused.ok());
      CHECK(refused.error().code == ErrorCode::invalid_argument);
      CHECK(refused.error().field == "name");
    }
  }
  THEN("changes to a group that does not exist are refused with GROUP_NOT_FOUND") {
    const auto updated = fixture.wait([&](auto done) {
      fixture.groups->update("acme", "staging", GroupChanges{std::nullopt, 1, std::nullopt}, {},
                             std::move(done));
    });
    CHECK(updated.error().reason == "GROUP_NOT_FOUND");
    CHECK(fixture.add("staging", {}).error().reason == "GROUP_NOT_FOUND");
    CHECK(fixture.wait([&](auto done) { fixture.groups->remove("acme", "staging", {}, std::move(done)); })
              .error()
              .reason == "GROUP_NOT_FOUND");
  }
  WHEN("it is deleted") {
    const auto deleted =
        fixture.wait([&](auto done) { fixture.groups->remove("acme", "prod", {}, std::move(done)); });
    REQUIRE(deleted.ok());
    CHECK_FALSE(deleted->group.exists);
    THEN("it may be made again") {
      CHECK(fixture.create("acme", "prod").ok());
    }
  }
}

SCENARIO("members are agents of the group's organization, and each change says how many it changed") {
  GroupFixture fixture;
  REQUIRE(fixture.create("acme", "prod").ok());
  const AgentId first = fixture.register_agent("acme");
  const AgentId second = fixture.register_agent("acme");
  const AgentId foreign = fixture.register_agent("globex");
  const AgentId unknown = AgentId::random();
  const std::uint64_t head = fixture.storage->events().head_position().value();

  THEN("ids that are not agents of the org are refused, naming them, and nothing is appended") {
    const auto refused = fixture.add("prod", {first, foreign, unknown, unknown});
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().code == ErrorCode::invalid_argument);
    CHECK(refused.error().field == "agent_ids");
    CHECK(refused.error().message.find(foreign.to_string()) != std::string::npos);
    CHECK(refused.error().message.find(unknown.to_string()) != std::string::npos);
    CHECK(refused.error().message.find(first.to_string()) == std::string::npos);
    CHECK(refused.error().message.rfind("2 of these", 0) == 0);
    CHECK(fixture.storage->events().head_position().value() == head);
  }
  WHEN("agents are added, twice") {
    const auto added = fixture.add("prod", {first, second, first});
    REQUIRE(added.ok());
    CHECK(added->changed == 2);
    CHECK(added->group.members == std::set<AgentId>{first, second});
    const auto again = fixture.add("prod", {second, first});
    REQUIRE(again.ok());
    THEN("the second changes nothing and appends nothing") {
      CHECK(again->changed == 0);
      CHECK(again->position == added->position);
      CHECK(fixture.storage->events().head_position().value() == added->position);
    }
    AND_WHEN("members are removed, with an id that is no member") {
      const auto removed = fixture.remove("prod", {first, unknown});
      REQUIRE(removed.ok());
      THEN("only the member counts") {
        CHECK(removed->changed == 1);
        CHECK(removed->group.members == std::set<AgentId>{second});
        CHECK(fixture.remove("prod", {first})->changed == 0);
      }
    }
  }
}

TEST_CASE("an assignment is checked against the org's configs before it is set") {
  GroupFixture fixture;
  REQUIRE(fixture.create("acme", "prod").ok());
  const auto set = [&](std::optional<Assignment> assignment, const std::string& name = "prod") {
    return fixture.wait([&](auto done) {
      fixture.groups->set_assignment("acme", name, std::move(assignment), {}, std::move(done));
    });
  };
  Assignment unknown_config;
  unknown_config.config = ConfigRef{"no-such-config", 0};
  const std::uint64_t head = fixture.storage->events().head_position().value();
  CHECK(set(unknown_config, "staging").error().reason == "GROUP_NOT_FOUND");
  const auto refused = set(unknown_config);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().reason == "CONFIG_NOT_FOUND");
  CHECK(refused.error().field == "config");
  CHECK(fixture.storage->events().head_position().value() == head);

  Assignment settings_only;
  settings_only.settings = {{"log_level", "debug"}};
  const auto assigned = set(settings_only);
  REQUIRE(assigned.ok());
  REQUIRE(assigned->group.assignment);
  CHECK(*assigned->group.assignment == settings_only);
  CHECK(set(settings_only)->position == assigned->position);
  const auto cleared = set(Assignment{});
  REQUIRE(cleared.ok());
  CHECK_FALSE(cleared->group.assignment);
  CHECK(cleared->position > assigned->position);
}

TEST_CASE("a group's long stream is snapshotted, and a new service resumes from the snapshot and its tail") {
  GroupFixture fixture;
  REQUIRE(fixture.create("acme", "prod").ok());
  const AgentId agent = fixture.register_agent("acme");
  // Version 1 is the creation; each add or remove is one more event.
  for (std::uint64_t version = 2; version <= GroupService::kSnapshotEvery + 2; ++version) {
    const auto changed = version % 2 == 0 ? fixture.add("prod", {agent}) : fixture.remove("prod", {agent});
    REQUIRE(changed.ok());
    REQUIRE(changed->changed == 1);
  }
  const auto saved = fixture.storage->snapshots().get("aggregate:group", "acme/prod");
  REQUIRE(saved.ok());
  REQUIRE(saved->has_value());
  const auto snapshot = GroupAggregate::decode_state(**saved);
  REQUIRE(snapshot.ok());
  CHECK(snapshot->version == GroupService::kSnapshotEvery);

  fixture.start_groups();
  // The last change before (version kSnapshotEvery + 2, even) added the agent.
  const auto removed = fixture.remove("prod", {agent});
  REQUIRE(removed.ok());
  CHECK(removed->changed == 1);
  CHECK(removed->group.version == GroupService::kSnapshotEvery + 3);
  CHECK(removed->group.members.empty());
}
