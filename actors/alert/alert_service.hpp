#pragma once
/// Alerting: what the API asks of alert rules and alerts, and the process
/// that evaluates the rules. Rules and alerts are aggregates on the runtime
/// (alert_decider.hpp); reads come from their read model (projections/alerts.hpp);
/// pending alerts from the evaluator (alert_evaluator.hpp), which is fed by
///
/// - `on_metrics` (AgentServiceOptions::on_metrics): every heartbeat's metrics;
/// - `observe` (ProjectionRunner::observe): every batch of the log, after
///   the read models folded it (status events, rule changes);
/// - its own timer, every `tick_ms`: the pass over pending and windowed state.
///
/// Each transition it decides is a command to the alert's actor: FireAlert
/// (AlertFired with the rule's notification settings as they are) or
/// ResolveAlert. The decider makes both idempotent (a firing alert does not
/// fire again), so a transition decided twice writes one event.
///
/// After a restart (`resume`), the evaluator is given every live rule, every
/// agent as the registry holds it, and every alert firing in the log; firing
/// alerts whose condition no longer holds resolve (threshold alerts at the
/// agent's next sample: the windows were in memory), pending ones are
/// found again from live inputs.
///
/// Lifecycle: start() does nothing; resume() (once the read models hold the
/// log) loads the evaluator and starts the ticks; stop() stops the ticks and
/// the actors. Thread safety: every method may be called from any thread;
/// `done` runs on an actor, the projection runner's thread or the caller's.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "actors/access/principal.hpp"
#include "actors/alert/alert_decider.hpp"
#include "actors/alert/alert_evaluator.hpp"
#include "actors/runtime/request_context.hpp"
#include "actors/runtime/runtime.hpp"
#include "actors/runtime/when_folded.hpp"
#include "common/lifecycle.hpp"
#include "eventstore/event_store.hpp"
#include "projections/agent_registry.hpp"
#include "projections/alerts.hpp"
#include "projections/config_model.hpp"

namespace muster {

struct AlertServiceOptions {
  /// How often the evaluator's periodic pass runs. Default: 1 s.
  TimeMs tick_ms = 1'000;
};

/// An alert as the API lists it: one in the log, or one pending (in memory).
struct AlertListing {
  std::vector<AlertRecord> alerts;
  std::vector<PendingAlert> pending;
};

/// What `POST /alert-rules/{id}/test` answers: the subjects the rule would fire for now.
struct AlertRuleTest {
  AlertRule rule;
  std::vector<AlertTransition> would_fire;
};

class AlertService : public Service {
 public:
  /// References must outlive the service.
  AlertService(runtime::Runtime& runtime, EventStore& store, const AgentRegistry& registry,
               const ConfigModel& configs, const Alerts& alerts, WhenFolded when_folded,
               AlertServiceOptions options = {});
  ~AlertService() override;

  std::string_view name() const override { return "alerts"; }
  Status start() override { return Status::success(); }
  void stop() override;

  /// Loads the evaluator and starts the ticks. Call once the read models
  /// hold the log as it was at start-up.
  void resume();

  /// A heartbeat's metrics (AgentServiceOptions::on_metrics). Never blocks.
  void on_metrics(const AgentId& agent_id, std::string_view org, TimeMs heard_at_ms,
                  const std::map<std::string, double>& metrics);
  /// A folded batch (ProjectionRunner::observe). Never blocks for long.
  void observe(const std::vector<Event>& batch);

  using RuleDone = std::function<void(Result<AlertRule>)>;
  using AlertDone = std::function<void(Result<AlertRecord>)>;

  /// Creates a rule in `org`; answers it once the read models hold it.
  void create_rule(const std::string& org, const AlertRuleSpec& spec, const RequestContext& context,
                   RuleDone done);
  /// Replaces a rule's spec. Refused: `not_found` / ALERT_RULE_NOT_FOUND
  /// (none, deleted, or not visible to `caller`).
  void update_rule(const Principal& caller, const std::string& rule_id, const AlertRuleSpec& spec,
                   const RequestContext& context, RuleDone done);
  /// Deletes a rule; its firing alerts resolve ("rule deleted"). Refused as update.
  void delete_rule(const Principal& caller, const std::string& rule_id, const RequestContext& context,
                   RuleDone done);
  /// A live rule visible to `caller`; `not_found` / ALERT_RULE_NOT_FOUND otherwise.
  Result<AlertRule> find_rule(const Principal& caller, const std::string& rule_id) const;
  /// Live rules visible to `caller`, oldest first.
  std::vector<AlertRule> list_rules(const Principal& caller) const;
  /// Evaluates the rule now, ignoring `for`: what it would fire for. Notifies nobody.
  Result<AlertRuleTest> test_rule(const Principal& caller, const std::string& rule_id) const;

  /// An alert visible to `caller`; `not_found` / ALERT_NOT_FOUND otherwise.
  Result<AlertRecord> find_alert(const Principal& caller, const std::string& alert_id) const;
  /// Alerts visible to `caller` matching `filter` (`pending`: the evaluator's
  /// pending ones instead of the log's), at most `limit`.
  AlertListing list_alerts(const Principal& caller, const AlertFilter& filter, bool pending, std::size_t limit) const;
  /// Acknowledges the current episode. Refused: ALERT_NOT_FOUND, `conflict` / ALERT_NOT_FIRING.
  void acknowledge(const Principal& caller, const std::string& alert_id, const std::string& comment,
                   const RequestContext& context, AlertDone done);
  /// Silences the alert until `until_ms`. Refused: ALERT_NOT_FOUND.
  void silence(const Principal& caller, const std::string& alert_id, TimeMs until_ms, const std::string& reason,
               const RequestContext& context, AlertDone done);

  /// The evaluator (tests, the bench, metrics).
  const AlertEvaluator& evaluator() const;
  /// The service's time (the runtime's timers).
  TimeMs now_ms() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace muster
