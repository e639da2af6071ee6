// Rollouts against the real binary, on a manual clock the tests move: a
// rollout that advances through its stages to completion as its agents
// apply the change, auto-pauses when a slice's agents fail or fall silent,
// rolls back by itself, is paused, resumed, aborted and rolled back by
// hand, refuses a second rollout over the same agents, refuses bad input,
// and resumes its stage after kill -9 with the bake counted from its logged
// start. The agents are the test's own HTTP clients: they heartbeat, learn
// their desired hash and report what they did with it.

#include "tests/e2e/e2e_helpers.hpp"

namespace muster::e2e {
namespace {

// Silence never counts against agents unless a test wants it to.
const std::vector<std::string> kCalmServer{"--enable-test-hooks", "--test-manual-clock",
                                           "--heartbeat-timeout", "24h",
                                           "--healthy-within",    "1h",
                                           "--warning-within",    "2h"};

void save_config(const MusterServer& server, const std::string& name, const std::string& body) {
  const json files = {{name + ".yaml", {{"content_type", "application/yaml"}, {"body", body}}}};
  HttpAnswer answer = server.post("/api/v1/configs", json{{"name", name}, {"files", files}}.dump());
  if (answer.status == 409) {
    answer = server.send("PUT", "/api/v1/configs/" + name, json{{"files", files}}.dump(),
                         {{"Content-Type", "application/json"}});
  }
  INFO(answer.body);
  REQUIRE((answer.status == 201 || answer.status == 200));
}

void add_group(const MusterServer& server, const std::string& name, const json& selector) {
  const HttpAnswer answer =
      server.post("/api/v1/groups", json{{"name", name}, {"selector", selector}}.dump());
  INFO(answer.body);
  REQUIRE(answer.status == 201);
}

json rollout(const MusterServer& server, const std::string& id) {
  return get_json(server, "/api/v1/rollouts/" + id);
}

HttpAnswer create_rollout(const MusterServer& server, const json& body) {
  return server.post("/api/v1/rollouts", body.dump());
}

std::string created_id(const HttpAnswer& answer) {
  INFO(answer.body);
  REQUIRE(answer.status == 201);
  return answer.json.at("rollout_id").get<std::string>();
}

HttpAnswer steer(const MusterServer& server, const std::string& id, const std::string& action) {
  return server.post("/api/v1/rollouts/" + id + "/" + action, "");
}

// The test's agents: each heartbeats, and says what it did with a desired
// hash it has not reported yet.
struct Fleet {
  const MusterServer* server;
  std::vector<std::string> agents;
  std::map<std::string, std::string> reported;

  void add(const std::string& instance, const json& labels) {
    agents.push_back(register_agent(*server, instance, {{"labels", labels}}).agent_id);
  }
  std::string hash_of(const std::string& agent) const { return heartbeat(*server, agent).at("config_hash"); }
  // Every agent heartbeats; those with a new hash report `status` for it
  // (those in `failing` report failed).
  void step(const std::set<std::string>& failing = {}, const std::set<std::string>& silent = {}) {
    for (const std::string& agent : agents) {
      if (silent.count(agent) != 0) continue;
      const std::string hash = hash_of(agent);
      if (hash.empty() || reported[agent] == hash) continue;
      const bool fails = failing.count(agent) != 0;
      json body = {{"config_hash", hash}, {"status", fails ? "failed" : "applied"}};
      if (fails) body["error"] = "bad receiver";
      const HttpAnswer answer = server->post("/api/v1/agents/" + agent + "/config/status", body.dump());
      INFO(answer.body);
      REQUIRE(answer.status == 200);
      reported[agent] = hash;
    }
  }
};

// Moves the clock `step_ms` at a time (each move lets every rollout tick
// once), the fleet acting between moves, until `done` holds of the
// rollout; at most `moves` moves. Returns the rollout as last read.
template <class Done>
json drive(const MusterServer& server, Fleet& fleet, const std::string& id, Done done, int moves = 60,
           std::int64_t step_ms = 1000, const std::set<std::string>& failing = {},
           const std::set<std::string>& silent = {}) {
  json last = rollout(server, id);
  for (int move = 0; move < moves && !done(last); ++move) {
    fleet.step(failing, silent);
    advance_clock(server, step_ms);
    eventually(
        [&] {
          last = rollout(server, id);
          return done(last);
        },
        std::chrono::milliseconds(300));
  }
  return last;
}

bool in_state(const json& rollout, const std::string& state) {
  return rollout.at("state") == state;
}

std::vector<std::string> event_types(const json& rollout) {
  std::vector<std::string> types;
  for (const json& event : rollout.at("events")) types.push_back(event.at("type"));
  return types;
}

// A prod group of `count` agents on collector v1, plus one dev agent; v2 exists.
Fleet prod_fleet(const MusterServer& server, int count) {
  Fleet fleet{&server, {}, {}};
  save_config(server, "collector", "receivers: [otlp]\n");
  save_config(server, "collector", "receivers: [otlp, prometheus]\n");
  add_group(server, "prod", {{"env", "prod"}});
  assign_group(server, "prod", {{"config", "collector"}, {"version", 1}});
  for (int index = 0; index < count; ++index) fleet.add("prod-" + std::to_string(index), {{"env", "prod"}});
  fleet.step();
  return fleet;
}

json v2_rollout(const json& stages, const std::string& on_failure = "pause", const json& gate = nullptr) {
  json body = {{"name", "collector v2"},
               {"target", {{"group", "prod"}}},
               {"change", {{"assignment", {{"config", "collector"}, {"version", 2}}}}},
               {"stages", stages},
               {"on_failure", on_failure}};
  if (!gate.is_null()) body["gate"] = gate;
  return body;
}

const json kTwoStages =
    json::array({{{"count", 1}, {"bake_time", "5s"}}, {{"percent", 100}, {"bake_time", "5s"}}});

}  // namespace

TEST_CASE(
    "a rollout advances stage by stage as its agents apply, then completes into its group without churn") {
  TempDir dir;
  MusterServer server(dir.file("data"), kCalmServer);
  Fleet fleet = prod_fleet(server, 4);
  const std::string outsider = register_agent(server, "dev-1", {{"labels", {{"env", "dev"}}}}).agent_id;
  std::map<std::string, std::string> v1;
  for (const std::string& agent : fleet.agents) v1[agent] = fleet.hash_of(agent);

  const json stages = json::array({{{"count", 1}, {"bake_time", "5s"}},
                                   {{"percent", 50}, {"bake_time", "5s"}},
                                   {{"percent", 100}, {"bake_time", "5s"}}});
  const std::string id = created_id(create_rollout(server, v2_rollout(stages)));
  json state = rollout(server, id);
  CHECK(state.at("state") == "running");
  CHECK(state.at("current_stage") == 0);
  CHECK(state.at("stages")[0].at("agents") == 1);
  CHECK(state.at("stages")[0].at("state") == "applying");
  CHECK(state.at("stages")[1].at("state") == "pending");
  CHECK(event_types(state) == std::vector<std::string>{"RolloutCreated", "RolloutStageStarted"});

  // Stage 0: exactly one agent of the group has the change, shown as its source.
  std::size_t changed = 0;
  for (const std::string& agent : fleet.agents) {
    if (fleet.hash_of(agent) == v1[agent]) continue;
    ++changed;
    const json view = get_json(server, "/api/v1/agents/" + agent + "/config");
    CHECK(view.at("rollouts") == json::array({id}));
    CHECK(view.at("desired").at("config").at("source") == "rollout:" + id);
    CHECK(view.at("desired").at("config").at("version") == 2);
  }
  CHECK(changed == 1);
  CHECK(fleet.hash_of(outsider).empty());

  // The slice applies, bakes, and the next stage takes half the group.
  state = drive(server, fleet, id, [](const json& r) { return r.at("current_stage") == 1; });
  REQUIRE(state.at("current_stage") == 1);
  CHECK(state.at("stages")[0].at("state") == "finished");
  CHECK(state.at("stages")[0].at("applied") == 1);
  CHECK(state.at("stages")[1].at("agents") == 2);

  // On to the end; the group's assignment takes the change, hashes stay.
  std::map<std::string, std::uint64_t> versions;
  state = drive(server, fleet, id, [](const json& r) { return r.at("current_stage") == 2; });
  REQUIRE(state.at("current_stage") == 2);
  fleet.step();
  for (const std::string& agent : fleet.agents) {
    versions[agent] = heartbeat(server, agent).at("config_version").get<std::uint64_t>();
  }
  state = drive(server, fleet, id, [](const json& r) { return in_state(r, "completed"); });
  REQUIRE(in_state(state, "completed"));
  CHECK(state.at("layer") == false);
  CHECK(state.at("stages")[2].at("applied") == 4);
  CHECK(get_json(server, "/api/v1/groups/prod").at("assignment").at("version") == 2);
  for (const std::string& agent : fleet.agents) {
    const json beat = heartbeat(server, agent);
    CHECK(beat.at("config_hash") == fleet.reported[agent]);
    CHECK(beat.at("config_version") == versions[agent]);
    CHECK(get_json(server, "/api/v1/agents/" + agent + "/config").at("rollouts") == json::array());
  }
  const std::vector<std::string> types = event_types(state);
  CHECK(types.back() == "RolloutCompleted");
  CHECK(std::count(types.begin(), types.end(), "RolloutStageFinished") == 3);
  const json list = get_json(server, "/api/v1/rollouts");
  REQUIRE(list.at("rollouts").size() == 1);
  CHECK(list.at("rollouts")[0].at("rollout_id") == id);
  CHECK(list.at("rollouts")[0].at("state") == "completed");
  // Finished, it takes no more steps.
  check_error(steer(server, id, "pause"), 409, "ROLLOUT_NOT_RUNNING");
  check_error(steer(server, id, "rollback"), 409, "ROLLOUT_NOT_ACTIVE");
}

TEST_CASE("a rollout pauses by itself when its slice's agents report failure") {
  TempDir dir;
  MusterServer server(dir.file("data"), kCalmServer);
  Fleet fleet = prod_fleet(server, 3);
  const std::string id =
      created_id(create_rollout(server, v2_rollout(kTwoStages, "pause", {{"max_failed_percent", 0}})));
  const std::set<std::string> failing(fleet.agents.begin(), fleet.agents.end());
  const json state = drive(
      server, fleet, id, [](const json& r) { return in_state(r, "paused"); }, 20, 1000, failing);
  REQUIRE(in_state(state, "paused"));
  CHECK(state.at("measure") == "failed");
  CHECK(state.at("reason").get<std::string>().find("failed") != std::string::npos);
  CHECK(state.at("current_stage") == 0);
  CHECK(state.at("stages")[0].at("failed") == 1);
  CHECK(event_types(state).back() == "RolloutPaused");
  // Paused, the layer stays where it was and nothing advances.
  CHECK(state.at("layer") == true);
  advance_clock(server, 60'000);
  CHECK(rollout(server, id).at("current_stage") == 0);
}

TEST_CASE("a rollout pauses by itself when its slice's agents stop heartbeating") {
  TempDir dir;
  MusterServer server(dir.file("data"), {"--enable-test-hooks", "--test-manual-clock", "--heartbeat-timeout",
                                         "24h", "--healthy-within", "1m", "--warning-within", "2m"});
  Fleet fleet = prod_fleet(server, 3);
  const std::string id = created_id(create_rollout(
      server, v2_rollout(json::array({{{"count", 1}, {"bake_time", "10m"}}, {{"percent", 100}}}), "pause",
                         {{"max_unhealthy_percent", 0}})));
  // The slice applies, then falls silent past the warning threshold.
  json state =
      drive(server, fleet, id, [](const json& r) { return r.at("stages")[0].at("state") == "baking"; });
  REQUIRE(state.at("stages")[0].at("state") == "baking");
  const std::set<std::string> silent(fleet.agents.begin(), fleet.agents.end());
  state = drive(
      server, fleet, id, [](const json& r) { return in_state(r, "paused"); }, 10, 30'000, {}, silent);
  REQUIRE(in_state(state, "paused"));
  CHECK(state.at("measure") == "unhealthy");
  CHECK(state.at("stages")[0].at("unhealthy") == 1);
}

TEST_CASE(
    "on_failure rollback: a failing slice rolls back by itself and gets its previous config hash back") {
  TempDir dir;
  MusterServer server(dir.file("data"), kCalmServer);
  Fleet fleet = prod_fleet(server, 3);
  std::map<std::string, std::string> before;
  for (const std::string& agent : fleet.agents) before[agent] = fleet.hash_of(agent);
  const std::string id =
      created_id(create_rollout(server, v2_rollout(kTwoStages, "rollback", {{"max_failed_percent", 0}})));
  const std::set<std::string> failing(fleet.agents.begin(), fleet.agents.end());
  const json state = drive(
      server, fleet, id, [](const json& r) { return in_state(r, "rolled_back"); }, 20, 1000, failing);
  REQUIRE(in_state(state, "rolled_back"));
  CHECK(state.at("measure") == "failed");
  CHECK(state.at("layer") == false);
  CHECK(event_types(state).back() == "RolloutRolledBack");
  for (const std::string& agent : fleet.agents) CHECK(fleet.hash_of(agent) == before[agent]);
  CHECK(get_json(server, "/api/v1/groups/prod").at("assignment").at("version") == 1);
}

TEST_CASE("operators pause, resume, abort (the layer freezes) and roll back (it goes) by hand") {
  TempDir dir;
  MusterServer server(dir.file("data"), kCalmServer);
  Fleet fleet = prod_fleet(server, 2);
  std::map<std::string, std::string> before;
  for (const std::string& agent : fleet.agents) before[agent] = fleet.hash_of(agent);
  const std::string id = created_id(create_rollout(server, v2_rollout(kTwoStages)));

  HttpAnswer answer = steer(server, id, "pause");
  REQUIRE(answer.status == 200);
  CHECK(answer.json.at("state") == "paused");
  CHECK(answer.json.at("measure").is_null());
  check_error(steer(server, id, "pause"), 409, "ROLLOUT_NOT_RUNNING");
  // Paused, it does not advance, whatever time passes.
  fleet.step();
  advance_clock(server, 60'000);
  advance_clock(server, 60'000);
  CHECK(rollout(server, id).at("stages")[0].at("state") == "applying");
  answer = steer(server, id, "resume");
  REQUIRE(answer.status == 200);
  CHECK(answer.json.at("state") == "running");
  check_error(steer(server, id, "resume"), 409, "ROLLOUT_NOT_PAUSED");

  json state = drive(server, fleet, id, [](const json& r) { return r.at("current_stage") == 1; });
  REQUIRE(state.at("current_stage") == 1);
  fleet.step();
  answer = steer(server, id, "abort");
  REQUIRE(answer.status == 200);
  CHECK(answer.json.at("state") == "aborted");
  CHECK(answer.json.at("layer") == true);
  check_error(steer(server, id, "resume"), 409, "ROLLOUT_NOT_PAUSED");
  check_error(steer(server, id, "abort"), 409, "ROLLOUT_NOT_ACTIVE");
  // Aborted, the agents keep the change (frozen) and nothing advances.
  for (const std::string& agent : fleet.agents) CHECK(fleet.hash_of(agent) != before[agent]);
  state = drive(
      server, fleet, id, [](const json&) { return false; }, 8);
  CHECK(in_state(state, "aborted"));
  CHECK(state.at("stages")[1].at("state") != "finished");

  answer = steer(server, id, "rollback");
  REQUIRE(answer.status == 200);
  CHECK(answer.json.at("state") == "rolled_back");
  CHECK(answer.json.at("reason").get<std::string>().find("rolled back by") == 0);
  for (const std::string& agent : fleet.agents) CHECK(fleet.hash_of(agent) == before[agent]);
  check_error(steer(server, id, "rollback"), 409, "ROLLOUT_NOT_ACTIVE");
  check_error(steer(server, "0000000000000000", "pause"), 404, "ROLLOUT_NOT_FOUND");
  check_error(server.get("/api/v1/rollouts/0000000000000000"), 404, "ROLLOUT_NOT_FOUND");
}

TEST_CASE("one running rollout per agent: an overlapping target is refused with 409 ROLLOUT_CONFLICT") {
  TempDir dir;
  MusterServer server(dir.file("data"), kCalmServer);
  Fleet fleet = prod_fleet(server, 2);
  fleet.add("edge-1", {{"env", "edge"}});
  const std::string first = created_id(create_rollout(server, v2_rollout(kTwoStages)));
  json overlapping = v2_rollout(kTwoStages);
  overlapping["target"] = {{"selector", {{"env", "prod"}}}};
  const HttpAnswer refused = create_rollout(server, overlapping);
  check_error(refused, 409, "ROLLOUT_CONFLICT");
  CHECK(refused.json.at("details").at("target").get<std::string>().find(first) != std::string::npos);
  CHECK(get_json(server, "/api/v1/rollouts").at("rollouts").size() == 1);
  // Other agents are free; once the first is rolled back, its agents are too.
  json elsewhere = overlapping;
  elsewhere["target"] = {{"selector", {{"env", "edge"}}}};
  created_id(create_rollout(server, elsewhere));
  REQUIRE(steer(server, first, "rollback").status == 200);
  created_id(create_rollout(server, overlapping));
}

TEST_CASE("bad rollouts are refused naming their field, and nothing is created") {
  TempDir dir;
  MusterServer server(dir.file("data"), kCalmServer);
  prod_fleet(server, 1);
  const json good = v2_rollout(kTwoStages);
  const auto with = [&](const std::string& key, const json& value) {
    json body = good;
    if (value.is_null()) {
      body.erase(key);
    } else {
      body[key] = value;
    }
    return body;
  };
  const struct {
    json body;
    int status;
    const char* code;
    const char* field;
  } cases[] = {
      {with("name", nullptr), 400, "VALIDATION_FAILED", "name"},
      {with("target", json{{"group", "prod"}, {"selector", {{"env", "prod"}}}}), 400, "VALIDATION_FAILED",
       "target"},
      {with("target", json::object()), 400, "VALIDATION_FAILED", "target"},
      {with("target", json{{"group", "nope"}}), 404, "GROUP_NOT_FOUND", "target.group"},
      {with("change", json{{"assignment", {{"config", "nope"}}}}), 404, "CONFIG_NOT_FOUND",
       "change.assignment.config"},
      {with("change", json{{"assignment", {{"config", "collector"}, {"version", 9}}}}), 400,
       "VERSION_NOT_FOUND", "change.assignment.version"},
      {with("change", json{{"assignment", {{"config", "collector"}}}, {"settings", {{"a", 1}}}}), 400,
       "VALIDATION_FAILED", "change"},
      {with("change", json{{"settings", "loud"}}), 400, "VALIDATION_FAILED", "change.settings"},
      {with("stages", json::array({{{"percent", 50}}, {{"percent", 40}}})), 400, "VALIDATION_FAILED",
       "stages[1].percent"},
      {with("stages", json::array({{{"percent", 150}}})), 400, "VALIDATION_FAILED", "stages[0].percent"},
      {with("stages", json::array({{{"percent", 10}, {"count", 1}}, {{"percent", 100}}})), 400,
       "VALIDATION_FAILED", "stages[0]"},
      {with("stages", json::array({{{"percent", 100}, {"bake_time", "soon"}}})), 400, "VALIDATION_FAILED",
       "stages[0].bake_time"},
      {with("stages", json::array({{{"percent", 50}}})), 400, "VALIDATION_FAILED", "stages[0]"},
      {with("stages", json::array()), 400, "VALIDATION_FAILED", "stages"},
      {with("gate", json{{"max_failed_percent", 101}}), 400, "VALIDATION_FAILED", "gate.max_failed_percent"},
      {with("gate", json{{"max_offline_percent", -1}}), 400, "VALIDATION_FAILED", "gate.max_offline_percent"},
      {with("on_failure", "retry"), 400, "VALIDATION_FAILED", "on_failure"},
      {with("color", "blue"), 400, "VALIDATION_FAILED", "color"},
  };
  for (const auto& bad : cases) {
    CAPTURE(bad.body.dump());
    const HttpAnswer answer = create_rollout(server, bad.body);
    check_error(answer, bad.status, bad.code);
    CHECK(answer.json.at("details").contains(bad.field));
  }
  CHECK(get_json(server, "/api/v1/rollouts").at("rollouts").empty());
  check_error(server.get("/api/v1/rollouts?limit=0"), 400, "INVALID_PARAMETER");
  check_error(server.get("/api/v1/rollouts?cursor=nope"), 400, "INVALID_PARAMETER");
  // Defaults: four stages of 1%, 10%, 50%, 100%, each baking 5 minutes.
  json defaults = good;
  defaults.erase("stages");
  const HttpAnswer made = create_rollout(server, defaults);
  REQUIRE(made.status == 201);
  REQUIRE(made.json.at("stages").size() == 4);
  CHECK(made.json.at("stages")[0].at("percent") == 1);
  CHECK(made.json.at("stages")[3].at("percent") == 100);
  CHECK(made.json.at("stages")[0].at("bake_time_ms") == 300'000);
  CHECK(made.json.at("gate").at("max_failed_percent") == 5);
}

TEST_CASE(
    "kill -9 in mid-stage: the stage resumes after restart with its bake counted from its logged start") {
  TempDir dir;
  const std::string data = dir.file("data");
  std::string id;
  TimeMs baking_at = 0;
  std::vector<std::string> agents;
  {
    MusterServer server(data, kCalmServer);
    Fleet fleet = prod_fleet(server, 3);
    agents = fleet.agents;
    id = created_id(
        create_rollout(server, v2_rollout(json::array({{{"count", 1}, {"bake_time", "10m"}},
                                                       {{"percent", 100}, {"bake_time", "1s"}}}))));
    const json state =
        drive(server, fleet, id, [](const json& r) { return r.at("stages")[0].at("state") == "baking"; });
    REQUIRE(state.at("stages")[0].at("state") == "baking");
    baking_at = time_of(state.at("stages")[0].at("baking_at"));
    advance_clock(server, 3 * 60'000);
    server.kill9();
  }
  MusterServer server(data, kCalmServer);
  Fleet fleet{&server, agents, {}};
  json state = rollout(server, id);
  CHECK(in_state(state, "running"));
  CHECK(state.at("current_stage") == 0);
  CHECK(state.at("stages")[0].at("state") == "baking");
  CHECK(time_of(state.at("stages")[0].at("baking_at")) == baking_at);
  // The new server's clock starts at the real time: move it to 5 minutes
  // after the logged bake start. A bake restarted at the restart would be
  // over by now; the logged one is not.
  const TimeMs now = advance_clock(server, 0);
  REQUIRE(now < baking_at + 5 * 60'000);
  advance_clock(server, baking_at + 5 * 60'000 - now);
  state = drive(
      server, fleet, id, [](const json&) { return false; }, 3);
  CHECK(state.at("current_stage") == 0);
  CHECK(state.at("stages")[0].at("state") == "baking");
  // Past the logged start plus 10 minutes, it goes on and completes.
  advance_clock(server, 5 * 60'000);
  state = drive(server, fleet, id, [](const json& r) { return in_state(r, "completed"); });
  REQUIRE(in_state(state, "completed"));
  CHECK(time_of(state.at("stages")[0].at("finished_at")) >= baking_at + 10 * 60'000);
  const std::vector<std::string> types = event_types(state);
  CHECK(std::count(types.begin(), types.end(), "RolloutStageBaking") == 2);
}

}  // namespace muster::e2e
