// A data directory written by an earlier muster keeps opening and serving
// the same state: agents in streams named by their bare id, API keys made
// before organizations, enrollment tokens whose uses were counted from the
// agents' v1 AgentTokenIssued events. The log is written here with the
// store alone, event by event as the earlier versions wrote them; then the
// real server opens it.

#include "eventstore/rocksdb_storage.hpp"

#include <fstream>

#include "common/secrets.hpp"
#include "tests/e2e/e2e_helpers.hpp"

namespace muster::e2e {
namespace {

constexpr const char* kKeyId = "0a1b2c3d4e5f6071";
constexpr const char* kKeySecret = "the-old-admin-key-secret";
constexpr const char* kTokenId = "1a2b3c4d5e6f7081";
constexpr const char* kTokenSecret = "the-old-enrollment-token-secret";
constexpr const char* kAgentA = "3f6c9a1e-8d2b-4c1f-9e7a-0b5d4c3a2f10";
constexpr const char* kAgentB = "4a7d0b2f-9e3c-4d20-8f8b-1c6e5d4b3a21";
constexpr const char* kAgentSecret = "the-old-agent-token-secret";

NewEvent old_event(const char* type, const json& data) {
  return NewEvent{type, data.dump(), R"({"request_id":"old"})", 1};
}

// What an earlier muster left: one admin key, a token admitting two
// registrations, both used, and two agents.
void write_old_data_dir(const std::string& data) {
  RocksDbOptions options;
  options.path = data;
  auto storage = open_rocksdb_storage(options);
  REQUIRE(storage.ok());
  EventStore& store = (*storage)->events();
  const auto append = [&](const std::string& stream, std::uint64_t version, std::vector<NewEvent> events) {
    REQUIRE(store.append(stream, version, std::move(events)).ok());
  };
  // Before organizations: no org, which covered every one.
  append(std::string("apikey:") + kKeyId, 0,
         {old_event("ApiKeyCreated", {{"key_id", kKeyId},
                                      {"name", "bootstrap-admin"},
                                      {"role", "admin"},
                                      {"secret_sha256", sha256_hex(kKeySecret)}})});
  append(std::string("enrollment:") + kTokenId, 0,
         {old_event("EnrollmentTokenCreated", {{"token_id", kTokenId},
                                               {"name", "rollout"},
                                               {"org", "default"},
                                               {"labels", json::object()},
                                               {"expires_at", now_ms() + 3'600'000},
                                               {"max_uses", 2},
                                               {"secret_sha256", sha256_hex(kTokenSecret)}})});
  // Agent A registered before organizations; both agents' streams are bare ids.
  append(kAgentA, 0,
         {old_event("AgentRegistered", {{"agent_id", kAgentA},
                                        {"instance_id", "old-a"},
                                        {"name", "a"},
                                        {"hostname", "a.example"},
                                        {"ip_address", "10.0.0.1"},
                                        {"version", "0.9"},
                                        {"type", "edge"},
                                        {"capabilities", json::array()},
                                        {"labels", {{"env", "prod"}}}}),
          old_event("AgentTokenIssued",
                    {{"token_sha256", sha256_hex(kAgentSecret)}, {"enrollment_token_id", kTokenId}})});
  append(kAgentB, 0,
         {old_event("AgentRegistered", {{"agent_id", kAgentB},
                                        {"instance_id", "old-b"},
                                        {"org", "default"},
                                        {"name", "b"},
                                        {"hostname", "b.example"},
                                        {"ip_address", "10.0.0.2"},
                                        {"version", "0.9"},
                                        {"type", "edge"},
                                        {"capabilities", json::array()},
                                        {"labels", json::object()}}),
          old_event("AgentTokenIssued",
                    {{"token_sha256", sha256_hex("b's token")}, {"enrollment_token_id", kTokenId}})});
  (*storage)->stop();
  std::ofstream(data + "/admin.key") << "mk_" << kKeyId << "_" << kKeySecret << "\n";
}

}  // namespace

TEST_CASE("upgrade: a data directory of an earlier muster opens and serves the same state") {
  TempDir dir;
  const std::string data = dir.file("data");
  write_old_data_dir(data);
  const std::string agent_token = fmt::format("ma_{}_{}", kAgentA, kAgentSecret);
  const std::string enrollment_token = fmt::format("me_{}_{}", kTokenId, kTokenSecret);

  MusterServer server(data);
  // The old key still works, with its implicit scope: every organization.
  const json agents = get_json(server, "/api/v1/agents");
  CHECK(agents.at("total") == 2);
  CHECK(ids_of(agents.at("agents").get<std::vector<json>>()) == std::set<std::string>{kAgentA, kAgentB});
  CHECK(get_agent(server, kAgentA, 0).at("org") == "default");

  // The token's two uses were counted from the agents' events: it is used up.
  const json tokens = get_json(server, "/api/v1/enrollment-tokens");
  REQUIRE(tokens.at("enrollment_tokens").size() == 1);
  CHECK(tokens.at("enrollment_tokens")[0].at("uses") == 2);
  check_error(server.send("POST", "/api/v1/agents/register", registration_body("new-c", json::object()).dump(),
                          {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + enrollment_token}}),
              401, "INVALID_ENROLLMENT_TOKEN");

  // The old agent token works; what the agent does now goes on in its bare stream.
  const HttpAnswer beat =
      server.send("POST", std::string("/api/v1/agents/") + kAgentA + "/heartbeat", R"({"status":"degraded"})",
                  {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + agent_token}});
  INFO("heartbeat: " << beat.body);
  REQUIRE(beat.status == 200);
  CHECK(beat.json.at("status") == "DEGRADED");
  const std::vector<json> events = stream_events(server, kAgentA);
  REQUIRE(events.size() == 3);
  for (const json& event : events) CHECK(event.at("stream") == kAgentA);
  CHECK(events.back().at("type") == "AgentStatusChanged");
  const CommandResult replayed = run_muster({"replay", "--data", data, "--agent", kAgentA});
  CHECK(replayed.exit_code == 0);
  CHECK(lines_of(replayed.out).size() == 3);

  // And the same after a restart, from the snapshots this server wrote.
  const json before = get_agent(server, kAgentA, log_position(server));
  REQUIRE(server.terminate() == 0);
  MusterServer again(data);
  json after = get_agent(again, kAgentA, 0);
  CHECK(after.at("status") == "DEGRADED");
  CHECK(after.at("stream_version") == 3);
  CHECK(after.at("position") == before.at("position"));
  CHECK(get_json(again, "/api/v1/agents").at("total") == 2);
}

}  // namespace muster::e2e
