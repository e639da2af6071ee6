// `muster replay` reads the event log of a running or stopped server's data
// directory: the whole log or one agent's stream, filtered by type and time,
// as JSON lines or a table; with --at, the agent's state as of a time.

#include <functional>

#include "tests/e2e/e2e_helpers.hpp"

namespace muster::e2e {
namespace {

using namespace std::chrono_literals;

// `data` without its "*_sha256" members: replay prints the digests of
// secrets as stored (whoever runs it can read the data directory anyway),
// /api/v1/events never does.
json without_digests(json data) {
  if (!data.is_object()) return data;
  for (auto member = data.begin(); member != data.end();) {
    const std::string& name = member.key();
    const bool digest = name.size() > 7 && name.compare(name.size() - 7, 7, "_sha256") == 0;
    member = digest ? data.erase(member) : std::next(member);
  }
  return data;
}

// The events of a `replay --format jsonl` output, one per line, digests
// removed so they compare with what /api/v1/events serves.
std::vector<json> parse_jsonl(const CommandResult& result) {
  INFO("stderr: " << result.err);
  REQUIRE(result.exit_code == 0);
  std::vector<json> events;
  for (const std::string& line : lines_of(result.out)) {
    json event = json::parse(line, nullptr, false);
    INFO("line: " << line);
    REQUIRE(event.is_object());
    event["data"] = without_digests(event["data"]);
    events.push_back(std::move(event));
  }
  return events;
}

CommandResult replay(const std::string& data, std::vector<std::string> args = {}) {
  args.insert(args.begin(), {"replay", "--data", data});
  return run_muster(args);
}

std::vector<json> events_where(const std::vector<json>& events,
                               const std::function<bool(const json&)>& keep) {
  std::vector<json> kept;
  for (const json& event : events) {
    if (keep(event)) kept.push_back(event);
  }
  return kept;
}

// The agent's state printed by `replay --at`.
json state_at(const std::string& data, const std::vector<std::string>& selector, const std::string& at) {
  std::vector<std::string> args = selector;
  args.insert(args.end(), {"--at", at});
  const CommandResult result = replay(data, args);
  INFO("replay --at " << at << ": " << result.exit_code << " " << result.out << result.err);
  REQUIRE(result.exit_code == 0);
  json state = json::parse(result.out, nullptr, false);
  REQUIRE(state.is_object());
  return state;
}

}  // namespace

TEST_CASE("replay: prints, filters and folds the log of a running server, and of a stopped one") {
  TempDir dir;
  const std::string data = dir.file("data");
  MusterServer server(data);

  // A history whose events have distinct times where it matters. The events
  // of one registration (ending with its AgentTokenIssued) share one time.
  const Registered first = register_agent(server, "replay-a", {{"version", "1.0"}, {"type", "edge"}});
  const std::string agent_a = first.agent_id;
  const std::string registered_at = stream_events(server, agent_a).back()["time"];
  wait_until_clock_passes(time_of(registered_at));
  register_agent(server, "replay-a", {{"version", "2.0"}});
  const std::string updated_at = stream_events(server, agent_a).back()["time"];
  wait_until_clock_passes(time_of(updated_at));
  const std::string agent_b = register_agent(server, "replay-b", {{"version", "1.0"}}).agent_id;
  heartbeat(server, agent_a, {{"status", "degraded"}});
  const std::string degraded_at = stream_events(server, agent_a).back()["time"];

  const std::vector<json> log = log_events(server);
  // Each registration of a new instance spends a use of the enrollment token
  // first; replay-a registering again spends none.
  REQUIRE(types_of(log) == std::vector<std::string>{"ApiKeyCreated", "EnrollmentTokenCreated",
                                                    "EnrollmentTokenUsed", "AgentRegistered", "AgentTokenIssued",
                                                    "AgentUpdated", "AgentTokenIssued",
                                                    "EnrollmentTokenUsed", "AgentRegistered", "AgentTokenIssued",
                                                    "AgentStatusChanged"});
  REQUIRE(time_of(registered_at) < time_of(updated_at));

  // One history, read by each part below in turn (they only read, the last
  // stops the server): as subcases they rebuilt it eight times, 100 s under ASan.
  {
    INFO("the whole log as JSON lines equals /api/v1/events, which leaves out the digests replay shows");
    CHECK(parse_jsonl(replay(data)) == log);
    CHECK(parse_jsonl(replay(data, {"--format", "jsonl"})) == log);
    CHECK(json(log).dump().find("sha256") == std::string::npos);
    const CommandResult raw = replay(data);
    CHECK(raw.out.find("\"secret_sha256\"") != std::string::npos);
    CHECK(raw.out.find("\"token_sha256\"") != std::string::npos);
  }

  {
    INFO("--agent and --instance select one stream");
    CHECK(parse_jsonl(replay(data, {"--agent", agent_a})) == stream_events(server, agent_a));
    CHECK(parse_jsonl(replay(data, {"--instance", "replay-a"})) == stream_events(server, agent_a));
    CHECK(parse_jsonl(replay(data, {"--agent", agent_b})) == stream_events(server, agent_b));
    CHECK(parse_jsonl(replay(data, {"--instance", "replay-b", "--type", "AgentRegistered"})) ==
          std::vector<json>{stream_events(server, agent_b).front()});
  }

  {
    INFO("--type keeps one event type");
    const std::vector<json> registrations =
        events_where(log, [](const json& event) { return event.at("type") == "AgentRegistered"; });
    CHECK(registrations.size() == 2);
    CHECK(parse_jsonl(replay(data, {"--type", "AgentRegistered"})) == registrations);
    CHECK(parse_jsonl(replay(data, {"--type=AgentUpdated"})) ==
          events_where(log, [](const json& event) { return event.at("type") == "AgentUpdated"; }));
    CHECK(parse_jsonl(replay(data, {"--type", "NoSuchType"})).empty());
  }

  {
    INFO("--since and --until bound the events by time, both inclusive");
    const auto since = [&](const std::string& bound) {
      return events_where(log,
                          [&](const json& event) { return time_of(event.at("time")) >= time_of(bound); });
    };
    const auto until = [&](const std::string& bound) {
      return events_where(log,
                          [&](const json& event) { return time_of(event.at("time")) <= time_of(bound); });
    };
    // The agents' events from the update on (a token use may share its millisecond).
    CHECK(events_where(since(updated_at), [](const json& event) {
            return !agent_of_stream(event.at("stream")).empty();
          }).size() == 5);
    CHECK(parse_jsonl(replay(data, {"--since", updated_at})) == since(updated_at));
    CHECK(until(registered_at).size() ==
          kBootstrapEvents + kEnrollmentTokenEvents + kEnrollmentUseEvents + kNewAgentEvents);
    CHECK(parse_jsonl(replay(data, {"--until", registered_at})) == until(registered_at));
    const std::vector<json> window =
        parse_jsonl(replay(data, {"--since", updated_at, "--until", updated_at}));
    const std::vector<json> agents_window =
        events_where(window, [](const json& event) { return !agent_of_stream(event.at("stream")).empty(); });
    REQUIRE_FALSE(agents_window.empty());
    CHECK(agents_window.front().at("type") == "AgentUpdated");
    CHECK(window == events_where(log, [&](const json& event) { return event.at("time") == updated_at; }));
    CHECK(parse_jsonl(replay(data, {"--agent", agent_a, "--since", updated_at})) ==
          events_where(since(updated_at),
                       [&](const json& event) { return event.at("stream") == agent_stream(agent_a); }));
  }

  {
    INFO("--format table has a header and one line per event, with who caused it and from where");
    const CommandResult table = replay(data, {"--format", "table"});
    REQUIRE(table.exit_code == 0);
    const std::vector<std::string> lines = lines_of(table.out);
    REQUIRE(lines.size() == log.size() + 1);
    CHECK(lines[0].find("POSITION") != std::string::npos);
    CHECK(lines[0].find("TYPE") != std::string::npos);
    for (std::size_t event_idx = 0; event_idx < log.size(); ++event_idx) {
      const std::string& line = lines[event_idx + 1];
      INFO("line: " << line);
      CHECK(line.find(log[event_idx].at("type").get<std::string>()) != std::string::npos);
      CHECK(line.find(log[event_idx].at("stream").get<std::string>()) != std::string::npos);
      CHECK(line.find(log[event_idx].at("time").get<std::string>()) != std::string::npos);
      const json& meta = log[event_idx].at("meta");
      if (meta.contains("principal")) {
        CHECK(line.find(meta.at("principal").get<std::string>()) != std::string::npos);
        CHECK(line.find(meta.at("source").get<std::string>()) != std::string::npos);
      }
    }
    CHECK(lines[0].find("BY") != std::string::npos);
    CHECK(lines[0].find("FROM") != std::string::npos);
    const CommandResult one = replay(data, {"--format", "table", "--agent", agent_b});
    CHECK(lines_of(one.out).size() == 1 + kNewAgentEvents);
  }

  {
    INFO("--at shows the agent as of a time");
    json state = state_at(data, {"--agent", agent_a}, registered_at);
    CHECK(state["agent_id"] == agent_a);
    CHECK(state["as_of"] == registered_at);
    CHECK(state["version"] == "1.0");
    CHECK(state["type"] == "edge");
    CHECK(state["status"] == "ONLINE");
    CHECK(state["stream_version"] == 2);
    state = state_at(data, {"--instance", "replay-a"}, updated_at);
    CHECK(state["version"] == "2.0");
    CHECK(state["stream_version"] == 4);
    CHECK(state["status"] == "ONLINE");
    state = state_at(data, {"--agent", agent_a}, degraded_at);
    CHECK(state["status"] == "DEGRADED");
    state = state_at(data, {"--agent", agent_a}, format_rfc3339(now_ms() + 60'000));
    json live = get_agent(server, agent_a, log_position(server));
    for (const char* field : {"version", "type", "status", "stream_version", "position", "registered_at",
                              "updated_at", "status_since", "labels", "capabilities"}) {
      CHECK(state[field] == live[field]);
    }
    const CommandResult too_early =
        replay(data, {"--agent", agent_a, "--at", format_rfc3339(time_of(registered_at) - 1000)});
    CHECK(too_early.exit_code == 1);
    CHECK_FALSE(too_early.err.empty());
  }

  {
    INFO("bad flags exit 2 with a message; an unknown agent exits 1");
    const std::vector<std::vector<std::string>> bad_flags = {
        {"--bogus"},
        {"--format", "xml"},
        {"--since", "yesterday"},
        {"--until", "2026-13-45T99:00:00Z"},
        {"--agent", "not-a-uuid"},
        {"--agent", "3F6C9A1E-8D2B-4C1F-9E7A-0B5D4C3A2F10"},
        {"--instance", "bad instance"},
        {"--agent", agent_a, "--instance", "replay-a"},
        {"--at", registered_at},
        {"--agent"},
    };
    for (const std::vector<std::string>& flags : bad_flags) {
      const CommandResult result = replay(data, flags);
      INFO("flags: " << fmt::format("{}", fmt::join(flags, " ")) << " -> " << result.err);
      CHECK(result.exit_code == 2);
      CHECK(result.err.find("muster") != std::string::npos);
      CHECK(result.out.empty());
    }
    const CommandResult unknown_agent = replay(data, {"--agent", "00000000-0000-4000-8000-000000000000"});
    CHECK(unknown_agent.exit_code == 1);
    CHECK(unknown_agent.err.find("00000000-0000-4000-8000-000000000000") != std::string::npos);
    CHECK(unknown_agent.out.empty());
    const CommandResult unknown_instance = replay(data, {"--instance", "nobody"});
    CHECK(unknown_instance.exit_code == 1);
    CHECK(unknown_instance.err.find("nobody") != std::string::npos);
  }

  {
    INFO("after the server stopped, replay reads the same log");
    REQUIRE(server.terminate() == 0);
    CHECK(parse_jsonl(replay(data)) == log);
    CHECK(state_at(data, {"--agent", agent_a}, updated_at)["version"] == "2.0");
  }
}

TEST_CASE("regression: replay --instance showed one organization's agent when two shared the instance id") {
  TempDir dir;
  const std::string data = dir.file("data");
  MusterServer server(data);
  std::map<std::string, std::string> agent_of_org;
  for (const std::string org : {"acme", "globex"}) {
    const HttpAnswer token =
        server.post("/api/v1/enrollment-tokens", json{{"name", "rollout"}, {"org", org}}.dump());
    REQUIRE(token.status == 201);
    const HttpAnswer registered =
        server.send("POST", "/api/v1/agents/register", registration_body("host-1", {{"version", org}}).dump(),
                    {{"Authorization", "Bearer " + token.json.at("token").get<std::string>()},
                     {"Content-Type", "application/json"}});
    REQUIRE(registered.status == 201);
    agent_of_org[org] = registered.json.at("agent_id");
  }
  const std::string solo = register_agent(server, "host-2").agent_id;

  for (const std::vector<std::string>& extra :
       std::vector<std::vector<std::string>>{{}, {"--format", "table"}, {"--at", format_rfc3339(now_ms() + 60'000)}}) {
    std::vector<std::string> args = {"--instance", "host-1"};
    args.insert(args.end(), extra.begin(), extra.end());
    const CommandResult ambiguous = replay(data, args);
    INFO(fmt::format("{}", fmt::join(args, " ")) << " -> " << ambiguous.exit_code << " " << ambiguous.err);
    CHECK(ambiguous.exit_code == 1);
    CHECK(ambiguous.out.empty());
    for (const auto& [org, agent_id] : agent_of_org) {
      CHECK(ambiguous.err.find(org) != std::string::npos);
      CHECK(ambiguous.err.find(agent_id) != std::string::npos);
    }
    CHECK(ambiguous.err.find("--org") != std::string::npos);
  }
  for (const auto& entry : agent_of_org) {
    const auto& org = entry.first;
    const auto& agent_id = entry.second;
    CAPTURE(org);
    CHECK(parse_jsonl(replay(data, {"--instance", "host-1", "--org", org})) == stream_events(server, agent_id));
    CHECK(state_at(data, {"--instance", "host-1", "--org", org}, format_rfc3339(now_ms() + 60'000))["version"] ==
          org);
  }
  CHECK(parse_jsonl(replay(data, {"--instance", "host-2"})) == stream_events(server, solo));
  CHECK(parse_jsonl(replay(data, {"--instance", "host-2", "--org", "default"})) == stream_events(server, solo));
  const CommandResult elsewhere = replay(data, {"--instance", "host-2", "--org", "acme"});
  CHECK(elsewhere.exit_code == 1);
  CHECK(elsewhere.err.find("acme") != std::string::npos);
  CHECK(replay(data, {"--org", "acme"}).exit_code == 2);
  CHECK(replay(data, {"--instance", "host-1", "--org", "a b"}).exit_code == 2);
}

TEST_CASE("regression: replay --format table printed a hostile hostname's U+202E and U+2028 raw") {
  TempDir dir;
  const std::string data = dir.file("data");
  MusterServer server(data);
  // Validation refuses C0, C1 and DEL; these two are printable Unicode it lets through.
  const std::string hostname = "evil\xe2\x80\xaegnp.exe\xe2\x80\xa8   99  forged line";
  const std::string agent_id = register_agent(server, "hostile", {{"hostname", hostname}}).agent_id;

  const CommandResult table = replay(data, {"--format", "table", "--agent", agent_id});
  REQUIRE(table.exit_code == 0);
  CHECK(table.out.find("\xe2\x80\xae") == std::string::npos);
  CHECK(table.out.find("\xe2\x80\xa8") == std::string::npos);
  CHECK(table.out.find("evil\\u202egnp.exe\\u2028   99  forged line") != std::string::npos);
  CHECK(lines_of(table.out).size() == 1 + kNewAgentEvents);

  const CommandResult state =
      replay(data, {"--agent", agent_id, "--at", format_rfc3339(now_ms() + 60'000)});
  REQUIRE(state.exit_code == 0);
  CHECK(state.out.find("\xe2\x80") == std::string::npos);
  CHECK(json::parse(state.out).at("hostname") == hostname);
}


TEST_CASE("replay: a scan of the whole log shows how far it got with --progress, and only then off a terminal") {
  TempDir dir;
  const std::string data = dir.file("data");
  std::uint64_t head = 0;
  {
    MusterServer server(data);
    register_many(server, 20, "progress-", json::object());
    head = log_position(server);
    REQUIRE(server.terminate() == 0);
  }
  const CommandResult shown = replay(data, {"--type", "AgentRegistered", "--progress"});
  REQUIRE(shown.exit_code == 0);
  CHECK(lines_of(shown.out).size() == 20);
  // The last state of the line: every event of the log scanned.
  CHECK(shown.err.find(fmt::format("replay: {} of {} events (100%)\n", head, head)) != std::string::npos);
  // Without the flag and with stderr not a terminal, nothing but the events.
  const CommandResult quiet = replay(data, {"--type", "AgentRegistered"});
  REQUIRE(quiet.exit_code == 0);
  CHECK(quiet.err.empty());
  CHECK(quiet.out == shown.out);
}

}  // namespace muster::e2e
