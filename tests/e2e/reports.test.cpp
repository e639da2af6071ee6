// Agents' own reports against the real binary: recorded and listed with
// the agent's events, filtered by report type in /api/v1/events and in
// `muster replay`, counted in /api/v1/stats (across a restart), a
// termination notice taking the agent OFFLINE at once, and bad input and
// wrong callers refused with nothing recorded.

#include "tests/e2e/e2e_helpers.hpp"

namespace muster::e2e {
namespace {

std::string reports_path(const std::string& agent_id) {
  return "/api/v1/agents/" + agent_id + "/reports";
}

// POSTs `body` as the agent's report, with `token` (the agent's own by default).
HttpAnswer post_report(const MusterServer& server, const std::string& agent_id, const std::string& body,
                       std::string token = "") {
  if (token.empty()) token = MusterServer::agent_token_of(agent_id);
  return server.send("POST", reports_path(agent_id), body,
                     {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + token}});
}

// Reports `body`; REQUIREs 201 and returns the answer.
json report_ok(const MusterServer& server, const std::string& agent_id, const json& body) {
  const HttpAnswer answer = post_report(server, agent_id, body.dump());
  INFO("report " << body.dump() << ": " << answer.status << " " << answer.body);
  REQUIRE(answer.status == 201);
  REQUIRE(answer.json.is_object());
  return answer.json;
}

std::vector<json> reports_in(const std::vector<json>& events) {
  std::vector<json> reports;
  for (const json& event : events) {
    if (event.at("type") == "AgentReported") reports.push_back(event);
  }
  return reports;
}

// The AgentReported events `muster replay` prints with `args`.
std::vector<json> replayed_reports(const std::string& data, std::vector<std::string> args) {
  args.insert(args.begin(), {"replay", "--data", data});
  const CommandResult result = run_muster(args);
  INFO("replay: " << result.exit_code << " " << result.err);
  REQUIRE(result.exit_code == 0);
  std::vector<json> events;
  for (const std::string& line : lines_of(result.out)) events.push_back(json::parse(line));
  return events;
}

}  // namespace

TEST_CASE("reports: recorded, listed with the agent's events, filtered by type, counted across a restart") {
  TempDir dir;
  const std::string data = dir.file("data");
  auto server = std::make_unique<MusterServer>(data);
  const std::string agent = register_agent(*server, "spot-1").agent_id;
  const std::string other = register_agent(*server, "spot-2").agent_id;

  const json notice = {{"action", "terminate"}, {"time", "2026-12-02T01:02:00Z"}};
  const json rebalance = report_ok(*server, agent,
                                   {{"type", "rebalance_recommendation"},
                                    {"time", "2026-12-02T01:00:00.250Z"},
                                    {"data", {{"notice", notice}}}});
  CHECK(rebalance.at("agent_id") == agent);
  CHECK(rebalance.at("type") == "rebalance_recommendation");
  CHECK(rebalance.at("reported_at") == "2026-12-02T01:00:00.250Z");
  CHECK(rebalance.at("status") == "ONLINE");
  const TimeMs before_crash = now_ms();
  const json crash = report_ok(*server, other, {{"type", "crash"}});
  CHECK(time_of(crash.at("reported_at")) >= before_crash - 1000);  // no time: when muster got it
  report_ok(*server, other, {{"type", "crash"}, {"data", {{"signal", 11}}}});

  // Listed with the agent's events, as recorded.
  const std::vector<json> own = reports_in(stream_events(*server, agent));
  REQUIRE(own.size() == 1);
  CHECK(own.front().at("position") == rebalance.at("position"));
  CHECK(own.front().at("data") == json{{"type", "rebalance_recommendation"},
                                       {"reported_at_ms", time_of("2026-12-02T01:00:00.250Z")},
                                       {"data", {{"notice", notice}}}});
  CHECK(get_agent(*server, agent).at("status") == "ONLINE");  // only a termination notice changes it

  // Filtered by report type in the log, with or without type=AgentReported.
  CHECK(log_events(*server, "type=AgentReported").size() == 3);
  const std::vector<json> crashes = log_events(*server, "report_type=crash");
  CHECK(crashes.size() == 2);
  CHECK(log_events(*server, "type=AgentReported&report_type=crash") == crashes);
  CHECK(log_events(*server, "report_type=rebalance_recommendation") == own);
  CHECK(log_events(*server, "report_type=termination").empty());
  check_error(server->get("/api/v1/events?report_type=Crash"), 400, "INVALID_PARAMETER");
  check_error(server->get("/api/v1/events?type=AgentRegistered&report_type=crash"), 400, "INVALID_PARAMETER");

  // And in `muster replay`, beside the running server.
  const std::vector<json> replayed = replayed_reports(data, {"--report-type", "crash"});
  REQUIRE(replayed.size() == 2);
  for (std::size_t index = 0; index < replayed.size(); ++index) {
    CHECK(replayed[index].at("position") == crashes[index].at("position"));
    CHECK(replayed[index].at("data") == crashes[index].at("data"));
  }
  CHECK(replayed_reports(data, {"--agent", agent, "--report-type", "crash"}).empty());
  CHECK(replayed_reports(data, {"--agent", agent, "--report-type", "rebalance_recommendation"}).size() == 1);
  CHECK(run_muster({"replay", "--data", data, "--report-type", "Not A Type"}).exit_code != 0);
  CHECK(run_muster({"replay", "--data", data, "--type", "AgentRegistered", "--report-type", "crash"})
            .exit_code != 0);

  // Counted per type over the last 24 hours, and still after a restart.
  const json expected = {{"crash", 2}, {"rebalance_recommendation", 1}};
  CHECK(stats(*server).at("reports_24h") == expected);
  REQUIRE(server->terminate() == 0);
  server.reset();
  MusterServer again(data);
  CHECK(stats(again).at("reports_24h") == expected);
  // An organization sees its own agents' reports only.
  const HttpAnswer key =
      again.post("/api/v1/api-keys", json{{"name", "g"}, {"role", "viewer"}, {"org", "globex"}}.dump());
  REQUIRE(key.status == 201);
  const HttpAnswer globex = again.send(
      "GET", "/api/v1/stats", "", {{"Authorization", "Bearer " + key.json.at("key").get<std::string>()}});
  REQUIRE(globex.status == 200);
  CHECK(globex.json.at("reports_24h") == json::object());
}

TEST_CASE(
    "reports: a termination notice takes the agent OFFLINE at once, with the reason - a heartbeat brings it "
    "back") {
  TempDir dir;
  MusterServer server(dir.file("data"));
  const std::string agent = register_agent(server, "spot-1").agent_id;
  // Agents report on their own listener, as they heartbeat.
  server.use_agents_listener(true);
  const json terminated =
      report_ok(server, agent, {{"type", "termination"}, {"data", {{"action", "terminate"}}}});
  server.use_agents_listener(false);
  CHECK(terminated.at("status") == "OFFLINE");

  const json view = get_agent(server, agent, terminated.at("position").get<std::uint64_t>());
  CHECK(view.at("status") == "OFFLINE");
  CHECK(view.at("status_reason") == "termination notice");
  CHECK(stats(server).at("by_status").at("OFFLINE") == 1);
  const std::vector<json> offline = log_events(server, "type=AgentWentOffline");
  REQUIRE(offline.size() == 1);
  CHECK(offline.front().at("data").at("reason") == "termination notice");
  CHECK(offline.front().at("schema_version") == 2);
  CHECK(types_of(stream_events(server, agent)).back() == "AgentWentOffline");

  // A second notice is recorded; the agent is offline already.
  CHECK(report_ok(server, agent, {{"type", "termination"}}).at("status") == "OFFLINE");
  CHECK(log_events(server, "type=AgentWentOffline").size() == 1);
  CHECK(stats(server).at("reports_24h") == json{{"termination", 2}});

  // Its next heartbeat brings it back, as after a heartbeat timeout.
  heartbeat(server, agent);
  const json back = get_agent(server, agent, log_position(server));
  CHECK(back.at("status") == "ONLINE");
  CHECK_FALSE(back.contains("status_reason"));
  CHECK(types_of(stream_events(server, agent)).back() == "AgentCameOnline");
}

TEST_CASE("reports: bad input and wrong callers are refused naming the field, and nothing is recorded") {
  TempDir dir;
  MusterServer server(dir.file("data"), {"--agent-max-body-bytes", "200000"});
  const std::string agent = register_agent(server, "spot-1").agent_id;
  const std::string other = register_agent(server, "spot-2").agent_id;
  const std::uint64_t before = log_position(server);

  const auto refused = [&](const std::string& body, int status, const std::string& code,
                           const std::string& field) {
    const HttpAnswer answer = post_report(server, agent, body);
    INFO("body " << body.substr(0, 200));
    check_error(answer, status, code);
    if (!field.empty()) CHECK(answer.json.at("details").contains(field));
  };
  for (const json& type : {json("Crash"), json(""), json("1crash"), json(std::string(65, 'a')),
                           json("crash report"), json(5), json(nullptr)}) {
    refused(json{{"type", type}}.dump(), 400, "VALIDATION_FAILED", "type");
  }
  refused(R"({"data":{}})", 400, "VALIDATION_FAILED", "type");
  for (const json& data : {json::array({1}), json("x"), json(3)}) {
    refused(json{{"type", "crash"}, {"data", data}}.dump(), 400, "VALIDATION_FAILED", "data");
  }
  for (const json& time : {json("yesterday"), json("2026-13-01T00:00:00Z"), json(1764640000)}) {
    refused(json{{"type", "crash"}, {"time", time}}.dump(), 400, "VALIDATION_FAILED", "time");
  }
  // 64 KiB of data at most, as JSON; the listener's own limit beyond.
  const json large = {{"type", "crash"}, {"data", {{"core", std::string(64 * 1024, 'x')}}}};
  refused(large.dump(), 413, "PAYLOAD_TOO_LARGE", "data");
  const json fits = {{"type", "crash"}, {"data", {{"core", std::string(64 * 1024 - 20, 'x')}}}};
  server.use_agents_listener(true);
  check_error(post_report(server, agent,
                          json{{"type", "crash"}, {"data", {{"core", std::string(300'000, 'x')}}}}.dump()),
              413, "PAYLOAD_TOO_LARGE");
  server.use_agents_listener(false);
  refused("{not json", 400, "INVALID_JSON", "");

  // Another agent's token, an operator's key, none: refused like a heartbeat's.
  check_error(post_report(server, agent, R"({"type":"crash"})", MusterServer::agent_token_of(other)), 403,
              "AGENT_MISMATCH");
  check_error(post_report(server, agent, R"({"type":"crash"})", server.admin_key()), 401,
              "INVALID_AGENT_TOKEN");
  check_error(
      server.send("POST", reports_path(agent), R"({"type":"crash"})", {{"Content-Type", "application/json"}}),
      401, "INVALID_AGENT_TOKEN");
  CHECK(log_position(server) == before);
  CHECK(stats(server).at("reports_24h") == json::object());

  // The largest data that fits is taken.
  CHECK(post_report(server, agent, fits.dump()).status == 201);
  // A deregistered agent's token is told to register again, as on heartbeats.
  REQUIRE(server.del("/api/v1/agents/" + other).status == 200);
  const std::uint64_t deregistered = log_position(server);
  check_error(post_report(server, other, R"({"type":"termination"})"), 404, "AGENT_NOT_REGISTERED");
  CHECK(log_position(server) == deregistered);
}

}  // namespace muster::e2e
