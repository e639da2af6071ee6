// The authorization matrix: every route of the API against every kind of
// caller, each answer's exact status and code; and no secret issued during
// a run anywhere in the data dir, the log, /events or an error.

#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <set>

#include "tests/e2e/e2e_helpers.hpp"

namespace muster::e2e {
namespace {

/// Who calls: what goes into the Authorization header.
enum class Caller {
  nobody,               ///< No header.
  malformed,            ///< "Basic ..." instead of a bearer credential.
  unknown_key,          ///< Well-formed API key nobody issued.
  unknown_agent_token,  ///< Well-formed token for the target agent, wrong secret.
  unknown_enrollment,   ///< Well-formed enrollment token nobody issued.
  expired_enrollment,
  revoked_enrollment,
  revoked_key,
  revoked_agent_token,  ///< The target agent's token from before it registered again.
  enrollment,           ///< A live enrollment token.
  own_agent,            ///< The target agent's current token.
  other_agent,          ///< Another agent's current token.
  viewer,
  operator_,
  admin,
  other_org_admin,  ///< An admin key scoped to another organization.
};

const std::vector<std::pair<Caller, const char*>> kCallers = {
    {Caller::nobody, "nobody"},
    {Caller::malformed, "malformed header"},
    {Caller::unknown_key, "unknown API key"},
    {Caller::unknown_agent_token, "unknown agent token"},
    {Caller::unknown_enrollment, "unknown enrollment token"},
    {Caller::expired_enrollment, "expired enrollment token"},
    {Caller::revoked_enrollment, "revoked enrollment token"},
    {Caller::revoked_key, "revoked API key"},
    {Caller::revoked_agent_token, "revoked agent token"},
    {Caller::enrollment, "enrollment token"},
    {Caller::own_agent, "the agent's own token"},
    {Caller::other_agent, "another agent's token"},
    {Caller::viewer, "viewer key"},
    {Caller::operator_, "operator key"},
    {Caller::admin, "admin key"},
    {Caller::other_org_admin, "other organization's admin key"},
};

/// Which credential a route takes, and what it answers its rightful caller.
enum class Guard { open, enrollment, agent, agent_or_viewer, agent_or_operator, opamp, viewer, operator_, admin };

struct Expected {
  int status;
  std::string code;  ///< Empty for a success.
};

/// What a route whose success is `ok_status` answers `caller`; `hidden` is the
/// code another organization's admin gets (404 for an agent it must not see),
/// empty when the route is not about one agent (it answers its own org's view).
Expected expected_answer(Guard guard, Caller caller, int ok_status, const std::string& hidden) {
  const Expected ok{ok_status, ""};
  const bool is_key = caller == Caller::viewer || caller == Caller::operator_ || caller == Caller::admin ||
                      caller == Caller::other_org_admin;
  const bool is_agent_token = caller == Caller::own_agent || caller == Caller::other_agent ||
                              caller == Caller::unknown_agent_token || caller == Caller::revoked_agent_token;
  switch (guard) {
    case Guard::open: return ok;
    case Guard::enrollment:
      return caller == Caller::enrollment ? ok : Expected{401, "INVALID_ENROLLMENT_TOKEN"};
    case Guard::agent:
      if (caller == Caller::own_agent) return ok;
      if (caller == Caller::other_agent) return {403, "AGENT_MISMATCH"};
      return {401, "INVALID_AGENT_TOKEN"};
    case Guard::opamp:
      // The token names the agent (no path does): any agent's own token or a
      // live enrollment token; anything else is taken for an enrollment token.
      if (caller == Caller::own_agent || caller == Caller::other_agent || caller == Caller::enrollment) return ok;
      if (is_agent_token) return {401, "INVALID_AGENT_TOKEN"};
      return {401, "INVALID_ENROLLMENT_TOKEN"};
    case Guard::agent_or_viewer:
    case Guard::agent_or_operator:
      if (caller == Caller::own_agent) return ok;
      if (caller == Caller::other_agent) return {403, "AGENT_MISMATCH"};
      if (is_agent_token) return {401, "INVALID_AGENT_TOKEN"};
      break;
    default: break;
  }
  if (caller == Caller::nobody) return {401, "UNAUTHORIZED"};
  if (!is_key) return {401, "INVALID_API_KEY"};
  const Guard needs = guard == Guard::agent_or_operator ? Guard::operator_
                      : guard == Guard::agent_or_viewer   ? Guard::viewer
                                                          : guard;
  const int rank = caller == Caller::viewer ? 0 : caller == Caller::operator_ ? 1 : 2;
  const int needed = needs == Guard::viewer ? 0 : needs == Guard::operator_ ? 1 : 2;
  if (rank < needed) return {403, "FORBIDDEN"};
  if (caller == Caller::other_org_admin && !hidden.empty()) return {404, hidden};
  return ok;
}

/// One route and how to call it afresh: a request that would succeed for
/// its rightful caller, against things made just for this call.
struct Route {
  std::string name;
  Guard guard;
  int ok_status;
  std::string hidden;  ///< See expected_answer.
  std::function<std::pair<std::string, std::string>(const std::string& agent_id)> method_and_path;
  std::string body;
  std::string content_type = "application/json";
  /// Asks to become a WebSocket (sent raw: httplib's client cannot).
  bool websocket = false;
};

/// An OpAMP AgentToServer by hand (an instance_uid, sequence_num 1), so that
/// the matrix does not share muster's own .proto: field 1 (bytes), field 2 (varint).
std::string opamp_status_message(int serial) {
  std::string uid = fmt::format("matrix-{:010d}", serial);
  return std::string("\x0a\x10", 2) + uid.substr(0, 16) + std::string("\x10\x01", 2);
}

/// What the matrix calls with, made once per server.
struct Fixture {
  TempDir dir;
  // Nothing but the requests may append while the matrix checks that refusals
  // do not: rollouts tick once an hour, and agents time out after one (under
  // ASan the matrix takes over two minutes, past the default 120 s).
  MusterServer server{dir.file("data"),
                      {"--auth-failures-per-minute", "100000", "--rollout-tick", "1h", "--heartbeat-timeout", "1h"}};
  std::string viewer, operator_, other_org_admin, revoked_key;
  std::string enrollment, expired_enrollment, revoked_enrollment;
  std::string other_agent_token;
  int instances = 0;

  Fixture() {
    viewer = make_key("viewer", "default");
    operator_ = make_key("operator", "default");
    other_org_admin = make_key("admin", "globex");
    revoked_key = make_key("viewer", "default");
    REQUIRE(server.del("/api/v1/api-keys/" + revoked_key.substr(3, 16)).status == 200);
    enrollment = make_token("1h");
    expired_enrollment = make_token("1s");
    revoked_enrollment = make_token("1h");
    REQUIRE(server.del("/api/v1/enrollment-tokens/" + revoked_enrollment.substr(3, 16)).status == 200);
    other_agent_token = register_fresh().second;
    const HttpAnswer expired = server.get("/api/v1/enrollment-tokens");
    for (const json& token : expired.json.at("enrollment_tokens")) {
      if (token.at("id") == expired_enrollment.substr(3, 16)) {
        REQUIRE(eventually([&] { return now_ms() > time_of(token.at("expires_at")); }));
      }
    }
  }

  std::string make_key(const std::string& role, const std::string& org) {
    const HttpAnswer made =
        server.post("/api/v1/api-keys", json{{"name", role}, {"role", role}, {"org", org}}.dump());
    REQUIRE(made.status == 201);
    return made.json.at("key");
  }

  std::string make_token(const std::string& expires_in) {
    const HttpAnswer made =
        server.post("/api/v1/enrollment-tokens", json{{"name", "matrix"}, {"expires_in", expires_in}}.dump());
    REQUIRE(made.status == 201);
    return made.json.at("token");
  }

  /// A new agent: its id and current token.
  std::pair<std::string, std::string> register_fresh() {
    const Registered made = register_agent(server, fmt::format("matrix-{}", ++instances));
    return {made.agent_id, made.body.at("agent_token")};
  }

  /// A new agent registered twice: its id, current token and the dead first one.
  struct Target {
    std::string agent_id, token, revoked_token;
  };
  Target target() {
    const auto [agent_id, first] = register_fresh();
    const Registered again = register_agent(server, fmt::format("matrix-{}", instances));
    REQUIRE(again.agent_id == agent_id);
    return {agent_id, again.body.at("agent_token"), first};
  }

  std::string credential(Caller caller, const Target& target) const {
    const std::string filler(43, 'A');
    switch (caller) {
      case Caller::nobody: return "";
      case Caller::malformed: return "Basic dXNlcjpwYXNz";
      case Caller::unknown_key: return "Bearer mk_0123456789abcdef_" + filler;
      case Caller::unknown_agent_token: return "Bearer ma_" + target.agent_id + "_" + filler;
      case Caller::unknown_enrollment: return "Bearer me_0123456789abcdef_" + filler;
      case Caller::expired_enrollment: return "Bearer " + expired_enrollment;
      case Caller::revoked_enrollment: return "Bearer " + revoked_enrollment;
      case Caller::revoked_key: return "Bearer " + revoked_key;
      case Caller::revoked_agent_token: return "Bearer " + target.revoked_token;
      case Caller::enrollment: return "Bearer " + enrollment;
      case Caller::own_agent: return "Bearer " + target.token;
      case Caller::other_agent: return "Bearer " + other_agent_token;
      case Caller::viewer: return "Bearer " + viewer;
      case Caller::operator_: return "Bearer " + operator_;
      case Caller::admin: return "Bearer " + server.admin_key();
      case Caller::other_org_admin: return "Bearer " + other_org_admin;
    }
    return "";
  }
};

}  // namespace

TEST_CASE("authorization matrix: every route, every kind of caller, exact status and code") {
  Fixture fixture;
  const auto agent_path = [](const std::string& suffix) {
    return [suffix](const std::string& agent_id) { return "/api/v1/agents/" + agent_id + suffix; };
  };
  const auto fixed = [](std::string method, std::string path) {
    return [method, path](const std::string&) { return std::make_pair(method, path); };
  };
  const auto on_agent = [&](std::string method, std::string suffix) {
    return [method, path = agent_path(suffix)](const std::string& agent_id) {
      return std::make_pair(method, path(agent_id));
    };
  };
  // A key or token made per call, so that revoking it succeeds every time.
  const auto fresh_key = [&](const std::string&) {
    return std::make_pair(std::string("DELETE"),
                          "/api/v1/api-keys/" + fixture.make_key("viewer", "default").substr(3, 16));
  };
  const auto fresh_token = [&](const std::string&) {
    return std::make_pair(std::string("DELETE"),
                          "/api/v1/enrollment-tokens/" + fixture.make_token("1h").substr(3, 16));
  };
  // Bulk jobs: one that selects nobody, made afresh by each rightful call
  // (in the caller's organization), and one of the default organization to read.
  const std::string bulk_body =
      json{{"selector", {{"labels", {{"matrix", "nobody"}}}}}, {"action", "deregister"}}.dump();
  const HttpAnswer bulk_job = fixture.server.post("/api/v1/bulk", bulk_body);
  REQUIRE(bulk_job.status == 202);
  const std::string bulk_path = "/api/v1/bulk/" + bulk_job.json.at("job_id").get<std::string>();
  const std::string key_body = json{{"name", "k"}, {"role", "viewer"}}.dump();
  // Commands: one of the default organization to read, and one queued
  // afresh for each cancellation, so that each rightful call succeeds.
  const std::string command_body = json{{"type", "restart"}}.dump();
  const HttpAnswer matrix_command =
      fixture.server.post("/api/v1/agents/" + fixture.register_fresh().first + "/commands", command_body);
  REQUIRE(matrix_command.status == 201);
  const std::string command_path = "/api/v1/commands/" + matrix_command.json.at("command_id").get<std::string>();
  // Batches of commands: one selecting nobody, made afresh by each rightful
  // call, and one of the default organization to read.
  const std::string batch_body =
      json{{"selector", {{"labels", {{"matrix", "nobody"}}}}}, {"type", "restart"}}.dump();
  const HttpAnswer matrix_batch = fixture.server.post("/api/v1/commands", batch_body);
  REQUIRE(matrix_batch.status == 202);
  const std::string batch_path =
      "/api/v1/command-batches/" + matrix_batch.json.at("batch_id").get<std::string>();
  const auto fresh_command = [&fixture, command_body](const std::string& agent_id) {
    const HttpAnswer made = fixture.server.post("/api/v1/agents/" + agent_id + "/commands", command_body);
    REQUIRE(made.status == 201);
    return std::make_pair(std::string("POST"),
                          "/api/v1/commands/" + made.json.at("command_id").get<std::string>() + "/cancel");
  };
  // Rollouts over a selector that matches nobody (so none conflicts): one of
  // the default organization to read, and one made afresh for each step
  // (paused first for resume), so that each rightful call succeeds.
  const std::string rollout_body = json{{"name", "matrix"},
                                        {"target", {{"selector", {{"matrix", "nobody"}}}}},
                                        {"change", {{"settings", {{"a", 1}}}}}}
                                       .dump();
  const HttpAnswer matrix_rollout = fixture.server.post("/api/v1/rollouts", rollout_body);
  REQUIRE(matrix_rollout.status == 201);
  const std::string rollout_path = "/api/v1/rollouts/" + matrix_rollout.json.at("rollout_id").get<std::string>();
  const auto fresh_rollout = [&fixture, rollout_body](std::string action) {
    return [&fixture, rollout_body, action](const std::string&) {
      const HttpAnswer made = fixture.server.post("/api/v1/rollouts", rollout_body);
      REQUIRE(made.status == 201);
      const std::string path = "/api/v1/rollouts/" + made.json.at("rollout_id").get<std::string>();
      if (action == "resume") REQUIRE(fixture.server.post(path + "/pause", "").status == 200);
      return std::make_pair(std::string("POST"), path + "/" + action);
    };
  };
  // Alert rules: one of the default organization to read, replace and test,
  // and one made afresh for each deletion. No alert fires in the matrix:
  // acknowledging and silencing answer ALERT_NOT_FOUND to whoever may ask.
  const std::string alert_rule_body =
      json{{"name", "matrix"}, {"kind", "absence"}, {"scope", {{"labels", {{"matrix", "nobody"}}}}}}.dump();
  const HttpAnswer matrix_alert_rule = fixture.server.post("/api/v1/alert-rules", alert_rule_body);
  REQUIRE(matrix_alert_rule.status == 201);
  const std::string alert_rule_path =
      "/api/v1/alert-rules/" + matrix_alert_rule.json.at("rule_id").get<std::string>();
  const auto fresh_alert_rule = [&fixture, alert_rule_body](const std::string&) {
    const HttpAnswer made = fixture.server.post("/api/v1/alert-rules", alert_rule_body);
    REQUIRE(made.status == 201);
    return std::make_pair(std::string("DELETE"),
                          "/api/v1/alert-rules/" + made.json.at("rule_id").get<std::string>());
  };
  // Notification channels and maintenance windows: one of each in the
  // default organization to read, and one made afresh for each deletion.
  const std::string channel_body =
      json{{"name", "matrix"}, {"type", "webhook"}, {"url", "http://127.0.0.1:9/matrix"}, {"secret", "s"}}.dump();
  const HttpAnswer matrix_channel = fixture.server.post("/api/v1/notification-channels", channel_body);
  REQUIRE(matrix_channel.status == 201);
  const std::string channel_path =
      "/api/v1/notification-channels/" + matrix_channel.json.at("channel_id").get<std::string>();
  const auto fresh_channel = [&fixture, channel_body](const std::string&) {
    const HttpAnswer made = fixture.server.post("/api/v1/notification-channels", channel_body);
    REQUIRE(made.status == 201);
    return std::make_pair(std::string("DELETE"),
                          "/api/v1/notification-channels/" + made.json.at("channel_id").get<std::string>());
  };
  const std::string window_body =
      json{{"scope", json::object()}, {"starts_at", "2030-01-01T00:00:00Z"}, {"ends_at", "2030-01-01T01:00:00Z"}}
          .dump();
  const HttpAnswer matrix_window = fixture.server.post("/api/v1/maintenance-windows", window_body);
  REQUIRE(matrix_window.status == 201);
  const std::string window_path =
      "/api/v1/maintenance-windows/" + matrix_window.json.at("window_id").get<std::string>();
  const auto fresh_window = [&fixture, window_body](const std::string&) {
    const HttpAnswer made = fixture.server.post("/api/v1/maintenance-windows", window_body);
    REQUIRE(made.status == 201);
    return std::make_pair(std::string("DELETE"),
                          "/api/v1/maintenance-windows/" + made.json.at("window_id").get<std::string>());
  };
  // Groups: "matrix" in the default organization for the routes on one
  // group; creation and deletion act on a group made (or removed) afresh
  // for each call, so that each rightful call succeeds.
  REQUIRE(fixture.server.post("/api/v1/groups", json{{"name", "matrix"}}.dump()).status == 201);
  const std::string member_body = json{{"agent_ids", {fixture.register_fresh().first}}}.dump();
  const auto fresh_group_name = [&](const std::string&) {
    for (const char* org : {"default", "globex"}) {
      fixture.server.del(fmt::format("/api/v1/groups/matrix-new?org={}", org));
    }
    return std::make_pair(std::string("POST"), std::string("/api/v1/groups"));
  };
  int groups_made = 0;
  const auto fresh_group = [&](const std::string&) {
    const std::string name = fmt::format("matrix-{}", ++groups_made);
    REQUIRE(fixture.server.post("/api/v1/groups", json{{"name", name}}.dump()).status == 201);
    return std::make_pair(std::string("DELETE"), "/api/v1/groups/" + name);
  };
  // Configs: "matrix" in the default organization for the routes on one
  // config; creation and deletion act on a config removed (or made) afresh
  // for each call, so that each rightful call succeeds.
  const json config_files = {{"a.yaml", {{"content_type", "application/yaml"}, {"body", "a: 1\n"}}}};
  const auto make_config = [&](const std::string& name) {
    const json body = {{"name", name}, {"files", config_files}};
    return fixture.server.post("/api/v1/configs", body.dump()).status;
  };
  REQUIRE(make_config("matrix") == 201);
  const auto fresh_config_name = [&](const std::string&) {
    for (const char* org : {"default", "globex"}) {
      fixture.server.del(fmt::format("/api/v1/configs/matrix-new?org={}", org));
    }
    return std::make_pair(std::string("POST"), std::string("/api/v1/configs"));
  };
  int configs_made = 0;
  const auto fresh_config = [&](const std::string&) {
    const std::string name = fmt::format("matrix-{}", ++configs_made);
    REQUIRE(make_config(name) == 201);
    return std::make_pair(std::string("DELETE"), "/api/v1/configs/" + name);
  };
  const std::vector<Route> routes = {
      {"healthz", Guard::open, 200, "", fixed("GET", "/healthz"), ""},
      {"readyz", Guard::open, 200, "", fixed("GET", "/readyz"), ""},
      {"dashboard page", Guard::open, 200, "", fixed("GET", "/"), ""},
      {"dashboard asset", Guard::open, 200, "", fixed("GET", "/assets/app.js"), ""},
      {"create bulk job", Guard::operator_, 202, "", fixed("POST", "/api/v1/bulk"), bulk_body},
      {"list bulk jobs", Guard::viewer, 200, "", fixed("GET", "/api/v1/bulk"), ""},
      {"get bulk job", Guard::viewer, 200, "BULK_JOB_NOT_FOUND", fixed("GET", bulk_path), ""},
      {"create rollout", Guard::operator_, 201, "", fixed("POST", "/api/v1/rollouts"), rollout_body},
      {"list rollouts", Guard::viewer, 200, "", fixed("GET", "/api/v1/rollouts"), ""},
      {"get rollout", Guard::viewer, 200, "ROLLOUT_NOT_FOUND", fixed("GET", rollout_path), ""},
      {"pause rollout", Guard::operator_, 200, "ROLLOUT_NOT_FOUND", fresh_rollout("pause"), ""},
      {"resume rollout", Guard::operator_, 200, "ROLLOUT_NOT_FOUND", fresh_rollout("resume"), ""},
      {"abort rollout", Guard::operator_, 200, "ROLLOUT_NOT_FOUND", fresh_rollout("abort"), ""},
      {"roll back rollout", Guard::operator_, 200, "ROLLOUT_NOT_FOUND", fresh_rollout("rollback"), ""},
      {"create alert rule", Guard::operator_, 201, "", fixed("POST", "/api/v1/alert-rules"), alert_rule_body},
      {"list alert rules", Guard::viewer, 200, "", fixed("GET", "/api/v1/alert-rules"), ""},
      {"get alert rule", Guard::viewer, 200, "ALERT_RULE_NOT_FOUND", fixed("GET", alert_rule_path), ""},
      {"replace alert rule", Guard::operator_, 200, "ALERT_RULE_NOT_FOUND", fixed("PUT", alert_rule_path),
       alert_rule_body},
      {"delete alert rule", Guard::operator_, 200, "ALERT_RULE_NOT_FOUND", fresh_alert_rule, ""},
      {"test alert rule", Guard::viewer, 200, "ALERT_RULE_NOT_FOUND", fixed("POST", alert_rule_path + "/test"), ""},
      {"list alerts", Guard::viewer, 200, "", fixed("GET", "/api/v1/alerts?state=firing"), ""},
      {"get alert", Guard::viewer, 404, "", fixed("GET", "/api/v1/alerts/0123456789abcdef.org"), ""},
      {"acknowledge alert", Guard::operator_, 404, "", fixed("POST", "/api/v1/alerts/0123456789abcdef.org/ack"), "{}"},
      {"silence alert", Guard::operator_, 404, "", fixed("POST", "/api/v1/alerts/0123456789abcdef.org/silence"),
       R"({"for":"1h"})"},
      {"create notification channel", Guard::operator_, 201, "", fixed("POST", "/api/v1/notification-channels"),
       channel_body},
      {"list notification channels", Guard::viewer, 200, "", fixed("GET", "/api/v1/notification-channels"), ""},
      {"get notification channel", Guard::viewer, 200, "CHANNEL_NOT_FOUND", fixed("GET", channel_path), ""},
      {"delete notification channel", Guard::operator_, 200, "CHANNEL_NOT_FOUND", fresh_channel, ""},
      {"create maintenance window", Guard::operator_, 201, "", fixed("POST", "/api/v1/maintenance-windows"),
       window_body},
      {"list maintenance windows", Guard::viewer, 200, "", fixed("GET", "/api/v1/maintenance-windows"), ""},
      {"get maintenance window", Guard::viewer, 200, "MAINTENANCE_WINDOW_NOT_FOUND", fixed("GET", window_path), ""},
      {"delete maintenance window", Guard::operator_, 200, "MAINTENANCE_WINDOW_NOT_FOUND", fresh_window, ""},
      {"alert deliveries", Guard::viewer, 200, "", fixed("GET", "/api/v1/alerts/0123456789abcdef.org/deliveries"),
       ""},
      {"register", Guard::enrollment, 201, "", fixed("POST", "/api/v1/agents/register"), ""},
      {"heartbeat", Guard::agent, 200, "", on_agent("POST", "/heartbeat"), "{}"},
      {"rotate token", Guard::agent_or_operator, 200, "AGENT_NOT_FOUND", on_agent("POST", "/token/rotate"),
       ""},
      {"list agents", Guard::viewer, 200, "", fixed("GET", "/api/v1/agents"), ""},
      {"get agent", Guard::viewer, 200, "AGENT_NOT_FOUND", on_agent("GET", ""), ""},
      {"agent events", Guard::viewer, 200, "AGENT_NOT_FOUND", on_agent("GET", "/events"), ""},
      {"log events", Guard::viewer, 200, "", fixed("GET", "/api/v1/events"), ""},
      {"stats", Guard::viewer, 200, "", fixed("GET", "/api/v1/stats"), ""},
      {"version", Guard::viewer, 200, "", fixed("GET", "/api/v1/version"), ""},
      {"prometheus metrics", Guard::open, 200, "", fixed("GET", "/metrics"), ""},
      {"agent metrics", Guard::viewer, 200, "AGENT_NOT_FOUND", on_agent("GET", "/metrics?name=cpu"), ""},
      {"metric names", Guard::viewer, 200, "", fixed("GET", "/api/v1/metrics/names"), ""},
      {"metrics aggregate", Guard::viewer, 200, "", fixed("GET", "/api/v1/metrics/aggregate?name=cpu"), ""},
      {"deregister", Guard::operator_, 200, "AGENT_NOT_FOUND", on_agent("DELETE", ""), ""},
      {"decommission", Guard::operator_, 200, "AGENT_NOT_FOUND", on_agent("POST", "/decommission"), ""},
      {"agent config", Guard::agent_or_viewer, 200, "AGENT_NOT_FOUND", on_agent("GET", "/config"), ""},
      // The fixture's agents were never given this hash: the report is refused, yet recorded as drift.
      {"report config status", Guard::agent, 400, "", on_agent("POST", "/config/status"),
       json{{"config_hash", std::string(64, 'c')}, {"status", "applied"}}.dump()},
      {"report effective config", Guard::agent, 200, "", on_agent("PUT", "/config/effective"),
       json{{"files", config_files}}.dump()},
      {"set agent assignment", Guard::operator_, 200, "AGENT_NOT_FOUND", on_agent("PUT", "/assignment"), "{}"},
      {"queue command", Guard::operator_, 201, "AGENT_NOT_FOUND", on_agent("POST", "/commands"), command_body},
      // An operator's key lists the agent's commands (its own organization's only).
      {"fetch commands", Guard::agent_or_viewer, 200, "", on_agent("GET", "/commands"), ""},
      // The target agents have no such command: their own token reaches the 404.
      {"acknowledge command", Guard::agent, 404, "", on_agent("POST", "/commands/0123456789abcdef/ack"), ""},
      {"report command result", Guard::agent, 404, "", on_agent("POST", "/commands/0123456789abcdef/result"),
       json{{"status", "succeeded"}}.dump()},
      {"list commands", Guard::viewer, 200, "", fixed("GET", "/api/v1/commands"), ""},
      {"get command", Guard::viewer, 200, "COMMAND_NOT_FOUND", fixed("GET", command_path), ""},
      {"cancel command", Guard::operator_, 200, "COMMAND_NOT_FOUND", fresh_command, ""},
      {"agent report", Guard::agent, 201, "", on_agent("POST", "/reports"), json{{"type", "crash"}}.dump()},
      {"create command batch", Guard::operator_, 202, "", fixed("POST", "/api/v1/commands"), batch_body},
      {"get command batch", Guard::viewer, 200, "BATCH_NOT_FOUND", fixed("GET", batch_path), ""},
      {"create API key", Guard::admin, 201, "", fixed("POST", "/api/v1/api-keys"), key_body},
      {"list API keys", Guard::admin, 200, "", fixed("GET", "/api/v1/api-keys"), ""},
      {"revoke API key", Guard::admin, 200, "API_KEY_NOT_FOUND", fresh_key, ""},
      {"create enrollment token", Guard::admin, 201, "", fixed("POST", "/api/v1/enrollment-tokens"),
       json{{"name", "t"}}.dump()},
      {"list enrollment tokens", Guard::admin, 200, "", fixed("GET", "/api/v1/enrollment-tokens"), ""},
      {"revoke enrollment token", Guard::admin, 200, "ENROLLMENT_TOKEN_NOT_FOUND", fresh_token, ""},
      {"create group", Guard::operator_, 201, "", fresh_group_name, json{{"name", "matrix-new"}}.dump()},
      {"list groups", Guard::viewer, 200, "", fixed("GET", "/api/v1/groups"), ""},
      {"get group", Guard::viewer, 200, "GROUP_NOT_FOUND", fixed("GET", "/api/v1/groups/matrix"), ""},
      {"update group", Guard::operator_, 200, "GROUP_NOT_FOUND", fixed("PATCH", "/api/v1/groups/matrix"),
       json{{"description", "m"}}.dump()},
      {"delete group", Guard::admin, 200, "GROUP_NOT_FOUND", fresh_group, ""},
      {"group agents", Guard::viewer, 200, "GROUP_NOT_FOUND", fixed("GET", "/api/v1/groups/matrix/agents"), ""},
      {"add group members", Guard::operator_, 200, "GROUP_NOT_FOUND",
       fixed("POST", "/api/v1/groups/matrix/members"), member_body},
      {"remove group members", Guard::operator_, 200, "GROUP_NOT_FOUND",
       fixed("DELETE", "/api/v1/groups/matrix/members"), member_body},
      {"set group assignment", Guard::operator_, 200, "GROUP_NOT_FOUND",
       fixed("PUT", "/api/v1/groups/matrix/assignment"), json{{"settings", {{"matrix", true}}}}.dump()},
      {"create config", Guard::operator_, 201, "", fresh_config_name,
       json{{"name", "matrix-new"}, {"files", config_files}}.dump()},
      {"list configs", Guard::viewer, 200, "", fixed("GET", "/api/v1/configs"), ""},
      {"get config", Guard::viewer, 200, "CONFIG_NOT_FOUND", fixed("GET", "/api/v1/configs/matrix"), ""},
      {"update config", Guard::operator_, 200, "CONFIG_NOT_FOUND", fixed("PUT", "/api/v1/configs/matrix"),
       json{{"files", config_files}}.dump()},
      {"delete config", Guard::admin, 200, "CONFIG_NOT_FOUND", fresh_config, ""},
      {"config versions", Guard::viewer, 200, "CONFIG_NOT_FOUND",
       fixed("GET", "/api/v1/configs/matrix/versions"), ""},
      {"config diff", Guard::viewer, 200, "CONFIG_NOT_FOUND",
       fixed("GET", "/api/v1/configs/matrix/diff?from=1&to=1"), ""},
      {"config status", Guard::viewer, 200, "CONFIG_NOT_FOUND", fixed("GET", "/api/v1/configs/matrix/status"),
       ""},
      {"roll back config", Guard::operator_, 200, "CONFIG_NOT_FOUND",
       fixed("POST", "/api/v1/configs/matrix/rollback"), json{{"version", 1}}.dump()},
      {"opamp over http", Guard::opamp, 200, "", fixed("POST", "/v1/opamp"), "", "application/x-protobuf"},
      {"opamp websocket upgrade", Guard::opamp, 101, "", fixed("GET", "/v1/opamp"), "", "", true},
      {"take backup", Guard::operator_, 200, "", fixed("GET", "/api/v1/backup"), ""},
      {"restore", Guard::admin, 200, "", fixed("POST", "/api/v1/restore"),
       json{{"format", "muster-backup"}, {"format_version", 1}}.dump()},
  };
  // The agents' listener serves only what agents call; everything else is
  // unknown there. The fixture's own set-up calls go to the operators'.
  const std::set<std::string> agents_routes = {"healthz",      "readyz",
                                               "register",     "heartbeat",
                                               "rotate token", "agent config",
                                               "report config status", "report effective config",
                                               "fetch commands", "acknowledge command",
                                               "report command result",
                                               "agent report", "opamp over http",
                                               "opamp websocket upgrade"};
  int cells = 0;
  for (const bool agents_listener : {false, true}) {
  for (const Route& route : routes) {
    for (const auto& named_caller : kCallers) {
      const auto& caller = named_caller.first;
      const auto& caller_name = named_caller.second;
      const Fixture::Target target = fixture.target();
      const auto method_and_path = route.method_and_path(target.agent_id);
      const auto& method = method_and_path.first;
      const auto& path = method_and_path.second;
      std::string body = route.body;
      if (route.guard == Guard::enrollment) body = registration_body(fmt::format("new-{}", cells)).dump();
      if (route.guard == Guard::opamp && !route.websocket) body = opamp_status_message(cells);
      const std::string credential = fixture.credential(caller, target);
      httplib::Headers headers = {{"Content-Type", route.content_type}, {"Authorization", credential}};
      const Expected expected = agents_listener && agents_routes.count(route.name) == 0
                                    ? Expected{404, "ROUTE_NOT_FOUND"}
                                    : expected_answer(route.guard, caller, route.ok_status, route.hidden);
      const std::uint64_t before = log_position(fixture.server);
      fixture.server.use_agents_listener(agents_listener);
      HttpAnswer answer;
      if (route.websocket) {
        const int port = agents_listener ? fixture.server.agent_port() : fixture.server.port();
        const RawAnswer raw = raw_request(
            port, fmt::format("GET {} HTTP/1.1\r\nHost: m\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                              "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{}\r\n",
                              path, credential.empty() ? "" : "Authorization: " + credential + "\r\n"));
        answer.status = raw.status;
        answer.json = raw.body;
        answer.body = raw.head;
        std::string head = raw.head;
        std::transform(head.begin(), head.end(), head.begin(), [](unsigned char c) { return std::tolower(c); });
        if (const auto at = head.find("\r\ncontent-type: "); at != std::string::npos) {
          answer.headers.emplace("Content-Type", raw.head.substr(at + 16, head.find("\r\n", at + 2) - at - 16));
        }
      } else {
        answer = fixture.server.send(method, path, body, headers);
      }
      fixture.server.use_agents_listener(false);
      // As strings: under clang, doctest's INFO prints a char pointer as an address.
      INFO(std::string(agents_listener ? "agents' listener: " : "operators' listener: ")
           << route.name << " as " << std::string(caller_name) << ": " << method << " " << path << " -> "
           << answer.status << " " << answer.body);
      if (expected.code.empty()) {
        CHECK(answer.status == expected.status);
      } else {
        check_error(answer, expected.status, expected.code);
        CHECK(log_position(fixture.server) == before);  // a refusal changes nothing
      }
      ++cells;
    }
  }
  }
  CHECK(cells == static_cast<int>(2 * routes.size() * kCallers.size()));
}

TEST_CASE("no secret issued during a run appears in the data dir, the log, /events, replay or an error") {
  TempDir dir;
  const std::string data = dir.file("data");
  std::vector<std::string> secrets;
  std::string answers_without_secrets;
  std::string events_text;
  {
    MusterServer server(data);
    secrets.push_back(server.admin_key());
    const auto keep = [&](const HttpAnswer& answer, const char* field) {
      REQUIRE(answer.json.contains(field));
      secrets.push_back(answer.json.at(field).get<std::string>());
    };
    keep(server.post("/api/v1/api-keys", json{{"name", "k"}, {"role", "operator"}}.dump()), "key");
    const HttpAnswer token = server.post("/api/v1/enrollment-tokens", json{{"name", "t"}}.dump());
    keep(token, "token");
    const Registered agent = register_agent(server, "host-1");
    secrets.push_back(agent.body.at("agent_token"));
    keep(server.post("/api/v1/agents/" + agent.agent_id + "/token/rotate", ""), "agent_token");
    secrets.push_back(register_agent(server, "host-1").body.at("agent_token"));
    secrets.push_back(server.enrollment_token());
    REQUIRE(server.del("/api/v1/enrollment-tokens/" + token.json.at("id").get<std::string>()).status == 200);
    // Wrong and revoked credentials draw errors; none may echo what was sent.
    for (const std::string& presented : secrets) {
      for (const std::string& path :
           {std::string("/api/v1/agents"), "/api/v1/agents/" + agent.agent_id + "/heartbeat",
            std::string("/api/v1/agents/register")}) {
        const HttpAnswer answer =
            server.send("POST", path, "{}", {{"Authorization", "Bearer " + presented + "x"}});
        answers_without_secrets += answer.body;
      }
    }
    events_text = json(log_events(server)).dump();
    answers_without_secrets += server.get("/api/v1/api-keys").body +
                               server.get("/api/v1/enrollment-tokens").body +
                               server.get("/api/v1/agents/" + agent.agent_id).body +
                               server.get("/api/v1/backup").body;
    REQUIRE(server.terminate() == 0);
    answers_without_secrets += server.log_text();
  }
  const CommandResult replay = run_muster({"replay", "--data", data});
  REQUIRE(replay.exit_code == 0);

  std::string data_files;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(data)) {
    if (!entry.is_regular_file() || entry.path().filename() == "admin.key") continue;
    std::ifstream file(entry.path(), std::ios::binary);
    data_files.append(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
  }
  REQUIRE(secrets.size() == 7);
  for (const std::string& secret : secrets) {
    // The part after the last '_' of the id is random; search for it alone.
    const std::string random_part = secret.substr(secret.size() - 43);
    CAPTURE(secret);
    CHECK(data_files.find(random_part) == std::string::npos);
    CHECK(events_text.find(random_part) == std::string::npos);
    CHECK(replay.out.find(random_part) == std::string::npos);
    CHECK(answers_without_secrets.find(random_part) == std::string::npos);
  }
  // The search would find them: the events do name each agent and token id.
  CHECK(events_text.find(secrets[2].substr(3, 16)) != std::string::npos);
}

}  // namespace muster::e2e
