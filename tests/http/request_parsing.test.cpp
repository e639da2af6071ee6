#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "common/time_format.hpp"
#include "http/request_parsing.hpp"
#include "http/router.hpp"

using namespace muster;
using namespace muster::http;
using nlohmann::json;

namespace {

template <class T>
Invalid refusal(const Parsed<T>& parsed) {
  REQUIRE(std::holds_alternative<Invalid>(parsed));
  return std::get<Invalid>(parsed);
}

}  // namespace

TEST_CASE("a registration needs a well-formed instance_id and typed optional fields") {
  const auto parsed = parse_registration(json::parse(R"({
      "instance_id": "host-1.example:7", "name": "web", "ip_address": "10.0.0.1",
      "capabilities": ["metrics", "logs"], "labels": {"env": "prod", "team/x": ""}, "extra": 1})"));
  REQUIRE(std::holds_alternative<Registration>(parsed));
  const Registration& registration = std::get<Registration>(parsed);
  CHECK(registration.instance_id == "host-1.example:7");
  CHECK(registration.name == std::optional<std::string>("web"));
  CHECK_FALSE(registration.hostname.has_value());
  CHECK(registration.capabilities->size() == 2);
  CHECK(registration.labels->at("team/x").empty());

  const Invalid invalid = refusal(parse_registration(json::parse(R"({
      "name": 5, "ip_address": "999.1.1.1", "capabilities": "metrics", "labels": {"env": 1}})")));
  CHECK(invalid.code == "VALIDATION_FAILED");
  for (const char* field : {"instance_id", "name", "ip_address", "capabilities", "labels"}) {
    CAPTURE(field);
    CHECK(invalid.details.contains(field));
  }
  for (const std::string& bad :
       std::vector<std::string>{"", "has space", "slash/no", std::string(129, 'a'), "ünicode"}) {
    CAPTURE(bad);
    CHECK(refusal(parse_registration(json{{"instance_id", bad}})).details.contains("instance_id"));
  }
  CHECK(
      std::holds_alternative<Registration>(parse_registration(json{{"instance_id", std::string(128, 'a')}})));
  CHECK(std::holds_alternative<Registration>(
      parse_registration(json{{"instance_id", "a"}, {"ip_address", "::1"}})));
}

TEST_CASE("a heartbeat body is optional and its fields are checked") {
  CHECK(std::holds_alternative<HeartbeatReport>(parse_heartbeat(json::object())));
  const auto parsed =
      parse_heartbeat(json::parse(R"({"status":"degraded","version":"2","metrics":{"cpu":0.5,"mem":3}})"));
  REQUIRE(std::holds_alternative<HeartbeatReport>(parsed));
  CHECK(std::get<HeartbeatReport>(parsed).status == AgentStatus::degraded);
  CHECK(std::get<HeartbeatReport>(parsed).metrics.at("mem") == 3);
  CHECK(refusal(parse_heartbeat(json{{"status", "offline"}})).details.contains("status"));
  CHECK(refusal(parse_heartbeat(json{{"metrics", {{"cpu", "high"}}}})).details.contains("metrics"));
  CHECK(refusal(parse_heartbeat(json{{"version", json::array()}})).details.contains("version"));
}

TEST_CASE("heartbeat metrics: names of [a-zA-Z_:][a-zA-Z0-9_:.]{0,127}, at most 64, finite numbers") {
  const auto accepted = parse_heartbeat(json{{"metrics", {{"cpu", 1}, {"http.requests:rate_5m", 2}, {"_x", 3}}}});
  REQUIRE(std::holds_alternative<HeartbeatReport>(accepted));
  CHECK(std::get<HeartbeatReport>(accepted).metrics.size() == 3);
  CHECK(std::holds_alternative<HeartbeatReport>(parse_heartbeat(json{{"metrics", {{std::string(128, 'a'), 1}}}})));
  for (const std::string& bad : std::vector<std::string>{"", "9cpu", ".cpu", "cpu-usage", "cpu/usage", "cpu usage",
                                                         "cpü", std::string(129, 'a')}) {
    CAPTURE(bad);
    CHECK(refusal(parse_heartbeat(json{{"metrics", {{bad, 1}}}})).details.contains("metrics"));
  }
  json many = json::object();
  for (int index = 0; index < 64; ++index) many["m" + std::to_string(index)] = index;
  CHECK(std::holds_alternative<HeartbeatReport>(parse_heartbeat(json{{"metrics", many}})));
  many["m64"] = 64;
  CHECK(refusal(parse_heartbeat(json{{"metrics", many}})).details.contains("metrics"));
  for (const json& bad : {json(std::nan("")), json(std::numeric_limits<double>::infinity()), json(true), json(nullptr)}) {
    CHECK(refusal(parse_heartbeat(json{{"metrics", {{"cpu", bad}}}})).details.contains("metrics"));
  }
}

TEST_CASE("bodies must be JSON objects") {
  CHECK(refusal(parse_json_object("", false)).code == "INVALID_JSON");
  CHECK(std::holds_alternative<json>(parse_json_object("  ", true)));
  for (const char* bad : {"{", "[1]", "\"text\"", "null", "{\"a\":1}}", "\xff\xfe"}) {
    CAPTURE(bad);
    CHECK(refusal(parse_json_object(bad, true)).code == "INVALID_JSON");
  }
  const std::string deep(100'000, '[');
  CHECK(refusal(parse_json_object(deep, true)).code == "INVALID_JSON");
}

TEST_CASE("list queries: filters, bounded limits and opaque cursors") {
  QueryParams params = {
      {"status", "offline"}, {"label", "env=prod"}, {"label", "tier=a=b"}, {"limit", "1000"}, {"q", "web"}};
  const auto parsed = parse_list_query(params);
  REQUIRE(std::holds_alternative<ListQuery>(parsed));
  const ListQuery& query = std::get<ListQuery>(parsed);
  CHECK(query.filter.status == AgentStatus::offline);
  CHECK(query.filter.labels ==
        std::vector<std::pair<std::string, std::string>>{{"env", "prod"}, {"tier", "a=b"}});
  CHECK(query.limit == 1000);
  CHECK(query.filter.text == std::optional<std::string>("web"));

  for (const auto& parameter :
       std::vector<std::pair<std::string, std::string>>{{"limit", "0"},
                                                        {"limit", "1001"},
                                                        {"limit", "-1"},
                                                        {"limit", "ten"},
                                                        {"limit", ""},
                                                        {"limit", "99999999999999999999999"},
                                                        {"status", "DEREGISTERED"},
                                                        {"label", "novalue"},
                                                        {"label", "=x"},
                                                        {"cursor", "!!"},
                                                        {"cursor", "abc"}}) {
    const std::string& name = parameter.first;
    const std::string& value = parameter.second;
    CAPTURE(name);
    CAPTURE(value);
    CHECK(refusal(parse_list_query({{name, value}})).details.contains(name));
  }
  const std::string text = "3f6c9a1e-8d2b-4c1f-9e7a-0b5d4c3a2f10";
  const AgentId id = *AgentId::parse(text);
  CHECK(decode_cursor(encode_cursor(id)) == std::optional<AgentId>(id));
  CHECK(encode_cursor(id).find(text) == std::string::npos);
}

TEST_CASE("agent ids are canonical lowercase UUIDs") {
  CHECK(is_valid_agent_id("3f6c9a1e-8d2b-4c1f-9e7a-0b5d4c3a2f10"));
  CHECK_FALSE(is_valid_agent_id("3F6C9A1E-8D2B-4C1F-9E7A-0B5D4C3A2F10"));
  CHECK_FALSE(is_valid_agent_id("3f6c9a1e8d2b4c1f9e7a0b5d4c3a2f10"));
  CHECK_FALSE(is_valid_agent_id("../../etc/passwd"));
  CHECK_FALSE(is_valid_agent_id(""));
}

TEST_CASE("the router tells unknown paths from wrong methods") {
  Router<int> router;
  router.add("GET", "/api/v1/agents", 1);
  router.add("GET", "/api/v1/agents/{agent_id}", 2);
  router.add("DELETE", "/api/v1/agents/{agent_id}", 3);
  router.add("POST", "/api/v1/agents/{agent_id}/heartbeat", 4);

  auto match = router.find("DELETE", "/api/v1/agents/abc/");
  REQUIRE(match.handler != nullptr);
  CHECK(*match.handler == 3);
  CHECK(match.params.at("agent_id") == "abc");
  CHECK(*router.find("HEAD", "/api/v1/agents").handler == 1);

  match = router.find("PUT", "/api/v1/agents/abc");
  CHECK(match.handler == nullptr);
  CHECK(match.allowed_methods == std::vector<std::string>{"GET", "DELETE"});

  for (const char* path : {"/api/v1/agents//heartbeat", "/api/v1", "/", "/api/v1/agents/a/b/c"}) {
    CAPTURE(path);
    match = router.find("POST", path);
    CHECK(match.handler == nullptr);
    CHECK(match.allowed_methods.empty());
  }
}

TEST_CASE("regression: a label filter keeps every '=' after the first (label=env=prod)") {
  const QueryParams params =
      parse_query_string("/api/v1/agents?label=env=prod&label=a=b%3Dc&q=web+1&flag&=x#frag");
  const auto labels = params.equal_range("label");
  std::vector<std::string> values;
  for (auto label = labels.first; label != labels.second; ++label) values.push_back(label->second);
  CHECK(values == std::vector<std::string>{"env=prod", "a=b=c"});
  CHECK(params.find("q")->second == "web 1");
  CHECK(params.find("flag")->second.empty());
  CHECK(params.find("")->second == "x");
  CHECK(parse_query_string("/no/query").empty());
  CHECK(parse_query_string("/p?bad=%zz%4").find("bad")->second == "%zz%4");
}

TEST_CASE("an API key request names a role and may scope an organization") {
  const auto parsed = parse_api_key_request(json{{"name", "ci"}, {"role", "operator"}, {"org", "acme"}});
  REQUIRE(std::holds_alternative<ApiKeyRequest>(parsed));
  CHECK(std::get<ApiKeyRequest>(parsed).role == Role::operator_);
  CHECK(std::get<ApiKeyRequest>(parsed).org == "acme");
  const Invalid invalid = refusal(parse_api_key_request(json{{"role", "root"}, {"org", "a b"}}));
  for (const char* field : {"name", "role", "org"}) {
    CAPTURE(field);
    CHECK(invalid.details.contains(field));
  }
}

TEST_CASE("an API key may be unscoped with org \"*\" - without org the creator decides") {
  const auto all = parse_api_key_request(json{{"name", "ops"}, {"role", "admin"}, {"org", "*"}});
  REQUIRE(std::holds_alternative<ApiKeyRequest>(all));
  CHECK(std::get<ApiKeyRequest>(all).org == "*");
  const auto bare = parse_api_key_request(json{{"name", "ops"}, {"role", "admin"}});
  REQUIRE(std::holds_alternative<ApiKeyRequest>(bare));
  CHECK_FALSE(std::get<ApiKeyRequest>(bare).org.has_value());
}

TEST_CASE("an enrollment token request: name required, lifetime, uses, labels and organization checked") {
  const auto full = parse_enrollment_token_request(json{{"name", "rollout"},
                                                        {"expires_in", "12h"},
                                                        {"max_uses", 50},
                                                        {"labels", {{"env", "prod"}}},
                                                        {"org", "acme"}});
  REQUIRE(std::holds_alternative<EnrollmentTokenRequest>(full));
  const EnrollmentTokenRequest& request = std::get<EnrollmentTokenRequest>(full);
  CHECK(request.expires_in_ms == 12 * 3600 * 1000);
  CHECK(request.max_uses == std::optional<std::uint64_t>(50));
  CHECK(request.labels.at("env") == "prod");
  CHECK(request.org == std::optional<std::string>("acme"));

  const auto defaults = parse_enrollment_token_request(json{{"name", "rollout"}});
  REQUIRE(std::holds_alternative<EnrollmentTokenRequest>(defaults));
  CHECK(std::get<EnrollmentTokenRequest>(defaults).expires_in_ms == 30LL * 24 * 3600 * 1000);
  CHECK_FALSE(std::get<EnrollmentTokenRequest>(defaults).max_uses.has_value());
  CHECK_FALSE(std::get<EnrollmentTokenRequest>(defaults).org.has_value());

  const Invalid invalid = refusal(parse_enrollment_token_request(
      json{{"expires_in", "500ms"}, {"max_uses", 0}, {"labels", {{"bad key", "x"}}}, {"org", "*"}}));
  for (const char* field : {"name", "expires_in", "max_uses", "labels", "org"}) {
    CAPTURE(field);
    CHECK(invalid.details.contains(field));
  }
  for (const json& uses : {json(-1), json(1.5), json("3"), json(2'000'000'000)}) {
    CAPTURE(uses);
    CHECK(refusal(parse_enrollment_token_request(json{{"name", "n"}, {"max_uses", uses}}))
              .details.contains("max_uses"));
  }
}

TEST_CASE("regression (fuzzing): an integer parameter never exceeds its maximum, even a single digit") {
  const QueryParams params = {{"n", "5"}};
  CHECK(std::holds_alternative<Invalid>(parse_uint_param(params, "n", 0, 2)));
  CHECK(std::get<std::uint64_t>(parse_uint_param(params, "n", 0, 5)) == 5);
  CHECK(
      std::holds_alternative<Invalid>(parse_uint_param({{"n", "18446744073709551616"}}, "n", 0, UINT64_MAX)));
}

TEST_CASE("regression: an ip_address with an embedded NUL passed validation (inet_pton stops at the NUL)") {
  const json body = json::parse(R"({"instance_id": "a", "ip_address": "10.0.0.7\u0000<script>"})");
  REQUIRE(body.at("ip_address").get<std::string>().size() == 17);
  const Invalid invalid = refusal(parse_registration(body));
  CHECK(invalid.code == "VALIDATION_FAILED");
  CHECK(invalid.details.contains("ip_address"));
  CHECK(refusal(parse_registration(json{{"instance_id", "a"}, {"ip_address", "10.0.0.7 "}}))
            .details.contains("ip_address"));
  CHECK(refusal(parse_registration(json{{"instance_id", "a"}, {"ip_address", "fe80::1%eth0"}}))
            .details.contains("ip_address"));
}

TEST_CASE("regression: free-text fields of registrations and heartbeats refuse control characters") {
  // C0 controls (NUL, ESC, CR, LF, TAB), DEL and C1 controls (U+0080, U+0085 NEL, U+009B CSI, U+009F).
  const std::vector<std::string> controls = {std::string(1, '\0'), "\x1b", "\r", "\n", "\t", "\x7f",
                                             "\xc2\x80",          "\xc2\x85", "\xc2\x9b", "\xc2\x9f"};
  for (const std::string& control : controls) {
    const std::string bad = "web" + control + "1";
    CAPTURE(json(bad).dump());
    for (const char* field : {"name", "hostname", "version", "type"}) {
      CAPTURE(field);
      const Invalid invalid = refusal(parse_registration(json{{"instance_id", "a"}, {field, bad}}));
      CHECK(invalid.code == "VALIDATION_FAILED");
      CHECK(invalid.details.contains(field));
      CHECK(invalid.details.at(field).get<std::string>().find("control characters") != std::string::npos);
    }
    CHECK(refusal(parse_registration(json{{"instance_id", "a"}, {"capabilities", json::array({"metrics", bad})}}))
              .details.contains("capabilities"));
    CHECK(refusal(parse_registration(json{{"instance_id", "a"}, {"labels", {{"env", bad}}}}))
              .details.contains("labels"));
    CHECK(refusal(parse_heartbeat(json{{"version", bad}})).details.contains("version"));
    CHECK(refusal(parse_heartbeat(json{{"status", "online" + control}})).details.contains("status"));
  }
  // Printable text beyond ASCII stays welcome: U+00A0 and up, and U+0100 (C4 80, not a C1 control).
  const auto accepted = parse_registration(
      json{{"instance_id", "a"}, {"name", "caf\xc3\xa9 \xc2\xa0 \xc4\x80 \xe6\x9c\x8d"}, {"hostname", "h.example"}});
  CHECK(std::holds_alternative<Registration>(accepted));
  CHECK(std::holds_alternative<HeartbeatReport>(parse_heartbeat(json{{"version", "1.4.3-rc1+build.7"}})));
}

TEST_CASE("an agent's report: a type name, an RFC 3339 time, a JSON object of bounded size") {
  for (const char* good : {"termination", "rebalance_recommendation", "a", "crash.v2-x_y"}) {
    CAPTURE(good);
    CHECK(is_valid_type_name(good));
  }
  for (const std::string& bad :
       {std::string(""), std::string("Crash"), std::string("1crash"), std::string("_x"), std::string("a b"),
        std::string("a/b"), std::string(65, 'a')}) {
    CAPTURE(bad);
    CHECK_FALSE(is_valid_type_name(bad));
  }
  CHECK(is_valid_type_name(std::string(64, 'a')));

  const auto parsed = parse_agent_report(
      json::parse(R"({"type":"termination","time":"2026-12-02T01:02:00Z","data":{"action":"terminate"}})"),
      5);
  REQUIRE(std::holds_alternative<AgentReported>(parsed));
  const AgentReported& report = std::get<AgentReported>(parsed);
  CHECK(report.type == "termination");
  CHECK(report.reported_at_ms == *parse_rfc3339("2026-12-02T01:02:00Z"));
  CHECK(report.data == json{{"action", "terminate"}});
  const auto defaults = parse_agent_report(json{{"type", "crash"}}, 5);
  REQUIRE(std::holds_alternative<AgentReported>(defaults));
  CHECK(std::get<AgentReported>(defaults).reported_at_ms == 5);
  CHECK(std::get<AgentReported>(defaults).data == json::object());

  const Invalid invalid =
      refusal(parse_agent_report(json{{"type", "Crash"}, {"time", "soon"}, {"data", {1}}}, 5));
  CHECK(invalid.code == "VALIDATION_FAILED");
  for (const char* field : {"type", "time", "data"}) {
    CAPTURE(field);
    CHECK(invalid.details.contains(field));
  }
  const std::string filler(kMaxReportDataBytes, 'x');
  const Invalid too_large =
      refusal(parse_agent_report(json{{"type", "crash"}, {"data", {{"x", filler}}}}, 5));
  CHECK(too_large.code == std::string(kReportTooLarge));
  CHECK(too_large.details.contains("data"));
  CHECK(std::holds_alternative<AgentReported>(
      parse_agent_report(json{{"type", "crash"}, {"data", {{"x", filler.substr(8)}}}}, 5)));
}
