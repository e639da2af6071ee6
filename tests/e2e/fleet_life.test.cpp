// The fleet's life through the public API of a real `muster serve`: an agent
// from registration to decommission (with a heartbeat timeout in between), and
// a fleet of 25 agents listed through every filter, paged and counted.

#include <algorithm>
#include <atomic>
#include <functional>
#include <thread>

#include "tests/e2e/e2e_helpers.hpp"

namespace muster::e2e {
namespace {

using namespace std::chrono_literals;

bool is_agent_id(const json& value) {
  if (!value.is_string()) return false;
  const std::string& text = value.get_ref<const std::string&>();
  if (text.size() != 36) return false;
  for (std::size_t char_idx = 0; char_idx < text.size(); ++char_idx) {
    const bool dash = char_idx == 8 || char_idx == 13 || char_idx == 18 || char_idx == 23;
    const char c = text[char_idx];
    if (dash ? c != '-'
             : !std::isxdigit(static_cast<unsigned char>(c)) || std::isupper(static_cast<unsigned char>(c))) {
      return false;
    }
  }
  return true;
}

bool listed(const MusterServer& server, const std::string& agent_id, std::uint64_t min_position) {
  return ids_of(list_agents(server, "", min_position)).count(agent_id) == 1;
}

HttpAnswer heartbeat_with_token(const MusterServer& server, const std::string& agent_id,
                                const std::string& token, const json& body = json::object()) {
  return server.send("POST", "/api/v1/agents/" + agent_id + "/heartbeat", body.dump(),
                     {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + token}});
}

}  // namespace

TEST_CASE("fleet life: one agent from registration to decommission, and its stream tells the story") {
  TempDir dir;
  MusterServer server(dir.file("data"), {"--heartbeat-timeout", "1s"});
  const json profile = {{"name", "alpha"},
                        {"hostname", "alpha.example"},
                        {"ip_address", "10.0.0.1"},
                        {"version", "1.0"},
                        {"type", "edge"},
                        {"capabilities", {"metrics", "logs"}},
                        {"labels", {{"env", "prod"}}}};

  // A new instance: 201, ONLINE, in the enrollment token's organization, with
  // its agent token and the request id recorded in the event.
  HttpAnswer created =
      server.send("POST", "/api/v1/agents/register", registration_body("alpha-1", profile).dump(),
                  {{"Content-Type", "application/json"}, {"X-Request-Id", "e2e-register-1"}});
  INFO("register: " << created.body);
  REQUIRE(created.status == 201);
  CHECK(is_agent_id(created.json["agent_id"]));
  CHECK(created.json["instance_id"] == "alpha-1");
  CHECK(created.json["org"] == "default");
  CHECK(created.json["status"] == "ONLINE");
  CHECK(created.json["agent_token"].is_string());
  CHECK(created.json["config_version"].is_number_unsigned());
  CHECK(time_of(created.json["registered_at"]) > 0);
  const std::string agent_id = created.json["agent_id"];
  const std::string first_token = created.json["agent_token"];
  const std::uint64_t created_at = created.json["position"];
  CHECK(created_at == kBootstrapEvents + kEnrollmentTokenEvents + kEnrollmentUseEvents + kNewAgentEvents);

  // The same instance with the same profile: 200, same id, profile untouched;
  // only a new token is issued (AgentTokenIssued), and the old one stops
  // working. A known instance spends no use of the enrollment token.
  const Registered same = register_agent(server, "alpha-1", profile);
  CHECK(same.status == 200);
  CHECK(same.agent_id == agent_id);
  CHECK(same.position == created_at + 1);
  CHECK(log_position(server) == same.position);
  CHECK(same.body["agent_token"].is_string());
  CHECK(same.body["agent_token"] != first_token);
  CHECK(stream_types(server, agent_id) ==
        std::vector<std::string>{"AgentRegistered", "AgentTokenIssued", "AgentTokenIssued"});
  check_error(heartbeat_with_token(server, agent_id, first_token), 401, "INVALID_AGENT_TOKEN");
  CHECK(log_position(server) == same.position);

  // Only the version given: AgentUpdated with just that change; the rest is kept.
  const Registered updated = register_agent(server, "alpha-1", {{"version", "1.1"}});
  CHECK(updated.status == 200);
  CHECK(updated.agent_id == agent_id);
  CHECK(updated.position == same.position + 2);  // AgentUpdated, AgentTokenIssued
  json agent = get_agent(server, agent_id, updated.position);
  CHECK(agent["version"] == "1.1");
  CHECK(agent["name"] == "alpha");
  CHECK(agent["hostname"] == "alpha.example");
  CHECK(agent["ip_address"] == "10.0.0.1");
  CHECK(agent["type"] == "edge");
  CHECK(agent["capabilities"] == json({"metrics", "logs"}));
  CHECK(agent["labels"] == json({{"env", "prod"}}));
  const std::vector<json> update_events = stream_events(server, agent_id);
  REQUIRE(update_events.size() >= 2);
  CHECK(update_events[update_events.size() - 2]["type"] == "AgentUpdated");
  CHECK(update_events[update_events.size() - 2]["data"] == json({{"changes", {{"version", "1.1"}}}}));
  CHECK(update_events.back()["type"] == "AgentTokenIssued");

  // A degraded heartbeat: DEGRADED, AgentStatusChanged ONLINE -> DEGRADED.
  json degraded = heartbeat(server, agent_id, {{"status", "degraded"}, {"metrics", {{"cpu", 0.75}}}});
  CHECK(degraded["success"] == true);
  CHECK(degraded["agent_id"] == agent_id);
  CHECK(degraded["status"] == "DEGRADED");
  CHECK(degraded["commands_pending"] == 0);
  agent = get_agent(server, agent_id, degraded["position"]);
  CHECK(agent["status"] == "DEGRADED");
  CHECK(agent["health"]["metrics"] == json({{"cpu", 0.75}}));
  json status_changed = stream_events(server, agent_id).back();
  CHECK(status_changed["type"] == "AgentStatusChanged");
  CHECK(status_changed["data"] == json({{"from", "ONLINE"}, {"to", "DEGRADED"}}));

  // Silence: alpha goes OFFLINE about 1 s after its last heartbeat, while
  // beta, which keeps heartbeating, stays ONLINE.
  const Registered beta = register_agent(server, "beta-1", {{"version", "1.0"}});
  const bool went_offline = eventually(
      [&] {
        heartbeat(server, beta.agent_id);
        return get_agent(server, agent_id)["status"] == "OFFLINE";
      },
      10s);
  REQUIRE(went_offline);
  agent = get_agent(server, agent_id, log_position(server));
  json offline_event = stream_events(server, agent_id).back();
  CHECK(offline_event["type"] == "AgentWentOffline");
  CHECK(offline_event["data"]["timeout_ms"] == 1000);
  CHECK(offline_event["data"]["last_seen"] == time_of(agent["last_seen"]));
  CHECK(time_of(offline_event["time"]) - time_of(agent["last_seen"]) >= 1000);
  CHECK(agent["health"]["health"] == "offline");
  json beta_now = get_agent(server, beta.agent_id, log_position(server));
  CHECK(beta_now["status"] == "ONLINE");
  CHECK(stream_types(server, beta.agent_id) ==
        std::vector<std::string>{"AgentRegistered", "AgentTokenIssued"});
  CHECK(ids_of(log_events(server, "type=AgentWentOffline")) == std::set<std::string>{agent_id});

  // The next heartbeat brings it back ONLINE (its degraded status is not resurrected).
  json back = heartbeat(server, agent_id);
  CHECK(back["status"] == "ONLINE");
  json came_online = stream_events(server, agent_id).back();
  CHECK(came_online["type"] == "AgentCameOnline");
  CHECK(came_online["data"] == json({{"status", "ONLINE"}}));
  CHECK(get_agent(server, agent_id, back["position"])["status"] == "ONLINE");
  CHECK(stats(server, back["position"])["total"] == 2);

  // Deregistered: out of the list and the counts; its token revoked, so
  // heartbeats are refused (told to register again); still readable by id.
  HttpAnswer deregistered = server.del("/api/v1/agents/" + agent_id);
  REQUIRE(deregistered.status == 200);
  CHECK(deregistered.json["agent_id"] == agent_id);
  CHECK(deregistered.json["status"] == "DEREGISTERED");
  const std::uint64_t deregistered_at = deregistered.json["position"];
  CHECK_FALSE(listed(server, agent_id, deregistered_at));
  CHECK(stats(server, deregistered_at)["total"] == 1);
  check_error(server.post("/api/v1/agents/" + agent_id + "/heartbeat", "{}"), 404, "AGENT_NOT_REGISTERED");
  CHECK(get_agent(server, agent_id, deregistered_at)["status"] == "DEREGISTERED");
  HttpAnswer again = server.del("/api/v1/agents/" + agent_id);
  CHECK(again.status == 200);
  CHECK(again.json["status"] == "DEREGISTERED");
  CHECK(log_position(server) == deregistered_at);

  // Registering again brings the same agent back, profile kept, with a new
  // token its heartbeats are taken with.
  const Registered returned = register_agent(server, "alpha-1");
  CHECK(returned.status == 200);
  CHECK(returned.agent_id == agent_id);
  CHECK(returned.body["status"] == "ONLINE");
  CHECK(heartbeat(server, agent_id)["status"] == "ONLINE");
  CHECK(listed(server, agent_id, returned.position));
  agent = get_agent(server, agent_id, returned.position);
  CHECK(agent["status"] == "ONLINE");
  CHECK(agent["version"] == "1.1");
  CHECK(agent["labels"] == json({{"env", "prod"}}));

  // Decommissioned: refused for good (its token revoked), in no list, still readable by id.
  HttpAnswer decommissioned = server.post("/api/v1/agents/" + agent_id + "/decommission", "");
  REQUIRE(decommissioned.status == 200);
  CHECK(decommissioned.json["status"] == "DECOMMISSIONED");
  const std::uint64_t decommissioned_at = decommissioned.json["position"];
  check_error(server.post("/api/v1/agents/register", registration_body("alpha-1").dump()), 409,
              "AGENT_DECOMMISSIONED");
  check_error(server.post("/api/v1/agents/" + agent_id + "/heartbeat", "{}"), 409, "AGENT_DECOMMISSIONED");
  CHECK(log_position(server) == decommissioned_at);
  CHECK_FALSE(listed(server, agent_id, decommissioned_at));
  for (const char* status : {"ONLINE", "DEGRADED", "OFFLINE"}) {
    CHECK(ids_of(list_agents(server, std::string("status=") + status, decommissioned_at)).count(agent_id) ==
          0);
  }
  json fleet = stats(server, decommissioned_at);
  CHECK(fleet["total"] == 1);
  CHECK(fleet["by_type"].count("edge") == 0);
  CHECK(get_agent(server, agent_id, decommissioned_at)["status"] == "DECOMMISSIONED");

  // The whole story, in order, with consecutive versions and rising positions.
  const std::vector<json> events = stream_events(server, agent_id);
  CHECK(types_of(events) ==
        std::vector<std::string>{"AgentRegistered", "AgentTokenIssued", "AgentTokenIssued", "AgentUpdated",
                                 "AgentTokenIssued", "AgentStatusChanged", "AgentWentOffline",
                                 "AgentCameOnline", "AgentDeregistered", "AgentRegistered",
                                 "AgentTokenIssued", "AgentDecommissioned"});
  for (std::size_t event_idx = 0; event_idx < events.size(); ++event_idx) {
    CHECK(events[event_idx]["stream"] == agent_stream(agent_id));
    CHECK(events[event_idx]["version"] == event_idx + 1);
    CHECK(events[event_idx]["schema_version"].is_number_unsigned());
    if (event_idx > 0) CHECK(events[event_idx]["position"] > events[event_idx - 1]["position"]);
  }
  CHECK(events.front()["meta"]["request_id"] == "e2e-register-1");
  CHECK(events.front()["meta"]["source"] == "127.0.0.1");
  CHECK(events.front()["data"]["instance_id"] == "alpha-1");
  CHECK(events.front()["data"]["agent_id"] == agent_id);
  CHECK(events.back()["position"] == decommissioned_at);
}

namespace {

// What the listing test registered, to compute what each filter must return.
struct ModelAgent {
  std::string agent_id;
  int index = 0;
  std::string version;
  std::string type;
  std::string env;
  std::string rack;
  std::string status = "ONLINE";
};

std::set<std::string> ids_where(const std::vector<ModelAgent>& model,
                                const std::function<bool(const ModelAgent&)>& keep) {
  std::set<std::string> ids;
  for (const ModelAgent& agent : model) {
    if (keep(agent)) ids.insert(agent.agent_id);
  }
  return ids;
}

}  // namespace

TEST_CASE("fleet listing: filters, cursor paging, stats and one agent's health") {
  TempDir dir;
  MusterServer server(dir.file("data"));
  std::vector<ModelAgent> model;
  std::uint64_t position = 0;
  for (int index = 0; index < 25; ++index) {
    ModelAgent agent;
    agent.index = index;
    agent.version = index % 2 == 0 ? "1.0" : "2.0";
    agent.type = index % 3 == 0 ? "edge" : "core";
    agent.env = index < 10 ? "prod" : "dev";
    agent.rack = fmt::format("r{}", index % 2);
    const Registered registered = register_agent(server, fmt::format("node-{:02}", index),
                                                 {{"name", fmt::format("node-{:02}", index)},
                                                  {"hostname", fmt::format("host-{:02}.example", index)},
                                                  {"version", agent.version},
                                                  {"type", agent.type},
                                                  {"labels", {{"env", agent.env}, {"rack", agent.rack}}}});
    CHECK(registered.status == 201);
    agent.agent_id = registered.agent_id;
    position = registered.position;
    if (index % 5 == 0) {
      position = heartbeat(server, agent.agent_id, {{"status", "degraded"}})["position"];
      agent.status = "DEGRADED";
    }
    model.push_back(agent);
  }
  const auto all = [](const ModelAgent&) { return true; };
  REQUIRE(ids_of(list_agents(server, "", position)) == ids_where(model, all));

  SUBCASE("limit 10 visits each of 25 agents exactly once, in three pages") {
    std::vector<std::string> seen;
    std::string cursor;
    std::vector<std::size_t> page_sizes;
    for (int page_idx = 0; page_idx < 10; ++page_idx) {
      std::string path = "/api/v1/agents?limit=10";
      if (!cursor.empty()) path += "&cursor=" + url_encode(cursor);
      json page = get_json(server, path, position);
      CHECK(page["total"] == 25);
      page_sizes.push_back(page["agents"].size());
      for (const json& agent : page["agents"]) seen.push_back(agent.at("agent_id").get<std::string>());
      if (page["next_cursor"].is_null()) break;
      cursor = page["next_cursor"];
    }
    CHECK(page_sizes == std::vector<std::size_t>{10, 10, 5});
    CHECK(seen.size() == 25);
    CHECK(std::set<std::string>(seen.begin(), seen.end()) == ids_where(model, all));
  }

  SUBCASE("a page exactly as large as the fleet has no next cursor; one smaller has") {
    CHECK(get_json(server, "/api/v1/agents?limit=25", position)["next_cursor"].is_null());
    json first = get_json(server, "/api/v1/agents?limit=24", position);
    REQUIRE(first["next_cursor"].is_string());
    json rest = get_json(
        server, "/api/v1/agents?limit=24&cursor=" + url_encode(first["next_cursor"].get<std::string>()),
        position);
    CHECK(rest["agents"].size() == 1);
    CHECK(rest["next_cursor"].is_null());
  }

  SUBCASE("each filter returns exactly the matching agents, also when paged") {
    struct FilterCase {
      std::string query;
      std::function<bool(const ModelAgent&)> keep;
    };
    const std::vector<FilterCase> cases = {
        {"status=DEGRADED", [](const ModelAgent& a) { return a.status == "DEGRADED"; }},
        {"status=online", [](const ModelAgent& a) { return a.status == "ONLINE"; }},
        {"status=OFFLINE", [](const ModelAgent&) { return false; }},
        {"version=2.0", [](const ModelAgent& a) { return a.version == "2.0"; }},
        {"version=9.9", [](const ModelAgent&) { return false; }},
        {"type=edge", [](const ModelAgent& a) { return a.type == "edge"; }},
        {"label=" + url_encode("env=prod"), [](const ModelAgent& a) { return a.env == "prod"; }},
        {"label=" + url_encode("env=prod") + "&label=" + url_encode("rack=r1"),
         [](const ModelAgent& a) { return a.env == "prod" && a.rack == "r1"; }},
        {"label=" + url_encode("zone=x"), [](const ModelAgent&) { return false; }},
        {"q=host-1", [](const ModelAgent& a) { return a.index >= 10 && a.index <= 19; }},
        {"q=node-2", [](const ModelAgent& a) { return a.index >= 20; }},
        {"version=1.0&type=edge&status=ONLINE",
         [](const ModelAgent& a) { return a.version == "1.0" && a.type == "edge" && a.status == "ONLINE"; }},
    };
    for (const FilterCase& filter : cases) {
      INFO("filter: " << filter.query);
      const std::set<std::string> expected = ids_where(model, filter.keep);
      CHECK(ids_of(list_agents(server, filter.query, position)) == expected);
      const std::vector<json> paged = list_agents(server, filter.query, position, 4);
      CHECK(paged.size() == expected.size());
      CHECK(ids_of(paged) == expected);
    }
  }

  SUBCASE("stats count by status, version and type") {
    json fleet = stats(server, position);
    CHECK(fleet["total"] == 25);
    CHECK(fleet["by_status"] == json({{"ONLINE", 20}, {"DEGRADED", 5}, {"OFFLINE", 0}}));
    CHECK(fleet["by_version"] == json({{"1.0", 13}, {"2.0", 12}}));
    CHECK(fleet["by_type"] == json({{"edge", 9}, {"core", 16}}));
    CHECK(fleet["log_position"] == position);
    CHECK(fleet["projection_position"] == position);
  }

  SUBCASE("one agent with its health block") {
    const ModelAgent& target = model[3];
    json beat = heartbeat(server, target.agent_id, {{"metrics", {{"cpu", 0.5}, {"mem", 1024}}}});
    json agent = get_agent(server, target.agent_id, beat["position"]);
    CHECK(agent["agent_id"] == target.agent_id);
    CHECK(agent["instance_id"] == "node-03");
    CHECK(agent["name"] == "node-03");
    CHECK(agent["hostname"] == "host-03.example");
    CHECK(agent["version"] == "2.0");
    CHECK(agent["type"] == "edge");
    CHECK(agent["labels"] == json({{"env", "prod"}, {"rack", "r1"}}));
    CHECK(agent["status"] == "ONLINE");
    json& health = agent["health"];
    REQUIRE(health.is_object());
    CHECK(health["last_seen"] == agent["last_seen"]);
    CHECK(now_ms() - time_of(health["last_seen"]) < 5000);
    CHECK(health["seconds_since_last_seen"].is_number_integer());
    CHECK(health["seconds_since_last_seen"] <= 5);
    CHECK(health["uptime_seconds"].is_number_integer());
    CHECK(health["uptime_seconds"] >= 0);
    CHECK(health["uptime_seconds"] <= 60);
    CHECK(health["health"] == "healthy");
    CHECK(health["health_score"] == 100);
    CHECK(health["metrics"] == json({{"cpu", 0.5}, {"mem", 1024}}));
    check_error(server.get("/api/v1/agents/00000000-0000-4000-8000-000000000000"), 404, "AGENT_NOT_FOUND");
    // Nobody holds a token for an agent that does not exist.
    check_error(server.post("/api/v1/agents/00000000-0000-4000-8000-000000000000/heartbeat", "{}"), 401,
                "INVALID_AGENT_TOKEN");
  }

  SUBCASE("deregistered and decommissioned agents leave the list and the counts") {
    HttpAnswer deregistered = server.del("/api/v1/agents/" + model[1].agent_id);
    REQUIRE(deregistered.status == 200);
    HttpAnswer decommissioned = server.post("/api/v1/agents/" + model[2].agent_id + "/decommission", "");
    REQUIRE(decommissioned.status == 200);
    const std::uint64_t after = decommissioned.json["position"];
    const auto remaining = [](const ModelAgent& a) { return a.index != 1 && a.index != 2; };
    CHECK(ids_of(list_agents(server, "", after)) == ids_where(model, remaining));
    json fleet = stats(server, after);
    CHECK(fleet["total"] == 23);
    CHECK(fleet["by_version"] == json({{"1.0", 12}, {"2.0", 11}}));
    CHECK(fleet["by_type"] == json({{"edge", 9}, {"core", 14}}));
    CHECK(get_agent(server, model[1].agent_id, after)["status"] == "DEREGISTERED");
    CHECK(get_agent(server, model[2].agent_id, after)["status"] == "DECOMMISSIONED");
  }
}

TEST_CASE(
    "fleet concurrency: racing registrations of one instance make one agent, racing heartbeats keep its "
    "stream whole") {
  TempDir dir;
  MusterServer server(dir.file("data"));
  constexpr int kThreads = 8;
  constexpr int kInstances = 10;
  // Every thread registers the same ten new instances at the same time.
  std::vector<std::vector<HttpAnswer>> answers(kThreads);
  std::vector<std::thread> threads;
  for (int thread_idx = 0; thread_idx < kThreads; ++thread_idx) {
    threads.emplace_back([&server, &answers, thread_idx] {
      for (int instance_idx = 0; instance_idx < kInstances; ++instance_idx) {
        answers[thread_idx].push_back(server.post(
            "/api/v1/agents/register",
            registration_body(fmt::format("racer-{}", instance_idx), {{"version", "1.0"}}).dump()));
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  // Each registration issues a new token and revokes the one before: only the
  // token of the last answer (the highest position) still works.
  std::vector<std::string> agent_ids;
  std::vector<std::string> first_instance_tokens;  ///< Oldest first.
  for (int instance_idx = 0; instance_idx < kInstances; ++instance_idx) {
    INFO("instance racer-" << instance_idx);
    std::set<std::string> ids;
    int created = 0;
    std::map<std::uint64_t, std::string> tokens_by_position;
    for (int thread_idx = 0; thread_idx < kThreads; ++thread_idx) {
      HttpAnswer& answer = answers[thread_idx][instance_idx];
      INFO("answer: " << answer.status << " " << answer.body);
      CHECK((answer.status == 200 || answer.status == 201));
      if (answer.status == 201) ++created;
      if (answer.json.is_object()) {
        ids.insert(answer.json.value("agent_id", ""));
        tokens_by_position[answer.json.value("position", std::uint64_t{0})] =
            answer.json.value("agent_token", "");
      }
    }
    CHECK(created == 1);
    REQUIRE(ids.size() == 1);
    REQUIRE(tokens_by_position.size() == kThreads);
    agent_ids.push_back(*ids.begin());
    if (instance_idx == 0) {
      for (const auto& [position, token] : tokens_by_position) first_instance_tokens.push_back(token);
    }
    std::vector<std::string> expected_types(1 + kThreads, "AgentTokenIssued");
    expected_types.front() = "AgentRegistered";
    CHECK(stream_types(server, *ids.begin()) == expected_types);
  }
  // Each new instance spent a use, and so may a registration racing its
  // first one; one of an instance already known spent none.
  const std::uint64_t head = log_position(server);
  const std::uint64_t uses = log_events(server, "type=EnrollmentTokenUsed").size();
  CHECK(uses >= kInstances * kEnrollmentUseEvents);
  CHECK(uses <= kInstances * kThreads * kEnrollmentUseEvents);
  CHECK(head == kBootstrapEvents + kEnrollmentTokenEvents + kInstances * (1 + kThreads) + uses);
  CHECK(stats(server, head)["total"] == kInstances);

  const std::string& agent_id = agent_ids.front();
  const std::string& token = first_instance_tokens.back();
  for (std::size_t token_idx = 0; token_idx + 1 < first_instance_tokens.size(); ++token_idx) {
    check_error(heartbeat_with_token(server, agent_id, first_instance_tokens[token_idx]), 401,
                "INVALID_AGENT_TOKEN");
  }
  CHECK(log_position(server) == head);

  // Every thread heartbeats one agent, flipping its status; the stream stays
  // consistent and ends where the last answer says.
  threads.clear();
  std::atomic<int> failures{0};
  for (int thread_idx = 0; thread_idx < kThreads; ++thread_idx) {
    threads.emplace_back([&server, &agent_id, &token, &failures, thread_idx] {
      for (int beat_idx = 0; beat_idx < 25; ++beat_idx) {
        const char* status = (thread_idx + beat_idx) % 2 == 0 ? "degraded" : "online";
        const HttpAnswer answer = heartbeat_with_token(server, agent_id, token, {{"status", status}});
        if (answer.status != 200) ++failures;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  CHECK(failures == 0);
  const std::vector<json> events = stream_events(server, agent_id);
  std::string status = "ONLINE";
  for (std::size_t event_idx = 0; event_idx < events.size(); ++event_idx) {
    json event = events[event_idx];
    CHECK(event["version"] == event_idx + 1);
    if (event["type"] == "AgentStatusChanged") {
      CHECK(event["data"]["from"] == status);
      CHECK(event["data"]["to"] != status);
      status = event["data"]["to"];
    }
  }
  CHECK(get_agent(server, agent_id, log_position(server))["status"] == status);
  CHECK(log_events(server).size() == log_position(server));
}

TEST_CASE(
    "regression: a label filter written as label=env=prod, '=' unencoded, filters like the encoded one") {
  TempDir dir;
  MusterServer server(dir.file("data"));
  const Registered prod = register_agent(server, "prod-1", {{"labels", {{"env", "prod"}}}});
  const Registered dev = register_agent(server, "dev-1", {{"labels", {{"env", "dev"}}}});
  const std::string min_position = fmt::format("&min_position={}", dev.position);
  // A query value may hold '=' (RFC 3986 section 3.4); it splits at the first '=' only.
  const HttpAnswer encoded = server.get("/api/v1/agents?label=env%3Dprod" + min_position);
  REQUIRE(encoded.status == 200);
  CHECK(ids_of(encoded.json["agents"].get<std::vector<json>>()) == std::set<std::string>{prod.agent_id});
  HttpAnswer plain = server.get("/api/v1/agents?label=env=prod" + min_position);
  INFO("answer: " << plain.body);
  CHECK(plain.status == 200);
  CHECK(plain.json == encoded.json);
}

TEST_CASE("a manual test clock: heartbeat deadlines come due when the test moves time, not before") {
  TempDir dir;
  MusterServer server(dir.file("data"),
                      {"--enable-test-hooks", "--test-manual-clock", "--heartbeat-timeout", "60s"});
  const Registered agent = register_agent(server, "clocked-1");

  // 59 s of manual time: the deadline is not due, whatever real time passes.
  advance_clock(server, 59'000);
  heartbeat(server, register_agent(server, "witness-1").agent_id);
  CHECK(get_agent(server, agent.agent_id, log_position(server))["status"] == "ONLINE");
  // Past it: OFFLINE, stamped with the manual time.
  const TimeMs moved_to = advance_clock(server, 2'000);
  REQUIRE(eventually([&] { return get_agent(server, agent.agent_id)["status"] == "OFFLINE"; }, 10s));
  const json offline = stream_events(server, agent.agent_id).back();
  CHECK(offline["type"] == "AgentWentOffline");
  CHECK(time_of(offline["time"]) >= moved_to - 2'000);

  // Bad input changes nothing; a real clock refuses the hook.
  check_error(server.post("/_test/clock/advance", R"({"ms": -1})"), 400, "VALIDATION_FAILED");
  check_error(server.post("/_test/clock/advance", R"({"ms": "1s"})"), 400, "VALIDATION_FAILED");
  TempDir real_dir;
  MusterServer real(real_dir.file("data"), {"--enable-test-hooks"});
  check_error(real.post("/_test/clock/advance", R"({"ms": 1000})"), 409, "CLOCK_NOT_MANUAL");
}

}  // namespace muster::e2e
