// The alerting read model: rules and alerts folded with their own apply,
// listed and filtered per organization, the firing ones found for the
// evaluator's restart, and a snapshot (plus the log's tail) that gives back
// what the fold built.

#include "projections/alerts.hpp"

#include <doctest/doctest.h>

#include <map>

#include "eventstore/memory_storage.hpp"

using namespace muster;

namespace {

struct AlertingLog {
  std::uint64_t position = 0;
  std::map<std::string, std::uint64_t> versions;
  std::vector<Event> events;

  template <class Variant>
  void append(const std::string& stream, const Variant& payload) {
    const NewEvent encoded = encode_payload(payload);
    events.push_back(Event{++position, stream, ++versions[stream], encoded.type, static_cast<TimeMs>(1000 + position),
                           encoded.schema_version, encoded.data, "{}"});
  }
  void rule(const std::string& org, const std::string& id, AlertSeverity severity) {
    auto spec = parse_alert_rule({{"name", "rule " + id}, {"kind", "absence"}});
    REQUIRE(spec.ok());
    spec->severity = severity;
    append(alert_rule_stream(org, id), AlertRuleEvent{AlertRuleCreated{id, org, *spec, "key:k"}});
  }
  std::string fire(const std::string& org, const std::string& rule_id, const std::string& group,
                   AlertSeverity severity, std::uint64_t episode = 1) {
    AlertFired fired;
    fired.subject = AlertSubject{AlertSubjectKind::group, group};
    fired.alert_id = alert_id_for(rule_id, fired.subject);
    fired.org = org;
    fired.rule_id = rule_id;
    fired.rule_name = "rule " + rule_id;
    fired.episode = episode;
    fired.severity = severity;
    fired.fired_at_ms = static_cast<TimeMs>(position * 10);
    append(alert_stream(org, fired.alert_id), AlertEvent{fired});
    return fired.alert_id;
  }
};

}  // namespace

TEST_CASE("the alerting model lists rules and alerts per organization, filtered") {
  AlertingLog log;
  log.rule("acme", "aaaaaaaaaaaaaaaa", AlertSeverity::critical);
  log.rule("globex", "bbbbbbbbbbbbbbbb", AlertSeverity::info);
  const std::string web = log.fire("acme", "aaaaaaaaaaaaaaaa", "web", AlertSeverity::critical);
  const std::string db = log.fire("acme", "aaaaaaaaaaaaaaaa", "db", AlertSeverity::critical);
  log.fire("globex", "bbbbbbbbbbbbbbbb", "web", AlertSeverity::info);
  log.append(alert_stream("acme", db), AlertEvent{AlertResolved{db, 1, 5000, "condition cleared"}});
  log.append(alert_rule_stream("globex", "bbbbbbbbbbbbbbbb"), AlertRuleEvent{AlertRuleDeleted{"key:k"}});
  Alerts model;
  REQUIRE(model.apply(log.events).ok());
  CHECK(model.rules("acme").size() == 1);
  CHECK(model.rules("*").size() == 1);  // globex's was deleted
  CHECK(model.find_rule("bbbbbbbbbbbbbbbb")->deleted);
  CHECK(model.alerts("acme", {}, 10).size() == 2);
  AlertFilter firing;
  firing.status = AlertStatus::firing;
  const auto firing_acme = model.alerts("acme", firing, 10);
  REQUIRE(firing_acme.size() == 1);
  CHECK(firing_acme[0].alert_id == web);
  AlertFilter info;
  info.severity = AlertSeverity::info;
  CHECK(model.alerts("*", info, 10).size() == 1);
  CHECK(model.alerts("acme", info, 10).empty());
  CHECK(model.firing().size() == 2);
  // A corrupt event (episode 3 of an alert at 1) is refused, the rest folded.
  AlertingLog bad = log;
  bad.fire("acme", "aaaaaaaaaaaaaaaa", "web", AlertSeverity::critical, 3);
  Alerts refused;
  CHECK_FALSE(refused.apply(bad.events).ok());
  CHECK(refused.find_alert(web)->episode == 1);
}

TEST_CASE("the alerting model's snapshot plus the log's tail is the whole fold") {
  AlertingLog log;
  log.rule("acme", "aaaaaaaaaaaaaaaa", AlertSeverity::warning);
  const std::string web = log.fire("acme", "aaaaaaaaaaaaaaaa", "web", AlertSeverity::warning);
  Alerts live;
  REQUIRE(live.apply(log.events).ok());
  auto storage = std::move(*open_memory_storage(StoreOptions{}));
  REQUIRE(live.save_snapshot(storage->snapshots()).ok());

  Alerts loaded;
  const auto position = loaded.load_snapshot(storage->snapshots(), log.position);
  REQUIRE(position.ok());
  CHECK(*position == log.position);
  log.append(alert_stream("acme", web), AlertEvent{AlertAcknowledged{web, 1, "key:k", 6000, "mine"}});
  log.append(alert_rule_stream("acme", "aaaaaaaaaaaaaaaa"), AlertRuleEvent{AlertRuleDeleted{"key:k"}});
  REQUIRE(live.apply(log.events).ok());
  REQUIRE(loaded.apply(log.events).ok());
  CHECK(*loaded.find_alert(web) == *live.find_alert(web));
  CHECK(*loaded.find_rule("aaaaaaaaaaaaaaaa") == *live.find_rule("aaaaaaaaaaaaaaaa"));
  CHECK(loaded.position() == live.position());

  Alerts ahead;
  const auto dropped = ahead.load_snapshot(storage->snapshots(), 1);
  REQUIRE(dropped.ok());
  CHECK(*dropped == 0);
}
