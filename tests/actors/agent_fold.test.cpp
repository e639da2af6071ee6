#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "actors/agent_decider.hpp"
#include "actors/agent_events.hpp"
#include "actors/agent_state.hpp"

using namespace muster;

namespace {

const std::string kAgent = "3f6c9a1e-8d2b-4c1f-9e7a-0b5d4c3a2f10";

// Stamps proposed events as the store would and folds them into `state`.
void commit(AgentState& state, const std::vector<NewEvent>& events, TimeMs time_ms) {
  for (const NewEvent& proposed : events) {
    const Event event{state.last_position + 1, kAgent,        state.version + 1, proposed.type, time_ms,
                      proposed.schema_version, proposed.data, proposed.meta};
    REQUIRE(apply(state, event).ok());
  }
}

std::vector<std::string> types_of(const std::vector<NewEvent>& events) {
  std::vector<std::string> types;
  for (const NewEvent& event : events) types.push_back(event.type);
  return types;
}

Registration registration(const std::string& instance_id) {
  Registration result;
  result.instance_id = instance_id;
  result.name = "web-1";
  result.version = "1.0";
  result.labels = std::map<std::string, std::string>{{"env", "prod"}};
  return result;
}

AgentState registered_agent(TimeMs time_ms = 1000) {
  AgentState state;
  state.agent_id = kAgent;
  commit(state, *decide_register(state, kAgent, registration("host-1"), "{}"), time_ms);
  return state;
}

}  // namespace

SCENARIO("an agent's life folds into its state") {
  GIVEN("a new instance registering") {
    AgentState state = registered_agent(1000);
    THEN("it is online with its profile") {
      CHECK(state.status == AgentStatus::online);
      CHECK(state.instance_id == "host-1");
      CHECK(state.profile.name == "web-1");
      CHECK(state.profile.labels.at("env") == "prod");
      CHECK(state.registered_at_ms == 1000);
      CHECK(state.version == 1);
    }
    WHEN("it registers again unchanged") {
      const auto events = decide_register(state, kAgent, registration("host-1"), "{}");
      THEN("nothing is appended") {
        CHECK(events->empty());
      }
    }
    WHEN("it registers again with a new version and no labels field") {
      Registration again;
      again.instance_id = "host-1";
      again.version = "1.1";
      commit(state, *decide_register(state, kAgent, again, "{}"), 2000);
      THEN("only the version changes; absent fields keep their value") {
        CHECK(state.profile.version == "1.1");
        CHECK(state.profile.labels.at("env") == "prod");
        CHECK(state.version == 2);
      }
    }
    WHEN("it reports degraded, times out, and comes back") {
      HeartbeatReport degraded;
      degraded.status = AgentStatus::degraded;
      const auto first = decide_heartbeat(state, degraded, "{}");
      CHECK(types_of(*first) == std::vector<std::string>{agent_events::kStatusChanged});
      commit(state, *first, 2000);
      CHECK(state.status == AgentStatus::degraded);
      CHECK(state.status_since_ms == 2000);

      CHECK(decide_timeout(state, 2000, 5000, 3000, 4999, "{}").empty());
      const auto timeout = decide_timeout(state, 2000, 5000, 3000, 5000, "{}");
      CHECK(types_of(timeout) == std::vector<std::string>{agent_events::kWentOffline});
      commit(state, timeout, 5000);
      CHECK(state.status == AgentStatus::offline);
      CHECK(decide_timeout(state, 2000, 5000, 3000, 9000, "{}").empty());

      HeartbeatReport plain;
      plain.version = "2.0";
      const auto back = decide_heartbeat(state, plain, "{}");
      CHECK(types_of(*back) == std::vector<std::string>{agent_events::kUpdated, agent_events::kCameOnline});
      commit(state, *back, 7000);
      CHECK(state.status == AgentStatus::online);
      CHECK(state.online_since_ms == 7000);
      CHECK(state.profile.version == "2.0");
    }
    WHEN("an operator deregisters it") {
      commit(state, *decide_deregister(state, "{}"), 3000);
      THEN("heartbeats are refused until it registers again, under the same id") {
        const auto refused = decide_heartbeat(state, {}, "{}");
        REQUIRE_FALSE(refused.ok());
        CHECK(refused.error().reason == kAgentNotRegistered);
        CHECK(decide_deregister(state, "{}")->empty());
        commit(state, *decide_register(state, kAgent, registration("host-1"), "{}"), 4000);
        CHECK(state.status == AgentStatus::online);
        CHECK(state.agent_id == kAgent);
        CHECK(state.registered_at_ms == 4000);
      }
    }
    WHEN("an operator decommissions it") {
      commit(state, *decide_decommission(state, "{}"), 3000);
      THEN("it can never register or heartbeat again") {
        CHECK(decide_register(state, kAgent, registration("host-1"), "{}").error().reason ==
              kAgentDecommissioned);
        CHECK(decide_heartbeat(state, {}, "{}").error().reason == kAgentDecommissioned);
        CHECK(decide_deregister(state, "{}").error().reason == kAgentDecommissioned);
        CHECK(decide_decommission(state, "{}")->empty());
      }
    }
  }
  GIVEN("an id nobody registered") {
    AgentState unknown;
    CHECK(decide_heartbeat(unknown, {}, "{}").error().reason == kAgentNotFound);
    CHECK(decide_deregister(unknown, "{}").error().reason == kAgentNotFound);
    CHECK(decide_decommission(unknown, "{}").error().reason == kAgentNotFound);
  }
}

TEST_CASE("apply refuses events it cannot fold and leaves the state unchanged") {
  AgentState state = registered_agent();
  const AgentState before = state;
  const auto refuse = [&](Event event) {
    const Status folded = apply(state, event);
    REQUIRE_FALSE(folded.ok());
    CHECK(folded.error().code == ErrorCode::corruption);
    CHECK(to_json(state) == to_json(before));
  };
  refuse(Event{2, kAgent, 3, agent_events::kDeregistered, 1, 1, "{}", "{}"});          // version gap
  refuse(Event{2, "other-stream", 2, agent_events::kDeregistered, 1, 1, "{}", "{}"});  // other stream
  refuse(Event{2, kAgent, 2, "AgentTeleported", 1, 1, "{}", "{}"});                    // unknown type
  refuse(Event{2, kAgent, 2, agent_events::kDeregistered, 1, 1, "not json", "{}"});    // bad payload
  refuse(Event{2, kAgent, 2, agent_events::kStatusChanged, 1, 1, R"({"to":"OFFLINE"})", "{}"});
  refuse(Event{2, kAgent, 2, agent_events::kUpdated, 1, 1, R"({"changes":{"labels":[1]}})", "{}"});
  AgentState fresh;
  CHECK_FALSE(
      apply(fresh, Event{1, kAgent, 1, agent_events::kCameOnline, 1, 1, R"({"status":"ONLINE"})", "{}"})
          .ok());
}

TEST_CASE("agent statuses parse case-insensitively and print upper case") {
  CHECK(parse_agent_status("online") == AgentStatus::online);
  CHECK(parse_agent_status("DeGrAdEd") == AgentStatus::degraded);
  CHECK_FALSE(parse_agent_status("gone").has_value());
  CHECK(std::string(to_string(AgentStatus::offline)) == "OFFLINE");
}
