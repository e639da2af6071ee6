// Alerts: an alert's episodes stored as the log stores them and folded
// back, what each event changes, the refusals of the fold, and the
// snapshot codec.

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "actors/alert/alert_state.hpp"

using namespace muster;

namespace {

const std::string kRule = "0123456789abcdef";
const AlertSubject kSubject{AlertSubjectKind::agent, "3f6c9a1e-8d2b-4c1f-9e7a-0b5d4c3a2f10"};
const std::string kAlert = alert_id_for(kRule, kSubject);

// An alert's log: events stored as the store would (JSON, position, version, time) and folded back.
struct AlertLog {
  AlertRecord record;
  std::uint64_t position = 10;
  std::vector<Event> events;

  Status append(const AlertEvent& payload, TimeMs time_ms, std::string stream = alert_stream("acme", kAlert)) {
    const NewEvent proposed = encode_payload(payload);
    Event event{++position,   std::move(stream), record.version + 1, proposed.type, time_ms, proposed.schema_version,
                proposed.data, "{}"};
    AlertRecord before = record;
    Status folded = apply(record, event);
    if (folded) {
      events.push_back(event);
    } else {
      CHECK(record == before);  // a refused event changes nothing
    }
    return folded;
  }

  AlertRecord refold() const {
    AlertRecord fresh;
    for (const Event& event : events) REQUIRE(apply(fresh, event).ok());
    return fresh;
  }
};

AlertFired fired(std::uint64_t episode, TimeMs at_ms) {
  AlertFired event;
  event.alert_id = kAlert;
  event.org = "acme";
  event.rule_id = kRule;
  event.rule_name = "cpu high";
  event.episode = episode;
  event.subject = kSubject;
  event.severity = AlertSeverity::critical;
  event.summary = "cpu avg 5m 97.5 > 90";
  event.details = {{"value", 97.5}, {"threshold", 90}};
  event.fired_at_ms = at_ms;
  event.pending_since_ms = at_ms - 120'000;
  event.channels = {"ops"};
  event.escalation = {{900'000, {"pager"}}};
  event.group_wait_ms = 30'000;
  return event;
}

}  // namespace

TEST_CASE("the alert id names the rule and the subject, and only text a path takes") {
  CHECK(kAlert == "0123456789abcdef.agent.3f6c9a1e-8d2b-4c1f-9e7a-0b5d4c3a2f10");
  CHECK(alert_id_for(kRule, AlertSubject{AlertSubjectKind::group, "prod-eu"}) == "0123456789abcdef.group.prod-eu");
  CHECK(alert_id_for(kRule, AlertSubject{AlertSubjectKind::org, "acme"}) == "0123456789abcdef.org");
  CHECK(alert_stream("acme", kAlert) == "alert:acme/" + kAlert);
}

SCENARIO("an alert fires, is acknowledged, resolves and fires again as a new episode") {
  AlertLog log;
  REQUIRE(log.append(fired(1, 100'000), 100'000).ok());
  CHECK(log.record.firing());
  CHECK(log.record.episode == 1);
  CHECK(log.record.pending_since_ms == -20'000);
  CHECK(log.record.channels == std::vector<std::string>{"ops"});
  CHECK_FALSE(log.record.acknowledged());

  REQUIRE(log.append(AlertAcknowledged{kAlert, 1, "key:k", 110'000, "on it"}, 110'000).ok());
  CHECK(log.record.acknowledged());
  CHECK(log.record.acknowledged_by == "key:k");
  REQUIRE(log.append(AlertSilenced{kAlert, 1, "key:k", 111'000, 500'000, "deploy"}, 111'000).ok());
  CHECK(log.record.silenced_at(499'999));
  CHECK_FALSE(log.record.silenced_at(500'000));

  REQUIRE(log.append(AlertResolved{kAlert, 1, 200'000, "condition cleared"}, 200'000).ok());
  CHECK_FALSE(log.record.firing());
  CHECK(log.record.status == AlertStatus::resolved);
  CHECK(log.record.resolved_at_ms == 200'000);

  WHEN("it fires again") {
    REQUIRE(log.append(fired(2, 300'000), 300'000).ok());
    THEN("the new episode is unacknowledged, the silence still holds, and a refold gives the same state") {
      CHECK(log.record.firing());
      CHECK(log.record.episode == 2);
      CHECK_FALSE(log.record.acknowledged());
      CHECK(log.record.resolved_at_ms == 0);
      CHECK(log.record.silenced_at(400'000));
      CHECK(log.refold() == log.record);
      const auto decoded = decode_alert(encode_alert(log.record));
      REQUIRE(decoded.ok());
      CHECK(*decoded == log.record);
      const nlohmann::json shown = to_json(log.record, 400'000);
      CHECK(shown["state"] == "firing");
      CHECK(shown["silenced"] == true);
      CHECK(shown["subject"]["kind"] == "agent");
    }
  }
}

TEST_CASE("the fold refuses what cannot happen, and changes nothing then") {
  AlertLog log;
  CHECK_FALSE(log.append(AlertResolved{kAlert, 1, 1, "x"}, 1).ok());  // never fired
  CHECK_FALSE(log.append(fired(2, 1), 1).ok());                        // not the first episode
  CHECK_FALSE(log.append(fired(1, 1), 1, "alert:other/" + kAlert).ok());  // another stream
  REQUIRE(log.append(fired(1, 1000), 1000).ok());
  CHECK_FALSE(log.append(fired(2, 1100), 1100).ok());  // already firing
  CHECK_FALSE(log.append(AlertAcknowledged{kAlert, 2, "key:k", 1, ""}, 1200).ok());          // another episode
  CHECK_FALSE(log.append(AlertAcknowledged{"other", 1, "key:k", 1, ""}, 1200).ok());         // another alert
  REQUIRE(log.append(AlertResolved{kAlert, 1, 1300, "condition cleared"}, 1300).ok());
  CHECK_FALSE(log.append(AlertResolved{kAlert, 1, 1400, "again"}, 1400).ok());               // not firing
  CHECK_FALSE(log.append(AlertAcknowledged{kAlert, 1, "key:k", 1400, ""}, 1400).ok());       // not firing
  CHECK(log.append(AlertSilenced{kAlert, 1, "key:k", 1400, 9000, "flapping"}, 1400).ok());  // a resolved one may be
  CHECK(log.refold() == log.record);
  // Out of version order.
  Event stale = log.events.front();
  AlertRecord copy = log.record;
  CHECK_FALSE(apply(copy, stale).ok());
  CHECK(copy == log.record);
  CHECK_FALSE(decode_alert("{\"alert_id\":1}").ok());
  CHECK_FALSE(decode_alert("not json").ok());
}
