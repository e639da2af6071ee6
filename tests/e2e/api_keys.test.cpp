// Operator API keys: the bootstrap admin key, roles on every operator route,
// the key lifecycle over HTTP and the CLI, and that no secret leaks.

#include <sys/stat.h>

#include "tests/e2e/e2e_helpers.hpp"

namespace muster::e2e {
namespace {

std::string create_key(const MusterServer& server, const std::string& role, int expected_status = 201) {
  const HttpAnswer answer =
      server.post("/api/v1/api-keys", json{{"name", role + "-key"}, {"role", role}}.dump());
  REQUIRE(answer.status == expected_status);
  return answer.json.value("key", "");
}

}  // namespace

TEST_CASE("api keys: a new data dir gets an admin key in admin.key, mode 0600, never logged") {
  TempDir dir;
  const std::string data = dir.file("data");
  std::string key;
  {
    MusterServer server(data);
    key = server.admin_key();
    REQUIRE(key.rfind("mk_", 0) == 0);
    struct stat info {};
    REQUIRE(::stat((data + "/admin.key").c_str(), &info) == 0);
    CHECK((info.st_mode & 0777) == 0600);
    CHECK(server.log_text().find("admin.key") != std::string::npos);
    CHECK(server.log_text().find(key) == std::string::npos);
    CHECK(server.terminate() == 0);
  }
  MusterServer again(data);
  CHECK(again.admin_key() == key);
  CHECK(again.get("/api/v1/api-keys").json["api_keys"].size() == 1);
  CHECK(again.log_text().find("bootstrap admin") == std::string::npos);
}

TEST_CASE("api keys: every operator route checks the key and its role") {
  TempDir dir;
  // Many wrong keys on purpose: keep the failure throttle out of the way.
  MusterServer server(dir.file("data"), {"--auth-failures-per-minute", "1000"});
  const Registered agent = register_agent(server, "host-1");
  const std::string viewer = create_key(server, "viewer");
  const std::string operator_key = create_key(server, "operator");
  const std::string agents = "/api/v1/agents/" + agent.agent_id;

  struct Route {
    std::string method;
    std::string path;
    std::string needs;
  };
  const std::vector<Route> routes = {
      {"GET", "/api/v1/agents", "viewer"},   {"GET", agents, "viewer"},
      {"GET", agents + "/events", "viewer"}, {"GET", "/api/v1/events", "viewer"},
      {"GET", "/api/v1/stats", "viewer"},    {"POST", agents + "/decommission", "operator"},
      {"DELETE", agents, "operator"},        {"GET", "/api/v1/api-keys", "admin"},
      {"POST", "/api/v1/api-keys", "admin"}, {"DELETE", "/api/v1/api-keys/0123456789abcdef", "admin"}};
  const std::map<std::string, int> rank = {{"viewer", 0}, {"operator", 1}, {"admin", 2}};
  const std::uint64_t before = log_position(server);
  for (const Route& route : routes) {
    INFO(route.method << " " << route.path);
    check_error(server.send(route.method, route.path, "", {{"Authorization", ""}}), 401, "UNAUTHORIZED");
    check_error(server.send(route.method, route.path, "", {{"Authorization", "Basic abc"}}), 401,
                "INVALID_API_KEY");
    check_error(
        server.send(route.method, route.path, "", bearer("mk_0123456789abcdef_" + std::string(43, 'A'))), 401,
        "INVALID_API_KEY");
    for (const auto& [role, key] :
         std::vector<std::pair<std::string, std::string>>{{"viewer", viewer}, {"operator", operator_key}}) {
      if (rank.at(role) < rank.at(route.needs)) {
        check_error(server.send(route.method, route.path, "", bearer(key)), 403, "FORBIDDEN");
      }
    }
  }
  CHECK(log_position(server) == before);
  CHECK(server.send("GET", "/api/v1/stats", "", bearer(viewer)).status == 200);
  CHECK(server.send("GET", "/healthz", "", {{"Authorization", ""}}).status == 200);
}

TEST_CASE("api keys: created, listed without secrets, revoked, and events name who acted") {
  TempDir dir;
  MusterServer server(dir.file("data"));
  const HttpAnswer created = server.post(
      "/api/v1/api-keys", json{{"name", "deployer"}, {"role", "operator"}, {"org", "acme"}}.dump());
  REQUIRE(created.status == 201);
  const std::string key = created.json["key"];
  const std::string key_id = created.json["id"];
  CHECK(created.json["role"] == "operator");
  CHECK(created.json["org"] == "acme");

  // An agent of the key's organization, enrolled with a token of that organization.
  const HttpAnswer enrollment =
      server.post("/api/v1/enrollment-tokens", json{{"name", "acme"}, {"org", "acme"}}.dump());
  REQUIRE(enrollment.status == 201);
  httplib::Headers enroll = bearer(enrollment.json["token"]);
  enroll.emplace("Content-Type", "application/json");
  const HttpAnswer registered =
      server.send("POST", "/api/v1/agents/register", registration_body("host-1").dump(), enroll);
  REQUIRE(registered.status == 201);
  CHECK(registered.json["org"] == "acme");
  const std::string agent_id = registered.json["agent_id"];
  const HttpAnswer removed = server.send("DELETE", "/api/v1/agents/" + agent_id, "", bearer(key));
  REQUIRE(removed.status == 200);
  const json last = stream_events(server, agent_id).back();
  CHECK(last["type"] == "AgentDeregistered");
  CHECK(last["meta"]["principal"] == "key:" + key_id);

  const HttpAnswer listed = server.get("/api/v1/api-keys");
  REQUIRE(listed.status == 200);
  CHECK(listed.json["api_keys"].size() == 2);
  CHECK(listed.body.find(key.substr(20)) == std::string::npos);
  CHECK(listed.body.find("sha256") == std::string::npos);

  check_error(server.post("/api/v1/api-keys", json{{"name", "x"}, {"role", "root"}}.dump()), 400,
              "VALIDATION_FAILED");
  CHECK(server.del("/api/v1/api-keys/" + key_id).status == 200);
  check_error(server.send("GET", "/api/v1/stats", "", bearer(key)), 401, "INVALID_API_KEY");
  check_error(server.del("/api/v1/api-keys/" + key_id), 409, "API_KEY_REVOKED");
  check_error(server.del("/api/v1/api-keys/0123456789abcdef"), 404, "API_KEY_NOT_FOUND");
  check_error(server.del("/api/v1/api-keys/nothex"), 400, "INVALID_KEY_ID");

  const std::string everything = server.get("/api/v1/events?limit=1000").body + server.log_text();
  for (const std::string& secret : {key, server.admin_key()})
    CHECK(everything.find(secret.substr(20)) == std::string::npos);
}

TEST_CASE(
    "api keys: 'muster keys create' issues into a stopped server's data dir, and refuses a running one") {
  TempDir dir;
  const std::string data = dir.file("data");
  {
    MusterServer server(data);
    const CommandResult refused =
        run_muster({"keys", "create", "--data", data, "--role", "viewer", "--name", "x"});
    CHECK(refused.exit_code == 1);
    CHECK(refused.err.find("POST /api/v1/api-keys") != std::string::npos);
    CHECK(server.terminate() == 0);
  }
  const CommandResult made =
      run_muster({"keys", "create", "--data", data, "--role", "viewer", "--name", "dashboards"});
  REQUIRE(made.exit_code == 0);
  const json answer = json::parse(made.out);
  CHECK(answer["role"] == "viewer");
  CHECK(run_muster({"keys", "create", "--data", data, "--role", "root", "--name", "x"}).exit_code == 2);

  MusterServer server(data);
  CHECK(server.send("GET", "/api/v1/stats", "", bearer(answer["key"])).status == 200);
  check_error(server.send("DELETE", "/api/v1/agents/0123456789abcdef", "", bearer(answer["key"])), 403,
              "FORBIDDEN");
}

}  // namespace muster::e2e

namespace muster::e2e {

TEST_CASE("api keys: repeated wrong keys from one address are refused with 429 and Retry-After") {
  TempDir dir;
  MusterServer server(dir.file("data"), {"--auth-failures-per-minute", "3"});
  const httplib::Headers wrong = {{"Authorization", "Bearer mk_0123456789abcdef_" + std::string(43, 'x')}};
  for (int attempt = 0; attempt < 3; ++attempt)
    check_error(server.send("GET", "/api/v1/stats", "", wrong), 401, "INVALID_API_KEY");
  const HttpAnswer refused = server.send("GET", "/api/v1/stats", "", wrong);
  check_error(refused, 429, "TOO_MANY_REQUESTS");
  CHECK(std::stoi(refused.headers.find("Retry-After")->second) > 0);
  // The address is refused whatever it sends until the window ends.
  check_error(server.get("/api/v1/stats"), 429, "TOO_MANY_REQUESTS");
  CHECK(server.get("/healthz").status == 200);
}

}  // namespace muster::e2e
