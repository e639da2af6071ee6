#pragma once
/// The alert evaluator: decides when an alert rule's condition holds for a
/// subject, long enough (`for`) to fire, and when it no longer holds. Pure
/// logic: it is told what happens (heartbeat metrics, the log's batches,
/// the time) and answers transitions (fire, resolve); whoever runs it
/// (AlertService) turns them into commands to the alerts. Pending is kept
/// here only, never in the log.
///
/// Incremental, never a scan of the fleet per tick:
/// - threshold: fed by every heartbeat's metrics (`on_metrics`). Per (rule,
///   agent) it keeps, sparsely, only what the function needs: `last` and the
///   "every sample" forms (max <, max <=, min >, min >=) the start of the
///   current run of violating samples; the "some sample" forms (max >,
///   max >=, min <, min <=) the first and last violating sample while one
///   is within the window; nothing for an agent within bounds. `avg` keeps
///   kAvgBuckets buckets (float sum, 8-bit count) over the window for each
///   agent reporting the metric, in a dense array per rule and shard.
/// - absence: an agent that went OFFLINE (AgentWentOffline) and stays so;
///   the condition holds from its last seen (the event's `last_seen`), so it
///   fires at last_seen + `for` (or at once when the heartbeat timeout that
///   declared it offline is longer than `for`); AgentCameOnline resolves it.
/// - status: degraded from the agent's status events; config failed /
///   drifted re-read from the config model for the agents whose events a
///   batch holds; a report of the type holds for the condition's window
///   after each report; a rollout paused from the rollout's events (subject:
///   the scope's group, or the org).
/// - fleet: per rule, the agents in scope and those in the condition,
///   counted incrementally from status events and recounted (a walk of the
///   evaluator's agents) only when a batch changes membership: a group's
///   events, an agent registered, relabelled or gone, a rule created or changed.
/// - composite: the parts above on the same agent, evaluated whenever one
///   of its inputs changes.
/// - `tick(now)`: the periodic pass over what can change with time alone:
///   pending alerts (`for`), windows running out, reports expiring. It walks
///   only those entries.
///
/// Thread safety: every method may be called from any thread. Agents are
/// sharded (kShards, by id hash) with one mutex each: a heartbeat takes its
/// agent's shard only; rules are an immutable set swapped under a small mutex.

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "actors/agent/agent_id.hpp"
#include "actors/agent/agent_profile.hpp"
#include "actors/alert/alert_rule_state.hpp"
#include "actors/alert/alert_state.hpp"
#include "actors/config/desired_config.hpp"
#include "common/clock.hpp"
#include "eventstore/event.hpp"

namespace muster {

class ConfigModel;

/// What the evaluator decided about one alert.
struct AlertTransition {
  enum class Kind { fire, resolve };
  Kind kind = Kind::fire;
  std::string org;
  std::string rule_id;
  AlertSubject subject;
  TimeMs pending_since_ms = 0;  ///< fire: when the condition began to hold.
  std::string summary;          ///< fire: one line.
  nlohmann::json details = nlohmann::json::object();  ///< fire: what was seen.
  std::string reason;           ///< resolve: why.
};

/// An alert the evaluator holds pending (its condition holds, not yet for `for`).
struct PendingAlert {
  std::string org;
  std::string rule_id;
  AlertSubject subject;
  TimeMs pending_since_ms = 0;
};

/// What an agent is, as the evaluator keeps it (told at start from the registry).
struct AlertAgentFacts {
  AgentId agent_id;
  std::string org;
  std::map<std::string, std::string> labels;
  AgentStatus status = AgentStatus::online;
  ConfigStatus config_status = ConfigStatus::none;
  TimeMs last_seen_ms = 0;  ///< Meaningful while offline.
};

class AlertEvaluator {
 public:
  static constexpr std::size_t kShards = 64;
  static constexpr std::size_t kAvgBuckets = 5;

  /// `config` answers group membership and config status; null: no agent is
  /// in any group and config status comes only from the facts given.
  explicit AlertEvaluator(const ConfigModel* config);
  ~AlertEvaluator();
  AlertEvaluator(const AlertEvaluator&) = delete;
  AlertEvaluator& operator=(const AlertEvaluator&) = delete;

  /// Replaces the rules (every live rule of every org). Alerts of rules gone
  /// or changed are resolved ("rule deleted" / "rule changed"); their state
  /// is dropped, and a changed rule starts afresh.
  std::vector<AlertTransition> set_rules(const std::vector<AlertRule>& rules, TimeMs now_ms);

  /// An agent as it is (at start, from the registry).
  void add_agent(const AlertAgentFacts& facts);
  /// An alert firing in the log (at start): the evaluator resolves it when
  /// it sees its condition false.
  void restore_firing(const AlertRecord& alert);

  /// One heartbeat's metrics (the hot path).
  std::vector<AlertTransition> on_metrics(const AgentId& agent_id, std::string_view org, TimeMs heard_at_ms,
                                          const std::map<std::string, double>& metrics);
  /// A batch of the log, folded by every read model already.
  std::vector<AlertTransition> on_batch(const std::vector<Event>& batch, TimeMs now_ms);
  /// The periodic pass.
  std::vector<AlertTransition> tick(TimeMs now_ms);

  /// The alerts pending now (of `org_scope`: "*" or empty for all).
  std::vector<PendingAlert> pending(std::string_view org_scope) const;
  /// What the rule would fire for now, ignoring `for` and what fires already
  /// (the rule test): subjects whose condition holds, with the details.
  std::vector<AlertTransition> evaluate_now(const AlertRule& rule, TimeMs now_ms) const;

  /// Bytes the evaluator holds (agents, per-rule state; approximate: the
  /// allocations it makes, with 16 bytes of malloc overhead each).
  std::size_t state_bytes() const;
  /// Agents it knows.
  std::size_t agents() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace muster
