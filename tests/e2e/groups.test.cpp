// Groups over HTTP against the real binary: every route, precedence order,
// explicit members and the group's agents paged, assignments checked
// against the configs, organizations, a restart keeping everything, and
// the bad-input list (400 naming the field, nothing changed).

#include "tests/e2e/e2e_helpers.hpp"

namespace muster::e2e {
namespace {

const std::string kGroups = "/api/v1/groups";

HttpAnswer send_body(const MusterServer& server, const std::string& method, const std::string& path,
                     const std::string& body, const httplib::Headers& extra = {}) {
  httplib::Headers headers = extra;
  headers.emplace("Content-Type", "application/json");
  return server.send(method, path, body, headers);
}

// Creates a group from `body`; REQUIREs 201 and returns the answer.
json post_group(const MusterServer& server, const json& body, const std::string& query = "") {
  const HttpAnswer answer = server.post(with_query(kGroups, query), body.dump());
  INFO("create " << body.dump() << ": " << answer.status << " " << answer.body);
  REQUIRE(answer.status == 201);
  return answer.json;
}

// The names of GET /api/v1/groups, in the order answered.
std::vector<std::string> group_names(const MusterServer& server, const std::string& query = "") {
  std::vector<std::string> names;
  const json list = get_json(server, with_query(kGroups, query));
  for (const json& group : list.at("groups")) {
    names.push_back(group.at("name").get<std::string>());
  }
  return names;
}

// Every agent of GET /api/v1/groups/{name}/agents, following next_cursor
// with pages of `page_size`; REQUIREs each page's total to agree.
std::vector<json> group_agents(const MusterServer& server, const std::string& name,
                               std::size_t page_size = 100) {
  std::vector<json> agents;
  std::string cursor;
  for (int page_idx = 0;; ++page_idx) {
    REQUIRE(page_idx < 1000);
    std::string path = fmt::format("{}/{}/agents?limit={}", kGroups, name, page_size);
    if (!cursor.empty()) path = with_query(path, "cursor=" + url_encode(cursor));
    const json page = get_json(server, path);
    CHECK(page.at("agents").size() <= page_size);
    for (const json& agent : page.at("agents")) agents.push_back(agent);
    if (page.at("next_cursor").is_null()) {
      CHECK(page.at("total") == agents.size());
      break;
    }
    cursor = page.at("next_cursor").get<std::string>();
  }
  return agents;
}

json members_body(const std::vector<std::string>& ids) {
  return {{"agent_ids", ids}};
}

HttpAnswer add_members(const MusterServer& server, const std::string& group,
                       const std::vector<std::string>& ids) {
  return send_json(server, "POST", kGroups + "/" + group + "/members", members_body(ids));
}

HttpAnswer put_assignment(const MusterServer& server, const std::string& group, const json& body) {
  return send_json(server, "PUT", kGroups + "/" + group + "/assignment", body);
}

// An agent registered through an enrollment token of `org`.
std::string register_in_org(const MusterServer& server, const std::string& org,
                            const std::string& instance_id) {
  const HttpAnswer token =
      server.post("/api/v1/enrollment-tokens", json{{"name", "other"}, {"org", org}}.dump());
  REQUIRE(token.status == 201);
  const HttpAnswer registered =
      send_body(server, "POST", "/api/v1/agents/register", registration_body(instance_id).dump(),
                {{"Authorization", "Bearer " + token.json.at("token").get<std::string>()}});
  REQUIRE(registered.status == 201);
  return registered.json.at("agent_id");
}

}  // namespace

TEST_CASE("groups: create, read, list in precedence order, update, delete, per organization") {
  TempDir dir;
  MusterServer server(dir.file("data"));

  const json prod = post_group(
      server,
      {{"name", "prod"}, {"selector", {{"env", "prod"}}}, {"priority", 10}, {"description", "Production"}});
  CHECK(prod.at("name") == "prod");
  CHECK(prod.at("selector") == json{{"env", "prod"}});
  CHECK(prod.at("priority") == 10);
  CHECK(prod.at("description") == "Production");
  CHECK(time_of(prod.at("created_at")) > 0);
  const json all = post_group(server, {{"name", "all"}});
  CHECK(all.at("selector") == json::object());
  CHECK(all.at("priority") == 0);
  CHECK(all.at("description") == "");
  post_group(server, {{"name", "low"}, {"priority", -5}});
  post_group(server, {{"name", "prod-eu"}, {"priority", 10}});
  post_group(server, {{"name", "high"}, {"priority", 1000000}});

  SUBCASE("a name is taken once per organization") {
    const std::uint64_t before = log_position(server);
    check_error(server.post(kGroups, json{{"name", "prod"}}.dump()), 409, "GROUP_EXISTS");
    CHECK(log_position(server) == before);
    const json elsewhere = post_group(server, {{"name", "prod"}}, "org=globex");
    CHECK(elsewhere.at("org") == "globex");
    CHECK(group_names(server, "org=globex") == std::vector<std::string>{"prod"});
    CHECK(group_names(server).size() == 5);
  }
  SUBCASE("the list is in precedence order: higher priority first, then the one created first") {
    CHECK(group_names(server) == std::vector<std::string>{"high", "prod", "prod-eu", "all", "low"});
  }
  SUBCASE("one group reads back whole") {
    const json read = get_json(server, kGroups + "/prod");
    CHECK(read.at("name") == "prod");
    CHECK(read.at("selector") == json{{"env", "prod"}});
    CHECK(read.at("priority") == 10);
    CHECK(read.at("description") == "Production");
    CHECK(read.at("members") == json::array());
    CHECK(read.at("member_count") == 0);
    CHECK(read.at("assignment").is_null());
    CHECK(read.at("created_at") == prod.at("created_at"));
    CHECK(read.contains("updated_at"));
    check_error(server.get(kGroups + "/nope"), 404, "GROUP_NOT_FOUND");
  }
  SUBCASE("updates change what they name; the same values again change nothing") {
    const HttpAnswer patched = send_json(server, "PATCH", kGroups + "/prod-eu",
                                         json{{"priority", 20}, {"selector", {{"region", "eu"}}}});
    REQUIRE(patched.status == 200);
    CHECK(patched.json.at("priority") == 20);
    CHECK(patched.json.at("selector") == json{{"region", "eu"}});
    CHECK(patched.json.at("description") == "");
    CHECK(group_names(server) == std::vector<std::string>{"high", "prod-eu", "prod", "all", "low"});
    const std::uint64_t before = log_position(server);
    const HttpAnswer again = send_json(server, "PATCH", kGroups + "/prod-eu", json{{"priority", 20}});
    REQUIRE(again.status == 200);
    CHECK(again.json.at("position") == patched.json.at("position"));
    CHECK(log_position(server) == before);
    check_error(send_json(server, "PATCH", kGroups + "/nope", json{{"priority", 1}}), 404, "GROUP_NOT_FOUND");
  }
  SUBCASE("a deleted group is gone, and its name may be used again (later in precedence)") {
    const HttpAnswer deleted = server.del(kGroups + "/prod");
    REQUIRE(deleted.status == 200);
    CHECK(deleted.json.at("deleted") == true);
    check_error(server.get(kGroups + "/prod"), 404, "GROUP_NOT_FOUND");
    check_error(server.del(kGroups + "/prod"), 404, "GROUP_NOT_FOUND");
    CHECK(group_names(server) == std::vector<std::string>{"high", "prod-eu", "all", "low"});
    post_group(server, {{"name", "prod"}, {"priority", 10}});
    CHECK(group_names(server) == std::vector<std::string>{"high", "prod-eu", "prod", "all", "low"});
    CHECK(get_json(server, kGroups + "/prod").at("selector") == json::object());
  }
  SUBCASE("a key scoped to an organization works in it alone") {
    const HttpAnswer key =
        server.post("/api/v1/api-keys", json{{"name", "acme"}, {"role", "operator"}, {"org", "acme"}}.dump());
    REQUIRE(key.status == 201);
    const httplib::Headers acme = {{"Authorization", "Bearer " + key.json.at("key").get<std::string>()}};
    const HttpAnswer made = send_body(server, "POST", kGroups, json{{"name", "edge"}}.dump(), acme);
    REQUIRE(made.status == 201);
    CHECK(made.json.at("org") == "acme");
    CHECK(server.send("GET", kGroups, "", acme).json.at("groups").size() == 1);
    check_error(server.send("GET", kGroups + "/prod", "", acme), 404, "GROUP_NOT_FOUND");
    check_error(
        send_body(server, "POST", with_query(kGroups, "org=default"), json{{"name", "x"}}.dump(), acme), 403,
        "FORBIDDEN");
    CHECK(group_names(server, "org=acme") == std::vector<std::string>{"edge"});
  }
}

TEST_CASE("groups: explicit members, and the group's agents paged like the agent list") {
  TempDir dir;
  MusterServer server(dir.file("data"));
  std::vector<std::string> prod_agents;
  std::vector<std::string> dev_agents;
  for (int index = 0; index < 3; ++index) {
    prod_agents.push_back(
        register_agent(server, fmt::format("prod-{}", index), {{"labels", {{"env", "prod"}}}}).agent_id);
  }
  for (int index = 0; index < 2; ++index) {
    dev_agents.push_back(
        register_agent(server, fmt::format("dev-{}", index), {{"labels", {{"env", "dev"}}}}).agent_id);
  }
  post_group(server, {{"name", "prod"}, {"selector", {{"env", "prod"}}}});

  const auto ids_in = [&](const std::string& group) { return ids_of(group_agents(server, group)); };
  CHECK(ids_in("prod") == std::set<std::string>(prod_agents.begin(), prod_agents.end()));

  SUBCASE("added members are in the group whatever their labels; adding them again changes nothing") {
    const HttpAnswer added = add_members(server, "prod", {dev_agents[0], prod_agents[0], dev_agents[0]});
    REQUIRE(added.status == 200);
    CHECK(added.json.at("added") == 2);
    const std::uint64_t before = log_position(server);
    const HttpAnswer again = add_members(server, "prod", {dev_agents[0], prod_agents[0]});
    REQUIRE(again.status == 200);
    CHECK(again.json.at("added") == 0);
    CHECK(log_position(server) == before);

    const json read = get_json(server, kGroups + "/prod");
    CHECK(read.at("member_count") == 2);
    std::vector<std::string> expected_members = {dev_agents[0], prod_agents[0]};
    std::sort(expected_members.begin(), expected_members.end());
    CHECK(read.at("members").get<std::vector<std::string>>() == expected_members);
    CHECK(ids_in("prod").size() == 4);
    CHECK(ids_in("prod").count(dev_agents[0]) == 1);

    const HttpAnswer removed =
        send_json(server, "DELETE", kGroups + "/prod/members", members_body({dev_agents[0], dev_agents[1]}));
    REQUIRE(removed.status == 200);
    CHECK(removed.json.at("removed") == 1);
    CHECK(ids_in("prod").size() == 3);
    CHECK(get_json(server, kGroups + "/prod").at("member_count") == 1);
  }
  SUBCASE("pages of one add up to the group, each agent as the agent list shows it") {
    REQUIRE(add_members(server, "prod", {dev_agents[1]}).status == 200);
    const std::vector<json> paged = group_agents(server, "prod", 1);
    CHECK(paged.size() == 4);
    CHECK(ids_of(paged).size() == 4);
    std::map<std::string, json> listed;
    for (const json& agent : list_agents(server)) listed[agent.at("agent_id")] = agent;
    for (const json& agent : paged) CHECK(agent == listed.at(agent.at("agent_id")));
  }
  SUBCASE("the agent list's filters apply within the group") {
    CHECK(group_agents(server, "prod").size() == 3);
    CHECK(get_json(server, kGroups + "/prod/agents?status=OFFLINE").at("total") == 0);
    CHECK(get_json(server, kGroups + "/prod/agents?config_status=none").at("total") == 3);
    CHECK(get_json(server, kGroups + "/prod/agents?config_status=applied").at("total") == 0);
    post_group(server, {{"name", "first-two"}, {"selector", {{"env", "none"}}}});
    REQUIRE(add_members(server, "first-two", {prod_agents[0], dev_agents[0]}).status == 200);
    CHECK(get_json(server, kGroups + "/prod/agents?group=first-two").at("total") == 1);
  }
  SUBCASE("a selector that matches nothing is allowed") {
    post_group(server, {{"name", "nowhere"}, {"selector", {{"env", "nowhere"}}}});
    const json page = get_json(server, kGroups + "/nowhere/agents");
    CHECK(page.at("agents") == json::array());
    CHECK(page.at("total") == 0);
  }
  SUBCASE("an empty selector matches every agent of the org, none of another") {
    register_in_org(server, "globex", "globex-1");
    post_group(server, {{"name", "everyone"}});
    CHECK(ids_in("everyone").size() == 5);
  }
  SUBCASE("members must be agents of the group's organization; the unknown ones are named") {
    const std::string foreign = register_in_org(server, "globex", "globex-1");
    const std::string unknown = "00000000-0000-4000-8000-000000000001";
    const std::uint64_t before = log_position(server);
    const HttpAnswer refused = add_members(server, "prod", {prod_agents[1], foreign, unknown});
    check_error(refused, 400, "UNKNOWN_AGENTS");
    const std::string named = refused.json.at("details").at("agent_ids");
    CHECK(named.find(foreign) != std::string::npos);
    CHECK(named.find(unknown) != std::string::npos);
    CHECK(named.find(prod_agents[1]) == std::string::npos);
    CHECK(log_position(server) == before);
    check_error(add_members(server, "nope", {prod_agents[1]}), 404, "GROUP_NOT_FOUND");
    check_error(server.get(kGroups + "/nope/agents"), 404, "GROUP_NOT_FOUND");
  }
}

TEST_CASE("groups: 10,000 members in one request, and a group's agents paged through them") {
  TempDir dir;
  MusterServer server(dir.file("data"));
  post_group(server, {{"name", "fleet"}, {"selector", {{"never", "matches"}}}});
  std::vector<std::string> ids;
  for (int index = 0; index < 30; ++index)
    ids.push_back(register_agent(server, fmt::format("h-{}", index)).agent_id);
  // Up to 10,000 ids per request; repeats are allowed and counted once.
  std::vector<std::string> many;
  while (many.size() < 10'000) many.push_back(ids[many.size() % ids.size()]);
  const HttpAnswer added = add_members(server, "fleet", many);
  REQUIRE(added.status == 200);
  CHECK(added.json.at("added") == ids.size());
  many.push_back(ids[0]);
  check_error(add_members(server, "fleet", many), 400, "VALIDATION_FAILED");
  CHECK(group_agents(server, "fleet", 7).size() == ids.size());
}

TEST_CASE("groups: assignments are checked against the org's configs, set once, and cleared") {
  TempDir dir;
  MusterServer server(dir.file("data"));
  post_group(server, {{"name", "prod"}});
  const std::uint64_t before = log_position(server);

  SUBCASE("an unknown config or policy is 404 CONFIG_NOT_FOUND, naming the field; nothing changes") {
    HttpAnswer refused = put_assignment(server, "prod", {{"config", "nope"}});
    check_error(refused, 404, "CONFIG_NOT_FOUND");
    CHECK(refused.json.at("details").contains("config"));
    refused = put_assignment(server, "prod", {{"policies", json::array({"nope"})}});
    check_error(refused, 404, "CONFIG_NOT_FOUND");
    CHECK(refused.json.at("details").contains("policies[0]"));
    check_error(put_assignment(server, "nope", {{"config", "nope"}}), 404, "GROUP_NOT_FOUND");
    CHECK(log_position(server) == before);
  }
  SUBCASE("settings alone are an assignment; the same again changes nothing; {} and no body clear it") {
    const json settings = {{"log_level", "debug"}, {"limits", {{"cpu", 2}}}};
    const HttpAnswer set = put_assignment(server, "prod", {{"settings", settings}});
    REQUIRE(set.status == 200);
    CHECK(set.json.at("group") == "prod");
    CHECK(set.json.at("assignment").at("settings") == settings);
    CHECK(get_json(server, kGroups + "/prod").at("assignment") == set.json.at("assignment"));
    const std::uint64_t after_set = log_position(server);
    REQUIRE(put_assignment(server, "prod", {{"settings", settings}}).status == 200);
    CHECK(log_position(server) == after_set);

    const HttpAnswer cleared = put_assignment(server, "prod", json::object());
    REQUIRE(cleared.status == 200);
    CHECK(cleared.json.at("assignment").is_null());
    CHECK(get_json(server, kGroups + "/prod").at("assignment").is_null());
    REQUIRE(put_assignment(server, "prod", {{"settings", settings}}).status == 200);
    const HttpAnswer no_body = send_body(server, "PUT", kGroups + "/prod/assignment", std::string());
    REQUIRE(no_body.status == 200);
    CHECK(no_body.json.at("assignment").is_null());
  }
  SUBCASE("configs and policies that exist are assigned, with pinned versions checked") {
    REQUIRE(
        server
            .post("/api/v1/configs",
                  json{{"name", "collector"}, {"kind", "config"}, {"files", collector_files("level: info\n")}}
                      .dump())
            .status == 201);
    REQUIRE(
        server
            .post("/api/v1/configs",
                  json{{"name", "hardening"}, {"kind", "policy"}, {"files", collector_files("tls: true\n")}}
                      .dump())
            .status == 201);
    const json body = {{"config", "collector"},
                       {"version", 1},
                       {"policies", json::array({"hardening"})},
                       {"settings", {{"log_level", "debug"}}}};
    const HttpAnswer assigned = put_assignment(server, "prod", body);
    REQUIRE(assigned.status == 200);
    CHECK(assigned.json.at("assignment").at("config") == "collector");
    CHECK(assigned.json.at("assignment").at("version") == 1);
    CHECK(assigned.json.at("assignment").at("policies") ==
          json::array({{{"name", "hardening"}, {"version", "latest"}}}));
    const HttpAnswer missing = put_assignment(server, "prod", {{"config", "collector"}, {"version", 9}});
    check_error(missing, 400, "VERSION_NOT_FOUND");
    CHECK(missing.json.at("details").contains("version"));
    check_error(put_assignment(server, "prod", {{"config", "hardening"}}), 404, "CONFIG_NOT_FOUND");
    CHECK(get_json(server, kGroups + "/prod").at("assignment") == assigned.json.at("assignment"));
  }
}

TEST_CASE("groups: a restart keeps groups, their order, members and assignments") {
  TempDir dir;
  const std::string data = dir.file("data");
  json before_list;
  json before_group;
  {
    MusterServer server(data);
    const std::string agent = register_agent(server, "host-1").agent_id;
    post_group(server, {{"name", "first"}, {"priority", 3}});
    post_group(server, {{"name", "second"}, {"priority", 3}, {"selector", {{"env", "prod"}}}});
    post_group(server, {{"name", "gone"}});
    REQUIRE(server.del(kGroups + "/gone").status == 200);
    REQUIRE(add_members(server, "second", {agent}).status == 200);
    REQUIRE(put_assignment(server, "second", {{"settings", {{"a", 1}}}}).status == 200);
    before_list = get_json(server, kGroups);
    before_group = get_json(server, kGroups + "/second");
    REQUIRE(server.terminate() == 0);
  }
  MusterServer again(data);
  CHECK(get_json(again, kGroups) == before_list);
  CHECK(get_json(again, kGroups + "/second") == before_group);
  CHECK(group_names(again) == std::vector<std::string>{"first", "second"});
  check_error(again.get(kGroups + "/gone"), 404, "GROUP_NOT_FOUND");
  // The groups' actors pick up where the log left off.
  CHECK(add_members(again, "second", before_group.at("members").get<std::vector<std::string>>())
            .json.at("added") == 0);
  check_error(again.post(kGroups, json{{"name", "first"}}.dump()), 409, "GROUP_EXISTS");
}

TEST_CASE("groups: bad input is refused with 400 naming the field, and nothing changes") {
  TempDir dir;
  MusterServer server(dir.file("data"));
  post_group(server, {{"name", "prod"}});
  const std::string agent = register_agent(server, "host-1").agent_id;

  struct Case {
    std::string method;
    std::string path;
    std::string body;
    int status;
    std::string code;
    std::string field;
  };
  const auto body = [](const json& value) { return value.dump(); };
  std::vector<json> too_many(10'001, agent);
  const std::vector<Case> cases = {
      {"POST", kGroups, body(json::object()), 400, "VALIDATION_FAILED", "name"},
      {"POST", kGroups, body({{"name", "Bad Name"}}), 400, "VALIDATION_FAILED", "name"},
      {"POST", kGroups, body({{"name", std::string(64, 'a')}}), 400, "VALIDATION_FAILED", "name"},
      {"POST", kGroups, body({{"name", 5}}), 400, "VALIDATION_FAILED", "name"},
      {"POST", kGroups, body({{"name", "x"}, {"selector", "env=prod"}}), 400, "VALIDATION_FAILED",
       "selector"},
      {"POST", kGroups, body({{"name", "x"}, {"selector", {{"env", 1}}}}), 400, "VALIDATION_FAILED",
       "selector"},
      {"POST", kGroups, body({{"name", "x"}, {"selector", {{"bad key", "v"}}}}), 400, "VALIDATION_FAILED",
       "selector"},
      {"POST", kGroups, body({{"name", "x"}, {"priority", 1.5}}), 400, "VALIDATION_FAILED", "priority"},
      {"POST", kGroups, body({{"name", "x"}, {"priority", "high"}}), 400, "VALIDATION_FAILED", "priority"},
      {"POST", kGroups, body({{"name", "x"}, {"priority", 1000001}}), 400, "VALIDATION_FAILED", "priority"},
      {"POST", kGroups, body({{"name", "x"}, {"priority", -1000001}}), 400, "VALIDATION_FAILED", "priority"},
      {"POST", kGroups, body({{"name", "x"}, {"description", 5}}), 400, "VALIDATION_FAILED", "description"},
      {"POST", kGroups, body({{"name", "x"}, {"colour", "red"}}), 400, "VALIDATION_FAILED", "colour"},
      {"POST", kGroups, "{not json", 400, "INVALID_JSON", "body"},
      {"POST", with_query(kGroups, "org=bad%20org"), body({{"name", "x"}}), 400, "INVALID_PARAMETER", "org"},
      {"GET", kGroups + "/Bad", "", 400, "VALIDATION_FAILED", "name"},
      {"PATCH", kGroups + "/prod", body({{"priority", "x"}}), 400, "VALIDATION_FAILED", "priority"},
      {"PATCH", kGroups + "/prod", body({{"name", "renamed"}}), 400, "VALIDATION_FAILED", "name"},
      {"PATCH", kGroups + "/prod", body({{"selector", json::array()}}), 400, "VALIDATION_FAILED", "selector"},
      {"PATCH", kGroups + "/nope", body({{"priority", 1}}), 404, "GROUP_NOT_FOUND", ""},
      {"DELETE", kGroups + "/nope", "", 404, "GROUP_NOT_FOUND", ""},
      {"GET", kGroups + "/prod/agents?limit=0", "", 400, "INVALID_PARAMETER", "limit"},
      {"GET", kGroups + "/prod/agents?cursor=nope", "", 400, "INVALID_PARAMETER", "cursor"},
      {"POST", kGroups + "/prod/members", body({{"agent_ids", "x"}}), 400, "VALIDATION_FAILED", "agent_ids"},
      {"POST", kGroups + "/prod/members", body({{"agent_ids", json::array()}}), 400, "VALIDATION_FAILED",
       "agent_ids"},
      {"POST", kGroups + "/prod/members", body({{"agent_ids", {1}}}), 400, "VALIDATION_FAILED", "agent_ids"},
      {"POST", kGroups + "/prod/members", body({{"agent_ids", {"not-a-uuid"}}}), 400, "VALIDATION_FAILED",
       "agent_ids"},
      {"POST", kGroups + "/prod/members", body({{"agent_ids", {"3F6C9A1E-8D2B-4C1F-9E7A-0B5D4C3A2F10"}}}),
       400, "VALIDATION_FAILED", "agent_ids"},
      {"POST", kGroups + "/prod/members", body({{"agent_ids", too_many}}), 400, "VALIDATION_FAILED",
       "agent_ids"},
      {"POST", kGroups + "/prod/members", body(json::object()), 400, "VALIDATION_FAILED", "agent_ids"},
      {"DELETE", kGroups + "/prod/members", body({{"agent_ids", {"x"}}}), 400, "VALIDATION_FAILED",
       "agent_ids"},
      {"PUT", kGroups + "/prod/assignment", body({{"config", "Bad"}}), 400, "VALIDATION_FAILED", "config"},
      {"PUT", kGroups + "/prod/assignment", body({{"version", 1}}), 400, "VALIDATION_FAILED", "version"},
      {"PUT", kGroups + "/prod/assignment", body({{"config", "c"}, {"version", 0}}), 400, "VALIDATION_FAILED",
       "version"},
      {"PUT", kGroups + "/prod/assignment", body({{"policies", json::array({"a", "a"})}}), 400,
       "VALIDATION_FAILED", "policies"},
      {"PUT", kGroups + "/prod/assignment", body({{"settings", json::array()}}), 400, "VALIDATION_FAILED",
       "settings"},
      {"PUT", kGroups + "/prod/assignment", body({{"setings", {{"a", 1}}}}), 400, "VALIDATION_FAILED",
       "setings"},
      {"PUT", kGroups + "/nope/assignment", body(json::object()), 404, "GROUP_NOT_FOUND", ""},
  };
  const std::uint64_t before = log_position(server);
  for (const Case& bad : cases) {
    const HttpAnswer answer = send_body(server, bad.method, bad.path, bad.body);
    INFO(bad.method << " " << bad.path << " " << bad.body.substr(0, 200) << " -> " << answer.status << " "
                    << answer.body.substr(0, 400));
    check_error(answer, bad.status, bad.code);
    if (!bad.field.empty()) {
      REQUIRE(answer.json.contains("details"));
      CHECK(answer.json.at("details").contains(bad.field));
    }
  }
  CHECK(log_position(server) == before);
  CHECK(group_names(server) == std::vector<std::string>{"prod"});
  const json prod = get_json(server, kGroups + "/prod");
  CHECK(prod.at("member_count") == 0);
  CHECK(prod.at("assignment").is_null());
}

}  // namespace muster::e2e
