// Commands to agents against the real binary: a command's whole life
// (succeeded and failed), gating by settings (a group's and the agent's
// own) with 403, emergency before older normal commands, idempotency keys,
// cancelling, expiry and not_before with a manual clock, the long poll
// woken by a new command and ending empty, commands_pending in heartbeat
// answers, another agent's token, deregistered and decommissioned agents, a
// restart, and the bad-input list (each a JSON error naming the field,
// nothing queued).

#include <future>

#include "tests/e2e/e2e_helpers.hpp"

namespace muster::e2e {
namespace {

std::string agent_path(const std::string& agent_id, const std::string& suffix = "") {
  return "/api/v1/agents/" + agent_id + "/commands" + suffix;
}

// An operator queues a command (admin key).
HttpAnswer queue(const MusterServer& server, const std::string& agent_id, const json& body) {
  return server.post(agent_path(agent_id), body.dump());
}

// Queues a command; REQUIREs 201 and returns it.
json queued(const MusterServer& server, const std::string& agent_id, const json& body) {
  const HttpAnswer answer = queue(server, agent_id, body);
  INFO("queue " << body.dump() << ": " << answer.status << " " << answer.body);
  REQUIRE(answer.status == 201);
  CHECK(header_of(answer, "Location") == "/api/v1/commands/" + answer.json.at("command_id").get<std::string>());
  return answer.json;
}

// What the agent itself sends, with its own token (or `as`'s).
HttpAnswer as_agent(const MusterServer& server, const std::string& method, const std::string& agent_id,
                    const std::string& path, const json& body = nullptr, const std::string& as = "") {
  httplib::Headers headers{{"Authorization", "Bearer " + MusterServer::agent_token_of(as.empty() ? agent_id : as)}};
  if (!body.is_null()) headers.emplace("Content-Type", "application/json");
  return server.send(method, path, body.is_null() ? "" : body.dump(), headers);
}

// The agent's fetch; REQUIREs 200 and returns its commands.
json fetch(const MusterServer& server, const std::string& agent_id, const std::string& wait = "") {
  const HttpAnswer answer =
      as_agent(server, "GET", agent_id, agent_path(agent_id, wait.empty() ? "" : "?wait=" + wait));
  INFO("fetch: " << answer.status << " " << answer.body);
  REQUIRE(answer.status == 200);
  REQUIRE(answer.json.at("commands").is_array());
  return answer.json.at("commands");
}

std::vector<std::string> command_ids_of(const json& commands) {
  std::vector<std::string> ids;
  for (const json& command : commands) ids.push_back(command.at("command_id"));
  return ids;
}

HttpAnswer command_report(const MusterServer& server, const std::string& agent_id,
                          const std::string& command_id, const std::string& what,
                          const json& body = json::object()) {
  return as_agent(server, "POST", agent_id, agent_path(agent_id, "/" + command_id + "/" + what), body);
}

json get_command(const MusterServer& server, const std::string& command_id) {
  return get_json(server, "/api/v1/commands/" + command_id);
}

std::size_t pending_in_heartbeat(const MusterServer& server, const std::string& agent_id) {
  const HttpAnswer answer = as_agent(server, "POST", agent_id, "/api/v1/agents/" + agent_id + "/heartbeat", json::object());
  REQUIRE(answer.status == 200);
  return answer.json.at("commands_pending").get<std::size_t>();
}

std::vector<std::string> command_event_types(const json& command) {
  std::vector<std::string> types;
  for (const json& event : command.at("events")) types.push_back(event.at("type"));
  return types;
}

}  // namespace

TEST_CASE("a command's whole life: queued, delivered, acknowledged, succeeded or failed") {
  TempDir dir;
  MusterServer server(dir.file("data"));
  const std::string agent = register_agent(server, "web-1").agent_id;
  CHECK(pending_in_heartbeat(server, agent) == 0);

  const json command = queued(server, agent, {{"type", "restart"}, {"params", {{"graceful", true}}}});
  const std::string id = command.at("command_id");
  CHECK(command.at("state") == "queued");
  CHECK(command.at("type") == "restart");
  CHECK(command.at("priority") == "normal");
  CHECK(command.at("agent_id") == agent);
  CHECK(command.at("params") == json{{"graceful", true}});
  CHECK(command.at("delivered_at").is_null());
  // 24 hours from the request (created_at is when the store took the event, a moment later).
  CHECK(std::llabs(time_of(command.at("expires_at")) - time_of(command.at("created_at")) - 24 * 3600 * 1000) < 60'000);
  CHECK(command.at("principal").get<std::string>().rfind("key:", 0) == 0);
  CHECK(pending_in_heartbeat(server, agent) == 1);

  // Reporting on it before it is delivered is refused.
  check_error(command_report(server, agent, id, "result", {{"status", "succeeded"}}), 409,
              "COMMAND_NOT_DELIVERED");
  check_error(command_report(server, agent, id, "ack"), 409, "COMMAND_NOT_DELIVERED");

  const json delivered = fetch(server, agent);
  REQUIRE(delivered.size() == 1);
  CHECK(delivered[0].at("command_id") == id);
  CHECK(delivered[0].at("state") == "delivered");
  CHECK(delivered[0].at("params") == json{{"graceful", true}});
  CHECK(pending_in_heartbeat(server, agent) == 0);
  CHECK(fetch(server, agent).empty());

  HttpAnswer acked = command_report(server, agent, id, "ack");
  REQUIRE(acked.status == 200);
  CHECK(acked.json.at("state") == "acknowledged");
  CHECK(command_report(server, agent, id, "ack").status == 200);  // again: nothing changes
  HttpAnswer done = command_report(server, agent, id, "result",
                                   {{"status", "succeeded"}, {"exit_code", 0}, {"output", "restarted"}});
  REQUIRE(done.status == 200);
  CHECK(done.json.at("state") == "succeeded");
  CHECK(done.json.at("result") == json{{"status", "succeeded"}, {"exit_code", 0}, {"output", "restarted"}, {"output_truncated", false}});
  check_error(command_report(server, agent, id, "result", {{"status", "failed"}}), 409, "COMMAND_FINISHED");

  const json detail = get_command(server, id);
  CHECK(detail.at("state") == "succeeded");
  CHECK(command_event_types(detail) == std::vector<std::string>{"CommandQueued", "CommandDelivered",
                                                                "CommandAcknowledged", "CommandCompleted"});
  CHECK(detail.at("events")[0].at("principal").get<std::string>().rfind("key:", 0) == 0);
  CHECK(detail.at("events")[1].at("principal") == "agent:" + agent);
  CHECK(detail.at("events")[3].at("principal") == "agent:" + agent);
  CHECK(time_of(detail.at("finished_at")) >= time_of(detail.at("created_at")));

  SUBCASE("a command that fails, with an output past 64 KiB cut and flagged") {
    const std::string failing = queued(server, agent, {{"type", "upgrade"}, {"params", {{"version", "2.0"}}}}).at("command_id");
    REQUIRE(fetch(server, agent).size() == 1);
    HttpAnswer failed =
        command_report(server, agent, failing, "result",
                       {{"status", "failed"}, {"exit_code", 2}, {"output", std::string(70 * 1024, 'x')}});
    REQUIRE(failed.status == 200);
    CHECK(failed.json.at("state") == "failed");
    CHECK(failed.json.at("result").at("exit_code") == 2);
    CHECK(failed.json.at("result").at("output_truncated") == true);
    CHECK(failed.json.at("result").at("output").get<std::string>().size() == 64 * 1024);
    // Lists show compact views, newest first, filtered.
    const json all = get_json(server, "/api/v1/commands?agent=" + agent);
    CHECK(command_ids_of(all.at("commands")) == std::vector<std::string>{failing, id});
    CHECK_FALSE(all.at("commands")[0].contains("params"));
    CHECK(command_ids_of(get_json(server, "/api/v1/commands?state=failed").at("commands")) ==
          std::vector<std::string>{failing});
    CHECK(command_ids_of(get_json(server, "/api/v1/commands?type=restart").at("commands")) ==
          std::vector<std::string>{id});
    const json page = get_json(server, "/api/v1/commands?limit=1");
    CHECK(command_ids_of(page.at("commands")) == std::vector<std::string>{failing});
    CHECK(command_ids_of(
              get_json(server, "/api/v1/commands?limit=1&cursor=" + page.at("next_cursor").get<std::string>())
                  .at("commands")) == std::vector<std::string>{id});
    // An operator's key on the agent's fetch lists without delivering.
    CHECK(command_ids_of(get_json(server, agent_path(agent)).at("commands")) ==
          std::vector<std::string>{failing, id});
  }
}

TEST_CASE("settings disable commands with 403 COMMAND_DISABLED, naming the setting, and queue nothing") {
  TempDir dir;
  MusterServer server(dir.file("data"));
  const std::string agent = register_agent(server, "web-1", {{"labels", {{"env", "prod"}}}}).agent_id;
  REQUIRE(server.post("/api/v1/groups", json{{"name", "prod"}, {"selector", {{"env", "prod"}}}}.dump()).status == 201);
  const HttpAnswer assigned = server.send("PUT", "/api/v1/groups/prod/assignment",
                                          json{{"settings", {{"commands", {{"restart", {{"enabled", false}}}}}}}}.dump(),
                                          {{"Content-Type", "application/json"}});
  REQUIRE(assigned.status == 200);
  const std::uint64_t before = log_position(server);
  const HttpAnswer refused = queue(server, agent, {{"type", "restart"}});
  check_error(refused, 403, "COMMAND_DISABLED");
  CHECK(refused.json.at("details").contains("commands.restart.enabled"));
  CHECK(log_position(server) == before);
  CHECK(pending_in_heartbeat(server, agent) == 0);

  // The agent's own assignment: switch is governed by auto_switch_enabled.
  const HttpAnswer own = server.send("PUT", "/api/v1/agents/" + agent + "/assignment",
                                     json{{"settings", {{"auto_switch_enabled", false}}}}.dump(),
                                     {{"Content-Type", "application/json"}});
  REQUIRE(own.status == 200);
  const HttpAnswer switched = queue(server, agent, {{"type", "switch"}, {"params", {{"to", "b"}}}});
  check_error(switched, 403, "COMMAND_DISABLED");
  CHECK(switched.json.at("details").contains("auto_switch_enabled"));
  check_error(queue(server, agent, {{"type", "restart"}}), 403, "COMMAND_DISABLED");
  // Other types pass.
  queued(server, agent, {{"type", "upgrade"}});
  queued(server, agent, {{"type", "vendor.rotate-logs"}});
  CHECK(get_json(server, "/api/v1/commands").at("commands").size() == 2);
}

TEST_CASE("an emergency command is delivered before older normal ones - an idempotency key answers its command") {
  TempDir dir;
  MusterServer server(dir.file("data"));
  const std::string agent = register_agent(server, "web-1").agent_id;
  const std::string first = queued(server, agent, {{"type", "upgrade"}}).at("command_id");
  const std::string second = queued(server, agent, {{"type", "request_diagnostics"}}).at("command_id");
  const std::string urgent = queued(server, agent, {{"type", "shutdown"}, {"priority", "emergency"}}).at("command_id");
  CHECK(pending_in_heartbeat(server, agent) == 3);
  CHECK(command_ids_of(fetch(server, agent)) == std::vector<std::string>{urgent, first, second});

  const json body = {{"type", "restart"}, {"idempotency_key", "deploy-42"}, {"params", {{"a", 1}}}};
  const json made = queued(server, agent, body);
  const HttpAnswer again = queue(server, agent, body);
  REQUIRE(again.status == 200);
  CHECK(again.json.at("command_id") == made.at("command_id"));
  CHECK(again.json.at("idempotency_key") == "deploy-42");
  json other = body;
  other["params"] = {{"a", 2}};
  const HttpAnswer reused = queue(server, agent, other);
  check_error(reused, 409, "IDEMPOTENCY_KEY_REUSED");
  CHECK(reused.json.at("details").contains("idempotency_key"));
  CHECK(pending_in_heartbeat(server, agent) == 1);

  // Concurrent requests with one key queue one command.
  std::vector<std::future<HttpAnswer>> racing;
  const json raced = {{"type", "restart"}, {"idempotency_key", "race"}};
  for (int index = 0; index < 4; ++index) {
    racing.push_back(std::async(std::launch::async, [&] { return queue(server, agent, raced); }));
  }
  std::set<std::string> ids;
  int created = 0;
  for (auto& answer : racing) {
    const HttpAnswer got = answer.get();
    REQUIRE((got.status == 201 || got.status == 200));
    created += got.status == 201 ? 1 : 0;
    ids.insert(got.json.at("command_id").get<std::string>());
  }
  CHECK(created == 1);
  CHECK(ids.size() == 1);
  CHECK(pending_in_heartbeat(server, agent) == 2);
}

TEST_CASE("cancelling a command - expiry and not_before with a manual clock") {
  TempDir dir;
  MusterServer server(dir.file("data"), {"--enable-test-hooks", "--test-manual-clock"});
  const std::string agent = register_agent(server, "web-1").agent_id;

  const std::string cancelled = queued(server, agent, {{"type", "restart"}}).at("command_id");
  const HttpAnswer cancel = server.post("/api/v1/commands/" + cancelled + "/cancel", "");
  REQUIRE(cancel.status == 200);
  CHECK(cancel.json.at("state") == "cancelled");
  check_error(server.post("/api/v1/commands/" + cancelled + "/cancel", ""), 409, "COMMAND_FINISHED");
  check_error(server.post("/api/v1/commands/0123456789abcdef/cancel", ""), 404, "COMMAND_NOT_FOUND");
  CHECK(fetch(server, agent).empty());
  CHECK(command_event_types(get_command(server, cancelled)) ==
        std::vector<std::string>{"CommandQueued", "CommandCancelled"});

  const std::string expiring = queued(server, agent, {{"type", "upgrade"}, {"expires_in", "30s"}}).at("command_id");
  const std::string later = queued(server, agent,
                                   {{"type", "restart"},
                                    {"not_before", format_rfc3339(time_of(get_command(server, expiring).at("created_at")) + 120'000)}})
                                .at("command_id");
  advance_clock(server, 31'000);
  json expired;
  REQUIRE(eventually([&] {
    expired = get_command(server, expiring);
    return expired.at("state") == "expired";
  }));
  CHECK(expired.at("expiry_reason") == "not_delivered");
  CHECK(expired.at("events").back().at("cause") == "command_expiry");
  CHECK(fetch(server, agent).empty());  // `later` waits for its not_before
  CHECK(pending_in_heartbeat(server, agent) == 1);
  advance_clock(server, 100'000);
  CHECK(command_ids_of(fetch(server, agent)) == std::vector<std::string>{later});
}

TEST_CASE("the long poll is woken by a new command, and ends empty when its wait ends") {
  TempDir dir;
  MusterServer server(dir.file("data"));
  const std::string agent = register_agent(server, "web-1").agent_id;
  const auto started = std::chrono::steady_clock::now();
  auto parked = std::async(std::launch::async, [&] { return fetch(server, agent, "20s"); });
  // Give the fetch time to park (either way it must get the command).
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const std::string id = queued(server, agent, {{"type", "restart"}}).at("command_id");
  CHECK(command_ids_of(parked.get()) == std::vector<std::string>{id});
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(15));

  // A wait longer than the listener's read (10 s) and idle (5 s) timeouts is not cut.
  CHECK(fetch(server, agent, "12s").empty());
  CHECK(fetch(server, agent, "0").empty());
  // A stop answers a parked fetch at once rather than holding the shutdown.
  auto held = std::async(std::launch::async, [&] {
    return as_agent(server, "GET", agent, agent_path(agent, "?wait=60s"));
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const auto stopping = std::chrono::steady_clock::now();
  CHECK(server.terminate() == 0);
  CHECK(std::chrono::steady_clock::now() - stopping < std::chrono::seconds(4));
  const HttpAnswer answer = held.get();
  CHECK(answer.status == 200);
}

TEST_CASE("commands and agents that cannot take them: another agent's token, deregistered, decommissioned") {
  TempDir dir;
  MusterServer server(dir.file("data"));
  const std::string agent = register_agent(server, "web-1").agent_id;
  const std::string other = register_agent(server, "web-2").agent_id;
  const std::string id = queued(server, agent, {{"type", "restart"}}).at("command_id");

  check_error(as_agent(server, "GET", agent, agent_path(agent), nullptr, other), 403, "AGENT_MISMATCH");
  REQUIRE(fetch(server, agent).size() == 1);
  // Its own path, another agent's command: not found.
  check_error(command_report(server, other, id, "ack"), 404, "COMMAND_NOT_FOUND");
  check_error(command_report(server, other, id, "result", {{"status", "succeeded"}}), 404,
              "COMMAND_NOT_FOUND");
  check_error(command_report(server, agent, "0123456789abcdef", "ack"), 404, "COMMAND_NOT_FOUND");

  check_error(queue(server, "3f6c9a1e-8d2b-4c1f-9e7a-0b5d4c3a2f10", {{"type", "restart"}}), 404, "AGENT_NOT_FOUND");
  REQUIRE(server.del("/api/v1/agents/" + other).status == 200);
  check_error(queue(server, other, {{"type", "restart"}}), 404, "AGENT_NOT_REGISTERED");
  REQUIRE(server.post("/api/v1/agents/" + agent + "/decommission", "").status == 200);
  check_error(queue(server, agent, {{"type", "restart"}}), 409, "AGENT_DECOMMISSIONED");
}

TEST_CASE("commands survive a restart: the queue, a delivered command's result, expiries armed again") {
  TempDir dir;
  const std::string data = dir.file("data");
  const std::vector<std::string> flags = {"--enable-test-hooks", "--test-manual-clock"};
  std::string agent, delivered, pending, expiring;
  json before;
  {
    MusterServer server(data, flags);
    agent = register_agent(server, "web-1").agent_id;
    delivered = queued(server, agent, {{"type", "upgrade"}}).at("command_id");
    REQUIRE(fetch(server, agent).size() == 1);
    pending = queued(server, agent, {{"type", "restart"}}).at("command_id");
    expiring = queued(server, agent, {{"type", "shutdown"}, {"expires_in", "1h"}}).at("command_id");
    before = get_json(server, "/api/v1/commands");
    REQUIRE(server.terminate() == 0);
  }
  MusterServer again(data, flags);
  CHECK(get_json(again, "/api/v1/commands") == before);
  CHECK(pending_in_heartbeat(again, agent) == 2);
  CHECK(command_report(again, agent, delivered, "result", {{"status", "succeeded"}}).status == 200);
  advance_clock(again, 3'601'000);
  REQUIRE(eventually([&] { return get_command(again, expiring).at("state") == "expired"; }));
  CHECK(command_ids_of(fetch(again, agent)) == std::vector<std::string>{pending});
}

TEST_CASE("commands: bad input is refused naming the field, and nothing is queued") {
  TempDir dir;
  MusterServer server(dir.file("data"));
  const std::string agent = register_agent(server, "web-1").agent_id;
  const std::string id = queued(server, agent, {{"type", "restart"}}).at("command_id");
  REQUIRE(fetch(server, agent).size() == 1);
  const std::uint64_t before = log_position(server);
  struct Case {
    json body;
    std::string field;
  };
  const std::vector<Case> bodies = {
      {json::object(), "type"},
      {{{"type", "Restart"}}, "type"},
      {{{"type", std::string(65, 'a')}}, "type"},
      {{{"type", 7}}, "type"},
      {{{"type", "restart"}, {"params", json::array()}}, "params"},
      {{{"type", "restart"}, {"params", "x"}}, "params"},
      {{{"type", "restart"}, {"priority", "urgent"}}, "priority"},
      {{{"type", "restart"}, {"not_before", "tomorrow"}}, "not_before"},
      {{{"type", "restart"}, {"expires_in", "forever"}}, "expires_in"},
      {{{"type", "restart"}, {"expires_in", "0s"}}, "expires_in"},
      {{{"type", "restart"}, {"expires_in", "31d"}}, "expires_in"},
      {{{"type", "restart"}, {"expires_in", 30}}, "expires_in"},
      {{{"type", "restart"}, {"idempotency_key", ""}}, "idempotency_key"},
      {{{"type", "restart"}, {"colour", "red"}}, "colour"},
  };
  for (const Case& bad : bodies) {
    const HttpAnswer answer = queue(server, agent, bad.body);
    INFO(bad.body.dump() << " -> " << answer.body);
    check_error(answer, 400, "VALIDATION_FAILED");
    CHECK(answer.json.at("details").contains(bad.field));
  }
  check_error(server.post(agent_path(agent), "[1]"), 400, "INVALID_JSON");
  for (const std::string wait : {"abc", "2m", "-1s", "61s"}) {
    const HttpAnswer answer = as_agent(server, "GET", agent, agent_path(agent, "?wait=" + wait));
    INFO(wait << " -> " << answer.body);
    check_error(answer, 400, "INVALID_PARAMETER");
    CHECK(answer.json.at("details").contains("wait"));
  }
  for (const auto& bad_result : std::vector<std::pair<json, std::string>>{
           {json::object(), "status"},
           {{{"status", "maybe"}}, "status"},
           {{{"status", "succeeded"}, {"exit_code", "x"}}, "exit_code"},
           {{{"status", "succeeded"}, {"exit_code", 1.5}}, "exit_code"},
           {{{"status", "succeeded"}, {"output", 5}}, "output"},
           {{{"status", "succeeded"}, {"stdout", ""}}, "stdout"}}) {
    const HttpAnswer answer = command_report(server, agent, id, "result", bad_result.first);
    INFO(bad_result.first.dump() << " -> " << answer.body);
    check_error(answer, 400, "VALIDATION_FAILED");
    CHECK(answer.json.at("details").contains(bad_result.second));
  }
  for (const std::string query : {"agent=nope", "type=Bad", "state=lost", "limit=0", "limit=5000", "cursor=nope"}) {
    const HttpAnswer answer = server.get("/api/v1/commands?" + query);
    INFO(query << " -> " << answer.body);
    CHECK(answer.status == 400);
    CHECK(answer.json.at("details").contains(query.substr(0, query.find('='))));
  }
  check_error(server.get("/api/v1/commands/0123456789abcdef"), 404, "COMMAND_NOT_FOUND");
  CHECK(log_position(server) == before);
  CHECK(get_json(server, "/api/v1/commands").at("commands").size() == 1);
}

}  // namespace muster::e2e
