#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "actors/agent/agent_aggregate.hpp"
#include "actors/agent/agent_decider.hpp"
#include "actors/agent/agent_events.hpp"
#include "actors/agent/agent_state.hpp"
#include "actors/agent/agent_state_codec.hpp"
#include "tests/actors/agent_reports.hpp"

using namespace muster;

namespace {

const std::string kAgentText = "3f6c9a1e-8d2b-4c1f-9e7a-0b5d4c3a2f10";
const AgentId kAgent = *AgentId::parse(kAgentText);
const std::string kStream = "agent:" + kAgentText;

// Stores decided events as the store would (JSON, position, version, time)
// and folds them back from the stored form: what the log holds is what folds.
void commit(AgentState& state, const std::vector<AgentEvent>& events, TimeMs time_ms) {
  for (const AgentEvent& decided : events) {
    const NewEvent proposed = encode_payload(decided);
    const Event event{state.last_position + 1, kStream,       state.version + 1, proposed.type, time_ms,
                      proposed.schema_version, proposed.data, "{}"};
    REQUIRE(apply(state, event).ok());
  }
}

std::vector<std::string> types_of(const std::vector<AgentEvent>& events) {
  std::vector<std::string> types;
  for (const AgentEvent& event : events) types.push_back(std::string(type_of(event).name));
  return types;
}

Sha256 digest(const char* secret) {
  return sha256(secret);
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
  AgentState state = fresh_agent_state(kAgent);
  commit(state, *decide_register(state, registration("host-1"), {}), time_ms);
  return state;
}

using testing::report_of;

}  // namespace

SCENARIO("an agent's life folds into its state") {
  GIVEN("a new instance registering") {
    AgentState state = registered_agent(1000);
    THEN("it is online with its profile") {
      CHECK(state.status == AgentStatus::online);
      CHECK(state.instance_id == "host-1");
      CHECK(state.profile.name == "web-1");
      CHECK(state.profile.labels->at("env") == "prod");
      CHECK(state.registered_at_ms == 1000);
      CHECK(state.version == 2);  // AgentRegistered, AgentTokenIssued
    }
    WHEN("it registers again unchanged") {
      const auto events = decide_register(state, registration("host-1"), {});
      THEN("only a new agent token is issued") {
        REQUIRE(events->size() == 1);
        CHECK(std::holds_alternative<AgentTokenIssued>(events->front()));
      }
    }
    WHEN("it registers again with a new version and no labels field") {
      Registration again;
      again.instance_id = "host-1";
      again.version = "1.1";
      commit(state, *decide_register(state, again, {}), 2000);
      THEN("only the version changes; absent fields keep their value") {
        CHECK(*state.profile.version == "1.1");
        CHECK(state.profile.labels->at("env") == "prod");
        CHECK(state.version == 4);  // + AgentUpdated, AgentTokenIssued
      }
    }
    WHEN("it reports degraded, times out, and comes back") {
      HeartbeatReport degraded;
      degraded.status = AgentStatus::degraded;
      const auto first = decide_heartbeat(state, degraded, 2000);
      CHECK(types_of(*first) == std::vector<std::string>{"AgentStatusChanged"});
      commit(state, *first, 2000);
      CHECK(state.status == AgentStatus::degraded);
      CHECK(state.status_since_ms == 2000);

      CHECK(decide_timeout(state, 2000, 5000, 3000, 4999).empty());
      const auto timeout = decide_timeout(state, 2000, 5000, 3000, 5000);
      CHECK(types_of(timeout) == std::vector<std::string>{"AgentWentOffline"});
      commit(state, timeout, 5000);
      CHECK(state.status == AgentStatus::offline);
      CHECK(decide_timeout(state, 2000, 5000, 3000, 9000).empty());

      HeartbeatReport plain;
      plain.version = "2.0";
      const auto back = decide_heartbeat(state, plain, 7000);
      CHECK(types_of(*back) == std::vector<std::string>{"AgentUpdated", "AgentCameOnline"});
      commit(state, *back, 7000);
      CHECK(state.status == AgentStatus::online);
      CHECK(state.online_since_ms == 7000);
      CHECK(*state.profile.version == "2.0");
    }
    WHEN("an operator deregisters it") {
      commit(state, *decide_deregister(state), 3000);
      THEN("heartbeats are refused until it registers again, under the same id") {
        const auto refused = decide_heartbeat(state, {}, 3000);
        REQUIRE_FALSE(refused.ok());
        CHECK(refused.error().reason == kAgentNotRegistered);
        CHECK(decide_deregister(state)->empty());
        commit(state, *decide_register(state, registration("host-1"), {}), 4000);
        CHECK(state.status == AgentStatus::online);
        CHECK(state.agent_id == kAgent);
        CHECK(state.registered_at_ms == 4000);
      }
    }
    WHEN("an operator decommissions it") {
      commit(state, *decide_decommission(state), 3000);
      THEN("it can never register or heartbeat again") {
        CHECK(decide_register(state, registration("host-1"), {}).error().reason ==
              kAgentDecommissioned);
        CHECK(decide_heartbeat(state, {}, 3000).error().reason == kAgentDecommissioned);
        CHECK(decide_deregister(state).error().reason == kAgentDecommissioned);
        CHECK(decide_decommission(state)->empty());
      }
    }
  }
  GIVEN("an id nobody registered") {
    AgentState unknown;
    CHECK(decide_heartbeat(unknown, {}, 0).error().reason == kAgentNotFound);
    CHECK(decide_deregister(unknown).error().reason == kAgentNotFound);
    CHECK(decide_decommission(unknown).error().reason == kAgentNotFound);
  }
}

TEST_CASE("apply refuses events it cannot fold and leaves the state unchanged") {
  AgentState state = registered_agent();
  const AgentState before = state;
  const auto refuse = [&](Event event) {
    const Status folded = apply(state, event);
    REQUIRE_FALSE(folded.ok());
    CHECK(folded.error().code == ErrorCode::corruption);
    CHECK(state == before);
  };
  refuse(Event{3, kStream, 4, "AgentDeregistered", 1, 1, "{}", "{}"});  // version gap
  refuse(Event{3, "agent:00000000-0000-4000-8000-000000000001", 3, "AgentDeregistered", 1, 1, "{}", "{}"});
  refuse(Event{3, "apikey:0123456789abcdef", 3, "AgentDeregistered", 1, 1, "{}", "{}"});  // not an agent's
  refuse(Event{3, kStream, 3, "AgentTeleported", 1, 1, "{}", "{}"});                    // unknown type
  refuse(Event{3, kStream, 3, "AgentDeregistered", 1, 1, "not json", "{}"});            // bad payload
  refuse(Event{3, kStream, 3, "AgentDeregistered", 1, 9, "{}", "{}"});                  // newer schema
  refuse(Event{3, kStream, 3, "AgentStatusChanged", 1, 1, R"({"to":"OFFLINE"})", "{}"});
  refuse(Event{3, kStream, 3, "AgentUpdated", 1, 1, R"({"changes":{"labels":[1]}})", "{}"});
  refuse(Event{3, kStream, 3, "AgentTokenIssued", 1, 1, R"({"token_sha256":7})", "{}"});
  refuse(Event{3, kStream, 3, "AgentTokenIssued", 1, 1, R"({"token_sha256":"abc"})", "{}"});
  AgentState fresh;
  CHECK_FALSE(apply(fresh, Event{1, kStream, 1, "AgentCameOnline", 1, 1, R"({"status":"ONLINE"})", "{}"}).ok());
}

TEST_CASE("agent statuses parse case-insensitively and print upper case") {
  CHECK(parse_agent_status("online") == AgentStatus::online);
  CHECK(parse_agent_status("DeGrAdEd") == AgentStatus::degraded);
  CHECK_FALSE(parse_agent_status("gone").has_value());
  CHECK(std::string(to_string(AgentStatus::offline)) == "OFFLINE");
}

SCENARIO("an agent accepts its current token, and its previous one only within the grace period") {
  AgentState state = fresh_agent_state(kAgent);
  Admission admission;
  admission.agent_token = digest("first");
  commit(state, *decide_register(state, registration("host-1"), admission), 1000);
  CHECK(authenticate_agent(state, digest("first"), 1000).ok());
  const Status wrong = authenticate_agent(state, digest("other"), 1000);
  REQUIRE_FALSE(wrong.ok());
  CHECK(wrong.error().code == ErrorCode::unauthenticated);
  CHECK(wrong.error().reason == kInvalidAgentToken);
  CHECK_FALSE(authenticate_agent(state, Sha256{}, 1000).ok());

  WHEN("the agent rotates its token with a grace period until t=5000") {
    commit(state, *decide_rotate_token(state, RotatedBy::agent, digest("second"), 5000, 2000), 2000);
    THEN("both work for heartbeats until then, only the new one after") {
      CHECK(authenticate_agent(state, digest("second"), 2000).ok());
      CHECK(authenticate_agent(state, digest("first"), 4999, PreviousToken::accepted).ok());
      CHECK_FALSE(authenticate_agent(state, digest("first"), 5000, PreviousToken::accepted).ok());
      CHECK(authenticate_agent(state, digest("second"), 9000).ok());
    }
    THEN("the replaced token does nothing but heartbeat, as a wrong one") {
      const Status refused = authenticate_agent(state, digest("first"), 3000, PreviousToken::refused);
      REQUIRE_FALSE(refused.ok());
      CHECK(refused.error().code == ErrorCode::unauthenticated);
      CHECK(refused.error().reason == kInvalidAgentToken);
      AgentAccess with_old;
      with_old.token = digest("first");
      CHECK(check_agent_access(state, with_old, 3000).error().reason == kInvalidAgentToken);
      CHECK(check_agent_access(state, with_old, 3000, PreviousToken::accepted).ok());
    }
    AND_WHEN("the agent rotates again within the grace period") {
      commit(state, *decide_rotate_token(state, RotatedBy::agent, digest("third"), 6000, 3000), 3000);
      THEN("the first token is dead at once, the second in grace") {
        CHECK_FALSE(authenticate_agent(state, digest("first"), 3000, PreviousToken::accepted).ok());
        CHECK(authenticate_agent(state, digest("second"), 3000, PreviousToken::accepted).ok());
        CHECK(authenticate_agent(state, digest("third"), 3000).ok());
      }
    }
  }
  WHEN("an operator rotates the token") {
    commit(state, *decide_rotate_token(state, RotatedBy::operator_, digest("second"), 5000, 2000), 2000);
    THEN("the old one has no grace period at all") {
      CHECK(authenticate_agent(state, digest("second"), 2000).ok());
      CHECK_FALSE(authenticate_agent(state, digest("first"), 2000, PreviousToken::accepted).ok());
      CHECK(authenticate_agent(state, digest("first"), 2000, PreviousToken::accepted).error().reason ==
            kInvalidAgentToken);
    }
  }
  WHEN("the instance registers again") {
    admission.agent_token = digest("again");
    commit(state, *decide_register(state, registration("host-1"), admission), 2000);
    THEN("the old token dies at once") {
      CHECK(authenticate_agent(state, digest("again"), 2000).ok());
      CHECK_FALSE(authenticate_agent(state, digest("first"), 2000).ok());
    }
  }
  WHEN("it is deregistered or decommissioned") {
    AgentState retired = state;
    commit(state, *decide_deregister(state), 2000);
    commit(retired, *decide_decommission(retired), 2000);
    THEN("no token works, and a rotation is refused") {
      CHECK_FALSE(authenticate_agent(state, digest("first"), 2000).ok());
      CHECK_FALSE(authenticate_agent(retired, digest("first"), 2000).ok());
      CHECK(decide_rotate_token(state, RotatedBy::operator_, digest("x"), 9000, 2000).error().reason ==
            kAgentNotRegistered);
      CHECK(decide_rotate_token(retired, RotatedBy::operator_, digest("x"), 9000, 2000).error().reason ==
            kAgentDecommissioned);
    }
    THEN("its own token is told why (no failed login); a wrong one is refused as wrong") {
      const Status deregistered = authenticate_agent(state, digest("first"), 2000, PreviousToken::accepted);
      CHECK(deregistered.error().code == ErrorCode::not_found);
      CHECK(deregistered.error().reason == kAgentNotRegistered);
      const Status decommissioned = authenticate_agent(retired, digest("first"), 2000);
      CHECK(decommissioned.error().code == ErrorCode::conflict);
      CHECK(decommissioned.error().reason == kAgentDecommissioned);
      CHECK(authenticate_agent(state, digest("other"), 2000).error().code == ErrorCode::unauthenticated);
      CHECK(authenticate_agent(retired, digest("other"), 2000).error().code == ErrorCode::unauthenticated);
    }
  }
}

TEST_CASE("registration records the enrollment token's organization and stamps its labels") {
  AgentState state = fresh_agent_state(kAgent);
  Admission admission;
  admission.org = "acme";
  admission.enrollment_token_id = "0123456789abcdef";
  admission.labels = {{"env", "staging"}, {"team", "edge"}};
  const auto events = decide_register(state, registration("host-1"), admission);
  REQUIRE(events.ok());
  CHECK(types_of(*events) == std::vector<std::string>{"AgentRegistered", "AgentTokenIssued"});
  commit(state, *events, 1000);
  CHECK(*state.org == "acme");
  // The token's labels win over the agent's own; the agent's others stay.
  CHECK(*state.profile.labels == std::map<std::string, std::string>{{"env", "staging"}, {"team", "edge"}});
  CHECK(std::get<AgentTokenIssued>(events->back()).enrollment_token_id == std::optional<std::string>("0123456789abcdef"));

  SUBCASE("re-registering without labels keeps the stamp") {
    Registration bare;
    bare.instance_id = "host-1";
    commit(state, *decide_register(state, bare, admission), 2000);
    CHECK(state.profile.labels->at("env") == "staging");
  }
  SUBCASE("another organization's caller cannot see it; its own and unscoped callers can") {
    CHECK(check_org_scope(state, "acme").ok());
    CHECK(check_org_scope(state, "*").ok());
    CHECK(check_org_scope(state, "globex").error().reason == kAgentNotFound);
    CHECK(check_org_scope(fresh_agent_state(kAgent), "*").error().reason == kAgentNotFound);
  }
}

TEST_CASE("agents of data directories from before stream kinds and organizations fold as they did") {
  AgentState state;
  // A bare agent id as the stream; no org in the registration.
  const Event old{1,
                  kAgentText,
                  1,
                  "AgentRegistered",
                  1000,
                  1,
                  nlohmann::json{{"agent_id", kAgentText}, {"instance_id", "host-1"}}.dump(),
                  "{}"};
  REQUIRE(apply(state, old).ok());
  CHECK(*state.org == "default");
  CHECK(state.agent_id == kAgent);
  CHECK(state.legacy_stream);
  CHECK(state.stream() == kAgentText);
  CHECK_FALSE(state.credentials.has_token);
  // Its later events are in the same bare stream, and only there.
  const Event issued{2, kAgentText, 2, "AgentTokenIssued", 1000, 1,
                     nlohmann::json{{"token_sha256", sha256_hex("t")}, {"enrollment_token_id", "0123456789abcdef"}}.dump(),
                     "{}"};
  REQUIRE(apply(state, issued).ok());
  CHECK(authenticate_agent(state, digest("t"), 1000).ok());
  CHECK_FALSE(apply(state, Event{3, kStream, 3, "AgentDeregistered", 1, 1, "{}", "{}"}).ok());
}

TEST_CASE("an agent's state survives its snapshot encoding, and damaged bytes are refused") {
  AgentState state = registered_agent(1000);
  HeartbeatReport degraded;
  degraded.status = AgentStatus::degraded;
  degraded.version = "3.1";
  commit(state, *decide_heartbeat(state, degraded, 2000), 2000);
  commit(state, *decide_rotate_token(state, RotatedBy::agent, digest("next"), 9000, 3000), 3000);
  const std::string bytes = encode_agent_state(state);
  const auto decoded = decode_agent_state(bytes);
  REQUIRE(decoded.ok());
  CHECK(*decoded == state);
  for (std::size_t cut = 0; cut < bytes.size(); ++cut) {
    CAPTURE(cut);
    CHECK_FALSE(decode_agent_state(bytes.substr(0, cut)).ok());
  }
  CHECK_FALSE(decode_agent_state(bytes + "x").ok());
  std::string other_format = bytes;
  other_format[0] = 99;
  CHECK_FALSE(decode_agent_state(other_format).ok());
}

TEST_CASE("regression: a made-up agent token answers the same on an unknown agent as on a known one") {
  AgentAccess made_up;
  made_up.token = digest("made up");
  const Status on_unknown = check_agent_access(fresh_agent_state(kAgent), made_up, 1000, PreviousToken::accepted);
  const Status on_known = check_agent_access(registered_agent(), made_up, 1000, PreviousToken::accepted);
  REQUIRE_FALSE(on_unknown.ok());
  REQUIRE_FALSE(on_known.ok());
  CHECK(on_unknown.error().code == ErrorCode::unauthenticated);
  CHECK(on_unknown.error().reason == kInvalidAgentToken);
  CHECK(on_unknown.error().message == on_known.error().message);
  CHECK(on_known.error().reason == kInvalidAgentToken);
  // An operator (no token) still learns that there is no such agent.
  CHECK(check_agent_access(fresh_agent_state(kAgent), AgentAccess{}, 1000).error().reason == kAgentNotFound);
}

TEST_CASE("regression: a deregistered agent's token in its grace period is told to register again") {
  AgentState state = fresh_agent_state(kAgent);
  Admission admission;
  admission.agent_token = digest("first");
  commit(state, *decide_register(state, registration("host-1"), admission), 1000);
  commit(state, *decide_rotate_token(state, RotatedBy::agent, digest("second"), 5000, 2000), 2000);
  commit(state, *decide_deregister(state), 3000);
  CHECK(authenticate_agent(state, digest("first"), 4000, PreviousToken::accepted).error().reason ==
        kAgentNotRegistered);
  CHECK(authenticate_agent(state, digest("second"), 4000).error().reason == kAgentNotRegistered);
  // Past the grace period the replaced token is just wrong.
  CHECK(authenticate_agent(state, digest("first"), 5000, PreviousToken::accepted).error().reason ==
        kInvalidAgentToken);
  // Registering again replaces both.
  admission.agent_token = digest("third");
  commit(state, *decide_register(state, registration("host-1"), admission), 4000);
  CHECK(authenticate_agent(state, digest("second"), 4000).error().reason == kInvalidAgentToken);
  CHECK(authenticate_agent(state, digest("third"), 4000).ok());
}

SCENARIO("regression: a flapping agent's status and version changes are limited per window") {
  AgentState state = registered_agent(1000);
  HeartbeatReport degraded;
  degraded.status = AgentStatus::degraded;
  HeartbeatReport online;
  online.status = AgentStatus::online;
  TimeMs now = 1000;
  // Flap every 10 ms: the first kMaxChangesPerWindow changes are events.
  for (int flap = 0; flap < kMaxChangesPerWindow; ++flap) {
    now += 10;
    const auto events = decide_heartbeat(state, flap % 2 == 0 ? degraded : online, now);
    REQUIRE(events->size() == 1);
    commit(state, *events, now);
  }
  CHECK(state.changes_in_window == kMaxChangesPerWindow);
  CHECK(state.change_window_start_ms == 1010);
  const AgentStatus recorded = state.status;

  WHEN("it keeps flapping within the window") {
    THEN("its heartbeats are answered with nothing to append") {
      for (int flap = 0; flap < 100; ++flap) {
        now += 10;
        HeartbeatReport report = flap % 2 == 0 ? degraded : online;
        report.version = "9." + std::to_string(flap);
        CHECK(decide_heartbeat(state, report, now)->empty());
      }
      CHECK(state.status == recorded);
    }
  }
  WHEN("one more change would pass the limit by two") {
    // A version and a status at once need two slots: neither is recorded alone.
    AgentState almost = registered_agent(1000);
    for (int flap = 0; flap < kMaxChangesPerWindow - 1; ++flap) {
      commit(almost, *decide_heartbeat(almost, flap % 2 == 0 ? degraded : online, 1010), 1010);
    }
    HeartbeatReport both = almost.status == AgentStatus::online ? degraded : online;
    both.version = "2.0";
    CHECK(decide_heartbeat(almost, both, 1020)->empty());
    HeartbeatReport version_only;
    version_only.version = "2.0";
    CHECK(decide_heartbeat(almost, version_only, 1020)->size() == 1);
  }
  WHEN("the window ends") {
    now = state.change_window_start_ms + kChangeWindowMs;
    THEN("the next heartbeat records what it reports, in a new window") {
      HeartbeatReport report = recorded == AgentStatus::online ? degraded : online;
      report.version = "2.0";
      const auto events = decide_heartbeat(state, report, now);
      CHECK(types_of(*events) == std::vector<std::string>{"AgentUpdated", "AgentStatusChanged"});
      commit(state, *events, now);
      CHECK(state.changes_in_window == 2);
      CHECK(state.change_window_start_ms == now);
    }
  }
  WHEN("it went offline meanwhile") {
    commit(state, decide_timeout(state, now, now, 1, now), now + 1);
    THEN("coming back online is never held back; the limited version change is") {
      HeartbeatReport report = degraded;
      report.version = "2.0";
      const auto events = decide_heartbeat(state, report, now + 2);
      CHECK(types_of(*events) == std::vector<std::string>{"AgentCameOnline"});
      commit(state, *events, now + 2);
      CHECK(state.status == AgentStatus::degraded);
    }
  }
}

TEST_CASE("snapshots of the format before change windows still read, with an empty window") {
  AgentState state = registered_agent(1000);
  commit(state, *decide_rotate_token(state, RotatedBy::agent, digest("next"), 9000, 3000), 3000);
  REQUIRE(state.changes_in_window == 0);
  // Format 1 is format 3 without its last three fields (an empty window:
  // one byte each; the offline reason: one byte).
  std::string format_1 = encode_agent_state(state);
  format_1.resize(format_1.size() - 3);
  format_1[0] = 1;
  const auto decoded = decode_agent_state(format_1);
  REQUIRE(decoded.ok());
  CHECK(*decoded == state);
  CHECK_FALSE(decode_agent_state(format_1 + "x").ok());
}

SCENARIO("an agent's own reports are recorded, and a termination notice takes it offline at once") {
  GIVEN("an online agent") {
    AgentState state = registered_agent(1000);
    const std::uint64_t version = state.version;
    WHEN("it reports a rebalance recommendation") {
      AgentReported report{"rebalance_recommendation", 1500, {{"in", "2m"}}};
      const auto events = decide_report(state, report, 2000);
      REQUIRE(events.ok());
      CHECK(types_of(*events) == std::vector<std::string>{"AgentReported"});
      const AgentState before = state;
      commit(state, *events, 2000);
      THEN("it is recorded and changes nothing but the stream's version") {
        CHECK(std::get<AgentReported>(events->front()).data.at("in") == "2m");
        CHECK(state.status == AgentStatus::online);
        CHECK(state.version == version + 1);
        CHECK(state.status_since_ms == before.status_since_ms);
        CHECK(state.changes_in_window == before.changes_in_window);
      }
    }
    WHEN("it says it disconnects (OpAMP's AgentDisconnect)") {
      const auto events = decide_report(state, report_of("disconnect", 1900), 2000);
      REQUIRE(events.ok());
      CHECK(types_of(*events) == std::vector<std::string>{"AgentReported", "AgentWentOffline"});
      commit(state, *events, 2000);
      THEN("it is OFFLINE now, with that reason") {
        CHECK(state.status == AgentStatus::offline);
        CHECK(state.offline_reason == OfflineReason::agent_disconnect);
        CHECK(to_json(state).at("status_reason") == "agent disconnect");
      }
    }
    WHEN("it reports its termination") {
      const auto events = decide_report(state, report_of("termination", 1900), 2000);
      REQUIRE(events.ok());
      CHECK(types_of(*events) == std::vector<std::string>{"AgentReported", "AgentWentOffline"});
      const auto& offline = std::get<AgentWentOffline>(events->back());
      CHECK(offline.reason == OfflineReason::termination_notice);
      CHECK(offline.last_seen_ms == 2000);
      commit(state, *events, 2000);
      THEN("it is OFFLINE now, with the reason") {
        CHECK(state.status == AgentStatus::offline);
        CHECK(state.status_since_ms == 2000);
        CHECK(state.offline_reason == OfflineReason::termination_notice);
        CHECK(to_json(state).at("status_reason") == "termination notice");
      }
      THEN("a second notice is only recorded") {
        CHECK(types_of(*decide_report(state, report_of("termination", 2100), 2200)) ==
              std::vector<std::string>{"AgentReported"});
      }
      THEN("its next heartbeat brings it back online, as after a timeout") {
        commit(state, *decide_heartbeat(state, {}, 3000), 3000);
        CHECK(state.status == AgentStatus::online);
        CHECK_FALSE(to_json(state).contains("status_reason"));
      }
    }
    WHEN("it goes silent past its timeout") {
      const auto events = decide_timeout(state, 1000, 121000, 120000, 121000);
      REQUIRE(events.size() == 1);
      commit(state, events, 121000);
      THEN("the reason is the heartbeat timeout") {
        CHECK(std::get<AgentWentOffline>(events.front()).reason == OfflineReason::heartbeat_timeout);
        CHECK(to_json(state).at("status_reason") == "heartbeat timeout");
      }
    }
  }
  GIVEN("agents that cannot be used") {
    AgentState deregistered = registered_agent(1000);
    commit(deregistered, *decide_deregister(deregistered), 2000);
    AgentState decommissioned = registered_agent(1000);
    commit(decommissioned, *decide_decommission(decommissioned), 2000);
    THEN("their reports are refused like heartbeats") {
      const AgentReported report{"termination", 0, {}};
      CHECK(decide_report(deregistered, report, 3000).error().reason == kAgentNotRegistered);
      CHECK(decide_report(decommissioned, report, 3000).error().reason == kAgentDecommissioned);
      CHECK(decide_report(fresh_agent_state(kAgent), report, 3000).error().reason == kAgentNotFound);
    }
  }
}

TEST_CASE(
    "a report through the agent's aggregate needs the agent's own token and counts as hearing from it") {
  AgentState state = registered_agent(1000);
  Admission admission;
  admission.agent_token = digest("agent-token");
  commit(state, *decide_register(state, registration("host-1"), admission), 1000);
  AgentDecideContext context;
  context.now_ms = 5000;
  context.last_seen_ms = 1000;
  AgentAccess access;
  access.token = digest("agent-token");
  const auto recorded =
      AgentAggregate::decide(state, RecordAgentReport{access, report_of("crash", 4000)}, context);
  REQUIRE(recorded.ok());
  CHECK(context.heard);
  CHECK(context.last_seen_ms == 5000);
  access.token = digest("another agent's token");
  AgentDecideContext refused_context;
  const auto refused =
      AgentAggregate::decide(state, RecordAgentReport{access, report_of("crash", 4000)}, refused_context);
  CHECK(refused.error().reason == kInvalidAgentToken);
  CHECK_FALSE(refused_context.heard);
}

TEST_CASE("snapshots keep the offline reason - those from before it read as a heartbeat timeout") {
  AgentState state = registered_agent(1000);
  commit(state, *decide_report(state, report_of("termination", 1500), 2000), 2000);
  REQUIRE(state.offline_reason == OfflineReason::termination_notice);
  const std::string format_3 = encode_agent_state(state);
  const auto decoded = decode_agent_state(format_3);
  REQUIRE(decoded.ok());
  CHECK(*decoded == state);
  // Format 2 is format 3 without its last byte.
  std::string format_2 = format_3.substr(0, format_3.size() - 1);
  format_2[0] = 2;
  const auto old = decode_agent_state(format_2);
  REQUIRE(old.ok());
  CHECK(old->offline_reason == OfflineReason::heartbeat_timeout);
  std::string bad_reason = format_3;
  bad_reason.back() = 7;
  CHECK_FALSE(decode_agent_state(bad_reason).ok());
}
