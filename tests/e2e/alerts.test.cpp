// Alerting against the real binary on a manual clock the tests move: a
// threshold with `for`, absence at the heartbeat timeout, a composite, a
// fleet share, acknowledgement and silence, the rule test, a restart that
// keeps firing alerts, and bad rules refused naming the field.

#include <doctest/doctest.h>

#include "tests/e2e/e2e_helpers.hpp"

namespace muster::e2e {
namespace {

std::vector<std::string> server_args(const std::string& heartbeat_timeout = "24h") {
  return {"--enable-test-hooks", "--test-manual-clock", "--heartbeat-timeout", heartbeat_timeout,
          "--healthy-within", "1h", "--warning-within", "2h"};
}

std::string create_rule(const MusterServer& server, const json& body) {
  const HttpAnswer answer = server.post("/api/v1/alert-rules", body.dump());
  INFO(answer.body);
  REQUIRE(answer.status == 201);
  return answer.json.at("rule_id").get<std::string>();
}

std::vector<json> alerts(const MusterServer& server, const std::string& query) {
  const json answer = get_json(server, with_query("/api/v1/alerts", query));
  return answer.at("alerts").get<std::vector<json>>();
}

// Waits (the evaluator's commands are asynchronous) until the alert of
// `rule_id` about `subject` is in `state`; returns it.
json wait_for_alert(const MusterServer& server, const std::string& rule_id, const std::string& subject,
                    const std::string& state) {
  json found;
  const bool seen = eventually([&] {
    for (const json& alert : alerts(server, "state=" + state + "&rule=" + rule_id)) {
      if (alert.at("subject").at("id") == subject) {
        found = alert;
        return true;
      }
    }
    return false;
  });
  INFO("rule " << rule_id << " subject " << subject << " state " << state);
  REQUIRE(seen);
  return found;
}

void beat(const MusterServer& server, const std::string& agent, const json& metrics,
          const std::string& status = "online") {
  heartbeat(server, agent, {{"metrics", metrics}, {"status", status}});
}

}  // namespace

TEST_CASE("a threshold fires after `for`, is acknowledged and silenced, and resolves when the value falls") {
  TempDir dir;
  MusterServer server(dir.file("data"), server_args());
  const std::string web = register_agent(server, "web-1").agent_id;
  const std::string rule = create_rule(server, {{"name", "cpu high"},
                                                {"kind", "threshold"},
                                                {"condition", {{"metric", "cpu"}, {"fn", "avg"}, {"window", "1m"},
                                                               {"op", ">"}, {"value", 90}}},
                                                {"severity", "critical"},
                                                {"channels", {"ops"}},
                                                {"for", "2m"}});
  beat(server, web, {{"cpu", 95}});
  // Pending, not firing.
  const bool pending = eventually([&] { return alerts(server, "state=pending").size() == 1; });
  REQUIRE(pending);
  CHECK(alerts(server, "state=firing").empty());
  for (int step = 0; step < 12; ++step) {
    advance_clock(server, 10'000);
    beat(server, web, {{"cpu", 96}});
  }
  const json fired = wait_for_alert(server, rule, web, "firing");
  CHECK(fired.at("severity") == "critical");
  CHECK(fired.at("episode") == 1);
  CHECK(fired.at("channels") == json{"ops"});
  CHECK(fired.at("acknowledged") == false);
  const std::string id = fired.at("alert_id");
  CHECK(get_json(server, "/api/v1/alerts/" + id).at("state") == "firing");

  HttpAnswer answer = server.post("/api/v1/alerts/" + id + "/ack", json{{"comment", "on it"}}.dump());
  INFO(answer.body);
  REQUIRE(answer.status == 200);
  CHECK(answer.json.at("acknowledged") == true);
  CHECK(answer.json.at("ack_comment") == "on it");
  answer = server.post("/api/v1/alerts/" + id + "/silence", json{{"for", "1h"}, {"reason", "deploy"}}.dump());
  REQUIRE(answer.status == 200);
  CHECK(answer.json.at("silenced") == true);
  check_error(server.post("/api/v1/alerts/" + id + "/silence", json{{"for", "soon"}}.dump()), 400,
              "VALIDATION_FAILED");
  check_error(server.post("/api/v1/alerts/nope/ack", "{}"), 404, "ALERT_NOT_FOUND");

  for (int step = 0; step < 10; ++step) {
    advance_clock(server, 10'000);
    beat(server, web, {{"cpu", 5}});
  }
  const json resolved = wait_for_alert(server, rule, web, "resolved");
  CHECK(resolved.at("resolve_reason") == "condition cleared");
  check_error(server.post("/api/v1/alerts/" + id + "/ack", "{}"), 409, "ALERT_NOT_FIRING");
  // The log holds every transition.
  std::vector<json> events;
  for (const json& event : log_events(server)) {
    if (event.at("stream") == "alert:default/" + id) events.push_back(event);
  }
  const std::vector<std::string> types = types_of(events);
  CHECK(types == std::vector<std::string>{"AlertFired", "AlertAcknowledged", "AlertSilenced", "AlertResolved"});
}

TEST_CASE("absence fires `for` after the agent's last seen, once it went offline, and resolves when it is back") {
  TempDir dir;
  MusterServer server(dir.file("data"), server_args("1m"));
  const std::string web = register_agent(server, "web-1").agent_id;
  const std::string rule = create_rule(server, {{"name", "agent gone"}, {"kind", "absence"}, {"for", "5m"}});
  beat(server, web, json::object());
  advance_clock(server, 61'000);  // past the heartbeat timeout: offline, last seen 61 s ago
  const bool offline = eventually([&] { return get_agent(server, web).at("status") == "OFFLINE"; });
  REQUIRE(offline);
  const bool pending = eventually([&] { return alerts(server, "state=pending").size() == 1; });
  REQUIRE(pending);
  CHECK(alerts(server, "state=firing").empty());
  advance_clock(server, 240'000);  // last seen + 5m: not yet 1 ms past it... exactly at it
  const json fired = wait_for_alert(server, rule, web, "firing");
  CHECK(fired.at("subject").at("kind") == "agent");
  beat(server, web, json::object());
  wait_for_alert(server, rule, web, "resolved");
}

TEST_CASE("a composite fires when all its parts hold on one agent - the rule test says so without notifying") {
  TempDir dir;
  MusterServer server(dir.file("data"), server_args());
  const std::string web = register_agent(server, "web-1", {{"labels", {{"role", "web"}}}}).agent_id;
  const std::string db = register_agent(server, "db-1", {{"labels", {{"role", "db"}}}}).agent_id;
  const std::string rule =
      create_rule(server, {{"name", "sick web"},
                           {"kind", "composite"},
                           {"scope", {{"labels", {{"role", "web"}}}}},
                           {"condition",
                            {{"all",
                              {{{"kind", "status"}, {"agent_status", "degraded"}},
                               {{"kind", "threshold"}, {"metric", "errors"}, {"fn", "last"}, {"op", ">"}, {"value", 5}}}}}}});
  beat(server, web, {{"errors", 9}});
  beat(server, db, {{"errors", 9}}, "degraded");
  json test = server.post("/api/v1/alert-rules/" + rule + "/test", "").json;
  CHECK(test.at("would_fire").empty());
  beat(server, web, {{"errors", 9}}, "degraded");
  wait_for_alert(server, rule, web, "firing");
  test = server.post("/api/v1/alert-rules/" + rule + "/test", "").json;
  REQUIRE(test.at("would_fire").size() == 1);
  CHECK(test.at("would_fire")[0].at("subject").at("id") == web);
  CHECK(test.at("notified") == false);
  // The db agent is out of the scope: never an alert.
  CHECK(alerts(server, "rule=" + rule).size() == 1);
}

TEST_CASE("a fleet share fires for the group when more than its share is offline, and a restart keeps it firing") {
  TempDir dir;
  std::string rule;
  std::vector<std::string> agents;
  {
    MusterServer server(dir.file("data"), server_args("1m"));
    for (int n = 0; n < 5; ++n) agents.push_back(register_agent(server, fmt::format("web-{}", n)).agent_id);
    const HttpAnswer group = server.post("/api/v1/groups", json{{"name", "web"}, {"selector", json::object()}}.dump());
    REQUIRE(group.status == 201);
    rule = create_rule(server, {{"name", "web offline"},
                                {"kind", "fleet"},
                                {"scope", {{"group", "web"}}},
                                {"condition", {{"condition", "offline"}, {"share_percent", 30}}}});
    advance_clock(server, 30'000);
    for (int n = 2; n < 5; ++n) beat(server, agents[n], json::object());
    advance_clock(server, 40'000);  // 0 and 1 silent for 70 s: offline (40%)
    const json fired = wait_for_alert(server, rule, "web", "firing");
    CHECK(fired.at("subject").at("kind") == "group");
    CHECK(fired.at("details").at("in_condition") == 2);
    server.terminate();
  }
  MusterServer server(dir.file("data"), server_args("1m"));
  wait_for_alert(server, rule, "web", "firing");
  advance_clock(server, 2'000);
  CHECK(alerts(server, "state=firing&rule=" + rule).size() == 1);
  // Back online: the share falls, the alert resolves.
  beat(server, agents[0], json::object());
  beat(server, agents[1], json::object());
  wait_for_alert(server, rule, "web", "resolved");
}

TEST_CASE("bad rules are refused naming the field, and nothing changes") {
  TempDir dir;
  MusterServer server(dir.file("data"), server_args());
  const json good = {{"name", "x"}, {"kind", "threshold"},
                     {"condition", {{"metric", "not_seen_yet"}, {"op", ">"}, {"value", 1}}}};
  const std::vector<std::pair<json, std::string>> cases = {
      {{{"name", "x"}, {"kind", "vibes"}}, "kind"},
      {{{"name", "x"}, {"kind", "threshold"}, {"condition", {{"metric", "cpu"}, {"op", "=="}, {"value", 1}}}},
       "condition.op"},
      {{{"name", "x"}, {"kind", "threshold"},
        {"condition", {{"metric", "cpu"}, {"op", ">"}, {"value", 1}, {"window", "5 min"}}}},
       "condition.window"},
      {{{"name", "x"}, {"kind", "absence"}, {"severity", "apocalyptic"}}, "severity"},
      {{{"name", "x"}, {"kind", "absence"}, {"for", "2x"}}, "for"},
      {{{"name", "x"}, {"kind", "fleet"}, {"condition", {{"condition", "offline"}, {"share_percent", 101}}}},
       "condition.share_percent"},
      {{{"name", "x"}, {"kind", "absence"}, {"escalation", {{{"after", "later"}, {"channels", {"a"}}}}}},
       "escalation[0].after"},
      {{{"name", "x"}, {"kind", "absence"}, {"scope", {{"agents", {"nope"}}}}}, "scope.agents"},
  };
  for (const auto& [body, field] : cases) {
    const HttpAnswer answer = server.post("/api/v1/alert-rules", body.dump());
    check_error(answer, 400, "VALIDATION_FAILED");
    CHECK(answer.json.at("details").contains(field));
  }
  // A non-finite value cannot be written in JSON; a string is refused.
  json text_value = good;
  text_value["condition"]["value"] = "NaN";
  check_error(server.post("/api/v1/alert-rules", text_value.dump()), 400, "VALIDATION_FAILED");
  CHECK(get_json(server, "/api/v1/alert-rules").at("alert_rules").empty());
  // An unknown metric is fine; PUT replaces, DELETE removes, then 404.
  const std::string rule = create_rule(server, good);
  json changed = good;
  changed["severity"] = "info";
  HttpAnswer answer = server.send("PUT", "/api/v1/alert-rules/" + rule, changed.dump(),
                                  {{"Content-Type", "application/json"}});
  REQUIRE(answer.status == 200);
  CHECK(answer.json.at("severity") == "info");
  check_error(server.send("PUT", "/api/v1/alert-rules/" + rule, json{{"name", "x"}}.dump(),
                          {{"Content-Type", "application/json"}}),
              400, "VALIDATION_FAILED");
  CHECK(get_json(server, "/api/v1/alert-rules/" + rule).at("severity") == "info");
  REQUIRE(server.del("/api/v1/alert-rules/" + rule).status == 200);
  check_error(server.get("/api/v1/alert-rules/" + rule), 404, "ALERT_RULE_NOT_FOUND");
  check_error(server.get("/api/v1/alerts?state=sideways"), 400, "INVALID_PARAMETER");
}

}  // namespace muster::e2e

namespace muster::e2e {

TEST_CASE("a threshold alert firing before a kill -9 still fires after it, and resolves at the next sample within bounds") {
  TempDir dir;
  std::string rule;
  std::string web;
  std::string alert_id;
  {
    MusterServer server(dir.file("data"), server_args());
    web = register_agent(server, "web-1").agent_id;
    rule = create_rule(server, {{"name", "mem high"},
                                {"kind", "threshold"},
                                {"condition", {{"metric", "mem"}, {"fn", "last"}, {"op", ">="}, {"value", 90}}}});
    beat(server, web, {{"mem", 95}});
    alert_id = wait_for_alert(server, rule, web, "firing").at("alert_id");
    const HttpAnswer silenced = server.post("/api/v1/alerts/" + alert_id + "/silence",
                                            json{{"until", format_rfc3339(advance_clock(server, 0) + 3'600'000)}}.dump());
    REQUIRE(silenced.status == 200);
    server.kill9();
  }
  MusterServer server(dir.file("data"), server_args());
  // The evaluator's periodic pass runs; the alert, restored, waits for a sample.
  advance_clock(server, 5'000);
  advance_clock(server, 5'000);
  const json still = get_json(server, "/api/v1/alerts/" + alert_id);
  CHECK(still.at("state") == "firing");
  CHECK(still.at("silenced") == true);
  beat(server, web, {{"mem", 95}});  // still high: nothing new
  advance_clock(server, 1'000);
  CHECK(get_json(server, "/api/v1/alerts/" + alert_id).at("episode") == 1);
  beat(server, web, {{"mem", 40}});
  const json resolved = wait_for_alert(server, rule, web, "resolved");
  CHECK(resolved.at("episode") == 1);
  beat(server, web, {{"mem", 99}});
  CHECK(wait_for_alert(server, rule, web, "firing").at("episode") == 2);
}

}  // namespace muster::e2e
