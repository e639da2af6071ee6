// Groups: each decision stored as the log stores it and folded back, the
// refusals, the changes that change nothing (bulk jobs run twice apply
// nothing twice), and the snapshot codec.

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "actors/group/group_decider.hpp"

using namespace muster;

namespace {

const AgentId kFirst = *AgentId::parse("3f6c9a1e-8d2b-4c1f-9e7a-0b5d4c3a2f10");
const AgentId kSecond = *AgentId::parse("5a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d");
const AgentId kThird = *AgentId::parse("00000000-0000-4000-8000-000000000003");

// A group's log: decisions stored as the store would (JSON, position,
// version, time) and folded back from the stored form.
struct GroupLog {
  Group group = GroupAggregate::initial_state("acme/prod");
  std::uint64_t position = 100;
  std::vector<Event> events;

  // Decides `command`, stores and folds what it decided; returns how many events.
  std::size_t run(const GroupCommand& command, TimeMs time_ms = 1000) {
    runtime::DecideContext context{time_ms};
    auto decided = GroupAggregate::decide(group, command, context);
    REQUIRE_MESSAGE(decided.ok(), (decided.ok() ? "" : decided.error().message));
    for (const GroupEvent& event : *decided) {
      const NewEvent proposed = encode_payload(event);
      events.push_back(Event{++position, GroupAggregate::stream_of(group), group.version + 1, proposed.type,
                             time_ms, proposed.schema_version, proposed.data, "{}"});
      REQUIRE(apply(group, events.back()).ok());
    }
    return decided->size();
  }

  // The refusal `command` gets; REQUIREs one.
  Error refusal(const GroupCommand& command) {
    runtime::DecideContext context{1000};
    auto decided = GroupAggregate::decide(group, command, context);
    REQUIRE(!decided.ok());
    return decided.error();
  }

  // The whole log folded afresh.
  Group refold() const {
    Group fresh = GroupAggregate::initial_state("acme/prod");
    for (const Event& event : events) REQUIRE(apply(fresh, event).ok());
    return fresh;
  }
};

CreateGroup create_prod(std::int64_t priority = 10) {
  return CreateGroup{"acme", "prod", {{"env", "prod"}}, priority, "production"};
}

Assignment web_assignment() {
  Assignment assignment;
  assignment.config = ConfigRef{"web", 3};
  assignment.policies = {ConfigRef{"hardening", 0}};
  assignment.settings = {{"log_level", "debug"}};
  return assignment;
}

}  // namespace

SCENARIO("a group's life folds into its state") {
  GroupLog log;
  GIVEN("a group created") {
    REQUIRE(log.run(create_prod(), 1000) == 1);
    THEN("it exists with what it was created with, at the stream of its org and name") {
      CHECK(log.group.exists);
      CHECK(log.group.org == "acme");
      CHECK(log.group.name == "prod");
      CHECK(log.group.selector == LabelSelector{{"env", "prod"}});
      CHECK(log.group.priority == 10);
      CHECK(log.group.description == "production");
      CHECK(log.group.created_position == 101);
      CHECK(log.group.created_at_ms == 1000);
      CHECK(GroupAggregate::stream_of(log.group) == "group:acme/prod");
    }
    WHEN("it is changed in every way") {
      CHECK(log.run(UpdateGroup{LabelSelector{{"env", "staging"}}, 5, std::nullopt}, 2000) == 1);
      CHECK(log.run(AddGroupMembers{{kFirst, kSecond}}, 3000) == 1);
      CHECK(log.run(RemoveGroupMembers{{kFirst}}, 4000) == 1);
      CHECK(log.run(SetGroupAssignment{web_assignment()}, 5000) == 1);
      THEN("the state has each change, and folding the stored log again gives the same state") {
        CHECK(log.group.selector == LabelSelector{{"env", "staging"}});
        CHECK(log.group.priority == 5);
        CHECK(log.group.description == "production");
        CHECK(log.group.members == std::set<AgentId>{kSecond});
        REQUIRE(log.group.assignment);
        CHECK(*log.group.assignment == web_assignment());
        CHECK(log.group.updated_at_ms == 5000);
        CHECK(log.group.version == 5);
        CHECK(log.refold() == log.group);
      }
      AND_WHEN("it is deleted and created again") {
        CHECK(log.run(DeleteGroup{}, 6000) == 1);
        CHECK_FALSE(log.group.exists);
        CHECK(log.refusal(UpdateGroup{std::nullopt, 1, std::nullopt}).reason == "GROUP_NOT_FOUND");
        CHECK(log.run(create_prod(0), 7000) == 1);
        THEN("it starts afresh, later in precedence than before") {
          CHECK(log.group.exists);
          CHECK(log.group.members.empty());
          CHECK_FALSE(log.group.assignment);
          CHECK(log.group.priority == 0);
          CHECK(log.group.created_position == log.position);
          CHECK(log.refold() == log.group);
        }
      }
    }
  }
}

SCENARIO("changes that change nothing append nothing: a bulk job run twice applies nothing twice") {
  GroupLog log;
  REQUIRE(log.run(create_prod()) == 1);
  WHEN("an update names the values the group has, or none") {
    THEN("nothing is appended") {
      CHECK(log.run(UpdateGroup{LabelSelector{{"env", "prod"}}, 10, std::string("production")}) == 0);
      CHECK(log.run(UpdateGroup{}) == 0);
    }
  }
  WHEN("an update changes one value among unchanged ones") {
    REQUIRE(log.run(UpdateGroup{LabelSelector{{"env", "prod"}}, 11, std::string("production")}) == 1);
    THEN("the event carries only the value that changed") {
      const auto data = nlohmann::json::parse(log.events.back().data);
      CHECK(data == nlohmann::json{{"priority", 11}});
    }
  }
  WHEN("members are added twice, with repeats and members already in") {
    REQUIRE(log.run(AddGroupMembers{{kFirst, kSecond}}) == 1);
    REQUIRE(log.run(AddGroupMembers{{kSecond, kThird, kThird, kFirst}}) == 1);
    THEN("each event carries only ids not members yet, each once, in the order given") {
      CHECK(nlohmann::json::parse(log.events.back().data)["agent_ids"] ==
            nlohmann::json::array({kThird.to_string()}));
      CHECK(log.group.members == std::set<AgentId>{kFirst, kSecond, kThird});
    }
    AND_THEN("the same addition again appends nothing") {
      CHECK(log.run(AddGroupMembers{{kFirst, kSecond, kThird}}) == 0);
    }
    AND_WHEN("members are removed, some of them not members") {
      const AgentId stranger = *AgentId::parse("00000000-0000-4000-8000-0000000000ff");
      REQUIRE(log.run(RemoveGroupMembers{{stranger, kSecond, kSecond}}) == 1);
      THEN("the event carries only the members, and removing them again appends nothing") {
        CHECK(nlohmann::json::parse(log.events.back().data)["agent_ids"] ==
              nlohmann::json::array({kSecond.to_string()}));
        CHECK(log.run(RemoveGroupMembers{{stranger, kSecond}}) == 0);
      }
    }
  }
  WHEN("the same assignment is set twice") {
    REQUIRE(log.run(SetGroupAssignment{web_assignment()}) == 1);
    THEN("the second appends nothing; clearing appends once") {
      CHECK(log.run(SetGroupAssignment{web_assignment()}) == 0);
      CHECK(log.run(SetGroupAssignment{std::nullopt}) == 1);
      CHECK_FALSE(log.group.assignment);
      CHECK(log.run(SetGroupAssignment{std::nullopt}) == 0);
    }
    AND_THEN("an empty assignment counts as none") {
      REQUIRE(log.run(SetGroupAssignment{Assignment{}}) == 1);
      CHECK_FALSE(log.group.assignment);
      CHECK(log.run(SetGroupAssignment{Assignment{}}) == 0);
    }
  }
  CHECK(log.refold() == log.group);
}

TEST_CASE("group decisions refuse what cannot be done, deciding nothing") {
  GroupLog log;
  SUBCASE("everything but creation needs the group to exist") {
    for (const GroupCommand& command :
         std::vector<GroupCommand>{UpdateGroup{}, AddGroupMembers{{kFirst}}, RemoveGroupMembers{{kFirst}},
                                   SetGroupAssignment{web_assignment()}, DeleteGroup{}}) {
      const Error refused = log.refusal(command);
      CHECK(refused.code == ErrorCode::not_found);
      CHECK(refused.reason == "GROUP_NOT_FOUND");
    }
  }
  SUBCASE("a group is created once") {
    REQUIRE(log.run(create_prod()) == 1);
    const Error refused = log.refusal(create_prod());
    CHECK(refused.code == ErrorCode::conflict);
    CHECK(refused.reason == "GROUP_EXISTS");
  }
  SUBCASE("a priority beyond the bounds names the field") {
    const Error refused = log.refusal(create_prod(kMaxGroupPriority + 1));
    CHECK(refused.code == ErrorCode::invalid_argument);
    CHECK(refused.field == "priority");
    REQUIRE(log.run(create_prod(-kMaxGroupPriority)) == 1);
    CHECK(log.refusal(UpdateGroup{std::nullopt, -kMaxGroupPriority - 1, std::nullopt}).field == "priority");
  }
  SUBCASE("a creation for another stream is a bug, not an event") {
    CHECK(log.refusal(CreateGroup{"acme", "staging", {}, 0, ""}).code == ErrorCode::internal);
  }
  CHECK(log.events.size() == (log.group.exists ? 1u : 0u));
}

TEST_CASE("a group's snapshot decodes to the same state, and damaged bytes are refused") {
  GroupLog log;
  REQUIRE(log.run(create_prod(-3)) == 1);
  REQUIRE(log.run(AddGroupMembers{{kFirst, kSecond}}) == 1);
  REQUIRE(log.run(SetGroupAssignment{web_assignment()}) == 1);
  const std::string bytes = GroupAggregate::encode_state(log.group);
  auto decoded = GroupAggregate::decode_state(bytes);
  REQUIRE(decoded.ok());
  CHECK(*decoded == log.group);

  SUBCASE("a snapshot plus the tail after it folds to what the whole log does") {
    REQUIRE(log.run(RemoveGroupMembers{{kFirst}}) == 1);
    REQUIRE(log.run(DeleteGroup{}) == 1);
    Group resumed = *decoded;
    for (const Event& event : log.events) {
      if (event.version > resumed.version) REQUIRE(apply(resumed, event).ok());
    }
    CHECK(resumed == log.group);
    CHECK(resumed == log.refold());
  }
  SUBCASE("damaged snapshots are refused") {
    for (const std::string& damaged : {std::string(""), std::string("[]"), bytes.substr(0, bytes.size() / 2),
                                       std::string(R"({"org":"acme"})")}) {
      CHECK_FALSE(GroupAggregate::decode_state(damaged).ok());
    }
    auto data = nlohmann::json::parse(bytes);
    data["members"] = {"not-a-uuid"};
    CHECK_FALSE(GroupAggregate::decode_state(data.dump()).ok());
  }
}

TEST_CASE("a group's instance id is its org and name") {
  const Group group = GroupAggregate::initial_state("acme/prod.eu-1");
  CHECK(group.org == "acme");
  CHECK(group.name == "prod.eu-1");
  CHECK_FALSE(group.exists);
  CHECK(GroupAggregate::stream_of(group) == "group:acme/prod.eu-1");
}
