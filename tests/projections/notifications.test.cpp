// The notifications' read model: channels, maintenance windows, the
// outbox's notifications and the alerts they tell about, folded with their
// own apply; pending notifications and those of an alert found; a refused
// event changes nothing; a snapshot plus the log's tail gives back what the
// whole fold built.

#include "projections/notifications.hpp"

#include <doctest/doctest.h>

#include <map>

#include "eventstore/memory_storage.hpp"

using namespace muster;

namespace {

struct NotificationLog {
  std::uint64_t position = 0;
  std::map<std::string, std::uint64_t> versions;
  std::vector<Event> events;

  template <class Variant>
  void append(const std::string& stream, const Variant& payload) {
    const NewEvent encoded = encode_payload(payload);
    events.push_back(Event{++position, stream, ++versions[stream], encoded.type,
                           static_cast<TimeMs>(1000 + position), encoded.schema_version, encoded.data, "{}"});
  }
};

NotificationQueued queued(const std::string& id, const std::string& alert_id) {
  NotificationQueued event;
  event.notification_id = id;
  event.org = "acme";
  event.channel_id = "c1";
  event.rule_id = "r1";
  event.rule_name = "offline";
  event.severity = "critical";
  event.alerts = {NotifiedAlert{alert_id, 1, "agent", "host", "gone", 10, 0}};
  event.retry_until_ms = 1'000'000;
  return event;
}

NotificationLog sample_log() {
  NotificationLog log;
  ChannelSettings settings;
  settings.name = "hook";
  settings.url = "http://127.0.0.1:9/x";
  log.append(channel_stream("acme", "c1"),
             NotificationChannelEvent{NotificationChannelCreated{"c1", "acme", settings, "key:k"}});
  log.append(channel_stream("acme", "c2"),
             NotificationChannelEvent{NotificationChannelCreated{"c2", "acme", settings, "key:k"}});
  log.append(maintenance_window_stream("acme", "w1"),
             MaintenanceWindowEvent{
                 MaintenanceWindowCreated{"w1", "acme", nlohmann::json::object(), 100, 5000, "x", "k"}});
  AlertFired fired;
  fired.alert_id = "r1.agent.host";
  fired.org = "acme";
  fired.rule_id = "r1";
  fired.rule_name = "offline";
  fired.subject = AlertSubject{AlertSubjectKind::agent, "host"};
  fired.fired_at_ms = 10;
  log.append(alert_stream("acme", fired.alert_id), AlertEvent{fired});
  log.append(notification_stream("acme", "n1"), NotificationEvent{queued("n1", fired.alert_id)});
  log.append(notification_stream("acme", "n2"), NotificationEvent{queued("n2", fired.alert_id)});
  log.append(notification_stream("acme", "n1"),
             NotificationEvent{NotificationAttempted{1, false, 500, "500", 3000}});
  log.append(channel_stream("acme", "c2"), NotificationChannelEvent{NotificationChannelDeleted{}});
  log.append(notification_stream("acme", "n1"),
             NotificationEvent{NotificationAttempted{2, true, 200, "", 0}});
  log.append(notification_stream("acme", "n1"), NotificationEvent{NotificationDelivered{2}});
  log.append(maintenance_window_stream("acme", "w1"), MaintenanceWindowEvent{MaintenanceWindowDeleted{}});
  log.append(alert_stream("acme", fired.alert_id),
             AlertEvent{AlertResolved{fired.alert_id, 1, 20, "cleared"}});
  return log;
}

void check_same(const Notifications& left, const Notifications& right) {
  CHECK(left.position() == right.position());
  CHECK(left.channel("acme", "c1") == right.channel("acme", "c1"));
  CHECK(left.channel("acme", "c2") == right.channel("acme", "c2"));
  CHECK(left.window("acme", "w1") == right.window("acme", "w1"));
  CHECK(left.notification("acme", "n1") == right.notification("acme", "n1"));
  CHECK(left.notification("acme", "n2") == right.notification("acme", "n2"));
  CHECK(left.alert("acme", "r1.agent.host") == right.alert("acme", "r1.agent.host"));
  CHECK(left.pending().size() == right.pending().size());
  CHECK(left.of_alert("*", "r1.agent.host").size() == right.of_alert("*", "r1.agent.host").size());
}

}  // namespace

TEST_CASE("the notifications' model folds channels, windows, notifications and alerts") {
  const NotificationLog log = sample_log();
  Notifications model;
  REQUIRE(model.apply(log.events).ok());
  CHECK(model.channels("acme").size() == 1);  // c2 deleted
  CHECK(model.channels("other").empty());
  CHECK(model.channel_by_id("*", "c2")->deleted);
  CHECK(model.windows("*").empty());
  CHECK(model.notification("acme", "n1")->state == NotificationState::delivered);
  CHECK(model.notification("acme", "n1")->recent_attempts.size() == 2);
  REQUIRE(model.pending().size() == 1);
  CHECK(model.pending()[0].notification_id() == "n2");
  CHECK(model.of_alert("acme", "r1.agent.host").size() == 2);
  CHECK(model.of_alert("other", "r1.agent.host").empty());
  CHECK(model.alert("acme", "r1.agent.host")->status == AlertStatus::resolved);
  CHECK(model.told("acme", "r1.agent.host", 1, NotificationKind::firing, 0, true));
  CHECK_FALSE(model.told("acme", "r1.agent.host", 2, NotificationKind::firing, 0, false));
  CHECK_FALSE(model.told("acme", "r1.agent.host", 1, NotificationKind::resolved, 0, false));
  CHECK_FALSE(model.told("other", "r1.agent.host", 1, NotificationKind::firing, 0, false));

  // A refused event (a second NotificationQueued) changes nothing.
  NotificationLog again = log;
  again.append(notification_stream("acme", "n1"), NotificationEvent{queued("n1", "r1.agent.host")});
  CHECK_FALSE(model.apply({again.events.back()}).ok());
  CHECK(model.notification("acme", "n1")->state == NotificationState::delivered);
}

TEST_CASE("a snapshot plus the log's tail gives back the whole fold") {
  const NotificationLog log = sample_log();
  Notifications whole;
  REQUIRE(whole.apply(log.events).ok());
  for (std::size_t cut = 1; cut < log.events.size(); ++cut) {
    CAPTURE(cut);
    auto storage = std::move(*open_memory_storage(StoreOptions{}));
    Notifications first;
    REQUIRE(first.apply(std::vector<Event>(log.events.begin(), log.events.begin() + static_cast<long>(cut)))
                .ok());
    REQUIRE(first.save_snapshot(storage->snapshots()).ok());
    Notifications loaded;
    auto position = loaded.load_snapshot(storage->snapshots(), log.position);
    REQUIRE(position.ok());
    CHECK(*position == cut);
    REQUIRE(
        loaded.apply(std::vector<Event>(log.events.begin() + static_cast<long>(*position), log.events.end()))
            .ok());
    check_same(whole, loaded);
  }
}
