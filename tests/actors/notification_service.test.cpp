// Notification channels, maintenance windows and the outbox on the runtime,
// with a manual clock and a real local HTTP receiver: every payload reads
// back what it wrote; retries back off and give up after retry_until; a
// channel's secret stays out of the log; a notification reaches a receiver
// that first fails, signed and with the same id each attempt; a restart
// lines pending notifications up again; bad channels and windows are
// refused naming the field.

#include <doctest/doctest.h>

#include <sys/stat.h>

#include <chrono>
#include <thread>

#include "actors/event_catalogue.hpp"
#include "actors/notification/channel_decider.hpp"
#include "actors/notification/maintenance_window_decider.hpp"
#include "actors/notification/notification_body.hpp"
#include "actors/notification/notification_decider.hpp"
#include "actors/notification/notification_service.hpp"
#include "actors/runtime/await.hpp"
#include "eventstore/memory_storage.hpp"
#include "projections/projection_runner.hpp"
#include "tests/actors/await_limit.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/webhook_receiver.hpp"

using namespace muster;

namespace {

using testing::kWaitMs;

template <class Variant>
void check_notification_round_trip(const Variant& event) {
  const NewEvent encoded = encode_payload(event);
  CAPTURE(encoded.type);
  REQUIRE(find_event_type(encoded.type) != nullptr);
  CHECK(find_event_type(encoded.type)->stream_kind == type_of(event).stream_kind);
  auto decoded = decode_payload<Variant>(encoded.type, type_of(event).schema_version, encoded.data);
  REQUIRE_MESSAGE(decoded.ok(), encoded.type);
  CHECK(encode_payload(*decoded).data == encoded.data);
}

NotificationQueued sample_queued(std::string id = "n1", std::string channel = "c1") {
  NotificationQueued queued;
  queued.notification_id = std::move(id);
  queued.org = "acme";
  queued.channel_id = std::move(channel);
  queued.kind = NotificationKind::firing;
  queued.rule_id = "r1";
  queued.rule_name = "agents offline";
  queued.severity = "critical";
  queued.alerts = {NotifiedAlert{"a1", 1, "agent", "host-1", "offline for 5m", 1000, 0},
                   NotifiedAlert{"a2", 2, "agent", "host-2", "offline for 5m", 1200, 0}};
  return queued;
}

struct NotifyFixture {
  testing::TempDir dir;
  ManualTimerService timers;
  std::unique_ptr<Storage> storage;
  std::unique_ptr<Notifications> model;
  std::unique_ptr<ProjectionRunner> projections;
  std::unique_ptr<runtime::Runtime> actors;
  std::unique_ptr<NotificationService> service;

  NotifyFixture() {
    StoreOptions options;
    options.clock = &timers;
    storage = std::move(*open_memory_storage(options));
    actors = std::make_unique<runtime::Runtime>(timers, runtime::RuntimeOptions{});
    restart();
  }

  ~NotifyFixture() {
    service->stop();
    actors->stop();
    projections->stop();
    storage->stop();
  }

  // A new read model, runner and service on the same log, as after a restart.
  void restart() {
    if (service) service->stop();
    service.reset();
    if (projections) projections->stop();
    projections.reset();
    model = std::make_unique<Notifications>();
    projections = std::make_unique<ProjectionRunner>(storage->events(), storage->snapshots(),
                                                     std::vector<ReadModel*>{model.get()}, timers);
    REQUIRE(projections->start().ok());
    const auto head = storage->events().head_position();
    REQUIRE(head.ok());
    REQUIRE(projections->wait_for_position(*head, std::chrono::seconds(10)));
    NotificationServiceOptions options;
    options.secrets_directory = dir.path() + "/secrets";
    options.retry_for_ms = 60'000;
    service = std::make_unique<NotificationService>(
        *actors, storage->events(), *model,
        [this](std::uint64_t position, std::function<void()> then) {
          projections->when_folded(position, std::move(then));
        },
        options);
    REQUIRE(service->start().ok());
    REQUIRE(service->resume().ok());
  }

  Result<NotificationOutcome<NotificationChannel>> create_webhook(const std::string& url,
                                                                  const std::string& secret) {
    ChannelRequest request;
    request.settings.name = "ops hook";
    request.settings.type = ChannelType::webhook;
    request.settings.url = url;
    request.secret.secret = secret;
    request.secret.headers = {{"Authorization", "Bearer hidden-header-value"}};
    RequestContext context;
    context.principal = "key:0123456789abcdef";
    return await_result<NotificationOutcome<NotificationChannel>>(
        [&](auto done) { service->create_channel("acme", request, context, std::move(done)); }, kWaitMs,
        "BUSY");
  }

  NotificationRecord queue(NotificationQueued queued) {
    auto outcome = await_result<NotificationOutcome<NotificationRecord>>(
        [&](auto done) { service->queue(std::move(queued), {}, std::move(done)); }, kWaitMs, "BUSY");
    REQUIRE_MESSAGE(outcome.ok(), (outcome.ok() ? "" : outcome.error().message));
    return outcome->record;
  }

  NotificationState state_of(const std::string& id) {
    const auto record = model->notification("acme", id);
    return record ? record->state : NotificationState::pending;
  }

  std::string whole_log() {
    std::string text;
    auto events = storage->events().read_log(1, 100000);
    REQUIRE(events.ok());
    for (const Event& event : *events) text += event.data + "\n";
    return text;
  }
};

}  // namespace

TEST_CASE("every notification payload reads back what it wrote") {
  ChannelSettings webhook;
  webhook.name = "hook";
  webhook.url = "https://example.com/x";
  webhook.header_names = {"Authorization"};
  webhook.has_secret = true;
  webhook.format = WebhookFormat::slack;
  ChannelSettings email;
  email.name = "mail";
  email.type = ChannelType::email;
  email.to = {"ops@example.com"};
  email.from = "muster@example.com";
  email.smtp_url = "smtp://127.0.0.1:2525";
  email.starttls = true;
  for (const NotificationChannelEvent& event : std::vector<NotificationChannelEvent>{
           NotificationChannelCreated{"c1", "acme", webhook, "key:k"},
           NotificationChannelCreated{"c2", "acme", email, "key:k"}, NotificationChannelDeleted{}}) {
    check_notification_round_trip(event);
  }
  for (const MaintenanceWindowEvent& event : std::vector<MaintenanceWindowEvent>{
           MaintenanceWindowCreated{"w1", "acme", {{"group", "db"}}, 1000, 2000, "patching", "key:k"},
           MaintenanceWindowDeleted{}}) {
    check_notification_round_trip(event);
  }
  NotificationQueued suppressed = sample_queued();
  suppressed.channel_id.clear();
  suppressed.suppressed = Suppression{"maintenance", {"w1"}};
  for (const NotificationEvent& event :
       std::vector<NotificationEvent>{sample_queued(), suppressed,
                                      NotificationAttempted{1, false, 500, "the receiver answered 500", 5000},
                                      NotificationDelivered{2}, NotificationAbandoned{"gone"}}) {
    check_notification_round_trip(event);
  }
  CHECK_FALSE(decode_payload<NotificationEvent>("NotificationQueued", 1, R"({"notification_id":"x"})").ok());
}

SCENARIO("a failing receiver is retried with backoff until retry_until, then given up") {
  NotificationRecord record;
  const std::string stream = notification_stream("acme", "n1");
  NotificationQueued queued = sample_queued();
  queued.retry_until_ms = 10'000;
  auto fold = [&](const std::vector<NotificationEvent>& events, TimeMs at) {
    for (const NotificationEvent& event : events) {
      REQUIRE(apply(record, event, EventHeader{record.version + 1, stream, record.version + 1, at}).ok());
    }
  };
  fold(*decide_queue(record, QueueNotification{queued}), 0);
  CHECK(record.state == NotificationState::pending);
  CHECK(record.next_attempt_at_ms == 0);
  fold(*decide_attempt(record, RecordAttempt{1, false, 500, "500", 1000, 8000}, 0), 0);
  CHECK(record.next_attempt_at_ms == 1000);
  fold(*decide_attempt(record, RecordAttempt{2, false, 500, "500", 1000, 8000}, 1000), 1000);
  CHECK(record.next_attempt_at_ms == 3000);
  // A repeat of an attempt already recorded changes nothing.
  CHECK(decide_attempt(record, RecordAttempt{2, true, 200, "", 1000, 8000}, 1000)->empty());
  fold(*decide_attempt(record, RecordAttempt{3, false, 0, "refused", 1000, 8000}, 3000), 3000);
  CHECK(record.next_attempt_at_ms == 7000);
  fold(*decide_attempt(record, RecordAttempt{4, false, 0, "refused", 1000, 8000}, 7000), 7000);
  CHECK(record.state == NotificationState::abandoned);
  CHECK(record.attempts == 4);
  CHECK(record.recent_attempts.size() == 4);
  CHECK(retry_delay_ms(10, 1000, 8000) == 8000);
}

TEST_CASE("webhook bodies are the same bytes every time, and signed with HMAC-SHA256") {
  const NotificationQueued queued = sample_queued();
  const std::string body = webhook_body(queued, WebhookFormat::json);
  CHECK(body == webhook_body(queued, WebhookFormat::json));
  const auto parsed = nlohmann::json::parse(body);
  CHECK(parsed["notification_id"] == "n1");
  CHECK(parsed["count"] == 2);
  CHECK(parsed["alerts"][1]["subject"]["id"] == "host-2");
  CHECK(nlohmann::json::parse(webhook_body(queued, WebhookFormat::slack))["text"].get<std::string>().find(
            "[FIRING] agents offline (critical): 2 alerts") == 0);
  CHECK(nlohmann::json::parse(webhook_body(queued, WebhookFormat::teams))["@type"] == "MessageCard");
  // RFC 4231 test case 2.
  CHECK(webhook_signature("Jefe", "what do ya want for nothing?") ==
        "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

SCENARIO("a channel's secret and header values stay out of the log") {
  NotifyFixture fixture;
  auto created = fixture.create_webhook("http://user:pw@127.0.0.1:9/hook/T000/url-token-value?x=1",
                                        "s3cret-signing-key");
  REQUIRE(created.ok());
  CHECK(created->record.settings.url == "http://127.0.0.1:9/***");
  CHECK(created->record.settings.has_secret);
  CHECK(created->record.settings.header_names == std::vector<std::string>{"Authorization"});
  const std::string log = fixture.whole_log();
  CHECK(log.find("s3cret-signing-key") == std::string::npos);
  CHECK(log.find("hidden-header-value") == std::string::npos);
  CHECK(log.find("url-token-value") == std::string::npos);
  struct stat info {};
  const std::string directory = fixture.dir.path() + "/secrets";
  REQUIRE(::stat(directory.c_str(), &info) == 0);
  CHECK((info.st_mode & 0777) == 0700);
}

SCENARIO("a notification reaches a receiver that fails first, after retries, once delivered") {
  NotifyFixture fixture;
  testing::WebhookReceiver receiver("hook-secret", 2);
  auto created = fixture.create_webhook(receiver.url(), "hook-secret");
  REQUIRE(created.ok());
  NotificationQueued queued = sample_queued("n1", created->record.channel_id);
  fixture.queue(queued);
  NotificationQueued second = sample_queued("n2", created->record.channel_id);
  second.kind = NotificationKind::resolved;
  fixture.queue(second);
  REQUIRE(receiver.wait_for(1));
  // Backoff: 1 s after the first failure, 2 s after the second.
  REQUIRE(testing::eventually([&] { return fixture.model->notification("acme", "n1")->attempts == 1; }));
  fixture.timers.advance(1'000);
  REQUIRE(receiver.wait_for(2));
  REQUIRE(testing::eventually([&] { return fixture.model->notification("acme", "n1")->attempts == 2; }));
  fixture.timers.advance(2'000);
  REQUIRE(testing::eventually([&] { return fixture.state_of("n2") == NotificationState::delivered; }));
  CHECK(fixture.state_of("n1") == NotificationState::delivered);
  const auto requests = receiver.requests();
  REQUIRE(requests.size() == 4);
  for (const auto& request : requests) {
    CHECK(request.signature_ok);
    CHECK(request.headers.at("Authorization") == "Bearer hidden-header-value");
  }
  // In order: n1 three times (two failures), then n2.
  CHECK(requests[0].notification_id == "n1");
  CHECK(requests[0].body == requests[2].body);
  CHECK(receiver.accepted_ids() == std::vector<std::string>{"n1", "n2"});
  const auto deliveries = fixture.service->deliveries(Principal{"", Role::viewer, "acme"}, "a1");
  REQUIRE(deliveries.size() == 2);
  CHECK(deliveries[0].recent_attempts.size() == 3);
  CHECK(deliveries[0].recent_attempts[0].http_status == 500);
  CHECK(fixture.service->deliveries(Principal{"", Role::viewer, "other"}, "a1").empty());
}

SCENARIO("a receiver that hangs holds back its own channel only") {
  NotifyFixture fixture;
  testing::WebhookReceiver hanging("k");
  testing::WebhookReceiver healthy("k");
  hanging.hold();
  auto stuck = fixture.create_webhook(hanging.url(), "k");
  auto fine = fixture.create_webhook(healthy.url(), "k");
  REQUIRE(stuck.ok());
  REQUIRE(fine.ok());
  fixture.queue(sample_queued("n1", stuck->record.channel_id));
  REQUIRE(hanging.wait_for_arrivals(1));
  fixture.queue(sample_queued("n2", fine->record.channel_id));
  NotificationQueued later = sample_queued("n3", stuck->record.channel_id);
  later.alerts[0].alert_id = "a9";
  fixture.queue(later);
  // The healthy channel delivers while the other's attempt hangs; the
  // hanging channel's next notification waits behind its first.
  REQUIRE(testing::eventually([&] { return fixture.state_of("n2") == NotificationState::delivered; }));
  CHECK(fixture.state_of("n1") == NotificationState::pending);
  CHECK(fixture.model->notification("acme", "n3")->attempts == 0);
  hanging.release();
  REQUIRE(testing::eventually([&] { return fixture.state_of("n3") == NotificationState::delivered; }));
  CHECK(hanging.accepted_ids() == std::vector<std::string>{"n1", "n3"});
}

SCENARIO("a restart lines up a notification whose retry was pending") {
  NotifyFixture fixture;
  testing::WebhookReceiver receiver("k", 1);
  auto created = fixture.create_webhook(receiver.url(), "k");
  REQUIRE(created.ok());
  fixture.queue(sample_queued("n1", created->record.channel_id));
  REQUIRE(testing::eventually([&] { return fixture.model->notification("acme", "n1")->attempts == 1; }));
  fixture.restart();
  CHECK(fixture.state_of("n1") == NotificationState::pending);
  fixture.timers.advance(1'000);
  REQUIRE(testing::eventually([&] { return fixture.state_of("n1") == NotificationState::delivered; }));
  CHECK(receiver.accepted_ids() == std::vector<std::string>{"n1"});
  // Queueing the same notification again is the same notification.
  fixture.queue(sample_queued("n1", created->record.channel_id));
  CHECK(fixture.model->notification("acme", "n1")->version == 4);
}

SCENARIO("a deleted channel's waiting notifications are abandoned") {
  NotifyFixture fixture;
  testing::WebhookReceiver receiver("k", 5);
  auto created = fixture.create_webhook(receiver.url(), "k");
  REQUIRE(created.ok());
  fixture.queue(sample_queued("n1", created->record.channel_id));
  REQUIRE(testing::eventually([&] { return fixture.model->notification("acme", "n1")->attempts == 1; }));
  const Principal admin{"", Role::admin, "*"};
  auto deleted = await_result<NotificationOutcome<NotificationChannel>>(
      [&](auto done) {
        fixture.service->delete_channel(admin, created->record.channel_id, {}, std::move(done));
      },
      kWaitMs, "BUSY");
  REQUIRE(deleted.ok());
  fixture.timers.advance(1'000);
  REQUIRE(testing::eventually([&] { return fixture.state_of("n1") == NotificationState::abandoned; }));
  CHECK(fixture.service->channel(admin, created->record.channel_id).error().reason == kChannelNotFound);
}

TEST_CASE("bad channels and windows are refused naming the field") {
  NotifyFixture fixture;
  const auto refused_field = [&](ChannelRequest request) {
    auto outcome = await_result<NotificationOutcome<NotificationChannel>>(
        [&](auto done) { fixture.service->create_channel("acme", request, {}, std::move(done)); }, kWaitMs,
        "BUSY");
    REQUIRE_FALSE(outcome.ok());
    CHECK(outcome.error().code == ErrorCode::invalid_argument);
    return outcome.error().field;
  };
  ChannelRequest webhook;
  webhook.settings.name = "hook";
  webhook.settings.url = "ftp://example.com/x";
  CHECK(refused_field(webhook) == "url");
  webhook.settings.url = "http:///path";
  CHECK(refused_field(webhook) == "url");
  webhook.settings.url = "https://example.com/x";
  webhook.secret.headers = {{"X-Muster-Signature", "forged"}};
  CHECK(refused_field(webhook) == "headers");
  webhook.secret.headers = {{"Bad Name", "x"}};
  CHECK(refused_field(webhook) == "headers");
  webhook.secret.headers.clear();
  webhook.settings.name.clear();
  CHECK(refused_field(webhook) == "name");
  ChannelRequest email;
  email.settings.name = "mail";
  email.settings.type = ChannelType::email;
  email.settings.from = "muster@example.com";
  email.settings.smtp_url = "smtp://127.0.0.1:25";
  CHECK(refused_field(email) == "to");
  email.settings.to = {"not-an-address"};
  CHECK(refused_field(email) == "to");
  email.settings.to = {"ops@example.com"};
  email.settings.smtp_url = "http://127.0.0.1:25";
  CHECK(refused_field(email) == "smtp.url");
  MaintenanceWindowRequest window;
  window.starts_at_ms = 2000;
  window.ends_at_ms = 1000;
  auto refused = await_result<NotificationOutcome<MaintenanceWindow>>(
      [&](auto done) { fixture.service->create_window("acme", window, {}, std::move(done)); }, kWaitMs,
      "BUSY");
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().field == "ends_at");
  CHECK(fixture.model->channels("*").empty());
  CHECK(fixture.model->windows("*").empty());
}

SCENARIO("maintenance windows are listed until they end, and found while active") {
  NotifyFixture fixture;
  MaintenanceWindowRequest window;
  window.scope = {{"group", "db"}};
  window.starts_at_ms = fixture.timers.now_ms() + 1000;
  window.ends_at_ms = fixture.timers.now_ms() + 5000;
  window.reason = "patching";
  auto created = await_result<NotificationOutcome<MaintenanceWindow>>(
      [&](auto done) { fixture.service->create_window("acme", window, {}, std::move(done)); }, kWaitMs,
      "BUSY");
  REQUIRE(created.ok());
  CHECK(fixture.model->active_windows("acme", fixture.timers.now_ms()).empty());
  CHECK(fixture.model->active_windows("acme", window.starts_at_ms).size() == 1);
  CHECK(fixture.service->windows(Principal{"", Role::viewer, "acme"}).size() == 1);
  CHECK(fixture.service->windows(Principal{"", Role::viewer, "other"}).empty());
  CHECK(fixture.service->windows(Principal{"", Role::viewer, "acme"}, window.ends_at_ms).empty());
  // Snapshot and restart: the same windows, channels and notifications.
  REQUIRE(fixture.projections->save_snapshots().ok());
  fixture.restart();
  CHECK(fixture.model->windows("acme").size() == 1);
  CHECK(fixture.model->window("acme", created->record.window_id) == created->record);
}
