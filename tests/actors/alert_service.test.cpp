// Alerting on the runtime with a manual clock and the in-memory store: a
// rule created through the service, an alert fired by heartbeats' metrics
// and resolved, acknowledged and silenced through the service, refusals for
// other organizations, and a new service on the same log (a restart) that
// keeps the firing alert and resolves it at the next sample within bounds.

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "actors/agent/agent_decider.hpp"
#include "actors/alert/alert_service.hpp"
#include "actors/runtime/await.hpp"
#include "eventstore/memory_storage.hpp"
#include "projections/projection_runner.hpp"
#include "tests/actors/append_registration.hpp"
#include "tests/actors/await_limit.hpp"
#include "tests/support/eventually.hpp"

using namespace muster;

namespace {

using testing::kWaitMs;

struct AlertFixture {
  ManualTimerService timers;
  std::unique_ptr<Storage> storage;
  AgentRegistry registry;
  ConfigModel configs;
  Alerts model;
  std::unique_ptr<ProjectionRunner> projections;
  std::unique_ptr<runtime::Runtime> actors;
  std::unique_ptr<AlertService> alerts;
  /// What the runner's observer feeds (the service may be replaced): read on
  /// the runner's thread while the test swaps it.
  std::atomic<AlertService*> current{nullptr};

  AlertFixture() {
    StoreOptions options;
    options.clock = &timers;
    storage = std::move(*open_memory_storage(options));
    projections = std::make_unique<ProjectionRunner>(storage->events(), storage->snapshots(),
                                                     std::vector<ReadModel*>{&registry, &configs, &model}, timers);
    projections->observe([this](const std::vector<Event>& batch) {
      if (AlertService* service = current.load()) service->observe(batch);
    });
    REQUIRE(projections->start().ok());
    actors = std::make_unique<runtime::Runtime>(timers, runtime::RuntimeOptions{});
    start_alerts();
  }

  ~AlertFixture() {
    current = nullptr;
    alerts->stop();
    actors->stop();
    projections->stop();
    storage->stop();
  }

  // A new alert service on the same log, as after a restart.
  void start_alerts() {
    current = nullptr;
    if (alerts) alerts->stop();
    alerts = std::make_unique<AlertService>(*actors, storage->events(), registry, configs, model,
                                            [this](std::uint64_t position, std::function<void()> then) {
                                              projections->when_folded(position, std::move(then));
                                            });
    REQUIRE(alerts->start().ok());
    alerts->resume();
    current = alerts.get();
  }

  AgentId register_agent() {
    const AgentId id = AgentId::random();
    Registration registration;
    registration.instance_id = "host-" + id.to_string();
    testing::append_registration(storage->events(), *projections, id, registration, "acme");
    return id;
  }

  std::optional<AlertRecord> alert(const std::string& alert_id) const { return model.find_alert(alert_id); }
};

RequestContext operator_context() {
  RequestContext context;
  context.principal = "key:0123456789abcdef";
  return context;
}

}  // namespace

SCENARIO("an alert rule through the service: fired by metrics, acknowledged, silenced, resolved, kept by a restart") {
  AlertFixture fixture;
  const AgentId web = fixture.register_agent();
  auto spec = parse_alert_rule({{"name", "cpu"}, {"kind", "threshold"}, {"severity", "critical"},
                                {"channels", {"ops"}},
                                {"condition", {{"metric", "cpu"}, {"fn", "last"}, {"op", ">"}, {"value", 90}}}});
  REQUIRE(spec.ok());
  const auto rule = await_result<AlertRule>(
      [&](auto done) { fixture.alerts->create_rule("acme", *spec, operator_context(), std::move(done)); }, kWaitMs,
      "BUSY");
  REQUIRE(rule.ok());
  CHECK(rule->principal == "key:0123456789abcdef");
  const std::string alert_id = alert_id_for(rule->rule_id, AlertSubject{AlertSubjectKind::agent, web.to_string()});
  const Principal acme{"k", Role::operator_, "acme"};
  const Principal globex{"g", Role::admin, "globex"};
  CHECK(fixture.alerts->find_rule(globex, rule->rule_id).error().reason == kAlertRuleNotFound);
  CHECK(fixture.alerts->list_rules(acme).size() == 1);

  fixture.alerts->on_metrics(web, "acme", fixture.timers.now_ms(), {{"cpu", 99}});
  REQUIRE(testing::eventually([&] { return fixture.alert(alert_id) && fixture.alert(alert_id)->firing(); }));
  const AlertRecord fired = *fixture.alert(alert_id);
  CHECK(fired.severity == AlertSeverity::critical);
  CHECK(fired.channels == std::vector<std::string>{"ops"});
  CHECK(fired.group_wait_ms == kDefaultGroupWaitMs);

  CHECK(fixture.alerts->find_alert(globex, alert_id).error().reason == kAlertNotFound);
  const auto acknowledged = await_result<AlertRecord>(
      [&](auto done) { fixture.alerts->acknowledge(acme, alert_id, "mine", operator_context(), std::move(done)); },
      kWaitMs, "BUSY");
  REQUIRE(acknowledged.ok());
  CHECK(acknowledged->acknowledged_by == "key:0123456789abcdef");
  const auto silenced = await_result<AlertRecord>(
      [&](auto done) {
        fixture.alerts->silence(acme, alert_id, fixture.timers.now_ms() + 60'000, "deploy", operator_context(),
                                std::move(done));
      },
      kWaitMs, "BUSY");
  REQUIRE(silenced.ok());
  CHECK(silenced->silenced_at(fixture.timers.now_ms()));

  WHEN("the service restarts") {
    fixture.start_alerts();
    fixture.timers.advance(5'000);
    THEN("the alert keeps firing until a sample within bounds, then resolves") {
      CHECK(fixture.alert(alert_id)->firing());
      fixture.alerts->on_metrics(web, "acme", fixture.timers.now_ms(), {{"cpu", 10}});
      REQUIRE(testing::eventually([&] { return !fixture.alert(alert_id)->firing(); }));
      CHECK(fixture.alert(alert_id)->resolve_reason == "condition cleared");
    }
  }
  WHEN("the rule is deleted") {
    const auto deleted = await_result<AlertRule>(
        [&](auto done) { fixture.alerts->delete_rule(acme, rule->rule_id, operator_context(), std::move(done)); },
        kWaitMs, "BUSY");
    REQUIRE(deleted.ok());
    THEN("its alert resolves, and the rule is gone") {
      REQUIRE(testing::eventually([&] { return !fixture.alert(alert_id)->firing(); }));
      CHECK(fixture.alert(alert_id)->resolve_reason == "rule deleted");
      CHECK(fixture.alerts->find_rule(acme, rule->rule_id).error().reason == kAlertRuleNotFound);
    }
  }
}
