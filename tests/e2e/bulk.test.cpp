// Bulk jobs against the real binary: each action on the agents a selector
// picks, a job run again applying nothing, progress and failures, jobs per
// organization, a job of 10,000 agents, a job killed with kill -9 midway and
// resumed, and the bad-input list (400/404 naming the field, nothing changed).

#include "tests/e2e/e2e_helpers.hpp"

namespace muster::e2e {
namespace {

const std::string kBulk = "/api/v1/bulk";

// Creates a job from `body`; REQUIREs 202 and returns the answer.
json start_job(const MusterServer& server, const json& body, const std::string& query = "") {
  const HttpAnswer answer = server.post(with_query(kBulk, query), body.dump());
  INFO("POST " << body.dump().substr(0, 300) << ": " << answer.status << " " << answer.body.substr(0, 500));
  REQUIRE(answer.status == 202);
  REQUIRE(answer.json.is_object());
  CHECK(header_of(answer, "Location") == kBulk + "/" + answer.json.at("job_id").get<std::string>());
  return answer.json;
}

// Polls the job until it is finished (at most `timeout`); returns it.
json wait_finished(const MusterServer& server, const std::string& job_id,
                   std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  json job;
  const bool finished = eventually(
      [&] {
        job = get_json(server, kBulk + "/" + job_id);
        return job.at("state") == "finished";
      },
      timeout);
  INFO(job.dump().substr(0, 1000));
  REQUIRE(finished);
  CHECK(job.at("done") == job.at("total"));
  CHECK(job.at("succeeded").get<std::uint64_t>() + job.at("failed").get<std::uint64_t>() ==
        job.at("total").get<std::uint64_t>());
  CHECK(time_of(job.at("finished_at")) >= time_of(job.at("created_at")));
  return job;
}

// Runs a job to its end; REQUIREs that no agent failed.
json run_job(const MusterServer& server, const json& body) {
  const json started = start_job(server, body);
  const json job = wait_finished(server, started.at("job_id"));
  INFO(job.dump().substr(0, 1000));
  CHECK(job.at("failed") == 0);
  CHECK(job.at("failures") == json::array());
  return job;
}

// The log's events after `position`, optionally of one type.
std::vector<json> events_after(const MusterServer& server, std::uint64_t position,
                               const std::string& type = "") {
  std::vector<json> after;
  for (json& event : log_events(server, type.empty() ? "" : "type=" + type)) {
    if (event.at("position").get<std::uint64_t>() > position) after.push_back(std::move(event));
  }
  return after;
}

// How many events of the streams of kind `kind` ("agent:", "group:") came after `position`.
std::size_t stream_events_after(const MusterServer& server, std::uint64_t position, const std::string& kind) {
  std::size_t count = 0;
  for (const json& event : events_after(server, position)) {
    if (event.at("stream").get<std::string>().rfind(kind, 0) == 0) ++count;
  }
  return count;
}

// Agents' streams and how many events of `type` each got after `position`.
std::map<std::string, std::size_t> events_per_agent(const MusterServer& server, std::uint64_t position,
                                                    const std::string& type) {
  std::map<std::string, std::size_t> per_agent;
  for (const json& event : events_after(server, position, type))
    ++per_agent[agent_of_stream(event.at("stream"))];
  return per_agent;
}

// Checks that each of `agents`, and no other agent, got exactly one
// AgentAssignmentSet after `position`.
void check_assigned_once(const MusterServer& server, std::uint64_t position,
                         const std::vector<std::string>& agents) {
  const auto per_agent = events_per_agent(server, position, "AgentAssignmentSet");
  CHECK(per_agent.size() == agents.size());
  std::size_t not_once = 0;
  for (const std::string& agent : agents) {
    if (per_agent.count(agent) == 0 || per_agent.at(agent) != 1) ++not_once;
  }
  CHECK(not_once == 0);
}

// The config "collector", version 1.
void create_collector(const MusterServer& server) {
  const json files = {
      {"collector.yaml", {{"content_type", "application/yaml"}, {"body", "receivers: [otlp]\n"}}}};
  REQUIRE(server.post("/api/v1/configs", json{{"name", "collector"}, {"files", files}}.dump()).status == 201);
}

std::uint64_t count_of(const json& job, const char* member) {
  return job.at(member).get<std::uint64_t>();
}

}  // namespace

TEST_CASE("bulk: each action changes the agents its selector picks, once - a job run again changes nothing") {
  TempDir dir;
  MusterServer server(dir.file("data"));
  create_collector(server);
  REQUIRE(server.post("/api/v1/groups", json{{"name", "canary"}}.dump()).status == 201);
  std::vector<std::string> prod;
  for (int index = 0; index < 4; ++index) {
    prod.push_back(
        register_agent(server, fmt::format("web-{}", index), {{"labels", {{"env", "prod"}}}}).agent_id);
  }
  const std::string dev =
      register_agent(server, "db-1", {{"name", "db-1"}, {"labels", {{"env", "dev"}}}}).agent_id;
  const json by_label = {{"labels", {{"env", "prod"}}}};

  SUBCASE("assign: each selected agent gets the assignment as its own; again, nothing is recorded") {
    const json assignment = {{"config", "collector"}, {"version", 1}};
    const std::uint64_t before = log_position(server);
    const json job = run_job(server, {{"selector", by_label}, {"action", "assign"}, {"params", assignment}});
    CHECK(job.at("action") == "assign");
    CHECK(job.at("params").at("config") == "collector");
    CHECK(count_of(job, "total") == prod.size());
    CHECK(count_of(job, "succeeded") == prod.size());
    CHECK(job.at("org") == "default");
    CHECK(job.at("created_by").get<std::string>().rfind("key:", 0) == 0);
    const auto per_agent = events_per_agent(server, before, "AgentAssignmentSet");
    CHECK(per_agent.size() == prod.size());
    for (const std::string& agent : prod) {
      CHECK((per_agent.count(agent) == 1 && per_agent.at(agent) == 1));
      const json view = get_json(server, "/api/v1/agents/" + agent + "/config");
      CHECK(view.at("assignment").at("config") == "collector");
      CHECK(view.at("config_version").get<std::uint64_t>() > 0);
    }
    CHECK(get_json(server, "/api/v1/agents/" + dev + "/config").at("assignment").is_null());

    const std::uint64_t again_from = log_position(server);
    const json again =
        run_job(server, {{"selector", by_label}, {"action", "assign"}, {"params", assignment}});
    CHECK(count_of(again, "succeeded") == prod.size());
    CHECK(stream_events_after(server, again_from, "agent:") == 0);
    // The job's own events: created, one chunk, finished.
    CHECK(types_of(events_after(server, again_from)) ==
          std::vector<std::string>{"BulkJobCreated", "BulkJobProgressed", "BulkJobFinished"});

    // {} clears each agent's own assignment.
    run_job(server, {{"selector", by_label}, {"action", "assign"}, {"params", json::object()}});
    CHECK(get_json(server, "/api/v1/agents/" + prod[0] + "/config").at("assignment").is_null());
  }

  SUBCASE("set_settings: merged into each agent's own assignment, its config kept") {
    REQUIRE(server
                .send("PUT", "/api/v1/agents/" + prod[0] + "/assignment",
                      json{{"config", "collector"}, {"settings", {{"limits", {{"cpu", 2}}}}}}.dump(),
                      {{"Content-Type", "application/json"}})
                .status == 200);
    const json body = {{"selector", {{"agent_ids", {prod[0], prod[1]}}}},
                       {"action", "set_settings"},
                       {"params", {{"settings", {{"log_level", "debug"}, {"limits", {{"memory", "1g"}}}}}}}};
    const std::uint64_t before = log_position(server);
    run_job(server, body);
    const json first = get_json(server, "/api/v1/agents/" + prod[0] + "/config").at("assignment");
    CHECK(first.at("config") == "collector");
    CHECK(first.at("settings") == json{{"log_level", "debug"}, {"limits", {{"cpu", 2}, {"memory", "1g"}}}});
    const json second = get_json(server, "/api/v1/agents/" + prod[1] + "/config").at("assignment");
    CHECK_FALSE(second.contains("config"));
    CHECK(second.at("settings") == json{{"log_level", "debug"}, {"limits", {{"memory", "1g"}}}});
    CHECK(events_per_agent(server, before, "AgentAssignmentSet").size() == 2);

    const std::uint64_t again_from = log_position(server);
    run_job(server, body);
    CHECK(stream_events_after(server, again_from, "agent:") == 0);
  }

  SUBCASE("add_to_group and remove_from_group: explicit members, one group event per chunk") {
    const std::uint64_t before = log_position(server);
    run_job(server, {{"selector", by_label}, {"action", "add_to_group"}, {"params", {{"group", "canary"}}}});
    const json group = get_json(server, "/api/v1/groups/canary");
    std::vector<std::string> expected = prod;
    std::sort(expected.begin(), expected.end());
    std::vector<std::string> members = group.at("members").get<std::vector<std::string>>();
    std::sort(members.begin(), members.end());
    CHECK(members == expected);
    CHECK(types_of(events_after(server, before, "GroupMembersAdded")).size() == 1);

    const std::uint64_t again_from = log_position(server);
    run_job(server, {{"selector", by_label}, {"action", "add_to_group"}, {"params", {{"group", "canary"}}}});
    CHECK(stream_events_after(server, again_from, "group:") == 0);

    run_job(server, {{"selector", {{"agent_ids", {prod[0], dev}}}},
                     {"action", "remove_from_group"},
                     {"params", {{"group", "canary"}}}});
    CHECK(get_json(server, "/api/v1/groups/canary").at("members").size() == prod.size() - 1);
    const std::uint64_t removed_at = log_position(server);
    run_job(server, {{"selector", {{"agent_ids", {prod[0], dev}}}},
                     {"action", "remove_from_group"},
                     {"params", {{"group", "canary"}}}});
    CHECK(stream_events_after(server, removed_at, "group:") == 0);
  }

  SUBCASE("set_labels: replaces the labels; again, nothing is recorded") {
    const json body = {{"selector", {{"agent_ids", {dev}}}},
                       {"action", "set_labels"},
                       {"params", {{"labels", {{"env", "staging"}, {"tier", "db"}}}}}};
    run_job(server, body);
    CHECK(get_agent(server, dev).at("labels") == json{{"env", "staging"}, {"tier", "db"}});
    const std::uint64_t again_from = log_position(server);
    run_job(server, body);
    CHECK(stream_events_after(server, again_from, "agent:") == 0);
  }

  SUBCASE("deregister: the agents leave lists; again, nothing; other actions on them fail per agent") {
    const json body = {{"selector", {{"agent_ids", {prod[2], prod[3]}}}}, {"action", "deregister"}};
    run_job(server, body);
    CHECK(get_agent(server, prod[2]).at("status") == "DEREGISTERED");
    CHECK(list_agents(server, "label=env=prod").size() == 2);
    const std::uint64_t again_from = log_position(server);
    run_job(server, body);
    CHECK(stream_events_after(server, again_from, "agent:") == 0);

    const json failing = start_job(server, {{"selector", {{"agent_ids", {prod[0], prod[2]}}}},
                                            {"action", "set_labels"},
                                            {"params", {{"labels", {{"env", "gone"}}}}}});
    const json job = wait_finished(server, failing.at("job_id"));
    CHECK(count_of(job, "succeeded") == 1);
    CHECK(count_of(job, "failed") == 1);
    REQUIRE(job.at("failures").size() == 1);
    CHECK(job.at("failures")[0].at("agent_id") == prod[2]);
    CHECK(job.at("failures")[0].at("code") == "AGENT_NOT_REGISTERED");
    CHECK(job.at("failures")[0].at("error").is_string());
  }

  SUBCASE("criteria combine: every one given must match") {
    run_job(server, {{"selector", {{"agent_ids", {prod[0]}}}},
                     {"action", "assign"},
                     {"params", {{"config", "collector"}}}});
    const json status_and_labels = start_job(
        server,
        {{"selector", {{"labels", {{"env", "prod"}}}, {"status", "ONLINE"}, {"config_status", "pending"}}},
         {"action", "deregister"}});
    CHECK(status_and_labels.at("total") == 1);
    wait_finished(server, status_and_labels.at("job_id"));
    CHECK(get_agent(server, prod[0]).at("status") == "DEREGISTERED");
    const json by_name = start_job(
        server, {{"selector", {{"q", "db-"}, {"agent_ids", {dev, prod[1]}}}}, {"action", "deregister"}});
    CHECK(by_name.at("total") == 1);
    wait_finished(server, by_name.at("job_id"));
    CHECK(get_agent(server, dev).at("status") == "DEREGISTERED");
    REQUIRE(
        server.post("/api/v1/groups", json{{"name", "web"}, {"selector", {{"env", "prod"}}}}.dump()).status ==
        201);
    const json in_group = start_job(server, {{"selector", {{"group", "web"}}}, {"action", "deregister"}});
    CHECK(in_group.at("total") == 3);  // prod[0] left lists when it was deregistered
    wait_finished(server, in_group.at("job_id"));
    // A selector that picks nobody makes a job that is finished at once.
    const json nobody =
        start_job(server, {{"selector", {{"labels", {{"env", "nowhere"}}}}}, {"action", "deregister"}});
    CHECK(nobody.at("total") == 0);
    CHECK(nobody.at("state") == "finished");
  }

  SUBCASE("jobs list newest first, paged, and per organization") {
    std::vector<std::string> made;
    for (int index = 0; index < 3; ++index) {
      made.push_back(run_job(server, {{"selector", {{"agent_ids", {dev}}}},
                                      {"action", "set_labels"},
                                      {"params", {{"labels", {{"n", std::to_string(index)}}}}}})
                         .at("job_id"));
    }
    const json first = get_json(server, kBulk + "?limit=2");
    REQUIRE(first.at("jobs").size() == 2);
    CHECK(first.at("jobs")[0].at("job_id") == made[2]);
    CHECK(first.at("jobs")[1].at("job_id") == made[1]);
    CHECK_FALSE(first.at("jobs")[0].contains("failures"));
    const json second =
        get_json(server, kBulk + "?limit=2&cursor=" + first.at("next_cursor").get<std::string>());
    REQUIRE(second.at("jobs").size() == 1);
    CHECK(second.at("jobs")[0].at("job_id") == made[0]);
    CHECK(second.at("next_cursor").is_null());

    const HttpAnswer globex =
        server.post("/api/v1/api-keys", json{{"name", "g"}, {"role", "admin"}, {"org", "globex"}}.dump());
    REQUIRE(globex.status == 201);
    const httplib::Headers as_globex{{"Authorization", "Bearer " + globex.json.at("key").get<std::string>()}};
    const HttpAnswer hidden = server.send("GET", kBulk + "/" + made[0], "", as_globex);
    check_error(hidden, 404, "BULK_JOB_NOT_FOUND");
    CHECK(server.send("GET", kBulk, "", as_globex).json.at("jobs") == json::array());
    // A globex job selects only globex's agents: the default org's are unknown there.
    const HttpAnswer elsewhere = server.send(
        "POST", kBulk, json{{"selector", {{"agent_ids", {dev}}}}, {"action", "deregister"}}.dump(),
        {{"Authorization", as_globex.begin()->second}, {"Content-Type", "application/json"}});
    check_error(elsewhere, 400, "UNKNOWN_AGENTS");
  }
}

TEST_CASE("bulk: bad input is refused with 400 or 404 naming the field, and nothing changes") {
  TempDir dir;
  MusterServer server(dir.file("data"));
  create_collector(server);
  const std::string agent = register_agent(server, "web-1").agent_id;
  const json ids = {{"agent_ids", {agent}}};
  const std::string unknown_agent = "3f6c9a1e-8d2b-4c1f-9e7a-0b5d4c3a2f10";
  struct Case {
    const char* what;
    json body;
    int status;
    std::string code;
    std::string field;
  };
  // More ids than a request body may hold elements (10,000).
  const std::vector<std::string> too_many(10'001, unknown_agent);
  const std::vector<Case> cases = {
      {"unknown action", {{"selector", ids}, {"action", "reboot"}}, 400, "VALIDATION_FAILED", "action"},
      {"no action", {{"selector", ids}}, 400, "VALIDATION_FAILED", "action"},
      {"no selector", {{"action", "deregister"}}, 400, "VALIDATION_FAILED", "selector"},
      {"selector not an object",
       {{"selector", "all"}, {"action", "deregister"}},
       400,
       "VALIDATION_FAILED",
       "selector"},
      {"empty selector",
       {{"selector", json::object()}, {"action", "deregister"}},
       400,
       "VALIDATION_FAILED",
       "selector"},
      {"unknown criterion",
       {{"selector", {{"color", "red"}}}, {"action", "deregister"}},
       400,
       "VALIDATION_FAILED",
       "selector.color"},
      {"agent ids not UUIDs",
       {{"selector", {{"agent_ids", {"web-1"}}}}, {"action", "deregister"}},
       400,
       "VALIDATION_FAILED",
       "selector.agent_ids"},
      {"no agent ids",
       {{"selector", {{"agent_ids", json::array()}}}, {"action", "deregister"}},
       400,
       "VALIDATION_FAILED",
       "selector.agent_ids"},
      {"more agent ids than a body holds",
       {{"selector", {{"agent_ids", too_many}}}, {"action", "deregister"}},
       400,
       "INVALID_JSON",
       "body"},
      {"agents of no one",
       {{"selector", {{"agent_ids", {unknown_agent}}}}, {"action", "deregister"}},
       400,
       "UNKNOWN_AGENTS",
       "selector.agent_ids"},
      {"labels not strings",
       {{"selector", {{"labels", {{"env", 1}}}}}, {"action", "deregister"}},
       400,
       "VALIDATION_FAILED",
       "selector.labels"},
      {"status unknown",
       {{"selector", {{"status", "ASLEEP"}}}, {"action", "deregister"}},
       400,
       "VALIDATION_FAILED",
       "selector.status"},
      {"config_status unknown",
       {{"selector", {{"config_status", "great"}}}, {"action", "deregister"}},
       400,
       "VALIDATION_FAILED",
       "selector.config_status"},
      {"q empty",
       {{"selector", {{"q", ""}}}, {"action", "deregister"}},
       400,
       "VALIDATION_FAILED",
       "selector.q"},
      {"unknown group in the selector",
       {{"selector", {{"group", "nope"}}}, {"action", "deregister"}},
       404,
       "GROUP_NOT_FOUND",
       "selector.group"},
      {"unknown group in params",
       {{"selector", ids}, {"action", "add_to_group"}, {"params", {{"group", "nope"}}}},
       404,
       "GROUP_NOT_FOUND",
       "params.group"},
      {"group action without a group",
       {{"selector", ids}, {"action", "remove_from_group"}},
       400,
       "VALIDATION_FAILED",
       "params.group"},
      {"unknown config",
       {{"selector", ids}, {"action", "assign"}, {"params", {{"config", "nope"}}}},
       404,
       "CONFIG_NOT_FOUND",
       "params.config"},
      {"unknown version",
       {{"selector", ids}, {"action", "assign"}, {"params", {{"config", "collector"}, {"version", 9}}}},
       400,
       "VERSION_NOT_FOUND",
       "params.version"},
      {"bad assignment",
       {{"selector", ids}, {"action", "assign"}, {"params", {{"policies", "all"}}}},
       400,
       "VALIDATION_FAILED",
       "params.policies"},
      {"settings missing",
       {{"selector", ids}, {"action", "set_settings"}, {"params", json::object()}},
       400,
       "VALIDATION_FAILED",
       "params.settings"},
      {"settings not an object",
       {{"selector", ids}, {"action", "set_settings"}, {"params", {{"settings", 3}}}},
       400,
       "VALIDATION_FAILED",
       "params.settings"},
      {"labels not an object",
       {{"selector", ids}, {"action", "set_labels"}, {"params", {{"labels", "env"}}}},
       400,
       "VALIDATION_FAILED",
       "params.labels"},
      {"a param deregister does not take",
       {{"selector", ids}, {"action", "deregister"}, {"params", {{"force", true}}}},
       400,
       "VALIDATION_FAILED",
       "params.force"},
      {"params not an object",
       {{"selector", ids}, {"action", "deregister"}, {"params", 5}},
       400,
       "VALIDATION_FAILED",
       "params"},
      {"unknown member",
       {{"selector", ids}, {"action", "deregister"}, {"when", "now"}},
       400,
       "VALIDATION_FAILED",
       "when"},
  };
  const std::uint64_t before = log_position(server);
  for (const Case& bad : cases) {
    INFO(bad.what);
    const HttpAnswer answer = server.post(kBulk, bad.body.dump());
    check_error(answer, bad.status, bad.code);
    CHECK(answer.json.value("details", json::object()).contains(bad.field));
  }
  check_error(server.post(kBulk, "not json"), 400, "INVALID_JSON");
  check_error(server.post(kBulk + "?org=bad%20org", json{{"selector", ids}, {"action", "deregister"}}.dump()),
              400, "INVALID_PARAMETER");
  check_error(server.get(kBulk + "/0123456789abcdef"), 404, "BULK_JOB_NOT_FOUND");
  check_error(server.get(kBulk + "?limit=0"), 400, "INVALID_PARAMETER");
  check_error(server.get(kBulk + "?cursor=nope"), 400, "INVALID_PARAMETER");
  CHECK(log_position(server) == before);
  CHECK(get_json(server, kBulk).at("jobs") == json::array());
  CHECK(get_agent(server, agent).at("status") == "ONLINE");
}

TEST_SUITE("slow") {
  TEST_CASE("bulk: a job of 10,000 agents") {
    TempDir dir;
    MusterServer server(dir.file("data"));
    create_collector(server);
    const auto registering = std::chrono::steady_clock::now();
    const std::vector<std::string> agents = register_many(server, 10'000, "fleet", {{"fleet", "big"}});
    MESSAGE("registered 10,000 agents in " << std::chrono::duration_cast<std::chrono::milliseconds>(
                                                  std::chrono::steady_clock::now() - registering)
                                                  .count()
                                           << " ms");
    const std::uint64_t before = log_position(server);
    const auto started = std::chrono::steady_clock::now();
    const json created = start_job(server,
                                   {{"selector", {{"labels", {{"fleet", "big"}}}}},
                                    {"action", "assign"},
                                    {"params", {{"config", "collector"}}}},
                                   fmt::format("min_position={}", before));
    CHECK(created.at("total") == 10'000);
    const json job = wait_finished(server, created.at("job_id"), std::chrono::seconds(120));
    const auto took =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
    MESSAGE("a job of 10,000 agents (assign) took " << took.count() << " ms");
    CHECK(count_of(job, "succeeded") == 10'000);
    CHECK(count_of(job, "failed") == 0);
    check_assigned_once(server, before, agents);
    CHECK(get_json(server, "/api/v1/configs/collector/status").at("counts").at("pending") == 10'000);
  }

  TEST_CASE("bulk: a job killed with kill -9 midway resumes where it stopped and applies nothing twice") {
    TempDir dir;
    const std::string data = dir.file("data");
    std::string job_id;
    std::vector<std::string> agents;
    std::uint64_t before = 0;
    json body;
    std::uint64_t done_at_kill = 0;
    TimeMs killed_at_ms = 0;
    {
      MusterServer server(data);
      create_collector(server);
      agents = register_many(server, 10'000, "fleet", {{"fleet", "big"}});
      before = log_position(server);
      body = {{"selector", {{"labels", {{"fleet", "big"}}}}},
              {"action", "assign"},
              {"params", {{"config", "collector"}, {"settings", {{"log_level", "debug"}}}}}};
      job_id = start_job(server, body, fmt::format("min_position={}", before)).at("job_id");
      json job;
      REQUIRE(eventually(
          [&] {
            job = get_json(server, kBulk + "/" + job_id);
            return count_of(job, "done") > 0;
          },
          std::chrono::seconds(60)));
      done_at_kill = count_of(job, "done");
      killed_at_ms = now_ms();
      server.kill9();
      INFO(job.dump().substr(0, 500));
      REQUIRE(done_at_kill < 10'000);
      REQUIRE(job.at("state") == "running");
    }
    MusterServer server(data);
    const json resumed_at = get_json(server, kBulk + "/" + job_id);
    MESSAGE("killed at done=" << done_at_kill << "; after the restart the job stood at done="
                              << count_of(resumed_at, "done") << " (" << resumed_at.at("state") << ")");
    CHECK(count_of(resumed_at, "done") >= done_at_kill);
    const json job = wait_finished(server, job_id, std::chrono::seconds(120));
    CHECK(count_of(job, "done") == 10'000);
    CHECK(count_of(job, "succeeded") == 10'000);
    CHECK(count_of(job, "failed") == 0);
    CHECK(job.at("failures") == json::array());

    // Every agent got exactly one AgentAssignmentSet, across the kill.
    check_assigned_once(server, before, agents);
    // The job's progress is one chunk after another, without a gap or
    // overlap, some recorded before the kill and the rest after the restart.
    std::uint64_t next_from = 0;
    std::uint64_t resumed_from = 0;
    for (const json& event : events_after(server, before, "BulkJobProgressed")) {
      CHECK(event.at("data").at("from") == next_from);
      if (time_of(event.at("time")) <= killed_at_ms)
        resumed_from = next_from + event.at("data").at("count").get<std::uint64_t>();
      next_from += event.at("data").at("count").get<std::uint64_t>();
    }
    CHECK(next_from == 10'000);
    CHECK(resumed_from > 0);
    CHECK(resumed_from < 10'000);
    std::size_t assigned_before_kill = 0;
    for (const json& event : events_after(server, before, "AgentAssignmentSet")) {
      if (time_of(event.at("time")) <= killed_at_ms) ++assigned_before_kill;
    }
    MESSAGE("before the kill: " << resumed_from << " agents recorded done, " << assigned_before_kill
                                << " assigned; the restart ran on from agent " << resumed_from
                                << ", skipping the " << assigned_before_kill - resumed_from
                                << " of the cut chunk already assigned");

    // The same job again appends no agent event.
    const std::uint64_t again_from = log_position(server);
    const json again = run_job(server, body);
    CHECK(count_of(again, "succeeded") == 10'000);
    CHECK(stream_events_after(server, again_from, "agent:") == 0);
  }
}  // TEST_SUITE("slow")

}  // namespace muster::e2e
