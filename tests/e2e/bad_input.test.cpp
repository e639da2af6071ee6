// Bad input of every kind against one server: each request answers the exact
// status and error code, as JSON {error, code, details?}, and appends nothing
// to the log. The server stays healthy throughout.

#include <algorithm>
#include <future>

#include "tests/e2e/e2e_helpers.hpp"

namespace muster::e2e {
namespace {

constexpr const char* kRegister = "/api/v1/agents/register";
constexpr const char* kJson = "application/json";

// One bad request and what it must answer. "{id}" in `path` stands for the id
// of a registered agent.
struct BadRequest {
  std::string method;
  std::string path;
  std::string body;
  int status = 400;
  std::string code;
  /// A key `details` must have ("" when not checked).
  std::string detail{};
  /// Content-Type sent with the body ("" sends none).
  std::string content_type = kJson;
};

std::string describe(const BadRequest& bad) {
  std::string body = bad.body.size() > 120
                         ? bad.body.substr(0, 120) + "...(" + std::to_string(bad.body.size()) + " bytes)"
                         : bad.body;
  return fmt::format("{} {} [{}] {}", bad.method, bad.path.substr(0, 160), bad.content_type, body);
}

BadRequest post(std::string path, std::string body, std::string code, std::string detail = "") {
  return BadRequest{"POST", std::move(path), std::move(body), 400, std::move(code), std::move(detail)};
}

BadRequest registration(const json& body, const std::string& detail) {
  return post(kRegister, body.dump(), "VALIDATION_FAILED", detail);
}

BadRequest get(std::string path, int status, std::string code, std::string detail = "") {
  return BadRequest{"GET", std::move(path), "", status, std::move(code), std::move(detail)};
}

std::string replace_id(std::string text, const std::string& agent_id) {
  for (std::size_t at; (at = text.find("{id}")) != std::string::npos;) text.replace(at, 4, agent_id);
  return text;
}

std::vector<BadRequest> bad_requests() {
  std::vector<BadRequest> cases;
  const auto add = [&](BadRequest bad) { cases.push_back(std::move(bad)); };

  // Bodies that are not JSON, or not an object.
  for (const char* body : {"{", "{\"instance_id\": }", "not json", "{\"instance_id\":\"a\",}",
                           "{'instance_id':'a'}", "{\"instance_id\":\"a\"} trailing", "", "   \r\n"}) {
    add(post(kRegister, body, "INVALID_JSON"));
  }
  for (const char* body : {"[]", "42", "\"text\"", "null", "true", "[{\"instance_id\":\"a\"}]"}) {
    add(post(kRegister, body, "INVALID_JSON"));
  }

  // Registration fields of the wrong type or shape.
  add(registration({{"name", "no id"}}, "instance_id"));
  add(registration({{"instance_id", nullptr}}, "instance_id"));
  for (const json& instance_id :
       {json(42), json::array({"a"}), json::object(), json(true), json(""), json(std::string(129, 'x')),
        json("has space"), json("a/b"), json("ünï"), json("tab\there"), json("semi;colon")}) {
    add(registration({{"instance_id", instance_id}}, "instance_id"));
  }
  const json base = {{"instance_id", "typed-1"}};
  const auto with = [&](const char* key, const json& value) {
    json body = base;
    body[key] = value;
    return body;
  };
  add(registration(with("name", 5), "name"));
  add(registration(with("name", std::string(257, 'n')), "name"));
  add(registration(with("hostname", json::array()), "hostname"));
  add(registration(with("ip_address", true), "ip_address"));
  for (const char* ip : {"999.1.1.1", "10.0.0", "not-an-ip", "::g", "10.0.0.1/24", " 10.0.0.1"}) {
    add(registration(with("ip_address", ip), "ip_address"));
  }
  add(registration(with("version", json::object()), "version"));
  add(registration(with("type", 1.5), "type"));
  add(registration(with("capabilities", "metrics"), "capabilities"));
  add(registration(with("capabilities", json::object()), "capabilities"));
  add(registration(with("capabilities", {1, 2}), "capabilities"));
  add(registration(with("capabilities", {""}), "capabilities"));
  add(registration(with("labels", json::array()), "labels"));
  add(registration(with("labels", "env=prod"), "labels"));
  add(registration(with("labels", {{"env", 1}}), "labels"));
  add(registration(with("labels", {{"env", nullptr}}), "labels"));
  add(registration(with("labels", {{"env", {{"nested", "x"}}}}), "labels"));
  add(registration(with("labels", {{"bad key!", "v"}}), "labels"));
  // A known instance with one bad field changes nothing (checked below too).
  add(registration({{"instance_id", "known"}, {"version", "9.9"}, {"ip_address", "bad"}}, "ip_address"));

  // Heartbeat bodies.
  const std::string beat = "/api/v1/agents/{id}/heartbeat";
  add(post(beat, "{", "INVALID_JSON"));
  add(post(beat, "[]", "INVALID_JSON"));
  add(post(beat, "{\"status\":\"offline\"}", "VALIDATION_FAILED", "status"));
  add(post(beat, "{\"status\":\"DEREGISTERED\"}", "VALIDATION_FAILED", "status"));
  add(post(beat, "{\"status\":\"bogus\"}", "VALIDATION_FAILED", "status"));
  add(post(beat, "{\"status\":1}", "VALIDATION_FAILED", "status"));
  add(post(beat, "{\"version\":2}", "VALIDATION_FAILED", "version"));
  add(post(beat, "{\"metrics\":[]}", "VALIDATION_FAILED", "metrics"));
  add(post(beat, "{\"metrics\":{\"cpu\":\"high\"}}", "VALIDATION_FAILED", "metrics"));
  add(post(beat, "{\"metrics\":{\"bad name!\":1}}", "VALIDATION_FAILED", "metrics"));

  // Sizes and nesting the parser must survive.
  add(BadRequest{"POST", kRegister,
                 json({{"instance_id", "big"}, {"name", std::string(1100 * 1024, 'x')}}).dump(), 413,
                 "PAYLOAD_TOO_LARGE", ""});
  add(post(kRegister, std::string(100'000, '['), "INVALID_JSON"));
  add(post(kRegister, std::string(100'000, '{'), "INVALID_JSON"));
  // Refused before parsing: deeper than 32 levels, or more than 10,000 elements.
  add(post(
      kRegister,
      "{\"instance_id\":\"deep\",\"labels\":" + std::string(100'000, '[') + std::string(100'000, ']') + "}",
      "INVALID_JSON", "body"));
  {
    std::string wide = "{\"instance_id\":\"wide\",\"capabilities\":[1";
    for (int index = 0; index < 10'001; ++index) wide += ",1";
    add(post(kRegister, wide + "]}", "INVALID_JSON", "body"));
  }

  // Bodies that are not JSON by their Content-Type.
  for (const char* type :
       {"text/plain", "application/x-www-form-urlencoded", "application/xml", "text/json"}) {
    add(BadRequest{"POST", kRegister, "{\"instance_id\":\"typed-2\"}", 415, "UNSUPPORTED_MEDIA_TYPE", "",
                   type});
  }
  add(BadRequest{"POST", beat, "{}", 415, "UNSUPPORTED_MEDIA_TYPE", "", "text/plain"});

  // Invalid UTF-8 and broken escapes inside JSON strings.
  for (const char* body :
       {"{\"instance_id\":\"u1\",\"name\":\"\xff\xfe\"}", "{\"instance_id\":\"u2\",\"name\":\"\xc0\xaf\"}",
        "{\"instance_id\":\"u3\",\"name\":\"\xe2\x82\"}", "{\"instance_id\":\"u4\",\"name\":\"\\ud800\"}",
        "{\"instance_id\":\"u5\",\"name\":\"\\x41\"}", "{\"instance_id\":\"u6\",\"name\":\"a\x01\"}"}) {
    add(post(kRegister, body, "INVALID_JSON"));
  }

  // Agent ids in paths that are not ids. A heartbeat is authenticated first,
  // and no agent has a token for such an id: none is sent.
  for (const std::string bad_id :
       {"not-a-uuid", "{ID}", "{id}0", "{id}-", "zzzzzzzz-zzzz-4zzz-8zzz-zzzzzzzzzzzz",
        "00000000000000000000000000000000000a", "%2e%2e"}) {
    add(BadRequest{"POST", "/api/v1/agents/" + bad_id + "/heartbeat", "{}", 401, "INVALID_AGENT_TOKEN", ""});
    add(post("/api/v1/agents/" + bad_id + "/decommission", "", "INVALID_AGENT_ID"));
    add(get("/api/v1/agents/" + bad_id, 400, "INVALID_AGENT_ID"));
    add(get("/api/v1/agents/" + bad_id + "/events", 400, "INVALID_AGENT_ID"));
    add(BadRequest{"DELETE", "/api/v1/agents/" + bad_id, "", 400, "INVALID_AGENT_ID", ""});
  }

  // Well-formed ids nobody registered (so nobody has their token).
  const std::string nobody = "00000000-0000-4000-8000-000000000000";
  add(BadRequest{"POST", "/api/v1/agents/" + nobody + "/heartbeat", "{}", 401, "INVALID_AGENT_TOKEN", ""});
  add(BadRequest{"POST", "/api/v1/agents/" + nobody + "/decommission", "", 404, "AGENT_NOT_FOUND", ""});
  add(BadRequest{"DELETE", "/api/v1/agents/" + nobody, "", 404, "AGENT_NOT_FOUND", ""});
  add(get("/api/v1/agents/" + nobody, 404, "AGENT_NOT_FOUND"));
  add(get("/api/v1/agents/" + nobody + "/events", 404, "AGENT_NOT_FOUND"));

  // Unknown routes ("/" is the dashboard's page; an unknown file of it is unknown too).
  for (const char* path :
       {"/assets", "/assets/nothing.js", "/assets/app.js/x", "/api", "/api/v1/nope", "/api/v2/agents",
        "/api//v1/agents", "/api/v1/agents/{id}/reboot", "/api/v1/agents/{id}/events/extra",
        "/api/v1/agents/{id}/heartbeat/x", "/healthz/x"}) {
    add(get(path, 404, "ROUTE_NOT_FOUND"));
  }
  add(BadRequest{"POST", "/api/v1/agents/{id}/reboot", "{}", 404, "ROUTE_NOT_FOUND", ""});

  // Bad query parameters.
  for (const char* query : {"limit=0", "limit=abc", "limit=5000", "limit=-1", "limit=", "limit=1.5",
                            "limit=99999999999999999999999", "status=BOGUS", "status=DEREGISTERED",
                            "status=DECOMMISSIONED", "status=", "cursor=garbage", "cursor=!!!", "cursor=AAAA",
                            "label=novalue", "label=%3Dv", "min_position=x", "min_position=-1"}) {
    add(get(std::string("/api/v1/agents?") + query, 400, "INVALID_PARAMETER"));
  }
  for (const char* query :
       {"from_position=-1", "from_position=abc", "limit=abc", "limit=5000", "type=a%20b", "type="}) {
    add(get(std::string("/api/v1/events?") + query, 400, "INVALID_PARAMETER"));
  }
  add(get("/api/v1/agents/{id}/events?from_version=x", 400, "INVALID_PARAMETER"));
  add(get("/api/v1/agents/{id}/events?limit=-5", 400, "INVALID_PARAMETER"));
  add(get("/api/v1/agents/{id}?min_position=abc", 400, "INVALID_PARAMETER"));
  add(get("/api/v1/stats?min_position=x", 400, "INVALID_PARAMETER"));
  add(get("/api/v1/stats?min_position=1e3", 400, "INVALID_PARAMETER"));
  return cases;
}

// A route with a method it does not take, and the methods it does.
struct WrongMethod {
  std::string method;
  std::string path;
  std::set<std::string> allowed;  ///< Exactly these, or at least these when `at_least`.
  bool at_least = false;
};

std::set<std::string> split_allow(const std::string& allow) {
  std::set<std::string> methods;
  std::size_t start = 0;
  while (start <= allow.size()) {
    const std::size_t comma = allow.find(',', start);
    std::string method = allow.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    method.erase(0, method.find_first_not_of(' '));
    method.erase(method.find_last_not_of(' ') + 1);
    if (!method.empty()) methods.insert(method);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return methods;
}

}  // namespace

TEST_CASE("bad input: every malformed request answers its exact error and appends nothing") {
  TempDir dir;
  MusterServer server(dir.file("data"));
  const Registered known = register_agent(server, "known", {{"version", "1.0"}, {"ip_address", "10.0.0.1"}});
  const std::string& agent_id = known.agent_id;
  std::uint64_t position = log_position(server);
  REQUIRE(position == known.position);

  for (const BadRequest& bad : bad_requests()) {
    BadRequest request = bad;
    request.path = replace_id(bad.path, agent_id);
    if (request.path.find("{ID}") != std::string::npos) {
      std::string upper = agent_id;
      std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
      request.path.replace(request.path.find("{ID}"), 4, upper);
    }
    INFO("request: " << describe(request));
    httplib::Headers headers;
    if (!request.content_type.empty()) headers.emplace("Content-Type", request.content_type);
    const HttpAnswer answer = server.send(request.method, request.path, request.body, headers);
    check_error(answer, request.status, request.code);
    if (!request.detail.empty()) {
      CHECK(answer.json.is_object());
      if (answer.json.is_object()) {
        CHECK(answer.json.contains("details"));
        CHECK(answer.json.value("details", json::object()).contains(request.detail));
      }
    }
    CHECK(log_position(server) == position);
  }

  {  // Wrong methods answer 405 with Allow
    const std::vector<WrongMethod> wrong_methods = {
        {"PUT", kRegister, {"POST"}, true},
        {"PATCH", kRegister, {"POST"}, true},
        {"GET", "/api/v1/agents/{id}/heartbeat", {"POST"}},
        {"DELETE", "/api/v1/agents/{id}/heartbeat", {"POST"}},
        {"GET", "/api/v1/agents/{id}/decommission", {"POST"}},
        {"PUT", "/api/v1/agents/{id}", {"GET", "DELETE"}},
        {"POST", "/api/v1/agents/{id}", {"GET", "DELETE"}},
        {"POST", "/api/v1/agents", {"GET"}},
        {"DELETE", "/api/v1/agents", {"GET"}},
        {"POST", "/api/v1/stats", {"GET"}},
        {"POST", "/api/v1/events", {"GET"}},
        {"POST", "/api/v1/agents/{id}/events", {"GET"}},
        {"PATCH", "/healthz", {"GET"}},
        {"DELETE", "/readyz", {"GET"}},
        {"OPTIONS", "/api/v1/stats", {"GET"}},
    };
    for (const WrongMethod& wrong : wrong_methods) {
      const std::string path = replace_id(wrong.path, agent_id);
      INFO("request: " << wrong.method << " " << path);
      const HttpAnswer answer = server.send(wrong.method, path, "", {{"Content-Type", kJson}});
      check_error(answer, 405, "METHOD_NOT_ALLOWED");
      const std::set<std::string> allowed = split_allow(header_of(answer, "Allow"));
      if (wrong.at_least) {
        CHECK(std::includes(allowed.begin(), allowed.end(), wrong.allowed.begin(), wrong.allowed.end()));
      } else {
        CHECK(allowed == wrong.allowed);
      }
      CHECK(log_position(server) == position);
    }
  }

  {  // The rejected update of a known instance left it untouched
    json agent = get_agent(server, agent_id, position);
    CHECK(agent["version"] == "1.0");
    CHECK(agent["ip_address"] == "10.0.0.1");
    CHECK(stream_types(server, agent_id) == std::vector<std::string>{"AgentRegistered", "AgentTokenIssued"});
  }

  // Still healthy, and the limits accept what they promise.
  CHECK(server.get("/healthz").status == 200);
  CHECK(server.get("/readyz").status == 200);
  const Registered longest = register_agent(server, std::string(128, 'i'), {{"ip_address", "::1"}});
  CHECK(longest.status == 201);
  CHECK(longest.position == position + kEnrollmentUseEvents + kNewAgentEvents);
  CHECK(get_agent(server, longest.agent_id, longest.position)["instance_id"] == std::string(128, 'i'));
  CHECK(server.log_text().find("\"level\":\"error\"") == std::string::npos);
}

}  // namespace muster::e2e

namespace muster::e2e {

TEST_CASE("a read asking for a position beyond the log answers 503 PROJECTION_LAGGING after a bounded wait") {
  TempDir dir;
  MusterServer server(dir.file("data"));
  register_agent(server, "only");
  const auto sent = std::chrono::steady_clock::now();
  const HttpAnswer answer = server.get("/api/v1/agents?min_position=1000");
  CHECK(std::chrono::steady_clock::now() - sent < std::chrono::seconds(8));
  check_error(answer, 503, "PROJECTION_LAGGING");
  CHECK_FALSE(header_of(answer, "Retry-After").empty());
  CHECK(log_position(server) == kBootstrapEvents + kEnrollmentTokenEvents + kEnrollmentUseEvents + kNewAgentEvents);
}

TEST_CASE("regression: a multipart/form-data body answers 415 like any other non-JSON body") {
  TempDir dir;
  MusterServer server(dir.file("data"));
  const std::string multipart =
      "--xyz\r\nContent-Disposition: form-data; name=\"instance_id\"\r\n\r\nform-1\r\n--xyz--\r\n";
  struct Case {
    std::string content_type;
    std::string body;
  };
  for (const Case& bad : {Case{"multipart/form-data", "{\"instance_id\":\"form-1\"}"},
                          Case{"multipart/form-data; boundary=xyz", multipart}}) {
    INFO("Content-Type: " << bad.content_type);
    check_error(server.post("/api/v1/agents/register", bad.body, bad.content_type), 415,
                "UNSUPPORTED_MEDIA_TYPE");
    // Only the enrollment token the first registration request made is in the log.
    CHECK(log_position(server) == kBootstrapEvents + kEnrollmentTokenEvents);
  }
}

TEST_CASE("regression: a POST without Content-Length has an empty body and is answered at once") {
  TempDir dir;
  MusterServer server(dir.file("data"));
  const Registered known = register_agent(server, "known");
  struct NoLength {
    std::string path;
    std::string credential;  ///< Sent as a bearer token unless empty.
    int status;
    std::string code;
  };
  // Registration needs a body, a heartbeat does not; both with their credential,
  // so that the answer is about the body.
  const std::string heartbeat_path = "/api/v1/agents/" + known.agent_id + "/heartbeat";
  const std::vector<NoLength> cases = {
      {kRegister, server.enrollment_token(), 400, "INVALID_JSON"},
      {heartbeat_path, MusterServer::agent_token_of(known.agent_id), 200, ""},
      {"/api/v1/nowhere", "", 404, "ROUTE_NOT_FOUND"}};
  // Sent side by side, so that the whole case takes one timeout at worst.
  struct Timed {
    RawAnswer answer;
    std::chrono::milliseconds took{0};
  };
  std::vector<std::future<Timed>> pending;
  for (const NoLength& no_length : cases) {
    const std::string authorization =
        no_length.credential.empty() ? "" : "Authorization: Bearer " + no_length.credential + "\r\n";
    pending.push_back(std::async(std::launch::async, [&server, path = no_length.path, authorization] {
      const auto sent = std::chrono::steady_clock::now();
      Timed timed;
      timed.answer =
          raw_request(server.port(), "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + authorization +
                                         "Content-Type: application/json\r\nConnection: close\r\n\r\n");
      timed.took =
          std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - sent);
      return timed;
    }));
  }
  for (std::size_t case_idx = 0; case_idx < cases.size(); ++case_idx) {
    const Timed timed = pending[case_idx].get();
    INFO("POST " << cases[case_idx].path << " without Content-Length: " << timed.answer.head);
    // RFC 9112 6.3: a request without Content-Length or Transfer-Encoding has an empty body.
    CHECK(timed.took.count() < 2000);
    CHECK(timed.answer.status == cases[case_idx].status);
    REQUIRE(timed.answer.body.is_object());
    if (cases[case_idx].code.empty()) {
      CHECK(timed.answer.body.value("success", false));
    } else {
      CHECK(timed.answer.body.value("error", json()).is_string());
      CHECK(timed.answer.body.value("code", json()) == cases[case_idx].code);
    }
  }
  CHECK(log_position(server) == known.position);
}

}  // namespace muster::e2e

namespace muster::e2e {

TEST_CASE("regression: an OpAMP message with a string that is not UTF-8 is refused without a raw line on stderr") {
  TempDir dir;
  MusterServer server(dir.file("data"));
  // AgentToServer by hand: instance_uid (16 bytes), then custom_message
  // (field 13) whose capability (field 1, a string) holds the byte 0xff.
  const std::string message = std::string("\x0a\x10", 2) + std::string(16, '\x01') + std::string("\x6a\x03\x0a\x01\xff", 5);
  for (int attempt = 0; attempt < 3; ++attempt) {
    const HttpAnswer answer = server.send("POST", "/v1/opamp", message,
                                          {{"Authorization", "Bearer " + server.enrollment_token()},
                                           {"Content-Type", "application/x-protobuf"}});
    CHECK(answer.status == 400);
  }
  // The protobuf library reports each such field; muster's log takes it (at
  // debug level), so stderr stays muster's JSON lines.
  CHECK(server.log_text().find("[libprotobuf") == std::string::npos);
}

}  // namespace muster::e2e
