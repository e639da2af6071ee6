// Operator accounts and sign-in, against the real server: users made by an
// admin, the dashboard's cookie session with its CSRF token, a script's
// bearer and refresh tokens, signing out, an admin ending sessions, a
// password change and a deletion ending them, throttled guessing, what the
// events record, and that no password or session secret is ever kept or
// told in clear.

#include <filesystem>
#include <fstream>
#include <iterator>

#include "tests/e2e/e2e_helpers.hpp"

namespace muster::e2e {
namespace {

constexpr const char* kPassword = "correct horse battery staple";

// No credential at all: MusterServer::send would otherwise add the admin key.
httplib::Headers anonymous(httplib::Headers headers = {}) {
  headers.emplace("Authorization", "");
  return headers;
}

void create_user(const MusterServer& server, const std::string& username, const std::string& role,
                 const std::string& password = kPassword, const json& extra = json::object()) {
  json body{{"username", username}, {"password", password}, {"role", role}};
  body.update(extra);
  const HttpAnswer answer = server.post("/api/v1/users", body.dump());
  INFO(answer.body);
  REQUIRE(answer.status == 201);
}

HttpAnswer sign_in(const MusterServer& server, const std::string& username, const std::string& password,
                   const std::string& kind = "cookie") {
  return server.send("POST", "/api/v1/auth/login",
                     json{{"username", username}, {"password", password}, {"session", kind}}.dump(),
                     anonymous({{"Content-Type", "application/json"}}));
}

// The dashboard's side of a cookie session: the cookie and the CSRF token.
struct CookieSession {
  std::string cookie;  ///< "muster_session=ms_..."
  std::string csrf;

  httplib::Headers headers(bool with_csrf = true) const {
    httplib::Headers headers =
        anonymous({{"Cookie", "theme=dark; " + cookie}, {"Content-Type", "application/json"}});
    if (with_csrf) headers.emplace("X-CSRF-Token", csrf);
    return headers;
  }
};

CookieSession cookie_session(const MusterServer& server, const std::string& username) {
  const HttpAnswer answer = sign_in(server, username, kPassword);
  INFO(answer.body);
  REQUIRE(answer.status == 200);
  const std::string set_cookie = header_of(answer, "Set-Cookie");
  REQUIRE(set_cookie.rfind("muster_session=ms_", 0) == 0);
  return {set_cookie.substr(0, set_cookie.find(';')), answer.json.at("csrf_token").get<std::string>()};
}

struct Tokens {
  std::string access;
  std::string refresh;
};

Tokens token_session(const MusterServer& server, const std::string& username,
                     const std::string& password = kPassword) {
  const HttpAnswer answer = sign_in(server, username, password, "token");
  INFO(answer.body);
  REQUIRE(answer.status == 200);
  CHECK(answer.json.at("token_type") == "Bearer");
  CHECK(header_of(answer, "Set-Cookie").empty());
  return {answer.json.at("access_token").get<std::string>(),
          answer.json.at("refresh_token").get<std::string>()};
}

int user_status_of(const MusterServer& server, const std::string& method, const std::string& path,
                   const httplib::Headers& headers, const std::string& body = "") {
  return server.send(method, path, body, headers).status;
}

}  // namespace

TEST_CASE("users: an admin makes, lists and refuses users, and no answer holds a password") {
  TempDir dir;
  MusterServer server(dir.file("data"));
  const HttpAnswer created = server.post(
      "/api/v1/users", json{{"username", "alice"}, {"password", kPassword}, {"role", "operator"}}.dump());
  INFO(created.body);
  REQUIRE(created.status == 201);
  CHECK(created.json.at("username") == "alice");
  CHECK(created.json.at("role") == "operator");
  CHECK(created.json.at("org") == "default");
  CHECK(created.json.at("sessions") == 0);
  CHECK(created.body.find("password\":") == std::string::npos);
  CHECK(created.body.find("argon2") == std::string::npos);

  const json listed = get_json(server, "/api/v1/users");
  REQUIRE(listed.at("users").size() == 1);
  CHECK(listed.at("users")[0].at("username") == "alice");
  CHECK(get_json(server, "/api/v1/users/alice").at("role") == "operator");
  check_error(server.get("/api/v1/users/bob"), 404, "USER_NOT_FOUND");

  const auto refused = [&](const json& body, const std::string& code) {
    const std::uint64_t before = log_position(server);
    check_error(
        server.post("/api/v1/users", body.dump()),
        body.contains("password") && body["password"] == kPassword && code == "USER_EXISTS" ? 409 : 400,
        code);
    CHECK(log_position(server) == before);
  };
  refused({{"username", "alice"}, {"password", kPassword}, {"role", "viewer"}}, "USER_EXISTS");
  refused({{"username", "Bob"}, {"password", kPassword}, {"role", "viewer"}}, "INVALID_USERNAME");
  refused({{"username", "bob"}, {"password", "short"}, {"role", "viewer"}}, "INVALID_PASSWORD");
  refused({{"username", "bob"}, {"password", kPassword}, {"role", "root"}}, "VALIDATION_FAILED");
  refused({{"username", "bob"}, {"role", "viewer"}}, "VALIDATION_FAILED");
  refused({{"username", "bob"}, {"password", 12345678901234}, {"role", "viewer"}}, "VALIDATION_FAILED");

  // Only an admin: an operator's key may not.
  const std::string operator_key =
      server.post("/api/v1/api-keys", json{{"name", "ops"}, {"role", "operator"}}.dump()).json.at("key");
  check_error(server.send("GET", "/api/v1/users", "", bearer(operator_key)), 403, "FORBIDDEN");
}

TEST_CASE("users: the dashboard's cookie session reads, writes with its CSRF token, and names the user") {
  TempDir dir;
  MusterServer server(dir.file("data"));
  create_user(server, "alice", "operator");
  const HttpAnswer answer = sign_in(server, "alice", kPassword);
  REQUIRE(answer.status == 200);
  const std::string set_cookie = header_of(answer, "Set-Cookie");
  CHECK(set_cookie.find("HttpOnly") != std::string::npos);
  CHECK(set_cookie.find("SameSite=Strict") != std::string::npos);
  CHECK(set_cookie.find("Path=/") != std::string::npos);
  CHECK(set_cookie.find("Secure") == std::string::npos);  // plain HTTP here; tls.test covers Secure
  CHECK(answer.json.at("user").at("username") == "alice");
  CHECK(answer.json.at("user").at("role") == "operator");
  CHECK(answer.body.find("ms_") == std::string::npos);  // the secret is in the cookie alone
  const CookieSession session = cookie_session(server, "alice");

  const HttpAnswer me = server.send("GET", "/api/v1/auth/session", "", session.headers(false));
  REQUIRE(me.status == 200);
  CHECK(me.json.at("principal") == "user:alice");
  CHECK(me.json.at("role") == "operator");
  CHECK(me.json.at("session").at("kind") == "cookie");
  // A reloaded page learns its CSRF token again here.
  CHECK(me.json.at("csrf_token") == session.csrf);

  CHECK(user_status_of(server, "GET", "/api/v1/agents", session.headers(false)) == 200);
  const std::string group = json{{"name", "web"}, {"selector", {{"env", "prod"}}}}.dump();
  // A write without the CSRF token, or with another session's, is refused and changes nothing.
  const std::uint64_t before = log_position(server);
  check_error(server.send("POST", "/api/v1/groups", group, session.headers(false)), 403,
              "CSRF_TOKEN_INVALID");
  CookieSession forged = session;
  forged.csrf = cookie_session(server, "alice").csrf;
  check_error(server.send("POST", "/api/v1/groups", group, forged.headers()), 403, "CSRF_TOKEN_INVALID");
  CHECK(log_position(server) == before + 1);  // only the second sign-in
  // With it, the write is the user's, and its event says so.
  const HttpAnswer made = server.send("POST", "/api/v1/groups", group, session.headers());
  INFO(made.body);
  REQUIRE(made.status == 201);
  const std::vector<json> events = log_events(server, "type=GroupCreated");
  REQUIRE(events.size() == 1);
  CHECK(events[0].at("meta").at("principal") == "user:alice");
  // An operator is not an admin.
  check_error(server.send("GET", "/api/v1/api-keys", "", session.headers()), 403, "FORBIDDEN");

  // Signing out ends the session and clears the cookie.
  const HttpAnswer out = server.send("POST", "/api/v1/auth/logout", "", session.headers());
  REQUIRE(out.status == 200);
  CHECK(header_of(out, "Set-Cookie").find("Max-Age=0") != std::string::npos);
  check_error(server.send("GET", "/api/v1/agents", "", session.headers(false)), 401, "INVALID_SESSION");
  // An API key has no session to end.
  check_error(server.post("/api/v1/auth/logout", ""), 400, "NOT_A_SESSION");
  CHECK(get_json(server, "/api/v1/auth/session").at("principal").get<std::string>().rfind("key:", 0) == 0);
}

TEST_CASE("users: a script's access token works as a bearer, refreshes once, and stops when signed out") {
  TempDir dir;
  MusterServer server(dir.file("data"));
  create_user(server, "robot", "viewer");
  const Tokens first = token_session(server, "robot");
  CHECK(first.access.rfind("ms_", 0) == 0);
  CHECK(first.refresh.rfind("mr_", 0) == 0);
  CHECK(user_status_of(server, "GET", "/api/v1/agents", bearer(first.access)) == 200);
  // A viewer reads and writes nothing; no CSRF token is asked of a bearer.
  httplib::Headers write = bearer(first.access);
  write.emplace("Content-Type", "application/json");
  check_error(server.send("POST", "/api/v1/groups", json{{"name", "g"}}.dump(), write), 403, "FORBIDDEN");

  const auto refresh = [&](const std::string& token) {
    return server.send("POST", "/api/v1/auth/refresh", json{{"refresh_token", token}}.dump(),
                       anonymous({{"Content-Type", "application/json"}}));
  };
  const HttpAnswer refreshed = refresh(first.refresh);
  INFO(refreshed.body);
  REQUIRE(refreshed.status == 200);
  const Tokens second{refreshed.json.at("access_token"), refreshed.json.at("refresh_token")};
  CHECK(second.access != first.access);
  CHECK(user_status_of(server, "GET", "/api/v1/agents", bearer(second.access)) == 200);
  // Rotation: the old refresh token and the old access token are done.
  check_error(refresh(first.refresh), 401, "INVALID_REFRESH_TOKEN");
  check_error(server.send("GET", "/api/v1/agents", "", bearer(first.access)), 401, "INVALID_SESSION");
  check_error(refresh("mr_0123456789abcdef_nothing"), 401, "INVALID_REFRESH_TOKEN");

  REQUIRE(server.send("POST", "/api/v1/auth/logout", "", bearer(second.access)).status == 200);
  check_error(server.send("GET", "/api/v1/agents", "", bearer(second.access)), 401, "INVALID_SESSION");
  check_error(refresh(second.refresh), 401, "INVALID_REFRESH_TOKEN");
}

TEST_CASE("users: wrong and unknown names answer alike, and guessing is throttled") {
  TempDir dir;
  MusterServer server(dir.file("data"), {"--auth-failures-per-minute", "3"});
  create_user(server, "alice", "viewer");
  const HttpAnswer wrong = sign_in(server, "alice", "not the password at all");
  const HttpAnswer unknown = sign_in(server, "mallory", kPassword);
  check_error(wrong, 401, "INVALID_CREDENTIALS");
  check_error(unknown, 401, "INVALID_CREDENTIALS");
  CHECK(wrong.json.at("error") == unknown.json.at("error"));
  check_error(sign_in(server, "alice", std::string(5000, 'x')), 400, "VALIDATION_FAILED");
  check_error(sign_in(server, "alice", "still not it!!"), 401, "INVALID_CREDENTIALS");
  // Three failures: the fourth try is refused before the password is looked at, even a right one.
  const HttpAnswer throttled = sign_in(server, "alice", kPassword);
  check_error(throttled, 429, "TOO_MANY_REQUESTS");
  CHECK_FALSE(header_of(throttled, "Retry-After").empty());
  check_error(
      server.send("POST", "/api/v1/auth/login", "{}", anonymous({{"Content-Type", "application/json"}})), 429,
      "TOO_MANY_REQUESTS");
}

TEST_CASE("users: an admin's ending, a password change and a deletion each end the user's sessions") {
  TempDir dir;
  MusterServer server(dir.file("data"));
  create_user(server, "alice", "operator");
  const auto works = [&](const httplib::Headers& headers) {
    return user_status_of(server, "GET", "/api/v1/agents", headers) == 200;
  };

  const CookieSession cookie = cookie_session(server, "alice");
  const Tokens tokens = token_session(server, "alice");
  CHECK(get_json(server, "/api/v1/users/alice").at("sessions") == 2);
  const HttpAnswer ended = server.del("/api/v1/users/alice/sessions");
  REQUIRE(ended.status == 200);
  CHECK_FALSE(works(cookie.headers(false)));
  CHECK_FALSE(works(bearer(tokens.access)));
  CHECK(get_json(server, "/api/v1/users/alice").at("sessions") == 0);

  const Tokens again = token_session(server, "alice");
  const std::string new_password = "a different passphrase";
  const HttpAnswer set =
      server.send("PUT", "/api/v1/users/alice/password", json{{"password", new_password}}.dump(),
                  {{"Content-Type", "application/json"}});
  INFO(set.body);
  REQUIRE(set.status == 200);
  CHECK_FALSE(works(bearer(again.access)));
  check_error(sign_in(server, "alice", kPassword), 401, "INVALID_CREDENTIALS");
  const Tokens renewed = token_session(server, "alice", new_password);
  CHECK(works(bearer(renewed.access)));

  REQUIRE(server.del("/api/v1/users/alice").status == 200);
  CHECK_FALSE(works(bearer(renewed.access)));
  check_error(sign_in(server, "alice", new_password), 401, "INVALID_CREDENTIALS");
  check_error(server.get("/api/v1/users/alice"), 404, "USER_NOT_FOUND");
  check_error(server.del("/api/v1/users/alice"), 404, "USER_NOT_FOUND");

  // The user's stream tells the story, to an admin, with no secret in it.
  std::vector<json> events;
  for (const json& event : log_events(server)) {
    if (event.at("stream") == "user:alice") events.push_back(event);
  }
  CHECK(types_of(events) == std::vector<std::string>{"UserCreated", "UserSessionStarted",
                                                     "UserSessionStarted", "UserSessionsEnded",
                                                     "UserSessionStarted", "UserPasswordSet",
                                                     "UserSessionStarted", "UserDeleted"});
  for (const json& event : events) {
    CAPTURE(event.dump());
    CHECK(event.dump().find("argon2") == std::string::npos);
    CHECK(event.dump().find("sha256") == std::string::npos);
  }
  CHECK(events[1].at("meta").at("principal") == "user:alice");
}

TEST_CASE("users: sessions outlive a restart, and no password or session secret is kept or logged in clear") {
  TempDir dir;
  const std::string data = dir.file("data");
  CookieSession cookie;
  Tokens tokens;
  {
    MusterServer server(data);
    create_user(server, "alice", "admin");
    cookie = cookie_session(server, "alice");
    tokens = token_session(server, "alice");
    REQUIRE(server.terminate() == 0);
    CHECK(server.log_text().find(kPassword) == std::string::npos);
    CHECK(server.log_text().find(tokens.access) == std::string::npos);
  }
  MusterServer server(data);
  CHECK(user_status_of(server, "GET", "/api/v1/users", cookie.headers(false)) == 200);
  CHECK(user_status_of(server, "GET", "/api/v1/users", bearer(tokens.access)) == 200);
  REQUIRE(server.terminate() == 0);
  // Every file of the data directory, the log's included: the password and
  // the session secrets appear in none of them.
  // "ms_<16 hex digits>_<secret>": the secret is base64url, '_' included.
  const auto secret_of = [](const std::string& credential) {
    const std::size_t at = credential.find("ms_");
    REQUIRE(at != std::string::npos);
    return credential.substr(at + std::string("ms_").size() + 16 + 1);
  };
  const std::string access_secret = secret_of(tokens.access);
  const std::string cookie_secret = secret_of(cookie.cookie);
  REQUIRE(access_secret.size() == 43);
  REQUIRE(cookie_secret.size() == 43);
  for (const auto& entry : std::filesystem::recursive_directory_iterator(data)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    CAPTURE(entry.path().string());
    CHECK(bytes.find(kPassword) == std::string::npos);
    CHECK(bytes.find(access_secret) == std::string::npos);
    CHECK(bytes.find(cookie_secret) == std::string::npos);
  }
}

TEST_CASE("users: an admin scoped to an organization sees and makes only its users") {
  TempDir dir;
  MusterServer server(dir.file("data"));
  create_user(server, "root-ops", "operator");
  const std::string acme_admin =
      server.post("/api/v1/api-keys", json{{"name", "acme"}, {"role", "admin"}, {"org", "acme"}}.dump())
          .json.at("key");
  const auto as_acme = [&](const std::string& method, const std::string& path, const std::string& body = "") {
    httplib::Headers headers = bearer(acme_admin);
    headers.emplace("Content-Type", "application/json");
    return server.send(method, path, body, headers);
  };
  const HttpAnswer made =
      as_acme("POST", "/api/v1/users",
              json{{"username", "acme-ops"}, {"password", kPassword}, {"role", "viewer"}}.dump());
  REQUIRE(made.status == 201);
  CHECK(made.json.at("org") == "acme");
  check_error(
      as_acme("POST", "/api/v1/users",
              json{{"username", "x"}, {"password", kPassword}, {"role", "viewer"}, {"org", "other"}}.dump()),
      403, "FORBIDDEN");
  const HttpAnswer listed = as_acme("GET", "/api/v1/users");
  REQUIRE(listed.status == 200);
  REQUIRE(listed.json.at("users").size() == 1);
  CHECK(listed.json.at("users")[0].at("username") == "acme-ops");
  check_error(as_acme("GET", "/api/v1/users/root-ops"), 404, "USER_NOT_FOUND");
  check_error(as_acme("DELETE", "/api/v1/users/root-ops/sessions"), 404, "USER_NOT_FOUND");
  // The acme user signs in and sees acme's scope.
  const Tokens tokens = token_session(server, "acme-ops");
  const HttpAnswer me = server.send("GET", "/api/v1/auth/session", "", bearer(tokens.access));
  CHECK(me.json.at("org") == "acme");
  CHECK(me.json.at("principal") == "user:acme-ops");
}

TEST_CASE("users: muster users create --data makes the first admin of a stopped server's data directory") {
  TempDir dir;
  const std::string data = dir.file("data");
  {
    MusterServer server(data);  // a data directory as a first start leaves it
    REQUIRE(server.terminate() == 0);
  }
  const CommandResult made =
      run_muster({"users", "create", "--data", data, "--username", "root", "--role", "admin", "--org", "*"},
                 std::chrono::seconds(60), std::string(kPassword) + "\n");
  INFO(made.err);
  REQUIRE(made.exit_code == 0);
  const json printed = json::parse(made.out);
  CHECK(printed.at("username") == "root");
  CHECK(printed.at("org") == "*");
  CHECK(made.out.find(kPassword) == std::string::npos);
  // Bad input: a usage error, or a refusal naming why, and nothing made.
  CHECK(run_muster({"users", "create", "--data", data, "--username", "Root", "--role", "admin"},
                   std::chrono::seconds(60), std::string(kPassword) + "\n")
            .exit_code == 2);
  const CommandResult short_password =
      run_muster({"users", "create", "--data", data, "--username", "x", "--role", "admin"},
                 std::chrono::seconds(60), std::string("short\n"));
  CHECK(short_password.exit_code == 1);
  CHECK(short_password.err.find("password must be") != std::string::npos);

  MusterServer server(data);
  const Tokens tokens = token_session(server, "root");
  const HttpAnswer users = server.send("GET", "/api/v1/users", "", bearer(tokens.access));
  REQUIRE(users.status == 200);
  CHECK(users.json.at("users").size() == 1);
  // A running server holds the directory: the CLI says to use the API.
  const CommandResult busy =
      run_muster({"users", "create", "--data", data, "--username", "two", "--role", "viewer"},
                 std::chrono::seconds(60), std::string(kPassword) + "\n");
  CHECK(busy.exit_code == 1);
  CHECK(busy.err.find("POST /api/v1/users") != std::string::npos);
}

TEST_CASE("users: over TLS the session cookie is Secure") {
  TempDir dir;
  const std::string cert = dir.file("cert.pem");
  const std::string key = dir.file("key.pem");
  make_certificate(cert, key);
  MusterServer server(dir.file("data"), {"--tls-cert", cert, "--tls-key", key});
  create_user(server, "alice", "viewer");
  const HttpAnswer answer = sign_in(server, "alice", kPassword);
  REQUIRE(answer.status == 200);
  CHECK(header_of(answer, "Set-Cookie").find("; Secure") != std::string::npos);
}

TEST_CASE(
    "users: the command line makes, lists, re-passwords, signs out and deletes users on a running server") {
  TempDir dir;
  MusterServer server(dir.file("data"));
  const std::string url = fmt::format("http://127.0.0.1:{}", server.port());
  const auto cli = [&](std::vector<std::string> args,
                       const std::optional<std::string>& input = std::nullopt) {
    args.insert(args.end(), {"--server", url, "--key", server.admin_key()});
    return run_muster(args, std::chrono::seconds(60), input);
  };
  const CommandResult made =
      cli({"users", "create", "--username", "bob", "--role", "viewer", "--output", "json"},
          std::string(kPassword) + "\n");
  INFO(made.err);
  REQUIRE(made.exit_code == 0);
  CHECK(json::parse(made.out).at("username") == "bob");
  CHECK((made.out + made.err).find(kPassword) == std::string::npos);
  const CommandResult listed = cli({"users", "list", "--output", "json"});
  REQUIRE(listed.exit_code == 0);
  CHECK(json::parse(listed.out).at("users").size() == 1);
  const CommandResult table = cli({"users", "list"});
  CHECK(table.out.find("USERNAME") != std::string::npos);
  CHECK(table.out.find("bob") != std::string::npos);

  const Tokens before = token_session(server, "bob");
  const std::string new_password = "another fine passphrase";
  REQUIRE(cli({"users", "password", "bob"}, new_password + "\n").exit_code == 0);
  CHECK(user_status_of(server, "GET", "/api/v1/agents", bearer(before.access)) == 401);
  const Tokens after = token_session(server, "bob", new_password);
  REQUIRE(cli({"users", "sign-out", "bob"}).exit_code == 0);
  CHECK(user_status_of(server, "GET", "/api/v1/agents", bearer(after.access)) == 401);

  // Exit codes: a refused password (5), no password at all (2), nobody by that name (4).
  CHECK(cli({"users", "create", "--username", "eve", "--role", "viewer"}, std::string("short\n")).exit_code ==
        5);
  CHECK(cli({"users", "create", "--username", "eve", "--role", "viewer"}, std::string()).exit_code == 2);
  CHECK(cli({"users", "get", "nobody"}).exit_code == 4);
  REQUIRE(cli({"users", "delete", "bob"}).exit_code == 0);
  CHECK(cli({"users", "get", "bob"}).exit_code == 4);
}

}  // namespace muster::e2e
