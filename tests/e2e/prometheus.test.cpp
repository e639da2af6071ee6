// GET /metrics against the real binary: counters that move with
// registrations and heartbeats, gauges that agree with /api/v1/stats,
// route patterns (never raw paths) as labels, --metrics-require-key; the
// exposition checked by `promtool check metrics`; and a real Prometheus
// server scraping muster until its own API reports the target up and a
// muster metric queryable. promtool and prometheus come from Debian's
// `prometheus` package (scripts/install-deps): without them these tests
// fail, they do not skip.

#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

#include "tests/e2e/e2e_helpers.hpp"

namespace muster::e2e {
namespace {

const char* const kMissingPrometheus =
    "is not installed: install Debian's `prometheus` package (scripts/install-deps does)";

/// GET /metrics on the operators' listener, with `headers` only (no key unless given).
HttpAnswer scrape(const MusterServer& server, const httplib::Headers& headers = {}) {
  httplib::Client client("127.0.0.1", server.port());
  client.set_read_timeout(30, 0);
  const auto result = client.Get("/metrics", headers);
  HttpAnswer answer;
  if (!result) return answer;
  answer.status = result->status;
  answer.body = result->body;
  answer.headers = result->headers;
  answer.json = json::parse(answer.body, nullptr, false);
  return answer;
}

/// Every sample of an exposition, by its series ("name{labels}" as written).
std::map<std::string, double> samples_of(const std::string& text) {
  std::map<std::string, double> samples;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] == '#') continue;
    const auto space = line.rfind(' ');
    REQUIRE_MESSAGE(space != std::string::npos, "not a sample line: " << line);
    samples[line.substr(0, space)] = std::stod(line.substr(space + 1));
  }
  return samples;
}

/// A scrape's samples; REQUIREs 200 in the 0.0.4 text format.
std::map<std::string, double> scrape_samples(const MusterServer& server) {
  const HttpAnswer answer = scrape(server);
  INFO(answer.body);
  REQUIRE(answer.status == 200);
  CHECK(header_of(answer, "Content-Type") == "text/plain; version=0.0.4; charset=utf-8");
  return samples_of(answer.body);
}

/// The value of `series`, 0 if the exposition does not have it.
double value_of(const std::map<std::string, double>& samples, const std::string& series) {
  const auto found = samples.find(series);
  return found == samples.end() ? 0 : found->second;
}

bool installed(const std::string& program) {
  return std::system(("command -v " + program + " >/dev/null 2>&1").c_str()) == 0;
}

std::string file_text(const std::string& path) {
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

const std::string kHeartbeatSeries =
    R"(muster_http_requests_total{method="POST",route="/api/v1/agents/{agent_id}/heartbeat",code="200"})";
const std::string kRegisterSeries =
    R"(muster_http_requests_total{method="POST",route="/api/v1/agents/register",code="201"})";

TEST_CASE("prometheus metrics: counters move with registrations and heartbeats, gauges match /api/v1/stats") {
  TempDir dir;
  MusterServer server(dir.file("data"), {"--heartbeat-timeout", "1h"});

  const auto before = scrape_samples(server);
  CHECK(value_of(before, "muster_ready") == 1);
  CHECK(value_of(before, kHeartbeatSeries) == 0);
  const double appends_before = value_of(before, "muster_log_appends_total");

  std::vector<std::string> agents;
  for (int index = 0; index < 3; ++index) {
    agents.push_back(register_agent(server, fmt::format("prom-{}", index)).agent_id);
  }
  for (int round = 0; round < 2; ++round) {
    for (const std::string& agent : agents) heartbeat(server, agent);
  }
  // A path no route has, and a refused request: counted under their pattern
  // (or "unmatched"), the raw path never a label.
  CHECK(server.get("/api/v1/no-such-resource-7d1f").status == 404);
  CHECK(server.get("/api/v1/agents/not-a-uuid-9c2e").status == 400);

  const json fleet = stats(server, log_position(server));
  REQUIRE(eventually([&] { return value_of(scrape_samples(server), "muster_projection_lag_events") == 0; }));
  const auto after = scrape_samples(server);
  CHECK(value_of(after, kHeartbeatSeries) == 6);
  CHECK(value_of(after, kRegisterSeries) == 3);
  CHECK(value_of(after, R"(muster_http_requests_total{method="",route="unmatched",code="404"})") >= 1);
  CHECK(value_of(
            after,
            R"(muster_http_requests_total{method="GET",route="/api/v1/agents/{agent_id}",code="400"})") == 1);
  CHECK(
      value_of(
          after,
          R"(muster_http_request_duration_seconds_count{method="POST",route="/api/v1/agents/{agent_id}/heartbeat"})") ==
      6);
  CHECK(
      value_of(
          after,
          R"(muster_http_request_duration_seconds_bucket{method="POST",route="/api/v1/agents/{agent_id}/heartbeat",le="+Inf"})") ==
      6);
  for (const auto& sample : after) {
    const auto& series = sample.first;
    INFO(series);
    CHECK(series.find("7d1f") == std::string::npos);
    CHECK(series.find("9c2e") == std::string::npos);
    for (const std::string& agent : agents) CHECK(series.find(agent) == std::string::npos);
  }

  // Registrations are appends; every one written was a durable write.
  CHECK(value_of(after, "muster_log_appends_total") >= appends_before + 3);
  CHECK(value_of(after, "muster_log_write_duration_seconds_count") >= 1);
  CHECK(value_of(after, "muster_log_write_batch_appends_count") ==
        value_of(after, "muster_log_write_duration_seconds_count"));
  CHECK(value_of(after, "muster_log_head_position") >= fleet.at("log_position").get<double>());
  CHECK(value_of(after, "muster_projection_position") == value_of(after, "muster_log_head_position"));

  // The same counts as /api/v1/stats, from the same read models.
  const json& by_status = fleet.at("by_status");
  CHECK(value_of(after, R"(muster_agents{status="online"})") == by_status.at("ONLINE").get<double>());
  CHECK(value_of(after, R"(muster_agents{status="degraded"})") == by_status.at("DEGRADED").get<double>());
  CHECK(value_of(after, R"(muster_agents{status="offline"})") == by_status.at("OFFLINE").get<double>());
  CHECK(value_of(after, R"(muster_agents{status="online"})") == 3);
  const json config_counts = fleet.at("by_config_status");
  for (const auto& item : config_counts.items()) {
    const std::string& config_status = item.key();
    const json& count = item.value();
    INFO(config_status);
    CHECK(value_of(after, fmt::format(R"(muster_agents_by_config_status{{config_status="{}"}})",
                                      config_status)) == count.get<double>());
  }
  CHECK(value_of(after, R"(muster_actors_active{kind="agent"})") >= 1);
  CHECK(value_of(after, "muster_timers_pending") >= 1);
  CHECK(value_of(after, "process_resident_memory_bytes") > 0);
  CHECK(value_of(after, "process_open_fds") > 0);
  CHECK(value_of(after, "process_start_time_seconds") > 1.7e9);

  // Operators' listener only: agents never see muster's own metrics.
  server.use_agents_listener(true);
  CHECK(server.get("/metrics").status == 404);
}

TEST_CASE("prometheus metrics: muster_sse_streams counts the live event streams open") {
  TempDir dir;
  MusterServer server(dir.file("data"));
  CHECK(value_of(scrape_samples(server), "muster_sse_streams") == 0);
  const int stream = connect_loopback(server.port());
  REQUIRE(stream >= 0);
  send_all(stream, "GET /api/v1/events/stream HTTP/1.1\r\nHost: m\r\nAuthorization: Bearer " + server.admin_key() +
                       "\r\n\r\n");
  CHECK(eventually([&] { return value_of(scrape_samples(server), "muster_sse_streams") == 1; }));
  ::close(stream);
  CHECK(eventually([&] { return value_of(scrape_samples(server), "muster_sse_streams") == 0; }));
}

TEST_CASE("prometheus metrics: --metrics-require-key asks a viewer key, 401 JSON without one") {
  TempDir dir;
  {
    MusterServer open_server(dir.file("open"));
    CHECK(scrape(open_server).status == 200);
  }
  MusterServer server(dir.file("data"), {"--metrics-require-key"});
  const HttpAnswer refused = scrape(server);
  check_error(refused, 401, "UNAUTHORIZED");
  CHECK(refused.body.find("muster_") == std::string::npos);
  check_error(scrape(server, {{"Authorization", "Bearer not-a-key"}}), 401, "INVALID_API_KEY");

  const HttpAnswer created =
      server.post("/api/v1/api-keys", json{{"name", "scraper"}, {"role", "viewer"}}.dump());
  REQUIRE(created.status == 201);
  const HttpAnswer answered =
      scrape(server, {{"Authorization", "Bearer " + created.json.at("key").get<std::string>()}});
  CHECK(answered.status == 200);
  CHECK(answered.body.find("# TYPE muster_http_requests_total counter") != std::string::npos);
  // The refusals were counted too.
  CHECK(answered.body.find(R"(muster_http_requests_total{method="GET",route="/metrics",code="401"} 2)") !=
        std::string::npos);
}

TEST_CASE("prometheus metrics: promtool check metrics finds nothing to complain about") {
  REQUIRE_MESSAGE(installed("promtool"), "promtool " << kMissingPrometheus);
  TempDir dir;
  MusterServer server(dir.file("data"));
  // Traffic enough that every family has samples: routes, errors, histograms.
  const std::string agent = register_agent(server, "promtool-1").agent_id;
  heartbeat(server, agent);
  CHECK(server.get("/nowhere").status == 404);
  CHECK(server.post("/api/v1/agents/register", "{").status == 400);
  REQUIRE(scrape(server).status == 200);

  const HttpAnswer answer = scrape(server);
  REQUIRE(answer.status == 200);
  const std::string exposition = dir.file("metrics.txt");
  std::ofstream(exposition) << answer.body;
  const std::string report = dir.file("promtool.txt");
  const int status =
      std::system(fmt::format("promtool check metrics < {} > {} 2>&1", exposition, report).c_str());
  INFO("promtool said:\n" << file_text(report) << "\nof:\n" << answer.body);
  CHECK(status == 0);
  CHECK(file_text(report).empty());
}

TEST_CASE("prometheus metrics: a real Prometheus scrapes muster and answers queries about it") {
  REQUIRE_MESSAGE(installed("prometheus"), "prometheus " << kMissingPrometheus);
  TempDir dir;
  MusterServer server(dir.file("data"));
  register_agent(server, "scraped-1");

  const int prometheus_port = unused_loopback_port();
  const std::string config = dir.file("prometheus.yml");
  std::ofstream(config) << fmt::format(
      "global:\n"
      "  scrape_interval: 1s\n"
      "  scrape_timeout: 1s\n"
      "scrape_configs:\n"
      "  - job_name: muster\n"
      "    static_configs:\n"
      "      - targets: ['127.0.0.1:{}']\n",
      server.port());
  const std::string log = dir.file("prometheus.log");
  ChildProcess prometheus(
      "prometheus",
      {"--config.file=" + config, "--storage.tsdb.path=" + dir.file("tsdb"),
       fmt::format("--web.listen-address=127.0.0.1:{}", prometheus_port), "--log.level=warn"},
      log, log + ".err");
  httplib::Client client("127.0.0.1", prometheus_port);
  client.set_read_timeout(5, 0);
  const auto api = [&client](const std::string& path) {
    const auto result = client.Get(path);
    return result && result->status == 200 ? json::parse(result->body, nullptr, false) : json();
  };

  std::string last_seen;
  const bool up = eventually(
      [&] {
        const json targets = api("/api/v1/targets");
        last_seen = targets.dump();
        if (!targets.is_object()) return false;
        for (const json& target : targets["data"]["activeTargets"]) {
          if (target.value("health", "") == "up") return true;
        }
        return false;
      },
      std::chrono::seconds(60));
  INFO("Prometheus' targets: " << last_seen << "\nits log:\n" << file_text(log) << file_text(log + ".err"));
  REQUIRE(up);

  const bool queryable = eventually(
      [&] {
        const json answer = api("/api/v1/query?query=" + url_encode(R"(muster_agents{status="online"})"));
        last_seen = answer.dump();
        if (!answer.is_object() || answer["data"]["result"].empty()) return false;
        return answer["data"]["result"][0]["value"][1] == "1";
      },
      std::chrono::seconds(30));
  INFO("the query answered: " << last_seen);
  CHECK(queryable);
}

}  // namespace
}  // namespace muster::e2e
