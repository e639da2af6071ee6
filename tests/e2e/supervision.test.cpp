// An agent's actor that fails is rebuilt from its stream by the supervisor:
// the request caught in the failure answers 503 AGENT_UNAVAILABLE promptly,
// later requests work, and nothing of the agent's state is lost or doubled.
// Uses the test hook POST /_test/agents/{id}/crash (--enable-test-hooks).

#include "tests/e2e/e2e_helpers.hpp"

namespace muster::e2e {
namespace {

using namespace std::chrono_literals;

constexpr auto kPromptAnswer = 5s;

void arm_crash(const MusterServer& server, const std::string& agent_id) {
  const HttpAnswer armed = server.post("/_test/agents/" + agent_id + "/crash", "");
  INFO("arm: " << armed.status << " " << armed.body);
  REQUIRE(armed.status == 200);
}

// Sends `body` to `path`; checks that it fails as a crashed actor's request
// must: promptly, 503, AGENT_UNAVAILABLE, Retry-After.
void check_fails_promptly(const MusterServer& server, const std::string& path, const json& body) {
  const auto sent = std::chrono::steady_clock::now();
  const HttpAnswer answer = server.post(path, body.dump());
  const auto took = std::chrono::steady_clock::now() - sent;
  CHECK(took < kPromptAnswer);
  check_error(answer, 503, "AGENT_UNAVAILABLE");
  CHECK_FALSE(header_of(answer, "Retry-After").empty());
}

}  // namespace

TEST_CASE("supervision: a crashed agent actor answers 503 once, is rebuilt, and keeps its state") {
  TempDir dir;
  MusterServer server(dir.file("data"), {"--enable-test-hooks"});
  const Registered registered =
      register_agent(server, "fragile", {{"version", "4.2"}, {"labels", {{"env", "prod"}, {"tier", "db"}}}});
  const std::string& agent_id = registered.agent_id;
  const Registered bystander = register_agent(server, "bystander");
  json beat = heartbeat(server, agent_id, {{"status", "degraded"}});
  const std::uint64_t before_crash = beat["position"];
  const std::vector<json> events_before = stream_events(server, agent_id);

  // What the failed request appends: nothing (a registration of a known
  // instance spends no use of its enrollment token).
  const std::uint64_t after_crash = before_crash;
  SUBCASE("a heartbeat caught in the failure") {
    arm_crash(server, agent_id);
    check_fails_promptly(server, "/api/v1/agents/" + agent_id + "/heartbeat", {{"status", "degraded"}});
  }
  SUBCASE("a re-registration caught in the failure") {
    arm_crash(server, agent_id);
    check_fails_promptly(server, "/api/v1/agents/register",
                         registration_body("fragile", {{"version", "5.0"}}));
    // A known instance registering again spends no use: nothing was appended.
  }

  // Other agents are unaffected.
  CHECK(log_position(server) == after_crash);
  heartbeat(server, bystander.agent_id);
  CHECK(
      eventually([&] { return server.log_text().find("\"restarting agent actor\"") != std::string::npos; }));

  // The rebuilt actor serves again, from the same state.
  beat = heartbeat(server, agent_id, {{"status", "degraded"}});
  CHECK(beat["status"] == "DEGRADED");
  CHECK(beat["position"] == before_crash);
  json agent = get_agent(server, agent_id, before_crash);
  CHECK(agent["status"] == "DEGRADED");
  CHECK(agent["version"] == "4.2");
  CHECK(agent["labels"] == json({{"env", "prod"}, {"tier", "db"}}));
  CHECK(agent["stream_version"] == events_before.size());
  CHECK(stream_events(server, agent_id) == events_before);

  // And it still decides correctly: a change appends exactly what it should,
  // and every registration ends with the new token it issued.
  const Registered updated = register_agent(server, "fragile", {{"version", "5.0"}});
  CHECK(updated.agent_id == agent_id);
  CHECK(updated.position == after_crash + 3);
  CHECK(stream_types(server, agent_id) == std::vector<std::string>{"AgentRegistered", "AgentTokenIssued",
                                                                   "AgentStatusChanged", "AgentUpdated",
                                                                   "AgentStatusChanged", "AgentTokenIssued"});
  agent = get_agent(server, agent_id, log_position(server));
  CHECK(agent["version"] == "5.0");
  CHECK(agent["status"] == "ONLINE");
}

}  // namespace muster::e2e
