// Batches of commands against the real binary: POST /api/v1/commands queues
// one command per selected agent and refuses the agents whose settings close
// the type; GET /api/v1/command-batches/{id} counts them per state as the
// agents take them; bad input changes nothing; 10,000 agents in one batch.

#include "tests/e2e/e2e_helpers.hpp"

namespace muster::e2e {
namespace {

const std::string kBatches = "/api/v1/command-batches/";

// Starts a batch; REQUIREs 202 and returns it.
json start_batch(const MusterServer& server, const json& body) {
  const HttpAnswer answer =
      server.post(fmt::format("/api/v1/commands?min_position={}", log_position(server)), body.dump());
  INFO("batch " << body.dump() << ": " << answer.status << " " << answer.body);
  REQUIRE(answer.status == 202);
  CHECK(header_of(answer, "Location") == kBatches + answer.json.at("batch_id").get<std::string>());
  return answer.json;
}

// Polls the batch until every agent is done (at most `timeout`); returns it.
json wait_batch(const MusterServer& server, const std::string& batch_id,
                std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  json batch;
  const bool finished = eventually(
      [&] {
        batch = get_json(server, kBatches + batch_id);
        return batch.at("state") == "finished";
      },
      timeout);
  INFO(batch.dump().substr(0, 1000));
  REQUIRE(finished);
  return batch;
}

// The agent's own fetch (no wait); REQUIREs 200 and returns its commands.
json fetch_commands(const MusterServer& server, const std::string& agent_id) {
  const HttpAnswer answer = server.send("GET", "/api/v1/agents/" + agent_id + "/commands", "",
                                        {{"Authorization", "Bearer " + MusterServer::agent_token_of(agent_id)}});
  INFO("fetch: " << answer.status << " " << answer.body);
  REQUIRE(answer.status == 200);
  return answer.json.at("commands");
}

std::uint64_t count_in_state(const json& batch, const char* state) {
  return batch.at("commands").at(state).get<std::uint64_t>();
}

}  // namespace

TEST_CASE("command batches: one command per selected agent, refusals listed, states counted as agents take them") {
  TempDir dir;
  MusterServer server(dir.file("data"));
  std::vector<std::string> web;
  for (int index = 0; index < 4; ++index) {
    web.push_back(register_agent(server, fmt::format("web-{}", index), {{"labels", {{"role", "web"}}}}).agent_id);
  }
  const std::string db = register_agent(server, "db-0", {{"labels", {{"role", "db"}}}}).agent_id;
  // web[3]'s own settings close restarts.
  REQUIRE(server
              .send("PUT", "/api/v1/agents/" + web[3] + "/assignment",
                    json{{"settings", {{"commands", {{"restart", {{"enabled", false}}}}}}}}.dump(),
                    {{"Authorization", "Bearer " + server.admin_key()}, {"Content-Type", "application/json"}})
              .status == 200);

  const json started = start_batch(server, {{"selector", {{"labels", {{"role", "web"}}}}},
                                            {"type", "restart"},
                                            {"params", {{"reason", "kernel update"}}},
                                            {"priority", "emergency"},
                                            {"expires_in", "1h"}});
  CHECK(started.at("type") == "restart");
  CHECK(started.at("total") == 4);
  const std::string batch_id = started.at("batch_id");
  json batch = wait_batch(server, batch_id);
  CHECK(batch.at("queued") == 3);
  CHECK(batch.at("refused") == 1);
  REQUIRE(batch.at("refusals").size() == 1);
  CHECK(batch.at("refusals")[0].at("agent_id") == web[3]);
  CHECK(batch.at("refusals")[0].at("code") == "COMMAND_DISABLED");
  CHECK(count_in_state(batch, "queued") == 3);

  // Each selected agent (not the refused one, not the db) has one command of the batch.
  for (int index = 0; index < 3; ++index) {
    CAPTURE(index);
    CHECK(heartbeat(server, web[index]).at("commands_pending") == 1);
  }
  CHECK(heartbeat(server, web[3]).at("commands_pending") == 0);
  CHECK(heartbeat(server, db).at("commands_pending") == 0);
  const json listed = get_json(server, "/api/v1/commands?batch=" + batch_id);
  CHECK(listed.at("commands").size() == 3);

  // Two agents take theirs; one finishes it.
  const json taken = fetch_commands(server, web[0]);
  REQUIRE(taken.size() == 1);
  CHECK(taken[0].at("batch_id") == batch_id);
  CHECK(taken[0].at("priority") == "emergency");
  CHECK(taken[0].at("params") == json({{"reason", "kernel update"}}));
  REQUIRE(fetch_commands(server, web[1]).size() == 1);
  const std::string command_id = taken[0].at("command_id");
  REQUIRE(server
              .send("POST", "/api/v1/agents/" + web[0] + "/commands/" + command_id + "/result",
                    json{{"status", "succeeded"}, {"exit_code", 0}}.dump(),
                    {{"Authorization", "Bearer " + MusterServer::agent_token_of(web[0])},
                     {"Content-Type", "application/json"}})
              .status == 200);
  CHECK(eventually([&] {
    batch = get_json(server, kBatches + batch_id);
    return count_in_state(batch, "succeeded") == 1 && count_in_state(batch, "delivered") == 1 &&
           count_in_state(batch, "queued") == 1;
  }));
  INFO(batch.dump());
  CHECK(count_in_state(batch, "failed") == 0);
}

TEST_CASE("command batches: bad input is refused naming the field, and nothing is queued") {
  TempDir dir;
  MusterServer server(dir.file("data"));
  const std::string agent = register_agent(server, "web-0", {{"labels", {{"role", "web"}}}}).agent_id;
  const std::uint64_t before = log_position(server);
  const json selector = {{"labels", {{"role", "web"}}}};
  const auto refused = [&](const json& body, const char* field) {
    const HttpAnswer answer = server.post("/api/v1/commands", body.dump());
    INFO(body.dump() << " -> " << answer.status << " " << answer.body);
    check_error(answer, 400, "VALIDATION_FAILED");
    CHECK(answer.json.at("details").contains(field));
  };
  refused({{"type", "restart"}}, "selector");
  refused({{"selector", selector}}, "type");
  refused({{"selector", selector}, {"type", "Restart!"}}, "type");
  refused({{"selector", selector}, {"type", "restart"}, {"params", "now"}}, "params");
  refused({{"selector", selector}, {"type", "restart"}, {"priority", "urgent"}}, "priority");
  refused({{"selector", selector}, {"type", "restart"}, {"expires_in", "forever"}}, "expires_in");
  refused({{"selector", selector}, {"type", "restart"}, {"idempotency_key", "k"}}, "idempotency_key");
  refused({{"selector", {{"shape", "round"}}}, {"type", "restart"}}, "selector.shape");
  refused({{"selector", json::object()}, {"type", "restart"}}, "selector");
  // A batch is not a bulk job's action.
  check_error(server.post("/api/v1/bulk", json{{"selector", selector}, {"action", "send_command"}}.dump()), 400,
              "VALIDATION_FAILED");
  check_error(server.get(kBatches + "0123456789abcdef"), 404, "BATCH_NOT_FOUND");
  CHECK(log_position(server) == before);
  CHECK(heartbeat(server, agent).at("commands_pending") == 0);
}

TEST_SUITE("slow") {
  TEST_CASE("command batches: 10,000 agents in one batch while they heartbeat") {
    TempDir dir;
    MusterServer server(dir.file("data"));
    std::vector<std::string> tokens;
    const std::vector<std::string> agents = register_many(server, 10'000, "fleet", {{"fleet", "big"}}, 16, &tokens);
    std::atomic<bool> stop{false};
    std::atomic<std::size_t> beats{0}, failed_beats{0};
    // Heartbeats go on while the batch queues.
    std::thread heartbeating([&] {
      for (std::size_t index = 0; !stop; index = (index + 7) % agents.size()) {
        const HttpAnswer answer = server.send(
            "POST", "/api/v1/agents/" + agents[index] + "/heartbeat", "{}",
            {{"Authorization", "Bearer " + tokens[index]}, {"Content-Type", "application/json"}});
        ++(answer.status == 200 ? beats : failed_beats);
      }
    });
    const json started =
        start_batch(server, {{"selector", {{"labels", {{"fleet", "big"}}}}}, {"type", "request_diagnostics"}});
    CHECK(started.at("total") == 10'000);
    const json batch = wait_batch(server, started.at("batch_id"), std::chrono::seconds(120));
    stop = true;
    heartbeating.join();
    CHECK(batch.at("queued") == 10'000);
    CHECK(batch.at("refused") == 0);
    CHECK(eventually([&] {
      return count_in_state(get_json(server, kBatches + batch.at("batch_id").get<std::string>()), "queued") ==
             10'000;
    }));
    CHECK(failed_beats == 0);
    CHECK(beats > 0);
    MESSAGE("heartbeats answered while 10,000 commands were queued: " << beats.load());
    const HttpAnswer beat = server.send("POST", "/api/v1/agents/" + agents[1234] + "/heartbeat", "{}",
                                        {{"Authorization", "Bearer " + tokens[1234]},
                                         {"Content-Type", "application/json"}});
    REQUIRE(beat.status == 200);
    CHECK(beat.json.at("commands_pending") == 1);
    const HttpAnswer fetched = server.send("GET", "/api/v1/agents/" + agents[1234] + "/commands", "",
                                           {{"Authorization", "Bearer " + tokens[1234]}});
    REQUIRE(fetched.status == 200);
    const json taken = fetched.json.at("commands");
    REQUIRE(taken.size() == 1);
    CHECK(taken[0].at("type") == "request_diagnostics");
  }
}

}  // namespace muster::e2e
