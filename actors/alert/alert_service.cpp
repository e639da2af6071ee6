#include "actors/alert/alert_service.hpp"

#include <atomic>
#include <mutex>

#include "actors/access/record_revocation.hpp"
#include "actors/organization.hpp"
#include "actors/runtime/aggregate_host.hpp"
#include "common/log.hpp"
#include "common/secrets.hpp"

namespace muster {
namespace {

runtime::AggregateHostOptions host_options(const char* kind) {
  runtime::AggregateHostOptions options;
  options.core.kind = kind;
  return options;
}

RequestContext evaluator_context() {
  RequestContext context;
  context.cause = "alert_evaluation";
  return context;
}

}  // namespace

struct AlertService::Impl : std::enable_shared_from_this<AlertService::Impl> {
  Impl(runtime::Runtime& runtime, EventStore& store, const AgentRegistry& registry_in, const ConfigModel& configs_in,
       const Alerts& alerts_in, WhenFolded when_folded_in, AlertServiceOptions options_in)
      : registry(registry_in),
        configs(configs_in),
        model(alerts_in),
        when_folded(std::move(when_folded_in)),
        options(options_in),
        timers(runtime.timers()),
        evaluator(&configs_in),
        rule_host(runtime, store, rule_repository, host_options("alert-rule")),
        alert_host(runtime, store, alert_repository, host_options("alert")) {
    options.tick_ms = std::max<TimeMs>(options.tick_ms, 1);
  }

  // Turns the evaluator's transitions into commands to the alerts.
  void dispatch(std::vector<AlertTransition> transitions) {
    for (AlertTransition& transition : transitions) {
      const std::string alert_id = alert_id_for(transition.rule_id, transition.subject);
      AlertCommand command = ResolveAlert{transition.reason};
      if (transition.kind == AlertTransition::Kind::fire) {
        const auto rule = model.find_rule(transition.rule_id);
        if (!rule || !rule->live()) continue;
        AlertFired fired;
        fired.alert_id = alert_id;
        fired.org = transition.org;
        fired.rule_id = transition.rule_id;
        fired.rule_name = rule->spec.name;
        fired.subject = transition.subject;
        fired.severity = rule->spec.severity;
        fired.summary = std::move(transition.summary);
        fired.details = std::move(transition.details);
        fired.fired_at_ms = timers.now_ms();
        fired.pending_since_ms = transition.pending_since_ms;
        fired.channels = rule->spec.channels;
        fired.escalation = rule->spec.escalation;
        fired.group_wait_ms = rule->spec.group_wait_ms;
        command = FireAlert{std::move(fired)};
      }
      alert_host.send(alert_instance_id(transition.org, alert_id), std::move(command), evaluator_context(),
                      [alert_id](Result<runtime::Outcome<AlertRecord>> outcome) {
                        if (!outcome) {
                          log::warn("an alert's transition failed",
                                    {{"alert_id", alert_id}, {"error", outcome.error().message}});
                        } else if (outcome->appended > 0) {
                          log::info("alert", {{"alert_id", alert_id},
                                              {"state", to_string(outcome->state.status)},
                                              {"episode", outcome->state.episode}});
                        }
                      });
    }
  }

  void arm() {
    std::lock_guard<std::mutex> lock(mutex);
    if (stopping) return;
    tick_timer = timers.schedule_after(options.tick_ms, [weak = weak_from_this()] {
      if (const auto self = weak.lock()) self->tick();
    });
  }

  void tick() {
    Gate::Holder in_flight(gate);
    if (!in_flight) return;
    dispatch(evaluator.tick(timers.now_ms()));
    arm();
  }

  void resume() {
    std::lock_guard<std::mutex> lock(flow);
    // Every agent as the registry holds it.
    std::optional<AgentId> after;
    std::size_t agents = 0;
    for (;;) {
      AgentPage page = registry.list(AgentFilter{}, 10'000, after);
      for (const AgentView& view : page.agents) {
        AlertAgentFacts facts;
        facts.agent_id = view.state.agent_id;
        facts.org = *view.state.org;
        facts.labels = view.state.profile.labels.get();
        facts.status = view.state.status;
        facts.config_status = configs.config_status_of(view.state.agent_id);
        facts.last_seen_ms = view.last_seen_ms;
        evaluator.add_agent(facts);
        ++agents;
      }
      if (!page.next_after) break;
      after = page.next_after;
    }
    const auto firing = model.firing();
    for (const AlertRecord& alert : firing) evaluator.restore_firing(alert);  // org-level ones
    const auto rules = model.rules();
    dispatch(evaluator.set_rules(rules, timers.now_ms()));
    for (const AlertRecord& alert : firing) evaluator.restore_firing(alert);  // per agent, now that rules are known
    resumed = true;
    log::info("alert evaluation resumed",
              {{"rules", rules.size()}, {"agents", agents}, {"firing", firing.size()}});
  }

  void observe(const std::vector<Event>& batch) {
    std::lock_guard<std::mutex> lock(flow);
    if (!resumed) return;
    bool rules_changed = false;
    for (const Event& event : batch) {
      if (event.stream.rfind("alert-rule:", 0) == 0) rules_changed = true;
    }
    const TimeMs now_ms = timers.now_ms();
    if (rules_changed) dispatch(evaluator.set_rules(model.rules(), now_ms));
    dispatch(evaluator.on_batch(batch, now_ms));
  }

  std::optional<AlertRule> visible_rule(const Principal& caller, const std::string& rule_id) const {
    auto rule = model.find_rule(rule_id);
    if (!rule || !rule->live() || !org_visible(caller.org, rule->org)) return std::nullopt;
    return rule;
  }

  void send_rule(const std::string& org, const std::string& rule_id, AlertRuleCommand command,
                 const RequestContext& context, RuleDone done) {
    rule_host.send(org_scoped_id(org, rule_id), std::move(command), context,
                   [this, done = std::move(done)](Result<runtime::Outcome<AlertRule>> outcome) {
                     if (!outcome) return done(outcome.error());
                     auto rule = std::make_shared<AlertRule>(std::move(outcome->state));
                     once_folded(when_folded, outcome->position, [rule, done] { done(std::move(*rule)); });
                   });
  }

  void send_alert(const Principal& caller, const std::string& alert_id, AlertCommand command,
                  const RequestContext& context, AlertDone done) {
    const auto alert = model.find_alert(alert_id);
    if (!alert || !org_visible(caller.org, alert->org)) return done(alert_not_found());
    alert_host.send(alert_instance_id(alert->org, alert_id), std::move(command), context,
                    [this, done = std::move(done)](Result<runtime::Outcome<AlertRecord>> outcome) {
                      if (!outcome) return done(outcome.error());
                      auto record = std::make_shared<AlertRecord>(std::move(outcome->state));
                      once_folded(when_folded, outcome->position, [record, done] { done(std::move(*record)); });
                    });
  }

  const AgentRegistry& registry;
  const ConfigModel& configs;
  const Alerts& model;
  const WhenFolded when_folded;
  AlertServiceOptions options;
  TimerService& timers;
  AlertEvaluator evaluator;
  runtime::FoldRepository<AlertRuleAggregate> rule_repository;
  runtime::FoldRepository<AlertAggregate> alert_repository;
  runtime::AggregateHost<AlertRuleAggregate> rule_host;
  runtime::AggregateHost<AlertAggregate> alert_host;
  Gate gate;
  std::mutex mutex;
  bool stopping = false;                 ///< Guarded by `mutex`.
  TimerService::TimerId tick_timer = 0;  ///< Guarded by `mutex`.
  /// Orders resume() and the batches observed: the evaluator sees batches only once loaded.
  std::mutex flow;
  bool resumed = false;  ///< Guarded by `flow`.
  std::atomic<bool> accepting_metrics{false};
};

AlertService::AlertService(runtime::Runtime& runtime, EventStore& store, const AgentRegistry& registry,
                           const ConfigModel& configs, const Alerts& alerts, WhenFolded when_folded,
                           AlertServiceOptions options)
    : impl_(std::make_shared<Impl>(runtime, store, registry, configs, alerts, std::move(when_folded), options)) {}

AlertService::~AlertService() {
  stop();
}

void AlertService::stop() {
  TimerService::TimerId timer = 0;
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    impl_->stopping = true;
    timer = impl_->tick_timer;
  }
  impl_->accepting_metrics = false;
  impl_->timers.cancel(timer);
  impl_->gate.close();
  impl_->alert_host.stop();
  impl_->rule_host.stop();
}

void AlertService::resume() {
  impl_->resume();
  impl_->accepting_metrics = true;
  impl_->arm();
}

void AlertService::on_metrics(const AgentId& agent_id, std::string_view org, TimeMs heard_at_ms,
                              const std::map<std::string, double>& metrics) {
  if (!impl_->accepting_metrics) return;
  auto transitions = impl_->evaluator.on_metrics(agent_id, org, heard_at_ms, metrics);
  if (!transitions.empty()) impl_->dispatch(std::move(transitions));
}

void AlertService::observe(const std::vector<Event>& batch) {
  impl_->observe(batch);
}

void AlertService::create_rule(const std::string& org, const AlertRuleSpec& spec, const RequestContext& context,
                               RuleDone done) {
  auto rule_id = random_id();
  if (!rule_id) return done(rule_id.error());
  AlertRuleCreated created{*rule_id, org, spec, context.principal};
  impl_->send_rule(org, *rule_id, CreateAlertRule{std::move(created)}, context, std::move(done));
}

void AlertService::update_rule(const Principal& caller, const std::string& rule_id, const AlertRuleSpec& spec,
                               const RequestContext& context, RuleDone done) {
  const auto rule = impl_->visible_rule(caller, rule_id);
  if (!rule) return done(alert_rule_not_found());
  impl_->send_rule(rule->org, rule_id, UpdateAlertRule{spec, context.principal}, context, std::move(done));
}

void AlertService::delete_rule(const Principal& caller, const std::string& rule_id, const RequestContext& context,
                               RuleDone done) {
  const auto rule = impl_->visible_rule(caller, rule_id);
  if (!rule) return done(alert_rule_not_found());
  impl_->send_rule(rule->org, rule_id, DeleteAlertRule{context.principal}, context, std::move(done));
}

Result<AlertRule> AlertService::find_rule(const Principal& caller, const std::string& rule_id) const {
  auto rule = impl_->visible_rule(caller, rule_id);
  if (!rule) return alert_rule_not_found();
  return std::move(*rule);
}

std::vector<AlertRule> AlertService::list_rules(const Principal& caller) const {
  return impl_->model.rules(caller.org);
}

Result<AlertRuleTest> AlertService::test_rule(const Principal& caller, const std::string& rule_id) const {
  auto rule = impl_->visible_rule(caller, rule_id);
  if (!rule) return alert_rule_not_found();
  AlertRuleTest test;
  test.would_fire = impl_->evaluator.evaluate_now(*rule, impl_->timers.now_ms());
  test.rule = std::move(*rule);
  return test;
}

Result<AlertRecord> AlertService::find_alert(const Principal& caller, const std::string& alert_id) const {
  auto alert = impl_->model.find_alert(alert_id);
  if (!alert || !org_visible(caller.org, alert->org)) return alert_not_found();
  return std::move(*alert);
}

AlertListing AlertService::list_alerts(const Principal& caller, const AlertFilter& filter, bool pending,
                                       std::size_t limit) const {
  AlertListing listing;
  if (!pending) {
    listing.alerts = impl_->model.alerts(caller.org, filter, limit);
    return listing;
  }
  for (PendingAlert& alert : impl_->evaluator.pending(caller.org)) {
    if (filter.rule_id && alert.rule_id != *filter.rule_id) continue;
    if (filter.severity) {
      const auto rule = impl_->model.find_rule(alert.rule_id);
      if (!rule || rule->spec.severity != *filter.severity) continue;
    }
    if (listing.pending.size() == limit) break;
    listing.pending.push_back(std::move(alert));
  }
  return listing;
}

void AlertService::acknowledge(const Principal& caller, const std::string& alert_id, const std::string& comment,
                               const RequestContext& context, AlertDone done) {
  impl_->send_alert(caller, alert_id, AcknowledgeAlert{context.principal, comment}, context, std::move(done));
}

void AlertService::silence(const Principal& caller, const std::string& alert_id, TimeMs until_ms,
                           const std::string& reason, const RequestContext& context, AlertDone done) {
  impl_->send_alert(caller, alert_id, SilenceAlert{context.principal, until_ms, reason}, context, std::move(done));
}

const AlertEvaluator& AlertService::evaluator() const {
  return impl_->evaluator;
}

TimeMs AlertService::now_ms() const {
  return impl_->timers.now_ms();
}

}  // namespace muster
