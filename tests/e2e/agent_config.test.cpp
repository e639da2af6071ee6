// An agent's configuration against the real binary: what it is told
// (heartbeats' config_version and config_hash, GET .../config with ETag and
// 304), what it says (status reports, effective config), drift, its own
// assignment over its groups', list filters and counts, restarts, and the
// bad-input list.

#include "tests/e2e/e2e_helpers.hpp"

namespace muster::e2e {
namespace {

json file_map(const std::string& name, const std::string& body) {
  return {{name, {{"content_type", "application/yaml"}, {"body", body}}}};
}

void create_config(const MusterServer& server, const std::string& name, const std::string& body,
                   const std::string& kind = "config") {
  const HttpAnswer answer =
      server.post("/api/v1/configs", json{{"name", name}, {"kind", kind}, {"files", file_map(name + ".yaml", body)}}.dump());
  INFO(answer.body);
  REQUIRE(answer.status == 201);
}

void create_group(const MusterServer& server, const std::string& name, const json& selector, int priority = 0) {
  const HttpAnswer answer =
      server.post("/api/v1/groups", json{{"name", name}, {"selector", selector}, {"priority", priority}}.dump());
  INFO(answer.body);
  REQUIRE(answer.status == 201);
}

// The agent's own fetch of its configuration, with its token.
HttpAnswer agent_fetch(const MusterServer& server, const std::string& agent_id, const std::string& if_none_match = "") {
  httplib::Headers headers{{"Authorization", "Bearer " + MusterServer::agent_token_of(agent_id)}};
  if (!if_none_match.empty()) headers.emplace("If-None-Match", if_none_match);
  return server.send("GET", "/api/v1/agents/" + agent_id + "/config", "", headers);
}

HttpAnswer report(const MusterServer& server, const std::string& agent_id, const json& body) {
  return server.post("/api/v1/agents/" + agent_id + "/config/status", body.dump());
}

HttpAnswer report_effective(const MusterServer& server, const std::string& agent_id, const json& files) {
  return send_json(server, "PUT", "/api/v1/agents/" + agent_id + "/config/effective", json{{"files", files}});
}

json operator_view(const MusterServer& server, const std::string& agent_id) {
  return get_json(server, "/api/v1/agents/" + agent_id + "/config");
}

std::string status_of(const MusterServer& server, const std::string& agent_id) {
  return operator_view(server, agent_id).at("config_status").get<std::string>();
}

}  // namespace

TEST_CASE("an agent is told its desired config, fetches it by ETag and reports what it did - drift shows") {
  TempDir dir;
  MusterServer server(dir.file("data"));
  const std::string agent = register_agent(server, "web-1", {{"labels", {{"env", "prod"}}}}).agent_id;
  const std::string other = register_agent(server, "db-1", {{"labels", {{"env", "dev"}}}}).agent_id;

  // Nothing assigned: version 0, no hash, status none.
  json beat = heartbeat(server, agent);
  CHECK(beat.at("config_version") == 0);
  CHECK(beat.at("config_hash") == "");
  HttpAnswer fetched = agent_fetch(server, agent);
  REQUIRE(fetched.status == 200);
  CHECK(fetched.json.at("files") == json::object());
  CHECK(status_of(server, agent) == "none");

  create_config(server, "collector", "receivers: [otlp]\n");
  create_group(server, "prod", {{"env", "prod"}});
  assign_group(server, "prod", {{"config", "collector"}, {"settings", {{"log_level", "debug"}}}});

  beat = heartbeat(server, agent);
  const std::uint64_t version = beat.at("config_version").get<std::uint64_t>();
  const std::string hash = beat.at("config_hash").get<std::string>();
  CHECK(version > 0);
  CHECK(hash.size() == 64);
  CHECK(heartbeat(server, other).at("config_version") == 0);

  fetched = agent_fetch(server, agent);
  REQUIRE(fetched.status == 200);
  CHECK(header_of(fetched, "ETag") == "\"" + hash + "\"");
  CHECK(fetched.json.at("config_version") == version);
  CHECK(fetched.json.at("config_hash") == hash);
  CHECK(fetched.json.at("files") == file_map("collector.yaml", "receivers: [otlp]\n"));
  CHECK(fetched.json.at("settings") == json{{"log_level", "debug"}});
  const HttpAnswer unchanged = agent_fetch(server, agent, "\"" + hash + "\"");
  CHECK(unchanged.status == 304);
  CHECK(unchanged.body.empty());
  CHECK(agent_fetch(server, agent, "\"another\"").status == 200);

  json view = operator_view(server, agent);
  CHECK(view.at("config_status") == "pending");
  CHECK(view.at("groups") == json::array({"prod"}));
  CHECK(view.at("desired").at("config").at("name") == "collector");
  CHECK(view.at("desired").at("config").at("source") == "group:prod");
  CHECK(view.at("desired").at("settings_sources").at("log_level") == "group:prod");

  // What the agent says, step by step.
  HttpAnswer answer = report(server, agent, {{"config_hash", hash}, {"status", "applying"}});
  REQUIRE(answer.status == 200);
  CHECK(answer.json.at("config_status") == "applying");
  answer = report(server, agent, {{"config_hash", hash}, {"status", "failed"}, {"error", "bad receiver"}});
  CHECK(answer.json.at("config_status") == "failed");
  CHECK(operator_view(server, agent).at("reported").at("error") == "bad receiver");
  answer = report(server, agent, {{"config_hash", hash}, {"status", "applied"}});
  CHECK(answer.json.at("config_status") == "applied");
  // A repeated report appends nothing.
  const std::uint64_t before = log_position(server);
  CHECK(report(server, agent, {{"config_hash", hash}, {"status", "applied"}}).status == 200);
  CHECK(log_position(server) == before);

  // What it runs: the same files keep it applied, others are drift.
  answer = report_effective(server, agent, file_map("collector.yaml", "receivers: [otlp]\n"));
  CHECK(answer.json.at("config_status") == "applied");
  answer = report_effective(server, agent, file_map("collector.yaml", "receivers: [jaeger]\n"));
  CHECK(answer.json.at("config_status") == "drifted");
  CHECK(operator_view(server, agent).at("effective").at("files") ==
        file_map("collector.yaml", "receivers: [jaeger]\n"));

  // Lists and counts see it.
  CHECK(list_agents(server, "config_status=drifted").size() == 1);
  CHECK(list_agents(server, "config_status=none").size() == 1);
  CHECK(list_agents(server, "group=prod").size() == 1);
  const json counts = stats(server).at("by_config_status");
  CHECK(counts.at("drifted") == 1);
  CHECK(counts.at("none") == 1);
  CHECK(get_json(server, "/api/v1/configs/collector/status").at("counts").at("drifted") == 1);
  CHECK(get_agent(server, agent).at("config_status") == "drifted");
  CHECK(get_agent(server, agent).at("config_hash") == hash);

  // A hash never desired here: refused, yet recorded, so the agent shows drifted.
  answer = report(server, agent, {{"config_hash", std::string(64, 'a')}, {"status", "applied"}});
  check_error(answer, 400, "CONFIG_HASH_UNKNOWN");
  CHECK(answer.json.at("details").contains("config_hash"));
  CHECK(status_of(server, agent) == "drifted");
  CHECK(operator_view(server, agent).at("reported").at("config_hash") == std::string(64, 'a'));
}

TEST_CASE("an agent's own assignment wins over its groups, and clearing it gives the groups' back") {
  TempDir dir;
  MusterServer server(dir.file("data"));
  const std::string agent = register_agent(server, "web-1", {{"labels", {{"env", "prod"}}}}).agent_id;
  create_config(server, "base", "base\n");
  create_config(server, "canary", "canary\n");
  create_config(server, "pci", "pci\n", "policy");
  create_group(server, "prod", {{"env", "prod"}}, 5);
  create_group(server, "everyone", json::object(), 1);
  assign_group(server, "everyone",
               {{"config", "base"}, {"policies", {"pci"}}, {"settings", {{"log_level", "info"}, {"interval", "30s"}}}});
  assign_group(server, "prod", {{"settings", {{"log_level", "warn"}}}});
  json view = operator_view(server, agent);
  CHECK(view.at("groups") == json::array({"prod", "everyone"}));
  CHECK(view.at("desired").at("settings") == json{{"log_level", "warn"}, {"interval", "30s"}});
  CHECK(view.at("desired").at("files").contains("pci/pci.yaml"));
  const std::uint64_t group_version = view.at("config_version").get<std::uint64_t>();

  HttpAnswer answer = send_json(server, "PUT", "/api/v1/agents/" + agent + "/assignment",
                                {{"config", "canary"}, {"version", 1}, {"settings", {{"log_level", "debug"}}}});
  REQUIRE(answer.status == 200);
  view = operator_view(server, agent);
  CHECK(view.at("desired").at("config").at("name") == "canary");
  CHECK(view.at("desired").at("config").at("source") == "agent");
  CHECK(view.at("desired").at("settings").at("log_level") == "debug");
  CHECK(view.at("desired").at("files").contains("pci/pci.yaml"));
  CHECK(view.at("assignment").at("config") == "canary");
  CHECK(view.at("config_version").get<std::uint64_t>() > group_version);
  // The same assignment again changes nothing.
  const std::uint64_t before = log_position(server);
  REQUIRE(send_json(server, "PUT", "/api/v1/agents/" + agent + "/assignment",
                    {{"config", "canary"}, {"version", 1}, {"settings", {{"log_level", "debug"}}}})
              .status == 200);
  CHECK(log_position(server) == before);

  // Cleared: the groups' configuration again, under a newer version number.
  answer = send_json(server, "PUT", "/api/v1/agents/" + agent + "/assignment", json::object());
  REQUIRE(answer.status == 200);
  view = operator_view(server, agent);
  CHECK(view.at("assignment").is_null());
  CHECK(view.at("desired").at("config").at("name") == "base");
  CHECK(view.at("config_version").get<std::uint64_t>() > group_version);
  // The config is in use: it cannot be deleted.
  check_error(server.del("/api/v1/configs/base"), 409, "CONFIG_IN_USE");
}

TEST_CASE("configuration state survives SIGTERM and kill -9") {
  TempDir dir;
  std::string agent;
  json before;
  {
    MusterServer server(dir.file("data"));
    agent = register_agent(server, "web-1", {{"labels", {{"env", "prod"}}}}).agent_id;
    create_config(server, "collector", "a\n");
    create_group(server, "prod", {{"env", "prod"}});
    assign_group(server, "prod", {{"config", "collector"}});
    const std::string hash = heartbeat(server, agent).at("config_hash").get<std::string>();
    REQUIRE(report(server, agent, {{"config_hash", hash}, {"status", "applied"}}).status == 200);
    before = operator_view(server, agent);
    CHECK(before.at("config_status") == "applied");
    CHECK(server.terminate() == 0);
  }
  {
    MusterServer server(dir.file("data"));
    CHECK(operator_view(server, agent) == before);
    create_config(server, "other", "b\n");
    server.kill9();
  }
  MusterServer server(dir.file("data"));
  CHECK(operator_view(server, agent) == before);
  CHECK(heartbeat(server, agent).at("config_version") == before.at("config_version"));
}

TEST_CASE("replay --at shows an agent's desired config hash and config status at that time") {
  TempDir dir;
  MusterServer server(dir.file("data"));
  const std::string agent = register_agent(server, "web-1", {{"labels", {{"env", "prod"}}}}).agent_id;
  create_config(server, "collector", "a\n");
  create_group(server, "prod", {{"env", "prod"}});
  const TimeMs before_assignment = now_ms();
  wait_until_clock_passes(before_assignment);
  assign_group(server, "prod", {{"config", "collector"}});
  const std::string hash = heartbeat(server, agent).at("config_hash").get<std::string>();
  REQUIRE(report(server, agent, {{"config_hash", hash}, {"status", "applied"}}).status == 200);
  const json now = operator_view(server, agent);
  wait_until_clock_passes(now_ms());
  const auto replayed = [&](TimeMs at_ms) {
    const CommandResult result =
        run_muster({"replay", "--data", dir.file("data"), "--agent", agent, "--at", format_rfc3339(at_ms)});
    INFO(result.out << result.err);
    REQUIRE(result.exit_code == 0);
    const json state = json::parse(result.out, nullptr, false);
    REQUIRE(state.is_object());
    return state.at("config");
  };
  const json then = replayed(before_assignment);
  CHECK(then.at("config_hash") == "");
  CHECK(then.at("config_status") == "none");
  CHECK(then.at("groups") == json::array({"prod"}));
  const json later = replayed(now_ms());
  CHECK(later.at("config_hash") == hash);
  CHECK(later.at("config_status") == "applied");
  CHECK(later.at("config_version") == now.at("config_version"));
}

TEST_CASE("bad configuration input is refused with the field named, and changes nothing") {
  TempDir dir;
  MusterServer server(dir.file("data"));
  const std::string agent = register_agent(server, "web-1").agent_id;
  create_config(server, "collector", "a\n");
  const std::uint64_t before = log_position(server);
  const std::string path = "/api/v1/agents/" + agent;
  struct Case {
    std::string method;
    std::string route;
    json body;
    int status;
    std::string code;
    std::string field;
  };
  for (const Case& test : std::vector<Case>{
           {"POST", "/config/status", {{"config_hash", "nothex"}, {"status", "applied"}}, 400, "VALIDATION_FAILED",
            "config_hash"},
           {"POST", "/config/status", {{"config_hash", std::string(64, 'b')}, {"status", "done"}}, 400,
            "VALIDATION_FAILED", "status"},
           {"POST", "/config/status",
            {{"config_hash", std::string(64, 'b')}, {"status", "failed"}, {"error", std::string(5000, 'x')}}, 400,
            "VALIDATION_FAILED", "error"},
           {"PUT", "/config/effective", {{"files", json::object()}}, 400, "VALIDATION_FAILED", "files"},
           {"PUT", "/config/effective", {{"files", file_map("../etc/passwd", "x")}}, 400, "VALIDATION_FAILED",
            "files.../etc/passwd"},
           {"PUT", "/assignment", {{"config", "missing"}}, 404, "CONFIG_NOT_FOUND", "config"},
           {"PUT", "/assignment", {{"config", "collector"}, {"version", 9}}, 400, "VERSION_NOT_FOUND", "version"},
           {"PUT", "/assignment", {{"config", "Bad Name"}}, 400, "VALIDATION_FAILED", "config"},
           {"PUT", "/assignment", {{"settings", "loud"}}, 400, "VALIDATION_FAILED", "settings"},
       }) {
    CAPTURE(test.route);
    CAPTURE(test.body.dump().substr(0, 200));
    const HttpAnswer answer = send_json(server, test.method, path + test.route, test.body);
    check_error(answer, test.status, test.code);
    CHECK(answer.json.at("details").contains(test.field));
  }
  check_error(send_json(server, "PUT", "/api/v1/agents/3f6c9a1e-8d2b-4c1f-9e7a-0b5d4c3a2f10/assignment",
                        {{"config", "collector"}}),
              404, "AGENT_NOT_FOUND");
  CHECK(log_position(server) == before);
  // Operators' routes are not served to agents, agents' config to anyone but the agent or an operator.
  server.use_agents_listener(true);
  CHECK(send_json(server, "PUT", path + "/assignment", {{"config", "collector"}}).status == 404);
  const HttpAnswer unauthenticated = server.send("GET", path + "/config", "", {{"Authorization", "Bearer nope"}});
  CHECK(unauthenticated.status == 401);
}

}  // namespace muster::e2e
