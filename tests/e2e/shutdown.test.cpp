// SIGTERM stops `muster serve` cleanly: it logs "stopping" and "stopped",
// exits 0, writes its log as one JSON object per line, and acknowledged work
// in flight at the signal is not lost.

#include "tests/e2e/e2e_helpers.hpp"

namespace muster::e2e {
namespace {

using namespace std::chrono_literals;

// Index of the first log line whose msg is `msg`, or -1.
int line_with_msg(const std::vector<json>& lines, const std::string& msg) {
  for (std::size_t line_idx = 0; line_idx < lines.size(); ++line_idx) {
    if (lines[line_idx].value("msg", "") == msg) return static_cast<int>(line_idx);
  }
  return -1;
}

}  // namespace

TEST_CASE("shutdown: SIGTERM exits 0 after logging stopping and stopped, every log line a JSON object") {
  TempDir dir;
  MusterServer server(dir.file("data"), {"--heartbeat-timeout", "1s"});
  const Registered registered = register_agent(server, "short-lived", {{"version", "1.0"}});
  heartbeat(server, registered.agent_id, {{"status", "degraded"}});
  // A refused request too, before the signal.
  CHECK(server.post("/api/v1/agents/register", "{", "application/json").status == 400);

  CHECK(server.terminate() == 0);
  CHECK(server.get("/healthz").status == 0);  // no longer listening

  std::vector<json> lines;
  for (const std::string& text : lines_of(server.log_text())) {
    INFO("log line: " << text);
    json line = json::parse(text, nullptr, false);
    REQUIRE(line.is_object());
    CHECK(line.value("msg", json()).is_string());
    REQUIRE(line.value("time", json()).is_string());
    CHECK(parse_rfc3339(line.value("time", "")).ok());
    CHECK(std::set<std::string>{"debug", "info", "warn", "error"}.count(line.value("level", "")) == 1);
    lines.push_back(std::move(line));
  }
  const int stopping = line_with_msg(lines, "stopping");
  const int stopped = line_with_msg(lines, "stopped");
  CHECK(stopping >= 0);
  CHECK(stopped > stopping);
  CHECK(stopped == static_cast<int>(lines.size()) - 1);
  CHECK(line_with_msg(lines, "listening") >= 0);
  if (stopping >= 0) CHECK(lines[stopping].value("signal", "") == "SIGTERM");
}

TEST_CASE("shutdown: SIGTERM under load drains, every acknowledged registration is there after restart") {
  TempDir dir;
  const std::string data = dir.file("data");
  std::vector<RegistrationLoad::Ack> acks;
  {
    MusterServer server(data);
    RegistrationLoad load(server, 4);
    REQUIRE(eventually([&] { return load.ack_count() >= 40; }, 30s));
    REQUIRE(load.failed_threads() == 0);
    CHECK(server.terminate() == 0);
    load.stop();
    CHECK(load.unexpected_answers() == std::vector<std::string>{});
    acks = load.acks();
  }
  MusterServer server(data);
  check_log_holds_acknowledged(server, acks);
}

}  // namespace muster::e2e
