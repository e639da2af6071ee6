// Enrollment tokens, agent tokens and organizations against the real binary.
// The authorization matrix walking every route lives in auth_matrix.test.cpp.

#include "tests/e2e/e2e_helpers.hpp"

namespace muster::e2e {
namespace {

httplib::Headers bearer_json(const std::string& credential) {
  return {{"Authorization", "Bearer " + credential}, {"Content-Type", "application/json"}};
}

/// Makes an enrollment token with `fields` (name added); REQUIREs 201.
json create_enrollment_token(const MusterServer& server, const json& fields = json::object(),
                             const std::string& key = "") {
  json body = fields;
  body["name"] = body.value("name", "rollout");
  const HttpAnswer answer =
      key.empty() ? server.post("/api/v1/enrollment-tokens", body.dump())
                  : server.send("POST", "/api/v1/enrollment-tokens", body.dump(), bearer_json(key));
  INFO(answer.status << " " << answer.body);
  REQUIRE(answer.status == 201);
  return answer.json;
}

/// Makes an API key; REQUIREs 201 and returns its plaintext.
std::string create_key_in(const MusterServer& server, const std::string& role, const std::string& org) {
  const HttpAnswer answer =
      server.post("/api/v1/api-keys", json{{"name", role + "@" + org}, {"role", role}, {"org", org}}.dump());
  INFO(answer.status << " " << answer.body);
  REQUIRE(answer.status == 201);
  return answer.json.at("key").get<std::string>();
}

/// Registers `instance_id` with enrollment token `token`; returns the answer.
HttpAnswer register_with(const MusterServer& server, const std::string& token, const std::string& instance_id,
                         const json& fields = json::object()) {
  return server.send("POST", "/api/v1/agents/register", registration_body(instance_id, fields).dump(),
                     bearer_json(token));
}

HttpAnswer heartbeat_with(const MusterServer& server, const std::string& agent_token,
                          const std::string& agent_id) {
  return server.send("POST", "/api/v1/agents/" + agent_id + "/heartbeat", "{}", bearer_json(agent_token));
}

}  // namespace

TEST_CASE("enrollment tokens: made, listed without secrets, used up, expired, revoked - events say who") {
  TempDir dir;
  MusterServer server(dir.file("data"));
  const json limited =
      create_enrollment_token(server, {{"max_uses", 2}, {"labels", {{"env", "prod"}}}, {"expires_in", "1h"}});
  const std::string token = limited.at("token");
  CHECK(token.rfind("me_", 0) == 0);
  CHECK(token.size() >= 3 + 16 + 1 + 43);  // 32 random bytes in base64url
  CHECK(limited.at("max_uses") == 2);
  CHECK(limited.at("org") == "default");
  CHECK(time_of(limited.at("expires_at")) - now_ms() > 3500 * 1000);

  const HttpAnswer first =
      register_with(server, token, "host-1", {{"labels", {{"env", "dev"}, {"rack", "7"}}}});
  REQUIRE(first.status == 201);
  CHECK(first.json.at("org") == "default");
  CHECK(first.json.at("agent_token")
            .get<std::string>()
            .rfind("ma_" + first.json.at("agent_id").get<std::string>(), 0) == 0);
  const json agent = get_agent(server, first.json.at("agent_id"), first.json.at("position"));
  CHECK(agent.at("labels") == json{{"env", "prod"}, {"rack", "7"}});  // the token's labels win

  REQUIRE(register_with(server, token, "host-2").status == 201);
  const std::uint64_t used_up_at = log_position(server);
  check_error(register_with(server, token, "host-3"), 401, "INVALID_ENROLLMENT_TOKEN");
  CHECK(log_position(server) == used_up_at);
  // A known instance registering again spends no use: the used-up token lets it back in.
  const HttpAnswer known = register_with(server, token, "host-1");
  CHECK(known.status == 200);
  CHECK(known.json.at("agent_id") == first.json.at("agent_id"));
  CHECK(log_events(server, "type=EnrollmentTokenUsed").size() == 2);

  const json listed = get_json(server, "/api/v1/enrollment-tokens");
  REQUIRE(listed.at("enrollment_tokens").size() == 1);
  const json& entry = listed.at("enrollment_tokens").at(0);
  CHECK(entry.at("id") == limited.at("id"));
  CHECK(entry.at("uses") == 2);
  CHECK(entry.at("revoked") == false);
  CHECK_FALSE(entry.contains("token"));
  CHECK(listed.dump().find(token.substr(20)) == std::string::npos);

  SUBCASE("a revoked token admits nobody, and cannot be revoked twice") {
    const json open = create_enrollment_token(server);
    const std::string path = "/api/v1/enrollment-tokens/" + open.at("id").get<std::string>();
    REQUIRE(register_with(server, open.at("token"), "host-4").status == 201);
    const HttpAnswer revoked = server.del(path);
    REQUIRE(revoked.status == 200);
    check_error(register_with(server, open.at("token"), "host-5"), 401, "INVALID_ENROLLMENT_TOKEN");
    check_error(server.del(path), 409, "ENROLLMENT_TOKEN_REVOKED");
    check_error(server.del("/api/v1/enrollment-tokens/0123456789abcdef"), 404, "ENROLLMENT_TOKEN_NOT_FOUND");
    check_error(server.del("/api/v1/enrollment-tokens/nope"), 400, "INVALID_TOKEN_ID");
    const std::vector<json> events = log_events(server, "type=EnrollmentTokenRevoked");
    REQUIRE(events.size() == 1);
    CHECK(events[0].at("stream") == "enrollment:" + open.at("id").get<std::string>());
    CHECK(events[0].at("meta").at("principal").get<std::string>().rfind("key:", 0) == 0);
    CHECK(events[0].at("meta").at("source") == "127.0.0.1");
  }
  SUBCASE("an expired token admits nobody") {
    const json short_lived = create_enrollment_token(server, {{"expires_in", "1s"}});
    REQUIRE(eventually([&] { return now_ms() > time_of(short_lived.at("expires_at")); }));
    check_error(register_with(server, short_lived.at("token"), "host-6"), 401, "INVALID_ENROLLMENT_TOKEN");
    const json listed_again = get_json(server, "/api/v1/enrollment-tokens");
    std::size_t expired = 0;
    for (const json& entry : listed_again.at("enrollment_tokens")) {
      CHECK(entry.at("expired") == (entry.at("id") == short_lived.at("id")));
      if (entry.at("expired") == true) ++expired;
    }
    CHECK(expired == 1);
  }
  SUBCASE("a registration's events name the token that admitted it") {
    // Registered, its token; then the known instance's registration again: a new token.
    const std::vector<json> events = stream_events(server, first.json.at("agent_id"));
    INFO(json(events).dump());
    REQUIRE(events.size() == 3);
    CHECK(events[0].at("type") == "AgentRegistered");
    for (std::size_t index = 1; index < 3; ++index) {
      CHECK(events[index].at("type") == "AgentTokenIssued");
      CHECK(events[index].at("data").at("enrollment_token_id") == limited.at("id"));
    }
    for (const json& event : events) {
      CHECK(event.at("meta").at("principal") == "enrollment:" + limited.at("id").get<std::string>());
    }
  }
  SUBCASE("bad requests are refused field by field and change nothing") {
    const std::uint64_t before = log_position(server);
    const HttpAnswer bad = server.post(
        "/api/v1/enrollment-tokens", json{{"expires_in", "forever"}, {"max_uses", 0}, {"org", "a b"}}.dump());
    check_error(bad, 400, "VALIDATION_FAILED");
    for (const char* field : {"name", "expires_in", "max_uses", "org"})
      CHECK(bad.json.at("details").contains(field));
    CHECK(log_position(server) == before);
  }
}

TEST_CASE("agent tokens: only the agent's own, rotated with a grace period, revoked with the agent") {
  TempDir dir;
  MusterServer server(dir.file("data"), {"--agent-token-grace", "2s"});
  const Registered agent = register_agent(server, "host-1");
  const Registered other = register_agent(server, "host-2");
  const std::string token = agent.body.at("agent_token");
  const std::string other_token = other.body.at("agent_token");

  CHECK(heartbeat_with(server, token, agent.agent_id).status == 200);
  const std::uint64_t before = log_position(server);
  check_error(heartbeat_with(server, other_token, agent.agent_id), 403, "AGENT_MISMATCH");
  check_error(heartbeat_with(server, "ma_" + agent.agent_id + "_" + std::string(43, 'A'), agent.agent_id),
              401, "INVALID_AGENT_TOKEN");
  check_error(server.send("POST", "/api/v1/agents/" + agent.agent_id + "/heartbeat", "{}",
                          {{"Authorization", ""}, {"Content-Type", "application/json"}}),
              401, "INVALID_AGENT_TOKEN");
  CHECK(log_position(server) == before);

  SUBCASE("the agent rotates its token: both work for the grace period, then only the new one") {
    const HttpAnswer rotated =
        server.send("POST", "/api/v1/agents/" + agent.agent_id + "/token/rotate", "", bearer_json(token));
    REQUIRE(rotated.status == 200);
    const std::string fresh = rotated.json.at("agent_token");
    CHECK(fresh != token);
    CHECK(heartbeat_with(server, token, agent.agent_id).status == 200);
    CHECK(heartbeat_with(server, fresh, agent.agent_id).status == 200);
    // Regression: the replaced token only heartbeats; it cannot rotate again.
    const std::uint64_t rotated_at = log_position(server);
    check_error(
        server.send("POST", "/api/v1/agents/" + agent.agent_id + "/token/rotate", "", bearer_json(token)),
        401, "INVALID_AGENT_TOKEN");
    CHECK(log_position(server) == rotated_at);
    const TimeMs grace_end = time_of(rotated.json.at("previous_token_valid_until"));
    REQUIRE(eventually([&] { return now_ms() > grace_end; }));
    check_error(heartbeat_with(server, token, agent.agent_id), 401, "INVALID_AGENT_TOKEN");
    CHECK(heartbeat_with(server, fresh, agent.agent_id).status == 200);
    const std::vector<json> events = stream_events(server, agent.agent_id);
    CHECK(events.back().at("type") == "AgentTokenIssued");
    CHECK(events.back().at("meta").at("principal") == "agent:" + agent.agent_id);
  }
  SUBCASE("an operator rotates it for the agent") {
    const HttpAnswer rotated = server.send("POST", "/api/v1/agents/" + agent.agent_id + "/token/rotate", "",
                                           bearer_json(server.admin_key()));
    REQUIRE(rotated.status == 200);
    CHECK(heartbeat_with(server, rotated.json.at("agent_token"), agent.agent_id).status == 200);
    // Regression: an operator's rotation gives the old token no grace period.
    check_error(heartbeat_with(server, token, agent.agent_id), 401, "INVALID_AGENT_TOKEN");
  }
  SUBCASE("registering again issues a new token and kills the old one at once") {
    const Registered again = register_agent(server, "host-1");
    CHECK(again.agent_id == agent.agent_id);
    check_error(heartbeat_with(server, token, agent.agent_id), 401, "INVALID_AGENT_TOKEN");
    CHECK(heartbeat_with(server, again.body.at("agent_token"), agent.agent_id).status == 200);
  }
  SUBCASE("deregistration and decommission revoke, and tell the agent so") {
    REQUIRE(server.del("/api/v1/agents/" + agent.agent_id).status == 200);
    REQUIRE(server.post("/api/v1/agents/" + other.agent_id + "/decommission", "").status == 200);
    // Regression: its own token is told why, and is no failed login: more
    // of them than the throttle allows (20 a minute) are never answered 429.
    for (int attempt = 0; attempt < 25; ++attempt) {
      check_error(heartbeat_with(server, token, agent.agent_id), 404, "AGENT_NOT_REGISTERED");
    }
    check_error(heartbeat_with(server, other_token, other.agent_id), 409, "AGENT_DECOMMISSIONED");
    check_error(
        server.send("POST", "/api/v1/agents/" + agent.agent_id + "/token/rotate", "", bearer_json(token)),
        404, "AGENT_NOT_REGISTERED");
    check_error(heartbeat_with(server, "ma_" + agent.agent_id + "_" + std::string(43, 'A'), agent.agent_id), 401,
                "INVALID_AGENT_TOKEN");
  }
  SUBCASE("tokens survive a restart") {
    REQUIRE(server.terminate() == 0);
    MusterServer again(dir.file("data"));
    CHECK(heartbeat_with(again, token, agent.agent_id).status == 200);
    check_error(heartbeat_with(again, other_token, agent.agent_id), 403, "AGENT_MISMATCH");
  }
}

TEST_CASE("organizations: a scoped key sees and changes only its own - others' things do not exist for it") {
  TempDir dir;
  MusterServer server(dir.file("data"));
  const std::string acme_token = create_enrollment_token(server, {{"org", "acme"}}).at("token");
  const std::string globex_token = create_enrollment_token(server, {{"org", "globex"}}).at("token");
  const HttpAnswer acme_agent = register_with(server, acme_token, "host-1");
  const HttpAnswer globex_agent = register_with(server, globex_token, "host-1");  // same instance id
  REQUIRE(acme_agent.status == 201);
  REQUIRE(globex_agent.status == 201);
  const std::string acme_id = acme_agent.json.at("agent_id");
  const std::string globex_id = globex_agent.json.at("agent_id");
  CHECK(acme_id != globex_id);
  CHECK(globex_agent.json.at("org") == "globex");

  const std::string viewer = create_key_in(server, "viewer", "acme");
  const std::string operator_key = create_key_in(server, "operator", "acme");
  const std::string admin = create_key_in(server, "admin", "acme");
  const std::string globex_admin = create_key_in(server, "admin", "globex");
  const std::uint64_t head = log_position(server);
  const auto as = [&](const std::string& key, const std::string& method, const std::string& path,
                      const std::string& body = "") {
    return server.send(method, path, body, bearer_json(key));
  };

  // Reads: lists, counts, one agent, its events and the log hold only acme's.
  const HttpAnswer listed = as(viewer, "GET", fmt::format("/api/v1/agents?min_position={}", head));
  REQUIRE(listed.status == 200);
  CHECK(ids_of(listed.json.at("agents").get<std::vector<json>>()) == std::set<std::string>{acme_id});
  CHECK(listed.json.at("total") == 1);
  CHECK(as(viewer, "GET", "/api/v1/agents?org=globex").json.at("agents").empty());
  CHECK(as(viewer, "GET", "/api/v1/stats").json.at("total") == 1);
  CHECK(server.get("/api/v1/stats").json.at("total") == 2);  // the unscoped admin sees all
  CHECK(server.get("/api/v1/agents?org=globex").json.at("total") == 1);
  CHECK(as(viewer, "GET", "/api/v1/agents/" + acme_id).status == 200);
  check_error(as(viewer, "GET", "/api/v1/agents/" + globex_id), 404, "AGENT_NOT_FOUND");
  check_error(as(viewer, "GET", "/api/v1/agents/" + globex_id + "/events"), 404, "AGENT_NOT_FOUND");
  const HttpAnswer log = as(viewer, "GET", "/api/v1/events?limit=1000");
  REQUIRE(log.status == 200);
  for (const json& event : log.json.at("events")) {
    const std::string stream = event.at("stream");
    CHECK(stream != globex_id);
    CHECK((stream.rfind("apikey:", 0) != 0 || event.at("data").at("org") == "acme"));
    CHECK((stream.rfind("enrollment:", 0) != 0 || event.at("data").at("org") == "acme"));
  }
  CHECK(log.body.find(acme_id) != std::string::npos);

  // Writes on another organization's agent: 404, nothing appended.
  check_error(as(operator_key, "DELETE", "/api/v1/agents/" + globex_id), 404, "AGENT_NOT_FOUND");
  check_error(as(operator_key, "POST", "/api/v1/agents/" + globex_id + "/decommission"), 404,
              "AGENT_NOT_FOUND");
  check_error(as(operator_key, "POST", "/api/v1/agents/" + globex_id + "/token/rotate"), 404,
              "AGENT_NOT_FOUND");
  CHECK(log_position(server) == head);
  CHECK(as(operator_key, "DELETE", "/api/v1/agents/" + acme_id).status == 200);

  // Keys and tokens: a scoped admin manages its own organization only.
  const HttpAnswer keys = as(admin, "GET", "/api/v1/api-keys");
  REQUIRE(keys.status == 200);
  CHECK(keys.json.at("api_keys").size() == 3);
  for (const json& key : keys.json.at("api_keys")) CHECK(key.at("org") == "acme");
  check_error(as(admin, "POST", "/api/v1/api-keys",
                 json{{"name", "x"}, {"role", "viewer"}, {"org", "globex"}}.dump()),
              403, "FORBIDDEN");
  check_error(
      as(admin, "POST", "/api/v1/api-keys", json{{"name", "x"}, {"role", "admin"}, {"org", "*"}}.dump()), 403,
      "FORBIDDEN");
  const HttpAnswer own_key =
      as(admin, "POST", "/api/v1/api-keys", json{{"name", "x"}, {"role", "viewer"}}.dump());
  REQUIRE(own_key.status == 201);
  CHECK(own_key.json.at("org") == "acme");
  const std::string globex_key_id =
      as(globex_admin, "GET", "/api/v1/api-keys").json.at("api_keys").at(0).at("id");
  check_error(as(admin, "DELETE", "/api/v1/api-keys/" + globex_key_id), 404, "API_KEY_NOT_FOUND");
  const HttpAnswer tokens = as(admin, "GET", "/api/v1/enrollment-tokens");
  REQUIRE(tokens.json.at("enrollment_tokens").size() == 1);
  CHECK(tokens.json.at("enrollment_tokens").at(0).at("org") == "acme");
  const std::string globex_token_id =
      as(globex_admin, "GET", "/api/v1/enrollment-tokens").json.at("enrollment_tokens").at(0).at("id");
  check_error(as(admin, "DELETE", "/api/v1/enrollment-tokens/" + globex_token_id), 404,
              "ENROLLMENT_TOKEN_NOT_FOUND");
  const HttpAnswer own_token = as(admin, "POST", "/api/v1/enrollment-tokens", json{{"name", "x"}}.dump());
  REQUIRE(own_token.status == 201);
  CHECK(own_token.json.at("org") == "acme");
  CHECK(as(globex_admin, "GET", "/api/v1/agents/" + globex_id).status == 200);
}

TEST_CASE("regression: viewers read API-key and enrollment-token records, digests included, through /events") {
  TempDir dir;
  MusterServer server(dir.file("data"));
  const std::string acme_token = create_enrollment_token(server, {{"org", "acme"}}).at("token");
  const HttpAnswer agent = register_with(server, acme_token, "host-1");
  REQUIRE(agent.status == 201);
  const std::string agent_id = agent.json.at("agent_id");
  const std::string viewer = create_key_in(server, "viewer", "acme");
  const std::string unscoped_viewer = create_key_in(server, "viewer", "*");
  const std::string operator_key = create_key_in(server, "operator", "acme");
  const std::string acme_admin = create_key_in(server, "admin", "acme");
  const auto as = [&](const std::string& key, const std::string& path) {
    const HttpAnswer answer = server.send("GET", path, "", bearer_json(key));
    INFO(path << ": " << answer.status << " " << answer.body);
    REQUIRE(answer.status == 200);
    return answer;
  };
  const auto streams_of_kind = [](const HttpAnswer& answer, const std::string& kind) {
    std::size_t count = 0;
    for (const json& event : answer.json.at("events")) {
      count += event.at("stream").get<std::string>().rfind(kind + ":", 0) == 0 ? 1 : 0;
    }
    return count;
  };

  for (const std::string& key : {viewer, unscoped_viewer, operator_key}) {
    const HttpAnswer log = as(key, "/api/v1/events?limit=1000");
    CHECK(log.body.find(agent_id) != std::string::npos);
    CHECK(streams_of_kind(log, "apikey") == 0);
    CHECK(streams_of_kind(log, "enrollment") == 0);
    CHECK(log.body.find("sha256") == std::string::npos);
    for (const char* type : {"ApiKeyCreated", "ApiKeyRevoked", "EnrollmentTokenCreated", "EnrollmentTokenUsed"}) {
      CHECK(as(key, std::string("/api/v1/events?type=") + type).json.at("events").empty());
    }
    const HttpAnswer stream = as(key, "/api/v1/agents/" + agent_id + "/events");
    CHECK(stream_types(server, agent_id) == types_of(stream.json.at("events").get<std::vector<json>>()));
    CHECK(stream.body.find("sha256") == std::string::npos);
  }
  // Admins see the records of keys and tokens, still without digests.
  const HttpAnswer scoped = as(acme_admin, "/api/v1/events?limit=1000");
  CHECK(streams_of_kind(scoped, "apikey") == 3);  // acme's viewer, operator and admin
  CHECK(streams_of_kind(scoped, "enrollment") == 2);
  CHECK(scoped.body.find("sha256") == std::string::npos);
  const HttpAnswer everything = as(server.admin_key(), "/api/v1/events?limit=1000");
  CHECK(everything.json.at("events").size() == log_position(server));
  CHECK(everything.body.find("sha256") == std::string::npos);
  CHECK(as(server.admin_key(), "/api/v1/agents/" + agent_id + "/events").body.find("sha256") == std::string::npos);
  const json created = as(server.admin_key(), "/api/v1/events?type=ApiKeyCreated").json.at("events").at(0);
  CHECK(created.at("data").contains("role"));
  CHECK_FALSE(created.at("data").contains("secret_sha256"));
}

}  // namespace muster::e2e
