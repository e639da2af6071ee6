#include <doctest/doctest.h>

#include "http/json_views.hpp"

#include "common/time_format.hpp"

using namespace muster;
using namespace muster::http;

namespace {

Event event_with(std::string stream, std::string data, std::string meta, TimeMs time_ms) {
  return Event{42, std::move(stream), 7, "AgentRegistered", time_ms, 1, std::move(data), std::move(meta)};
}

// What replay's fast path must print: the same line as the JSON value.
std::string reference_line(const Event& event) {
  return event_to_json(event).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace

TEST_CASE("replay's event lines equal the event's JSON, byte for byte") {
  const std::vector<Event> events = {
      event_with("77a90abc-0a01-4beb-a06a-3270591bc0d3", R"({"a":1,"b":{"c":[1,"x"]}})",
                 R"({"principal":"key:1","source":"127.0.0.1"})", 1'795'000'000'123),
      // The same second again (the cached time) and a later one.
      event_with("s", "{}", "{}", 1'795'000'000'999),
      event_with("s", "{}", "{}", 1'795'000'001'000),
      // Before 1970: the millisecond part still counts forward from the second.
      event_with("s", "{}", "{}", -1),
      // Strings JSON must escape, and data that is not a stored object.
      event_with("quote\"back\\slash\x01", R"({"k":"v"})", "{}", 0),
      event_with("s", "not json", "[1,2]", 5),
      event_with("s", "{\"broken\"", "", 5),
      event_with("s", "{\"raw\ncontrol\"}", "{}", 5),
      event_with("caf\xc3\xa9 \xff", "{}", "{}", 5),
  };
  for (const Event& event : events) {
    std::string line;
    append_event_jsonl(line, view_of(event));
    CHECK(line == reference_line(event));
  }
}

namespace {

// The agent as a JSON value built the slow way: the fold's to_json, what the
// config model says of it, the last-seen time and the health block, through nlohmann.
nlohmann::json reference_agent(const AgentView& agent, TimeMs now_ms, const HealthThresholds& thresholds,
                               bool with_health) {
  nlohmann::json out = to_json(agent.state);
  out["config_version"] = agent.config_version;
  out["config_hash"] = agent.config_hash;
  out["config_status"] = agent.config_status;
  out["last_seen"] = format_rfc3339(agent.last_seen_ms);
  if (with_health) {
    const AgentHealth health = assess_health(agent.state, agent.last_seen_ms, now_ms, thresholds);
    out["health"] = {{"last_seen", format_rfc3339(agent.last_seen_ms)},
                     {"seconds_since_last_seen", health.silent_ms / 1000},
                     {"uptime_seconds", health.uptime_ms / 1000},
                     {"health", health.health},
                     {"health_score", health.score},
                     {"metrics", agent.metrics}};
  }
  return out;
}

}  // namespace

TEST_CASE("an agent written directly equals its JSON value, byte for byte") {
  AgentView plain;
  plain.state = fresh_agent_state(*AgentId::parse("77a90abc-0a01-4beb-a06a-3270591bc0d3"));
  plain.state.status = AgentStatus::online;
  plain.state.instance_id = "i-1";
  plain.last_seen_ms = 1'795'000'000'123;
  AgentView busy = plain;
  busy.state.status = AgentStatus::degraded;
  busy.state.org = InternedString::of("acme");
  busy.state.profile.name = "caf\xc3\xa9 \"quoted\" back\\slash \x01";
  busy.state.profile.hostname = "h.example";
  busy.state.profile.version = InternedString::of("1.2.3");
  busy.state.profile.type = InternedString::of("otel");
  busy.state.profile.capabilities = InternedStrings::of({"metrics", "logs"});
  busy.state.profile.labels = InternedLabels::of({{"env", "prod"}, {"zone", "a\tb"}});
  busy.state.version = 12;
  busy.state.last_position = 9'000'000'000;
  busy.state.registered_at_ms = 1'795'000'000'000;
  busy.state.online_since_ms = 1'795'000'000'000;
  busy.metrics = {{"cpu", 0.82}, {"queue_len", 1200}};
  busy.config_version = 4'000'000'001;
  busy.config_hash = std::string(64, 'e');
  busy.config_status = "drifted";
  AgentView offline = busy;
  offline.state.status = AgentStatus::offline;
  offline.metrics.clear();
  const HealthThresholds thresholds;
  for (const AgentView* agent : {&plain, &busy, &offline}) {
    for (const bool with_health : {false, true}) {
      for (const TimeMs now : {agent->last_seen_ms, agent->last_seen_ms + 100'000, agent->last_seen_ms + 900'000}) {
        std::string written;
        append_agent_json(written, *agent, now, thresholds, with_health);
        CHECK(written == reference_agent(*agent, now, thresholds, with_health)
                             .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
      }
    }
  }
}
