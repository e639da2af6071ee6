// The notifier on the runtime, with a manual clock and a real local HTTP
// receiver, fed alert events appended straight to the log (as the alert
// aggregate writes them): alerts of one rule firing within group_wait go
// out as one notification listing them; a notified alert is told resolved;
// escalation steps go out while unacknowledged, and an acknowledgement
// stops them; silenced alerts and those a maintenance window covers are
// recorded suppressed, not sent; a restart during the wait still sends
// each alert once.

#include <doctest/doctest.h>

#include <chrono>
#include <thread>

#include "actors/agent/agent_decider.hpp"
#include "actors/alert/alert_state.hpp"
#include "actors/notification/notification_service.hpp"
#include "actors/notification/notifier.hpp"
#include "actors/runtime/await.hpp"
#include "eventstore/memory_storage.hpp"
#include "projections/projection_runner.hpp"
#include "tests/actors/append_registration.hpp"
#include "tests/actors/await_limit.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/webhook_receiver.hpp"

using namespace muster;

namespace {

using testing::kWaitMs;
constexpr TimeMs kGroupWaitMs = 30'000;

struct NotifierFixture {
  testing::TempDir dir;
  ManualTimerService timers;
  std::unique_ptr<Storage> storage;
  std::unique_ptr<AgentRegistry> registry;
  std::unique_ptr<ConfigModel> configs;
  std::unique_ptr<Notifications> model;
  std::unique_ptr<ProjectionRunner> projections;
  std::unique_ptr<runtime::Runtime> actors;
  std::unique_ptr<NotificationService> service;
  std::unique_ptr<Notifier> notifier;
  std::map<std::string, std::uint64_t> versions;  ///< Alert stream -> its version.
  int instances = 0;

  NotifierFixture() {
    StoreOptions options;
    options.clock = &timers;
    storage = std::move(*open_memory_storage(options));
    actors = std::make_unique<runtime::Runtime>(timers, runtime::RuntimeOptions{});
    restart();
  }

  ~NotifierFixture() { shut(); }

  void shut() {
    if (notifier) notifier->stop();
    if (service) service->stop();
    if (projections) projections->stop();
  }

  // The read models, service and notifier anew on the same log (a restart).
  void restart() {
    shut();
    notifier.reset();
    service.reset();
    projections.reset();
    model = std::make_unique<Notifications>();
    registry = std::make_unique<AgentRegistry>();
    configs = std::make_unique<ConfigModel>();
    projections = std::make_unique<ProjectionRunner>(
        storage->events(), storage->snapshots(),
        std::vector<ReadModel*>{registry.get(), configs.get(), model.get()}, timers);
    NotificationServiceOptions options;
    options.secrets_directory = dir.path() + "/secrets";
    service = std::make_unique<NotificationService>(
        *actors, storage->events(), *model,
        [this](std::uint64_t position, std::function<void()> then) {
          projections->when_folded(position, std::move(then));
        },
        options);
    notifier = std::make_unique<Notifier>(*service, *model, *registry, *configs, timers);
    projections->observe([this](const std::vector<Event>& batch) { notifier->observe_batch(batch); });
    REQUIRE(projections->start().ok());
    const auto head = storage->events().head_position();
    REQUIRE(head.ok());
    REQUIRE(projections->wait_for_position(*head, std::chrono::seconds(10)));
    REQUIRE(service->start().ok());
    REQUIRE(service->resume().ok());
    REQUIRE(notifier->resume().ok());
  }

  std::string create_webhook(const std::string& url, bool send_resolved = true) {
    ChannelRequest request;
    request.settings.name = "hook";
    request.settings.url = url;
    request.settings.send_resolved = send_resolved;
    request.secret.secret = "k";
    auto created = await_result<NotificationOutcome<NotificationChannel>>(
        [&](auto done) { service->create_channel("acme", request, {}, std::move(done)); }, kWaitMs, "BUSY");
    REQUIRE(created.ok());
    return created->record.channel_id;
  }

  AgentId register_agent() {
    const AgentId id = AgentId::random();
    Registration registration;
    registration.instance_id = "host-" + std::to_string(++instances);
    testing::append_registration(storage->events(), *projections, id, registration, "acme");
    return id;
  }

  void append(const std::string& alert_id, const AlertEvent& event) {
    const std::string stream = alert_stream("acme", alert_id);
    auto appended = storage->events().append(stream, versions[stream], {encode_payload(event)});
    REQUIRE(appended.ok());
    versions[stream] = appended->stream_version;
    REQUIRE(projections->wait_for_position(appended->last_position, std::chrono::seconds(10)));
  }

  AlertFired fired(const std::string& subject, std::vector<std::string> channels, std::uint64_t episode = 1) {
    AlertFired event;
    event.subject = AlertSubject{AlertSubjectKind::agent, subject};
    event.rule_id = "r1";
    event.alert_id = alert_id_for(event.rule_id, event.subject);
    event.org = "acme";
    event.rule_name = "agents offline";
    event.episode = episode;
    event.severity = AlertSeverity::critical;
    event.summary = "offline for 5m";
    event.fired_at_ms = timers.now_ms();
    event.pending_since_ms = timers.now_ms();
    event.channels = std::move(channels);
    event.group_wait_ms = kGroupWaitMs;
    return event;
  }

  void fire(const AlertFired& event) { append(event.alert_id, event); }

  std::vector<NotificationRecord> notifications_of(const std::string& alert_id) {
    return model->of_alert("acme", alert_id);
  }
};

}  // namespace

SCENARIO("alerts of one rule firing within group_wait go out as one notification listing them") {
  NotifierFixture fixture;
  testing::WebhookReceiver receiver("k");
  const std::string channel = fixture.create_webhook(receiver.url());
  std::vector<std::string> alert_ids;
  for (int index = 0; index < 50; ++index) {
    AlertFired event = fixture.fired(AgentId::random().to_string(), {channel});
    alert_ids.push_back(event.alert_id);
    fixture.fire(event);
    if (index == 25) fixture.timers.advance(5'000);  // still within the first one's wait
  }
  CHECK(receiver.requests().empty());
  fixture.timers.advance(kGroupWaitMs);
  REQUIRE(receiver.wait_for(1));
  REQUIRE(testing::eventually([&] { return fixture.service->in_flight() == 0 && fixture.model->pending().empty(); }));
  const auto requests = receiver.requests();
  REQUIRE(requests.size() == 1);
  CHECK(requests[0].signature_ok);
  const auto body = nlohmann::json::parse(requests[0].body);
  CHECK(body["count"] == 50);
  CHECK(body["kind"] == "firing");
  CHECK(fixture.notifications_of(alert_ids[7]).size() == 1);

  WHEN("two of them resolve") {
    for (int index = 0; index < 2; ++index) {
      fixture.append(alert_ids[index],
                     AlertResolved{alert_ids[index], 1, fixture.timers.now_ms(), "condition cleared"});
    }
    fixture.timers.advance(kGroupWaitMs);
    THEN("one resolved notification lists both") {
      REQUIRE(receiver.wait_for(2));
      const auto resolved = nlohmann::json::parse(receiver.requests()[1].body);
      CHECK(resolved["kind"] == "resolved");
      CHECK(resolved["count"] == 2);
    }
  }
}

SCENARIO("escalation steps go out while the alert is unacknowledged - an acknowledgement stops them") {
  NotifierFixture fixture;
  testing::WebhookReceiver first("k");
  testing::WebhookReceiver escalated("k");
  const std::string channel = fixture.create_webhook(first.url());
  const std::string pager = fixture.create_webhook(escalated.url());
  AlertFired unacknowledged = fixture.fired("agent-a", {channel});
  unacknowledged.escalation = {AlertEscalationStep{15 * 60'000, {pager}}};
  AlertFired acknowledged = fixture.fired("agent-b", {channel});
  acknowledged.rule_id = "r2";
  acknowledged.alert_id = alert_id_for("r2", acknowledged.subject);
  acknowledged.escalation = unacknowledged.escalation;
  fixture.fire(unacknowledged);
  fixture.fire(acknowledged);
  fixture.timers.advance(kGroupWaitMs);
  REQUIRE(first.wait_for(2));
  fixture.append(acknowledged.alert_id,
                 AlertAcknowledged{acknowledged.alert_id, 1, "key:k", fixture.timers.now_ms(), "on it"});
  fixture.timers.advance(15 * 60'000 + kGroupWaitMs);
  REQUIRE(escalated.wait_for(1));
  REQUIRE(testing::eventually([&] { return fixture.model->pending().empty(); }));
  const auto requests = escalated.requests();
  REQUIRE(requests.size() == 1);
  const auto body = nlohmann::json::parse(requests[0].body);
  CHECK(body["kind"] == "escalation");
  CHECK(body["alerts"][0]["alert_id"] == unacknowledged.alert_id);
  CHECK(fixture.notifier->waiting() == 0);
}

SCENARIO("silenced alerts and alerts under a maintenance window are recorded suppressed, not sent") {
  NotifierFixture fixture;
  testing::WebhookReceiver receiver("k");
  const std::string channel = fixture.create_webhook(receiver.url());
  const AgentId covered = fixture.register_agent();
  MaintenanceWindowRequest window;
  window.scope = nlohmann::json::object();
  window.starts_at_ms = fixture.timers.now_ms();
  window.ends_at_ms = fixture.timers.now_ms() + 3'600'000;
  window.reason = "upgrade";
  auto created = await_result<NotificationOutcome<MaintenanceWindow>>(
      [&](auto done) { fixture.service->create_window("acme", window, {}, std::move(done)); }, kWaitMs,
      "BUSY");
  REQUIRE(created.ok());
  const AlertFired in_window = fixture.fired(covered.to_string(), {channel});
  AlertFired silenced = fixture.fired("group-x", {channel});
  silenced.subject = AlertSubject{AlertSubjectKind::group, "db"};
  silenced.rule_id = "r3";
  silenced.alert_id = alert_id_for("r3", silenced.subject);
  AlertFired told = fixture.fired("not-registered", {channel});
  told.rule_id = "r4";
  told.alert_id = alert_id_for("r4", told.subject);
  fixture.fire(in_window);
  fixture.fire(silenced);
  fixture.append(silenced.alert_id, AlertSilenced{silenced.alert_id, 1, "key:k", fixture.timers.now_ms(),
                                                  fixture.timers.now_ms() + 3'600'000, "known"});
  fixture.fire(told);
  fixture.timers.advance(kGroupWaitMs);
  REQUIRE(receiver.wait_for(1));
  REQUIRE(testing::eventually([&] {
    return fixture.notifications_of(in_window.alert_id).size() == 1 &&
           fixture.notifications_of(silenced.alert_id).size() == 1 && fixture.model->pending().empty();
  }));
  const NotificationRecord maintenance = fixture.notifications_of(in_window.alert_id).front();
  CHECK(maintenance.state == NotificationState::suppressed);
  REQUIRE(maintenance.queued.suppressed);
  CHECK(maintenance.queued.suppressed->reason == "maintenance");
  CHECK(maintenance.queued.suppressed->windows == std::vector<std::string>{created->record.window_id});
  CHECK(fixture.notifications_of(silenced.alert_id).front().queued.suppressed->reason == "silenced");
  const auto requests = receiver.requests();
  REQUIRE(requests.size() == 1);
  CHECK(nlohmann::json::parse(requests[0].body)["alerts"][0]["alert_id"] == told.alert_id);
}

SCENARIO("a restart during group_wait still sends every firing alert once") {
  NotifierFixture fixture;
  testing::WebhookReceiver receiver("k");
  const std::string channel = fixture.create_webhook(receiver.url());
  for (int index = 0; index < 5; ++index)
    fixture.fire(fixture.fired("agent-" + std::to_string(index), {channel}));
  fixture.timers.advance(10'000);
  fixture.restart();
  fixture.timers.advance(kGroupWaitMs);
  REQUIRE(receiver.wait_for(1));
  REQUIRE(testing::eventually([&] { return fixture.model->pending().empty(); }));
  // Once more: nothing new to tell.
  fixture.restart();
  fixture.timers.advance(kGroupWaitMs);
  const auto requests = receiver.requests();
  REQUIRE(requests.size() == 1);
  CHECK(nlohmann::json::parse(requests[0].body)["count"] == 5);
}
