// The OpenAPI document (http/openapi.json, served at GET /api/v1/openapi.json)
// against the real binary: it names every route of the route table and no
// other, with the credentials and role each takes, and real answers match its
// schemas. (That the document is valid OpenAPI 3.1 is checked by
// tests/e2e/openapi/document.test.mjs.)
//
// Adding a route: add its operation to http/openapi.json under its path
// ("/api/v1/things/{thing_id}" exactly as given to `table.add`), with
// `security` for its Credential ([] for none and sign_in; apiKey; agentToken;
// agentToken + apiKey for agent_or_api_key; enrollmentToken), `x-muster-role`
// (the Route's role when an API key is taken, else "none"),
// `x-muster-agents-listener: true` if `for_agents`, its parameters, request
// body and answers (reuse components/schemas; "default" is the Error), then
// run this test and `ctest -R openapi`. Test-only routes (/_test/, served with
// --enable-test-hooks) are left out of the document and skipped here.

#include <cstdlib>
#include <fstream>

#include "tests/e2e/e2e_helpers.hpp"

namespace muster::e2e {
namespace {

constexpr std::string_view kTestOnlyPrefix = "/_test/";

std::string lowercase(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

std::string uppercase(std::string text) {
  for (char& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return text;
}

// The `security` the document must state for a route's credential.
json security_for(const std::string& credential) {
  const auto scheme = [](const char* name) { return json{{name, json::array()}}; };
  if (credential == "none" || credential == "sign_in") return json::array();
  if (credential == "api_key") return json::array({scheme("apiKey")});
  if (credential == "agent_token") return json::array({scheme("agentToken")});
  if (credential == "agent_or_api_key") return json::array({scheme("agentToken"), scheme("apiKey")});
  if (credential == "enrollment_token") return json::array({scheme("enrollmentToken")});
  if (credential == "opamp_agent") {
    return json::array({scheme("agentToken"), scheme("enrollmentToken"), scheme("opampBasic")});
  }
  return json("unknown credential " + credential);
}

// What the route table says of a route, as GET /_test/routes lists it.
struct TableRoute {
  std::string credential;
  std::string role;
  bool for_agents = false;
};

std::string run_node(const std::string& script, const std::string& argument) {
  TempDir dir;
  const std::string output = dir.file("output.txt");
  const std::string command = fmt::format("'{}' '{}/{}' '{}' > '{}' 2>&1", MUSTER_NODE, MUSTER_OPENAPI_TESTS, script,
                                          argument, output);
  const int status = std::system(command.c_str());
  std::ifstream in(output);
  std::stringstream text;
  text << in.rdbuf();
  return (status == 0 ? "" : fmt::format("exit status {}\n", status)) + text.str();
}

}  // namespace

TEST_CASE("openapi: the document names every route of the table and no other, with its credentials and role") {
  TempDir dir;
  MusterServer server(dir.file("data"), {"--enable-test-hooks"});
  const HttpAnswer served = server.send("GET", "/api/v1/openapi.json", "", {{"Authorization", ""}});
  REQUIRE(served.status == 200);
  REQUIRE(served.json.is_object());
  const json& paths = served.json.at("paths");
  const HttpAnswer listed = server.get("/_test/routes");
  REQUIRE(listed.status == 200);

  std::map<std::pair<std::string, std::string>, TableRoute> table;
  for (const json& route : listed.json.at("routes")) {
    const std::string pattern = route.at("pattern");
    if (pattern.rfind(kTestOnlyPrefix, 0) == 0) continue;
    table[{route.at("method"), pattern}] = {route.at("credential"), route.at("role"), route.at("for_agents")};
  }
  REQUIRE(table.size() > 80);

  std::vector<std::string> missing_from_document, missing_from_table, wrong;
  for (const auto& [route, what] : table) {
    const auto& [method, pattern] = route;
    const std::string name = method + " " + pattern;
    const std::string key = lowercase(method);
    if (!paths.contains(pattern) || !paths.at(pattern).contains(key)) {
      missing_from_document.push_back(name);
      continue;
    }
    const json& operation = paths.at(pattern).at(key);
    const json security = security_for(what.credential);
    if (operation.value("security", json()) != security) {
      wrong.push_back(fmt::format("{}: security must be {} (credential {})", name, security.dump(), what.credential));
    }
    const bool takes_api_key = what.credential == "api_key" || what.credential == "agent_or_api_key";
    const std::string role = takes_api_key ? what.role : "none";
    if (operation.value("x-muster-role", json()) != role) {
      wrong.push_back(fmt::format("{}: x-muster-role must be \"{}\"", name, role));
    }
    if (operation.value("x-muster-agents-listener", false) != what.for_agents) {
      wrong.push_back(fmt::format("{}: x-muster-agents-listener must be {}", name, what.for_agents));
    }
  }
  for (const auto& [pattern, item] : paths.items()) {
    for (const auto& [method, operation] : item.items()) {
      if (!operation.is_object() || !operation.contains("responses")) continue;  // Path-level members.
      if (table.count({uppercase(method), pattern}) == 0) missing_from_table.push_back(uppercase(method) + " " + pattern);
    }
  }
  CHECK_MESSAGE(missing_from_document.empty(),
                "routes in the table but not in http/openapi.json: " << fmt::format("{}", fmt::join(missing_from_document, ", ")));
  CHECK_MESSAGE(missing_from_table.empty(),
                "operations in http/openapi.json but not in the route table: " << fmt::format("{}", fmt::join(missing_from_table, ", ")));
  CHECK_MESSAGE(wrong.empty(), "operations that disagree with the table:\n" << fmt::format("{}", fmt::join(wrong, "\n")));
}

TEST_CASE("openapi: real answers match the document's schemas") {
  TempDir dir;
  MusterServer server(dir.file("data"));
  json answers = json::array();
  // Sends a request, requires `status`, and keeps its answer for the check.
  const auto exchange = [&](const std::string& method, const std::string& path, const std::string& pattern, int status,
                            const json& body = nullptr, httplib::Headers headers = {}) {
    if (!body.is_null()) headers.emplace("Content-Type", "application/json");
    const HttpAnswer answer = server.send(method, path, body.is_null() ? "" : body.dump(), headers);
    INFO(method << " " << path << ": " << answer.status << " " << answer.body);
    REQUIRE(answer.status == status);
    REQUIRE(!answer.json.is_discarded());
    answers.push_back({{"method", method}, {"pattern", pattern}, {"status", status}, {"body", answer.json}});
    return answer.json;
  };

  exchange("GET", "/healthz", "/healthz", 200);
  exchange("GET", "/readyz", "/readyz", 200);
  const json registered = exchange("POST", "/api/v1/agents/register", "/api/v1/agents/register", 201,
                                   {{"instance_id", "openapi-1"}, {"name", "web-1"}, {"hostname", "web-1.local"},
                                    {"ip_address", "10.0.0.1"}, {"version", "1.2.3"}, {"type", "collector"},
                                    {"capabilities", {"metrics"}}, {"labels", {{"env", "prod"}}}});
  const std::string agent = registered.at("agent_id");
  const std::string agent_path = "/api/v1/agents/" + agent;
  const json beat = exchange("POST", agent_path + "/heartbeat", "/api/v1/agents/{agent_id}/heartbeat", 200,
                             {{"status", "degraded"}, {"version", "1.2.4"}, {"metrics", {{"cpu", 0.5}}}});
  const std::string seen = "?min_position=" + std::to_string(beat.at("position").get<std::uint64_t>());
  exchange("GET", "/api/v1/agents" + seen, "/api/v1/agents", 200);
  exchange("GET", agent_path + seen, "/api/v1/agents/{agent_id}", 200);
  exchange("GET", agent_path + "/events", "/api/v1/agents/{agent_id}/events", 200);
  exchange("GET", "/api/v1/events?limit=5", "/api/v1/events", 200);
  exchange("GET", "/api/v1/stats" + seen, "/api/v1/stats", 200);
  const json files = {{"collector.yaml", {{"content_type", "application/yaml"}, {"body", "receivers: {}\n"}}}};
  exchange("POST", "/api/v1/configs", "/api/v1/configs", 201,
           {{"name", "base"}, {"description", "the base"}, {"files", files}, {"message", "first"}});
  exchange("GET", "/api/v1/configs", "/api/v1/configs", 200);
  exchange("GET", "/api/v1/configs/base/versions", "/api/v1/configs/{name}/versions", 200);
  exchange("POST", "/api/v1/groups", "/api/v1/groups", 201, {{"name", "web"}, {"description", "web servers"}});
  exchange("GET", "/api/v1/groups/web", "/api/v1/groups/{name}", 200);
  exchange("POST", agent_path + "/commands", "/api/v1/agents/{agent_id}/commands", 201, {{"type", "restart"}});
  exchange("GET", "/api/v1/commands", "/api/v1/commands", 200);
  exchange("POST", "/api/v1/api-keys", "/api/v1/api-keys", 201, {{"name", "grafana"}, {"role", "viewer"}});
  exchange("GET", "/api/v1/api-keys", "/api/v1/api-keys", 200);
  exchange("GET", "/api/v1/enrollment-tokens", "/api/v1/enrollment-tokens", 200);
  // Errors: each is an Error with a code of the catalogue.
  exchange("GET", "/api/v1/agents/00000000-0000-4000-8000-000000000000", "/api/v1/agents/{agent_id}", 404);
  exchange("GET", "/api/v1/agents?limit=0", "/api/v1/agents", 400);
  exchange("POST", "/api/v1/configs", "/api/v1/configs", 400, {{"name", "Not A Name"}});
  exchange("GET", "/api/v1/stats", "/api/v1/stats", 401, nullptr, {{"Authorization", "Bearer mk_unknown_key"}});

  const std::string file = dir.file("answers.json");
  std::ofstream(file) << answers.dump(2);
  const std::string output = run_node("answers.mjs", file);
  INFO(output);
  CHECK(output.find(fmt::format("{0} of {0} answers match the document", answers.size())) != std::string::npos);
}

}  // namespace muster::e2e
