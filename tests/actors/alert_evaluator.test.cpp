// The alert evaluator driven directly: thresholds with `for`, absence from
// the last seen, composites, fleet shares counted from status events,
// rules changed or deleted, and the rule parser's refusals.

#include <doctest/doctest.h>

#include "actors/agent/agent_events.hpp"
#include "actors/alert/alert_decider.hpp"
#include "actors/alert/alert_evaluator.hpp"
#include "actors/group/group_state.hpp"
#include "actors/rollout/rollout_state.hpp"
#include "projections/config_model.hpp"

using namespace muster;
using nlohmann::json;

namespace {

AgentId agent(int n) {
  return *AgentId::parse(fmt::format("3f6c9a1e-8d2b-4c1f-9e7a-{:012d}", n));
}

AlertRule rule_of(const std::string& rule_id, const json& body) {
  auto spec = parse_alert_rule(body);
  REQUIRE_MESSAGE(spec.ok(), (spec.ok() ? "" : spec.error().field + ": " + spec.error().message));
  AlertRule rule;
  rule.rule_id = rule_id;
  rule.org = "acme";
  rule.spec = *spec;
  rule.version = 1;
  return rule;
}

// Agent events as the log holds them.
struct Feed {
  std::uint64_t position = 0;
  std::map<std::string, std::uint64_t> versions;
  template <class Payload>
  Event event(const AgentId& id, const Payload& payload, TimeMs time_ms) {
    const NewEvent encoded = encode_payload(AgentEvent{payload});
    const std::string stream = "agent:" + id.to_string();
    return Event{++position, stream, ++versions[stream], encoded.type, time_ms, encoded.schema_version, encoded.data,
                 "{}"};
  }
  Event registered(const AgentId& id, std::map<std::string, std::string> labels = {}) {
    AgentProfile profile;
    profile.labels = InternedLabels::of(labels);
    return event(id, AgentRegistered{id, id.to_string(), InternedString::of("acme"), profile}, 0);
  }
};

std::vector<std::string> kinds(const std::vector<AlertTransition>& transitions) {
  std::vector<std::string> out;
  for (const AlertTransition& transition : transitions) {
    out.push_back((transition.kind == AlertTransition::Kind::fire ? "fire " : "resolve ") + transition.subject.id);
  }
  return out;
}

using Kinds = std::vector<std::string>;

}  // namespace

SCENARIO("a threshold on an average fires after holding for `for`, and resolves when it clears") {
  AlertEvaluator evaluator(nullptr);
  Feed feed;
  const AgentId web = agent(1);
  REQUIRE(evaluator.on_batch({feed.registered(web)}, 0).empty());
  REQUIRE(evaluator
              .set_rules({rule_of("r1", {{"name", "cpu high"}, {"kind", "threshold"},
                                         {"condition", {{"metric", "cpu"}, {"fn", "avg"}, {"window", "1m"},
                                                        {"op", ">"}, {"value", 90}}},
                                         {"for", "2m"}})},
                         0)
              .empty());
  TimeMs now = 100'000;
  CHECK(evaluator.on_metrics(web, "acme", now, {{"cpu", 95}, {"mem", 1}}).empty());
  CHECK(evaluator.pending("acme").size() == 1);
  std::vector<AlertTransition> fired;
  for (int step = 0; step < 12 && fired.empty(); ++step) {
    now += 10'000;
    fired = evaluator.on_metrics(web, "acme", now, {{"cpu", 96}});
  }
  REQUIRE(kinds(fired) == Kinds{"fire " + web.to_string()});
  CHECK(now == 220'000);
  CHECK(fired[0].pending_since_ms == 100'000);
  CHECK(fired[0].details["threshold"] == 90);
  CHECK(evaluator.pending("acme").empty());
  // Others' metrics, and metrics no rule names, change nothing.
  CHECK(evaluator.on_metrics(agent(2), "acme", now, {{"disk", 1}}).empty());
  CHECK(evaluator.on_metrics(agent(3), "other", now, {{"cpu", 99}}).empty());
  // The average falls below as low samples fill the window.
  std::vector<AlertTransition> resolved;
  for (int step = 0; step < 20 && resolved.empty(); ++step) {
    now += 10'000;
    resolved = evaluator.on_metrics(web, "acme", now, {{"cpu", 10}});
  }
  CHECK(kinds(resolved) == Kinds{"resolve " + web.to_string()});
  CHECK(evaluator.state_bytes() > 0);
}

SCENARIO("max over a window: one high sample holds it for the window - the pass lets it lapse") {
  AlertEvaluator evaluator(nullptr);
  const AgentId web = agent(1);
  REQUIRE(evaluator
              .set_rules({rule_of("r1", {{"name", "spike"}, {"kind", "threshold"},
                                         {"condition", {{"metric", "latency"}, {"fn", "max"}, {"window", "5m"},
                                                        {"op", ">="}, {"value", 500}}}})},
                         0)
              .empty());
  CHECK(kinds(evaluator.on_metrics(web, "acme", 1000, {{"latency", 700}})) == Kinds{"fire " + web.to_string()});
  CHECK(evaluator.on_metrics(web, "acme", 2000, {{"latency", 10}}).empty());
  CHECK(evaluator.tick(1000 + 299'999).empty());
  CHECK(kinds(evaluator.tick(1000 + 300'000)) == Kinds{"resolve " + web.to_string()});
}

SCENARIO("absence fires `for` after the agent's last seen, and resolves when it is back") {
  AlertEvaluator evaluator(nullptr);
  Feed feed;
  const AgentId web = agent(1);
  REQUIRE(evaluator.on_batch({feed.registered(web)}, 0).empty());
  REQUIRE(evaluator.set_rules({rule_of("r1", {{"name", "gone"}, {"kind", "absence"}, {"for", "5m"}})}, 0).empty());
  // Declared offline 2 minutes after its last heartbeat at 10 s.
  CHECK(evaluator.on_batch({feed.event(web, AgentWentOffline{10'000, 120'000}, 130'000)}, 130'000).empty());
  CHECK(evaluator.pending("*").size() == 1);
  CHECK(evaluator.tick(309'999).empty());
  const auto fired = evaluator.tick(310'000);
  REQUIRE(kinds(fired) == Kinds{"fire " + web.to_string()});
  CHECK(fired[0].pending_since_ms == 10'000);
  CHECK(kinds(evaluator.on_batch({feed.event(web, AgentCameOnline{AgentStatus::online}, 400'000)}, 400'000)) ==
        Kinds{"resolve " + web.to_string()});
}

SCENARIO("a composite needs all its parts on the same agent") {
  AlertEvaluator evaluator(nullptr);
  Feed feed;
  const AgentId web = agent(1);
  REQUIRE(evaluator.on_batch({feed.registered(web, {{"role", "web"}})}, 0).empty());
  REQUIRE(evaluator
              .set_rules({rule_of("r1", {{"name", "sick web"},
                                         {"kind", "composite"},
                                         {"scope", {{"labels", {{"role", "web"}}}}},
                                         {"condition",
                                          {{"all",
                                            {{{"kind", "status"}, {"agent_status", "degraded"}},
                                             {{"kind", "threshold"}, {"metric", "errors"}, {"fn", "last"},
                                              {"op", ">"}, {"value", 5}}}}}}})},
                         0)
              .empty());
  CHECK(evaluator.on_metrics(web, "acme", 1000, {{"errors", 9}}).empty());
  const auto fired = evaluator.on_batch(
      {feed.event(web, AgentStatusChanged{AgentStatus::online, AgentStatus::degraded}, 2000)}, 2000);
  REQUIRE(kinds(fired) == Kinds{"fire " + web.to_string()});
  CHECK(fired[0].details["parts"].size() == 2);
  CHECK(kinds(evaluator.on_metrics(web, "acme", 3000, {{"errors", 0}})) == Kinds{"resolve " + web.to_string()});
  // Out of scope: another label.
  const AgentId db = agent(2);
  REQUIRE(evaluator.on_batch({feed.registered(db, {{"role", "db"}})}, 0).empty());
  CHECK(evaluator.on_batch({feed.event(db, AgentStatusChanged{AgentStatus::online, AgentStatus::degraded}, 4000)},
                           4000)
            .empty());
  CHECK(evaluator.on_metrics(db, "acme", 4000, {{"errors", 50}}).empty());
}

SCENARIO("a fleet share counts status events and fires for the org above its share") {
  AlertEvaluator evaluator(nullptr);
  Feed feed;
  std::vector<Event> registrations;
  for (int n = 0; n < 10; ++n) registrations.push_back(feed.registered(agent(n)));
  REQUIRE(evaluator.on_batch(registrations, 0).empty());
  REQUIRE(evaluator
              .set_rules({rule_of("f1", {{"name", "mass offline"}, {"kind", "fleet"},
                                         {"condition", {{"condition", "offline"}, {"share_percent", 20}}}})},
                         0)
              .empty());
  CHECK(evaluator.on_batch({feed.event(agent(0), AgentWentOffline{1, 1}, 1000),
                            feed.event(agent(1), AgentWentOffline{1, 1}, 1000)},
                           1000)
            .empty());  // 20%: not above
  const auto fired = evaluator.on_batch({feed.event(agent(2), AgentWentOffline{1, 1}, 2000)}, 2000);
  REQUIRE(kinds(fired) == Kinds{"fire acme"});
  CHECK(fired[0].subject.kind == AlertSubjectKind::org);
  CHECK(fired[0].details["in_condition"] == 3);
  CHECK(fired[0].details["agents"] == 10);
  // The rule test sees it too.
  CHECK(evaluator.evaluate_now(rule_of("f1", {{"name", "x"}, {"kind", "fleet"},
                                              {"condition", {{"condition", "offline"}, {"share_percent", 20}}}}),
                               2000)
            .size() == 1);
  CHECK(kinds(evaluator.on_batch({feed.event(agent(2), AgentCameOnline{AgentStatus::online}, 3000)}, 3000)) ==
        Kinds{"resolve acme"});
}

TEST_CASE("a rule deleted or changed resolves its alerts") {
  AlertEvaluator evaluator(nullptr);
  const AlertRule rule = rule_of("r1", {{"name", "x"}, {"kind", "threshold"},
                                        {"condition", {{"metric", "cpu"}, {"fn", "last"}, {"op", ">"}, {"value", 1}}}});
  REQUIRE(evaluator.set_rules({rule}, 0).empty());
  REQUIRE(evaluator.on_metrics(agent(1), "acme", 10, {{"cpu", 5}}).size() == 1);
  CHECK(evaluator.set_rules({rule}, 20).empty());  // the same rule: nothing
  const auto resolved = evaluator.set_rules({}, 30);
  REQUIRE(resolved.size() == 1);
  CHECK(resolved[0].reason == "rule deleted");
}

TEST_CASE("bad rules are refused naming the field") {
  const auto field = [](const json& body) {
    auto parsed = parse_alert_rule(body);
    REQUIRE_FALSE(parsed.ok());
    return parsed.error().field;
  };
  const json threshold = {{"name", "x"}, {"kind", "threshold"},
                          {"condition", {{"metric", "cpu"}, {"op", ">"}, {"value", 1}}}};
  CHECK(parse_alert_rule(threshold).ok());
  auto bad = threshold;
  bad["kind"] = "vibes";
  CHECK(field(bad) == "kind");
  bad = threshold;
  bad["condition"]["op"] = "=>";
  CHECK(field(bad) == "condition.op");
  bad = threshold;
  bad["condition"]["window"] = "5 minutes";
  CHECK(field(bad) == "condition.window");
  bad = threshold;
  bad["severity"] = "apocalyptic";
  CHECK(field(bad) == "severity");
  bad = threshold;
  bad["for"] = "-1m";
  CHECK(field(bad) == "for");
  bad = threshold;
  bad["escalation"] = {{{"after", "soon"}, {"channels", {"pager"}}}};
  CHECK(field(bad) == "escalation[0].after");
  bad = threshold;
  bad["channels"] = {"bad channel"};
  CHECK(field(bad) == "channels");
  bad = threshold;
  bad.erase("name");
  CHECK(field(bad) == "name");
  bad = threshold;
  bad["scope"] = {{"group", "Not A Group"}};
  CHECK(field(bad) == "scope.group");
  CHECK(field({{"name", "x"}, {"kind", "fleet"}, {"condition", {{"condition", "offline"}, {"share_percent", 0}}}}) ==
        "condition.share_percent");
  CHECK(field({{"name", "x"}, {"kind", "composite"}, {"condition", {{"all", {{{"kind", "fleet"}}}}}}}) ==
        "condition.all[0].kind");
  CHECK(field({{"name", "x"}, {"kind", "status"}, {"condition", {{"config_status", "sad"}}}}) ==
        "condition.config_status");
  // Unknown metric names are fine; the normalized form reads back the same.
  const auto spec = parse_alert_rule(threshold);
  const auto again = parse_alert_rule(spec->to_json());
  REQUIRE(again.ok());
  CHECK(*again == *spec);
  CHECK(spec->to_json()["group_wait"] == "30s");
}

TEST_CASE("the rule's and the alert's decisions") {
  AlertRule rule;
  CHECK(decide_alert_rule(rule, UpdateAlertRule{}).error().reason == kAlertRuleNotFound);
  AlertRecord record = AlertAggregate::initial_state("acme/r1.org");
  CHECK(record.alert_id == "r1.org");
  CHECK(decide_alert(record, AcknowledgeAlert{"key:k", ""}, 5).error().reason == kAlertNotFound);
  CHECK(decide_alert(record, ResolveAlert{"x"}, 5)->empty());
  AlertFired fired;
  fired.alert_id = "r1.org";
  fired.org = "acme";
  fired.subject = AlertSubject{AlertSubjectKind::org, "acme"};
  auto decided = decide_alert(record, FireAlert{fired}, 5);
  REQUIRE(decided->size() == 1);
  CHECK(std::get<AlertFired>(decided->front()).episode == 1);
}

SCENARIO("a report holds its condition for the window after it - a paused rollout fires for the org") {
  AlertEvaluator evaluator(nullptr);
  Feed feed;
  const AgentId web = agent(1);
  REQUIRE(evaluator.on_batch({feed.registered(web)}, 0).empty());
  REQUIRE(evaluator
              .set_rules({rule_of("r1", {{"name", "crashes"}, {"kind", "status"},
                                         {"condition", {{"report_type", "crash"}, {"window", "10m"}}}}),
                          rule_of("r2", {{"name", "stuck rollouts"}, {"kind", "status"},
                                         {"condition", {{"rollout", "paused"}}}, {"for", "1m"}})},
                         0)
              .empty());
  CHECK(evaluator.on_batch({feed.event(web, AgentReported{"disk", 1, nlohmann::json::object()}, 1000)}, 1000).empty());
  const auto fired =
      evaluator.on_batch({feed.event(web, AgentReported{"crash", 1, nlohmann::json::object()}, 2000)}, 2000);
  REQUIRE(kinds(fired) == Kinds{"fire " + web.to_string()});
  CHECK(evaluator.tick(2000 + 599'999).empty());
  CHECK(kinds(evaluator.tick(2000 + 600'000)) == Kinds{"resolve " + web.to_string()});

  // A rollout of the org paused: pending, then firing after `for`; resumed: resolved.
  const auto rollout_event = [&](const RolloutEvent& payload, TimeMs at) {
    const NewEvent encoded = encode_payload(payload);
    return Event{++feed.position, "rollout:acme/0123456789abcdef", ++feed.versions["rollout"], encoded.type, at,
                 encoded.schema_version, encoded.data, "{}"};
  };
  RolloutCreated created;
  created.rollout_id = "0123456789abcdef";
  created.org = "acme";
  created.target.group = "web";
  CHECK(evaluator.on_batch({rollout_event(created, 700'000), rollout_event(RolloutPaused{"gate", "failed", {}}, 700'000)},
                           700'000)
            .empty());
  CHECK(evaluator.pending("acme").size() == 1);
  const auto paused = evaluator.tick(760'000);
  REQUIRE(kinds(paused) == Kinds{"fire acme"});
  CHECK(paused[0].details["rollouts"] == nlohmann::json{"0123456789abcdef"});
  CHECK(kinds(evaluator.on_batch({rollout_event(RolloutResumed{}, 800'000)}, 800'000)) == Kinds{"resolve acme"});
}

TEST_CASE("a deregistered agent's alerts resolve, and it counts no more") {
  AlertEvaluator evaluator(nullptr);
  Feed feed;
  const AgentId web = agent(1);
  REQUIRE(evaluator.on_batch({feed.registered(web)}, 0).empty());
  REQUIRE(evaluator.set_rules({rule_of("r1", {{"name", "degraded"}, {"kind", "status"},
                                              {"condition", {{"agent_status", "degraded"}}}})},
                              0)
              .empty());
  REQUIRE(evaluator.on_batch({feed.event(web, AgentStatusChanged{AgentStatus::online, AgentStatus::degraded}, 10)}, 10)
              .size() == 1);
  const auto resolved = evaluator.on_batch({feed.event(web, AgentDeregistered{}, 20)}, 20);
  REQUIRE(resolved.size() == 1);
  CHECK(resolved[0].reason == "agent removed");
  CHECK(evaluator.tick(30).empty());
}

SCENARIO("a group's change brings agents into a group-scoped rule, and takes them out") {
  ConfigModel config;
  AlertEvaluator evaluator(&config);
  Feed feed;
  const AgentId web = agent(1);
  const auto fold = [&](std::vector<Event> batch, TimeMs now) {
    REQUIRE(config.apply(batch).ok());
    return evaluator.on_batch(batch, now);
  };
  const auto group_event = [&](const GroupEvent& payload) {
    const NewEvent encoded = encode_payload(payload);
    return Event{++feed.position, "group:acme/web", ++feed.versions["group:acme/web"], encoded.type, 1,
                 encoded.schema_version, encoded.data, "{}"};
  };
  REQUIRE(fold({feed.registered(web, {{"role", "web"}})}, 0).empty());
  REQUIRE(evaluator.set_rules({rule_of("r1", {{"name", "web gone"}, {"kind", "absence"}, {"for", "1m"},
                                              {"scope", {{"group", "web"}}}})},
                              0)
              .empty());
  // Offline while no group "web" exists: out of scope.
  CHECK(fold({feed.event(web, AgentWentOffline{1000, 120'000}, 121'000)}, 121'000).empty());
  CHECK(kinds(fold({group_event(GroupCreated{"acme", "web", {{"role", "web"}}, 0, ""})}, 130'000)) ==
        Kinds{"fire " + web.to_string()});
  CHECK(kinds(fold({group_event(GroupDeleted{})}, 140'000)) == Kinds{"resolve " + web.to_string()});
}
