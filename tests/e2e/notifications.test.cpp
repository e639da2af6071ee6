// Notifications against the real binary on a manual clock the tests move,
// with a real local HTTP receiver and a real SMTP server started here:
// channels and maintenance windows (secrets never answered or logged, bad
// input refused naming the field, nothing changed); a mass offline is one
// signed notification listing every agent, delivered exactly once to a
// receiver that fails first, across a kill -9 between the failed attempt and
// its retry; escalation goes out for the unacknowledged alerts only;
// a maintenance window suppresses (and records it); email reaches an SMTP server.

#include <doctest/doctest.h>

#include <signal.h>
#include <sys/wait.h>

#include <fstream>
#include <sstream>

#include "tests/e2e/e2e_helpers.hpp"
#include "tests/support/webhook_receiver.hpp"

namespace muster::e2e {
namespace {

std::vector<std::string> notification_server_args() {
  return {"--enable-test-hooks", "--test-manual-clock",
          "--heartbeat-timeout", "1m",
          "--healthy-within",    "1h",
          "--warning-within",    "2h"};
}

std::string create(const MusterServer& server, const std::string& path, const json& body,
                   const char* id_key) {
  const HttpAnswer answer = server.post(path, body.dump());
  INFO(answer.body);
  REQUIRE(answer.status == 201);
  return answer.json.at(id_key).get<std::string>();
}

std::string create_webhook(const MusterServer& server, const std::string& url, const std::string& secret) {
  return create(server, "/api/v1/notification-channels",
                {{"name", "ops"}, {"type", "webhook"}, {"url", url}, {"secret", secret}}, "channel_id");
}

std::vector<json> firing_alerts(const MusterServer& server, const std::string& rule_id) {
  return get_json(server, "/api/v1/alerts?state=firing&rule=" + rule_id)
      .at("alerts")
      .get<std::vector<json>>();
}

std::vector<json> deliveries(const MusterServer& server, const std::string& alert_id) {
  return get_json(server, "/api/v1/alerts/" + alert_id + "/deliveries")
      .at("deliveries")
      .get<std::vector<json>>();
}

// Registers `count` agents, heartbeats each, and lets them all go offline
// and past an absence rule's `for` of 2m: every one of them fires.
std::vector<std::string> take_offline(const MusterServer& server, std::size_t count,
                                      const std::string& rule_id) {
  std::vector<std::string> agents;
  for (std::size_t index = 0; index < count; ++index) {
    agents.push_back(register_agent(server, fmt::format("web-{}", index)).agent_id);
  }
  for (const std::string& agent : agents) heartbeat(server, agent, {{"status", "online"}});
  advance_clock(server, 61'000);
  advance_clock(server, 60'000);
  const bool fired =
      eventually([&] { return firing_alerts(server, rule_id).size() == count; }, std::chrono::seconds(30));
  REQUIRE(fired);
  return agents;
}

// Debian's aiosmtpd, printing each message it receives to `output`.
class SmtpServer {
 public:
  explicit SmtpServer(const std::string& output)
      : output_(output),
        port_(unused_loopback_port()),
        process_("/usr/bin/python3", {"-u", "-m", "aiosmtpd", "-n", "-l", fmt::format("127.0.0.1:{}", port_)},
                 output, output + ".err") {
    const bool up = eventually([&] {
      const int fd = connect_loopback(port_);
      if (fd < 0) return false;
      ::close(fd);
      return true;
    });
    REQUIRE(up);
  }
  int port() const { return port_; }
  std::string received() const {
    std::ifstream file(output_);
    std::stringstream text;
    text << file.rdbuf();
    return text.str();
  }

 private:
  std::string output_;
  int port_ = 0;
  ChildProcess process_;
};

}  // namespace

TEST_CASE(
    "notification channels and maintenance windows: secrets never answered or logged, bad input refused") {
  TempDir dir;
  MusterServer server(dir.file("data"), notification_server_args());
  HttpAnswer created = server.post("/api/v1/notification-channels",
                                   json{{"name", "ops"},
                                        {"type", "webhook"},
                                        {"url", "https://hooks.example.com/services/url-token-value"},
                                        {"headers", {{"Authorization", "Bearer header-secret-value"}}},
                                        {"secret", "signing-secret-value"},
                                        {"format", "slack"}}
                                       .dump());
  INFO(created.body);
  REQUIRE(created.status == 201);
  CHECK(created.json.at("secret") == "***");
  CHECK(created.json.at("headers").at("Authorization") == "***");
  CHECK(created.json.at("format") == "slack");
  const std::string channel = created.json.at("channel_id");
  CHECK(get_json(server, "/api/v1/notification-channels/" + channel).at("url") ==
        "https://hooks.example.com/***");
  const HttpAnswer email = server.post(
      "/api/v1/notification-channels",
      json{{"name", "mail"},
           {"type", "email"},
           {"to", {"ops@example.com"}},
           {"from", "muster@example.com"},
           {"smtp", {{"url", "smtp://127.0.0.1:25"}, {"username", "u"}, {"password", "smtp-password-value"}}}}
          .dump());
  REQUIRE(email.status == 201);
  CHECK(email.json.at("smtp").at("password") == "***");

  for (const auto& refusal : std::vector<std::pair<json, std::string>>{
           {{{"name", "x"}, {"type", "webhook"}, {"url", "ftp://example.com/"}}, "url"},
           {{{"name", "x"}, {"type", "webhook"}, {"url", "http://example.com/"}, {"format", "xml"}},
            "format"},
           {{{"name", "x"}, {"type", "pager"}}, "type"},
           {{{"name", "x"}, {"type", "email"}, {"from", "a@b.c"}, {"smtp", {{"url", "smtp://h"}}}}, "to"},
           {{{"name", "x"},
             {"type", "email"},
             {"to", {"a@b.c"}},
             {"from", "a@b.c"},
             {"smtp", {{"url", "http://h"}}}},
            "smtp.url"},
           {{{"type", "webhook"}, {"url", "http://example.com/"}}, "name"}}) {
    const json& body = refusal.first;
    const std::string& field = refusal.second;
    const HttpAnswer refused = server.post("/api/v1/notification-channels", body.dump());
    INFO(field << ": " << refused.body);
    check_error(refused, 400, "VALIDATION_FAILED");
    CHECK(refused.json.at("details").contains(field));
  }
  CHECK(get_json(server, "/api/v1/notification-channels").at("channels").size() == 2);

  const TimeMs now = advance_clock(server, 0);
  HttpAnswer refused = server.post(
      "/api/v1/maintenance-windows",
      json{{"scope", {{"group", "db"}}}, {"starts_at", now + 60'000}, {"ends_at", format_rfc3339(now)}}
          .dump());
  check_error(refused, 400, "VALIDATION_FAILED");
  CHECK(refused.json.at("details").contains("ends_at"));
  refused =
      server.post("/api/v1/maintenance-windows",
                  json{{"scope", {{"planet", "mars"}}}, {"starts_at", now}, {"ends_at", now + 1}}.dump());
  check_error(refused, 400, "VALIDATION_FAILED");
  CHECK(get_json(server, "/api/v1/maintenance-windows").at("windows").empty());
  const std::string window = create(server, "/api/v1/maintenance-windows",
                                    {{"scope", {{"group", "db"}}},
                                     {"starts_at", format_rfc3339(now)},
                                     {"ends_at", now + 3'600'000},
                                     {"reason", "patch"}},
                                    "window_id");
  const json listed = get_json(server, "/api/v1/maintenance-windows").at("windows");
  REQUIRE(listed.size() == 1);
  CHECK(listed[0].at("active") == true);
  CHECK(server.del("/api/v1/maintenance-windows/" + window).status == 200);
  check_error(server.del("/api/v1/maintenance-windows/" + window), 404, "MAINTENANCE_WINDOW_NOT_FOUND");
  CHECK(server.del("/api/v1/notification-channels/" + channel).status == 200);
  check_error(server.get("/api/v1/notification-channels/" + channel), 404, "CHANNEL_NOT_FOUND");

  // Nothing secret in the log's events or the server's log lines.
  std::string events;
  for (const json& event : log_events(server)) events += event.dump();
  for (const std::string secret :
       {"header-secret-value", "signing-secret-value", "smtp-password-value", "url-token-value"}) {
    CHECK(events.find(secret) == std::string::npos);
    CHECK(server.log_text().find(secret) == std::string::npos);
  }
}

TEST_CASE(
    "a mass offline is one signed notification, delivered once after a 500 and a kill -9 - escalation skips "
    "the acknowledged") {
  TempDir dir;
  testing::WebhookReceiver receiver("hook-secret", 1);
  testing::WebhookReceiver pager("hook-secret");
  std::string rule;
  std::vector<std::string> agents;
  std::string first_id;
  {
    MusterServer server(dir.file("data"), notification_server_args());
    const std::string channel = create_webhook(server, receiver.url(), "hook-secret");
    const std::string paging = create_webhook(server, pager.url(), "hook-secret");
    rule = create(server, "/api/v1/alert-rules",
                  {{"name", "agents offline"},
                   {"kind", "absence"},
                   {"for", "2m"},
                   {"severity", "critical"},
                   {"channels", {channel}},
                   {"group_wait", "30s"},
                   {"escalation", {{{"after", "15m"}, {"channels", {paging}}}}}},
                  "rule_id");
    agents = take_offline(server, 50, rule);
    CHECK(receiver.requests().empty());
    advance_clock(server, 30'000);
    REQUIRE(receiver.wait_for(1, std::chrono::seconds(20)));
    first_id = receiver.requests()[0].notification_id;
    const std::string alert = firing_alerts(server, rule)[0].at("alert_id");
    const bool recorded = eventually([&] {
      const auto told = deliveries(server, alert);
      return told.size() == 1 && told[0].at("attempts") == 1;
    });
    REQUIRE(recorded);
    CHECK(deliveries(server, alert)[0].at("state") == "pending");
    server.kill9();
  }
  MusterServer server(dir.file("data"), notification_server_args());
  advance_clock(server, 300'000);
  REQUIRE(receiver.wait_for(2, std::chrono::seconds(20)));
  const std::vector<json> alerts = firing_alerts(server, rule);
  REQUIRE(alerts.size() == 50);
  const bool delivered =
      eventually([&] { return deliveries(server, alerts[0].at("alert_id"))[0].at("state") == "delivered"; });
  REQUIRE(delivered);
  // The alert itself shows the same deliveries, each attempt's outcome included.
  const json detail = get_json(server, "/api/v1/alerts/" + alerts[0].at("alert_id").get<std::string>());
  REQUIRE(detail.at("deliveries").size() == 1);
  CHECK(detail.at("deliveries")[0].at("state") == "delivered");
  CHECK(detail.at("deliveries")[0].at("attempts") == 2);
  const auto requests = receiver.requests();
  REQUIRE(requests.size() == 2);
  CHECK(requests[0].notification_id == requests[1].notification_id);
  CHECK(requests[0].body == requests[1].body);
  CHECK(receiver.accepted_ids() == std::vector<std::string>{first_id});
  for (const auto& request : requests) CHECK(request.signature_ok);
  const json body = json::parse(requests[1].body);
  CHECK(body.at("kind") == "firing");
  CHECK(body.at("count") == 50);
  std::set<std::string> listed;
  for (const json& alert : body.at("alerts")) listed.insert(alert.at("subject").at("id").get<std::string>());
  CHECK(listed == std::set<std::string>(agents.begin(), agents.end()));

  // One acknowledged; the escalation after 15m (+ group_wait) lists the other 49.
  const std::string acknowledged = alerts[0].at("alert_id");
  REQUIRE(server.post("/api/v1/alerts/" + acknowledged + "/ack", "{}").status == 200);
  CHECK(pager.requests().empty());
  advance_clock(server, 16 * 60'000);
  REQUIRE(pager.wait_for(1, std::chrono::seconds(20)));
  const bool settled = eventually([&] { return deliveries(server, alerts[1].at("alert_id")).size() == 2; });
  REQUIRE(settled);
  const json escalation = json::parse(pager.requests().at(0).body);
  CHECK(escalation.at("kind") == "escalation");
  CHECK(escalation.at("count") == 49);
  for (const json& alert : escalation.at("alerts")) CHECK(alert.at("alert_id") != acknowledged);
  CHECK(pager.requests().size() == 1);
  CHECK(receiver.requests().size() == 2);
}

TEST_CASE("a maintenance window suppresses the notification and records it") {
  TempDir dir;
  testing::WebhookReceiver receiver("k");
  MusterServer server(dir.file("data"), notification_server_args());
  const std::string channel = create_webhook(server, receiver.url(), "k");
  const TimeMs now = advance_clock(server, 0);
  const std::string window = create(
      server, "/api/v1/maintenance-windows",
      {{"scope", json::object()}, {"starts_at", now}, {"ends_at", now + 3'600'000}, {"reason", "rack move"}},
      "window_id");
  const std::string rule = create(server, "/api/v1/alert-rules",
                                  {{"name", "agents offline"},
                                   {"kind", "absence"},
                                   {"for", "2m"},
                                   {"channels", {channel}},
                                   {"group_wait", "30s"}},
                                  "rule_id");
  take_offline(server, 3, rule);
  advance_clock(server, 30'000);
  const std::string alert = firing_alerts(server, rule)[0].at("alert_id");
  const bool recorded = eventually([&] { return deliveries(server, alert).size() == 1; });
  REQUIRE(recorded);
  const json told = deliveries(server, alert)[0];
  CHECK(told.at("state") == "suppressed");
  CHECK(told.at("suppressed").at("reason") == "maintenance");
  CHECK(told.at("suppressed").at("windows") == json{window});
  CHECK(told.at("alerts").size() == 3);
  CHECK(receiver.requests().empty());
}

TEST_CASE("an email channel's notification is received by a real SMTP server") {
  TempDir dir;
  SmtpServer smtp(dir.file("smtp.out"));
  MusterServer server(dir.file("data"), notification_server_args());
  const std::string channel = create(server, "/api/v1/notification-channels",
                                     {{"name", "mail"},
                                      {"type", "email"},
                                      {"to", {"ops@example.com", "oncall@example.com"}},
                                      {"from", "muster@example.com"},
                                      {"smtp", {{"url", fmt::format("smtp://127.0.0.1:{}", smtp.port())}}}},
                                     "channel_id");
  const std::string rule = create(server, "/api/v1/alert-rules",
                                  {{"name", "agent gone"},
                                   {"kind", "absence"},
                                   {"for", "2m"},
                                   {"channels", {channel}},
                                   {"group_wait", "30s"}},
                                  "rule_id");
  const std::vector<std::string> agents = take_offline(server, 1, rule);
  advance_clock(server, 30'000);
  const bool received =
      eventually([&] { return smtp.received().find("[FIRING] agent gone") != std::string::npos; },
                 std::chrono::seconds(20));
  INFO(smtp.received());
  REQUIRE(received);
  const std::string text = smtp.received();
  CHECK(text.find(agents[0]) != std::string::npos);
  CHECK(text.find("oncall@example.com") != std::string::npos);
  const std::string alert = firing_alerts(server, rule)[0].at("alert_id");
  const bool delivered = eventually([&] {
    const auto told = deliveries(server, alert);
    return told.size() == 1 && told[0].at("state") == "delivered";
  });
  CHECK(delivered);
  const std::string id = deliveries(server, alert)[0].at("notification_id");
  CHECK(text.find("X-Muster-Notification-Id: " + id) != std::string::npos);
}

}  // namespace muster::e2e
