// Stopping `muster serve` with SIGTERM and starting it again on the same data
// directory gives back the same fleet: the same agents, counts and events; and
// agents whose heartbeat deadline passed while it was down get one full
// timeout from the restart before they are marked OFFLINE.

#include "tests/e2e/e2e_helpers.hpp"

namespace muster::e2e {
namespace {

using namespace std::chrono_literals;

// Everything a user can read about the fleet, minus what depends on the time
// of reading.
struct FleetSnapshot {
  json listed;  ///< GET /api/v1/agents, all pages.
  json stats;
  std::map<std::string, json> agents;   ///< GET /api/v1/agents/{id} of every agent ever registered.
  std::map<std::string, json> streams;  ///< Each agent's events.
  json log;                             ///< The global log.
};

// The parts of GET /api/v1/agents/{id} that change with the time of reading,
// and the metrics, which are documented to live in memory only.
json without_time_dependent_fields(json agent) {
  if (agent.contains("health")) {
    for (const char* field :
         {"seconds_since_last_seen", "uptime_seconds", "health", "health_score", "metrics"}) {
      agent["health"].erase(field);
    }
  }
  return agent;
}

FleetSnapshot take_snapshot(const MusterServer& server) {
  FleetSnapshot snapshot;
  const std::uint64_t head = log_position(server);
  snapshot.stats = stats(server, head);
  snapshot.listed = list_agents(server, "", head);
  const std::vector<json> log = log_events(server);
  snapshot.log = log;
  for (const std::string& agent_id : ids_of(log)) {
    snapshot.agents[agent_id] = without_time_dependent_fields(get_agent(server, agent_id, head));
    snapshot.streams[agent_id] = stream_events(server, agent_id);
  }
  return snapshot;
}

void check_same(const FleetSnapshot& before, const FleetSnapshot& after) {
  CHECK(after.stats == before.stats);
  CHECK(after.listed == before.listed);
  CHECK(after.log == before.log);
  CHECK(after.agents.size() == before.agents.size());
  for (const auto& entry : before.agents) {
    const auto& agent_id = entry.first;
    const auto& agent = entry.second;
    INFO("agent " << agent_id);
    REQUIRE(after.agents.count(agent_id) == 1);
    CHECK(after.agents.at(agent_id) == agent);
    CHECK(after.streams.at(agent_id) == before.streams.at(agent_id));
  }
}

}  // namespace

TEST_CASE("restart: SIGTERM and a new server on the same data give back the identical fleet") {
  TempDir dir;
  const std::string data = dir.file("data");
  {
    // An agent left silent until it is OFFLINE (the short timeout is only for this phase).
    MusterServer server(data, {"--heartbeat-timeout", "1s"});
    const Registered sleepy = register_agent(server, "sleepy", {{"version", "1.0"}, {"type", "edge"}});
    REQUIRE(eventually([&] { return get_agent(server, sleepy.agent_id)["status"] == "OFFLINE"; }, 10s));
    REQUIRE(server.terminate() == 0);
  }
  FleetSnapshot before;
  std::string online_id;
  {
    MusterServer server(data);
    const json profile = {
        {"name", "n"},    {"hostname", "h.example"},    {"ip_address", "2001:db8::1"}, {"version", "1.0"},
        {"type", "core"}, {"capabilities", {"a", "b"}}, {"labels", {{"env", "prod"}}}};
    const Registered online = register_agent(server, "online", profile);
    online_id = online.agent_id;
    heartbeat(server, online.agent_id, {{"metrics", {{"cpu", 0.25}}}});
    const Registered degraded = register_agent(server, "degraded", profile);
    heartbeat(server, degraded.agent_id, {{"status", "degraded"}});
    register_agent(server, "updated", profile);
    register_agent(server, "updated", {{"version", "2.0"}, {"labels", {{"env", "dev"}}}});
    const Registered gone = register_agent(server, "gone", profile);
    REQUIRE(server.del("/api/v1/agents/" + gone.agent_id).status == 200);
    const Registered retired = register_agent(server, "retired", profile);
    REQUIRE(server.post("/api/v1/agents/" + retired.agent_id + "/decommission", "").status == 200);
    const Registered back = register_agent(server, "back", profile);
    REQUIRE(server.del("/api/v1/agents/" + back.agent_id).status == 200);
    register_agent(server, "back", {{"version", "3.0"}});
    before = take_snapshot(server);
    REQUIRE(server.terminate() == 0);
  }
  // The fleet is as varied as intended, so the comparison means something.
  REQUIRE(before.agents.size() == 7);
  CHECK(before.stats["by_status"] == json({{"ONLINE", 3}, {"DEGRADED", 1}, {"OFFLINE", 1}}));
  CHECK(before.stats["total"] == 5);

  MusterServer server(data);
  const FleetSnapshot after = take_snapshot(server);
  check_same(before, after);

  // Agents keep their tokens across the restart.
  CHECK(heartbeat(server, online_id)["status"] == "ONLINE");

  // New writes continue the log after its head (and after the enrollment
  // token this server's first registration makes).
  const std::uint64_t head = before.stats["log_position"];
  const Registered fresh = register_agent(server, "fresh");
  CHECK(fresh.status == 201);
  CHECK(fresh.position == head + kEnrollmentTokenEvents + kEnrollmentUseEvents + kNewAgentEvents);
  const Registered known = register_agent(server, "online");
  CHECK(known.status == 200);
  CHECK(known.agent_id == online_id);
}

TEST_CASE("restart: deadlines that passed while the server was down get one full timeout from startup") {
  TempDir dir;
  const std::string data = dir.file("data");
  constexpr TimeMs kTimeoutMs = 2000;
  std::vector<std::string> agent_ids;
  TimeMs last_seen_ms = 0;
  {
    MusterServer server(data, {"--heartbeat-timeout", "2s"});
    for (const char* instance_id : {"first", "second"}) {
      const Registered registered = register_agent(server, instance_id);
      const json beat = heartbeat(server, registered.agent_id);
      agent_ids.push_back(registered.agent_id);
      last_seen_ms = std::max(last_seen_ms,
                              time_of(get_agent(server, registered.agent_id, beat["position"])["last_seen"]));
    }
    REQUIRE(server.terminate() == 0);
  }
  // Down for longer than the timeout.
  wait_until_clock_passes(last_seen_ms + kTimeoutMs + 200);

  // The restarted server's clock starts at the real time and then moves only
  // when the test says: however slowly it starts, "at once" is exact.
  MusterServer server(data, {"--heartbeat-timeout", "2s", "--enable-test-hooks", "--test-manual-clock"});
  const TimeMs started_ms = advance_clock(server, 0);
  REQUIRE(started_ms > last_seen_ms + kTimeoutMs);
  for (const std::string& agent_id : agent_ids) {
    json agent = get_agent(server, agent_id, log_position(server));
    CHECK(agent["status"] == "ONLINE");
    CHECK(time_of(agent["last_seen"]) == time_of(agent["health"]["last_seen"]));
    CHECK(stream_types(server, agent_id) == std::vector<std::string>{"AgentRegistered", "AgentTokenIssued"});
  }

  // Still ONLINE just before one timeout after the start...
  advance_clock(server, kTimeoutMs - 100);
  heartbeat(server, register_agent(server, "witness").agent_id);  // a round trip after the timer ran
  for (const std::string& agent_id : agent_ids) {
    CHECK(get_agent(server, agent_id, log_position(server))["status"] == "ONLINE");
  }
  // ...and OFFLINE once it has passed, stamped with the server's time.
  const TimeMs moved_to = advance_clock(server, 200);
  REQUIRE(eventually(
      [&] {
        for (const std::string& agent_id : agent_ids) {
          if (get_agent(server, agent_id)["status"] != "OFFLINE") return false;
        }
        return true;
      },
      10s));
  for (const std::string& agent_id : agent_ids) {
    const std::vector<json> events = stream_events(server, agent_id);
    REQUIRE(types_of(events) ==
            std::vector<std::string>{"AgentRegistered", "AgentTokenIssued", "AgentWentOffline"});
    const TimeMs offline_ms = time_of(events.back()["time"]);
    CHECK(offline_ms >= started_ms + kTimeoutMs);
    CHECK(offline_ms <= moved_to);
  }
}

TEST_CASE("restart: a start that folds a long log says how far it got, how fast, out of how much") {
  TempDir dir;
  const std::string data = dir.file("data");
  std::uint64_t head = 0;
  {
    // No snapshot before the kill: the next start folds the whole log, more than one batch of it.
    MusterServer server(data, {"--snapshot-interval", "1h"});
    register_many(server, 1600, "progress-", json::object());
    head = log_position(server);
    REQUIRE(head > 4096);
    server.kill9();
  }
  MusterServer server(data);
  std::vector<json> progress;
  for (const std::string& line : lines_of(server.log_text())) {
    const json entry = json::parse(line, nullptr, false);
    if (entry.is_object() && entry.value("msg", "") == "folding the log") progress.push_back(entry);
  }
  REQUIRE_FALSE(progress.empty());
  const json& first = progress.front();
  CHECK(first.at("log_position") == head);
  CHECK(first.at("position").get<std::uint64_t>() < head);
  CHECK(first.at("percent").get<int>() < 100);
  CHECK(first.at("events_folded").get<std::uint64_t>() > 0);
  CHECK(first.contains("events_per_second"));
}

}  // namespace muster::e2e
