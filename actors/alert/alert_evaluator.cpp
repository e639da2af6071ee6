#include "actors/alert/alert_evaluator.hpp"

#include <algorithm>
#include <cmath>
#include <set>
#include <unordered_map>

#include <fmt/format.h>

#include "actors/agent/agent_events.hpp"
#include "actors/group/group_state.hpp"
#include "actors/organization.hpp"
#include "actors/rollout/rollout_state.hpp"
#include "actors/runtime/stream_id.hpp"
#include "common/interned.hpp"
#include "projections/config_model.hpp"

namespace muster {
namespace {

using nlohmann::json;

constexpr std::size_t kMallocOverhead = 16;
constexpr std::uint8_t kAlertPart = 0xff;

// Key of a (rule, part, agent) entry in a shard: serial (24 bits), part (8), local index (32).
std::uint64_t entry_key(std::uint32_t serial, std::uint8_t part, std::uint32_t local) {
  return (static_cast<std::uint64_t>(serial) << 40) | (static_cast<std::uint64_t>(part) << 32) | local;
}
std::uint32_t serial_of(std::uint64_t key) {
  return static_cast<std::uint32_t>(key >> 40);
}
std::uint8_t part_of(std::uint64_t key) {
  return static_cast<std::uint8_t>(key >> 32);
}
std::uint32_t local_of(std::uint64_t key) {
  return static_cast<std::uint32_t>(key);
}

// How a threshold's function over its window relates to its samples.
enum class Shape {
  latest,  ///< last, avg: the condition is what the latest evaluation said.
  every,   ///< max <, max <=, min >, min >=: every sample of the window violates.
  some,    ///< max >, max >=, min <, min <=: some sample of the window violates.
};

Shape shape_of(const ThresholdCondition& threshold) {
  if (threshold.fn == ThresholdFn::last || threshold.fn == ThresholdFn::avg) return Shape::latest;
  const bool upward = threshold.op == CompareOp::greater || threshold.op == CompareOp::greater_or_equal;
  return (threshold.fn == ThresholdFn::max) == upward ? Shape::some : Shape::every;
}

struct Slot {
  AgentId id;
  InternedString org;
  InternedLabels labels;
  /// Bit (serial % 64) set once the agent had an entry of that rule: a
  /// heartbeat within bounds skips the lookups of rules whose bit is clear.
  std::uint64_t marks = 0;
  TimeMs offline_since_ms = 0;
  AgentStatus status = AgentStatus::online;
  ConfigStatus config = ConfigStatus::none;
};

// A part's condition on one agent, kept while it holds (or, for a "some"
// threshold or a report, while a violating sample or report is within the window).
struct CondState {
  TimeMs first_ms = 0;  ///< When it began to hold (the run's or the first violation's time).
  TimeMs last_ms = 0;   ///< The latest violating sample or report.
  double value = 0;     ///< The latest value seen (thresholds).
};

// An alert of an agent the evaluator holds: pending or firing.
struct AlertSlot {
  TimeMs pending_since_ms = 0;
  bool firing = false;
  bool restored = false;  ///< Firing in the log at start, not seen evaluated from a sample since.
};

struct AvgBuckets {
  std::uint32_t newest = 0;  ///< The newest bucket's number (time / width), 0: empty.
  float sum[AlertEvaluator::kAvgBuckets] = {};
  std::uint8_t count[AlertEvaluator::kAvgBuckets] = {};

  // Adds `value` at bucket `bucket`; returns the average over the window.
  double add(std::uint32_t bucket, double value) {
    constexpr std::uint32_t n = AlertEvaluator::kAvgBuckets;
    if (newest == 0 || bucket >= newest + n) {
      std::fill(std::begin(sum), std::end(sum), 0.0F);
      std::fill(std::begin(count), std::end(count), std::uint8_t{0});
      newest = bucket;
    } else if (bucket > newest) {
      for (std::uint32_t clear = newest + 1; clear <= bucket; ++clear) {
        sum[clear % n] = 0;
        count[clear % n] = 0;
      }
      newest = bucket;
    }
    if (bucket + n > newest && count[bucket % n] < 255) {
      sum[bucket % n] += static_cast<float>(value);
      ++count[bucket % n];
    }
    double total = 0;
    unsigned samples = 0;
    for (std::uint32_t index = 0; index < n; ++index) {
      total += sum[index];
      samples += count[index];
    }
    return samples == 0 ? value : total / samples;
  }
};

struct CompiledRule {
  std::uint32_t serial = 0;
  AlertRule rule;
  std::vector<AgentCondition> parts;  ///< Per-agent rules: their condition(s).
  bool all = true;
  bool has_threshold = false;
  bool org_level = false;  ///< fleet, rollout paused: one subject per rule.
  AlertSubject org_subject;
};

struct RuleSet {
  std::vector<CompiledRule> rules;
  std::map<std::uint32_t, std::size_t> by_serial;
  /// Per org: its per-agent rules (indexes into `rules`).
  std::map<std::string, std::vector<std::size_t>, std::less<>> agent_rules;
  /// Per org, per metric: (rule index, part) of its threshold parts.
  std::map<std::string, std::map<std::string, std::vector<std::pair<std::size_t, std::uint8_t>>>, std::less<>>
      metric_parts;
  /// Per org: its org-level rules.
  std::map<std::string, std::vector<std::size_t>, std::less<>> org_rules;

  const CompiledRule* find(std::uint32_t serial) const {
    const auto found = by_serial.find(serial);
    return found == by_serial.end() ? nullptr : &rules[found->second];
  }
};

struct Shard {
  mutable std::mutex mutex;
  std::unordered_map<AgentId, std::uint32_t, AgentIdHash> index;
  std::vector<Slot> slots;
  std::unordered_map<std::uint64_t, CondState> conditions;
  std::unordered_map<std::uint64_t, AlertSlot> alerts;
  /// Per (serial << 8 | part) of an avg threshold: buckets by local index.
  std::unordered_map<std::uint32_t, std::vector<AvgBuckets>> averages;
};

// An org-level rule's state (fleet, rollout paused).
struct OrgLevel {
  std::uint64_t in_scope = 0;
  std::uint64_t bad = 0;
  TimeMs pending_since_ms = 0;
  bool firing = false;
  bool restored = false;
  bool counted = false;
};

struct RolloutSeen {
  std::string org;
  std::optional<std::string> group;
  bool paused = false;
};

bool bad_for(FleetCondition condition, const Slot& slot) {
  switch (condition) {
    case FleetCondition::offline:
      return slot.status == AgentStatus::offline;
    case FleetCondition::degraded:
      return slot.status == AgentStatus::degraded;
    case FleetCondition::config_failed:
      return slot.config == ConfigStatus::failed;
    case FleetCondition::config_drifted:
      return slot.config == ConfigStatus::drifted;
  }
  return false;
}

bool listed(const Slot& slot) {
  return slot.status == AgentStatus::online || slot.status == AgentStatus::degraded ||
         slot.status == AgentStatus::offline;
}

std::string describe(const ThresholdCondition& threshold) {
  return fmt::format("{} {} {} {} {}", threshold.metric, to_string(threshold.fn), format_duration(threshold.window_ms),
                     to_string(threshold.op), threshold.value);
}

std::string describe(const AgentCondition& condition) {
  switch (condition.kind) {
    case AlertRuleKind::threshold:
      return describe(condition.threshold);
    case AlertRuleKind::absence:
      return "offline";
    default:
      break;
  }
  switch (condition.status.check) {
    case StatusCheck::agent_degraded:
      return "degraded";
    case StatusCheck::config_failed:
      return "config failed";
    case StatusCheck::config_drifted:
      return "config drifted";
    case StatusCheck::rollout_paused:
      return "rollout paused";
    case StatusCheck::report_type:
      return "reported " + condition.status.report_type;
  }
  return "";
}

}  // namespace

struct AlertEvaluator::Impl {
  explicit Impl(const ConfigModel* config_in) : config(config_in), shards(kShards) {}

  const ConfigModel* config;
  std::vector<Shard> shards;

  mutable std::mutex rules_mutex;
  std::shared_ptr<const RuleSet> rule_set = std::make_shared<RuleSet>();  ///< Guarded by rules_mutex.
  /// The same set for the heartbeats' path, read without a lock or a
  /// reference count. Every set ever published stays alive in `published`
  /// (rules change rarely; a set is a few KB) so a heartbeat never reads a freed one.
  std::atomic<const RuleSet*> hot_rules{nullptr};
  std::vector<std::shared_ptr<const RuleSet>> published;  ///< Guarded by rules_mutex.
  std::map<std::string, std::pair<std::uint32_t, AlertRuleSpec>> serials;  ///< rule id -> serial, spec.
  std::uint32_t next_serial = 1;

  /// Org-level rules' state and the rollouts seen; guarded by org_mutex.
  mutable std::mutex org_mutex;
  std::map<std::uint32_t, OrgLevel> org_levels;
  std::map<std::string, RolloutSeen> rollouts;
  /// Firing alerts of org-level rules restored at start, by alert id.
  std::set<std::string> restored_org_alerts;

  std::shared_ptr<const RuleSet> current_rules() const {
    std::lock_guard<std::mutex> lock(rules_mutex);
    return rule_set;
  }

  Shard& shard_for(const AgentId& id) { return shards[AgentIdHash{}(id) % kShards]; }
  const Shard& shard_for(const AgentId& id) const { return shards[AgentIdHash{}(id) % kShards]; }

  // The slot of `id` (shard locked), created with `org` when absent.
  std::uint32_t slot_of(Shard& shard, const AgentId& id, std::string_view org) {
    const auto found = shard.index.find(id);
    if (found != shard.index.end()) return found->second;
    const auto local = static_cast<std::uint32_t>(shard.slots.size());
    Slot slot;
    slot.id = id;
    slot.org = InternedString::of(std::string(org));
    shard.slots.push_back(slot);
    shard.index.emplace(id, local);
    return local;
  }

  bool covers(const CompiledRule& rule, const Slot& slot) const {
    if (*slot.org != rule.rule.org || !listed(slot)) return false;
    const AlertScope& scope = rule.rule.spec.scope;
    switch (scope.kind) {
      case AlertScope::Kind::group:
        return config != nullptr && config->in_group(slot.id, scope.group);
      case AlertScope::Kind::labels:
        return selector_matches(scope.labels, slot.labels.get());
      case AlertScope::Kind::agents:
        return std::binary_search(scope.agents.begin(), scope.agents.end(), slot.id);
      case AlertScope::Kind::all:
        break;
    }
    return true;
  }

  // --- Conditions ------------------------------------------------------------------

  // When part `part` of `rule` holds for the agent at `now_ms` (nullopt: it does not).
  std::optional<TimeMs> part_since(const Shard& shard, const CompiledRule& rule, std::uint8_t part,
                                   std::uint32_t local, TimeMs now_ms, double* value) const {
    const auto found = shard.conditions.find(entry_key(rule.serial, part, local));
    if (found == shard.conditions.end()) return std::nullopt;
    const CondState& state = found->second;
    const AgentCondition& condition = rule.parts[part];
    if (value != nullptr && condition.kind == AlertRuleKind::threshold) *value = state.value;
    if (condition.kind == AlertRuleKind::threshold) {
      switch (shape_of(condition.threshold)) {
        case Shape::latest:
          return state.first_ms;
        case Shape::every:
          if (now_ms - state.first_ms < condition.threshold.window_ms) return std::nullopt;
          return state.first_ms + condition.threshold.window_ms;
        case Shape::some:
          if (now_ms - state.last_ms >= condition.threshold.window_ms) return std::nullopt;
          return state.first_ms;
      }
    }
    if (condition.kind == AlertRuleKind::status && condition.status.check == StatusCheck::report_type &&
        now_ms - state.last_ms >= condition.status.window_ms) {
      return std::nullopt;
    }
    return state.first_ms;
  }

  // When the rule's condition holds for the agent (nullopt: it does not).
  // With `details`, also what was seen (only when firing: it allocates).
  std::optional<TimeMs> rule_since(const Shard& shard, const CompiledRule& rule, std::uint32_t local, TimeMs now_ms,
                                   json* details) const {
    std::optional<TimeMs> since;
    bool any = false;
    json parts;
    for (std::size_t part = 0; part < rule.parts.size(); ++part) {
      double value = std::nan("");
      const auto held = part_since(shard, rule, static_cast<std::uint8_t>(part), local, now_ms, &value);
      if (rule.all && !held) return std::nullopt;
      if (!held) continue;
      any = true;
      since = !since ? held : (rule.all ? std::max(*since, *held) : std::min(*since, *held));
      if (details == nullptr) continue;
      json seen{{"condition", describe(rule.parts[part])}};
      if (!std::isnan(value)) seen["value"] = value;
      if (rule.parts[part].kind == AlertRuleKind::threshold) seen["threshold"] = rule.parts[part].threshold.value;
      parts.push_back(std::move(seen));
    }
    if (!any) return std::nullopt;
    if (details != nullptr) {
      *details = parts.size() == 1 && rule.rule.spec.kind != AlertRuleKind::composite ? parts[0]
                                                                                      : json{{"parts", parts}};
    }
    return since;
  }

  AlertTransition fire(const CompiledRule& rule, const Slot& slot, TimeMs since, json details) const {
    AlertTransition out;
    out.kind = AlertTransition::Kind::fire;
    out.org = rule.rule.org;
    out.rule_id = rule.rule.rule_id;
    out.subject = AlertSubject{AlertSubjectKind::agent, slot.id.to_string()};
    out.pending_since_ms = since;
    std::string what;
    if (details.contains("parts")) {
      for (const json& part : details["parts"]) {
        if (!what.empty()) what += rule.all ? " and " : " or ";
        what += part["condition"].get<std::string>();
      }
    } else {
      what = details.value("condition", std::string());
      if (details.contains("value") && details["value"].is_number()) {
        what += fmt::format(" (value {})", details["value"].get<double>());
      }
    }
    out.summary = fmt::format("{}: agent {}: {}", rule.rule.spec.name, out.subject.id, what);
    out.details = std::move(details);
    return out;
  }

  static AlertTransition resolve(const CompiledRule& rule, AlertSubject subject, std::string reason) {
    AlertTransition out;
    out.kind = AlertTransition::Kind::resolve;
    out.org = rule.rule.org;
    out.rule_id = rule.rule.rule_id;
    out.subject = std::move(subject);
    out.reason = std::move(reason);
    return out;
  }

  // Evaluates `rule` for one agent (shard locked) and moves its alert.
  void evaluate(Shard& shard, const CompiledRule& rule, std::uint32_t local, TimeMs now_ms, bool from_sample,
                std::vector<AlertTransition>& out) {
    const Slot& slot = shard.slots[local];
    const std::uint64_t key = entry_key(rule.serial, kAlertPart, local);
    const bool covered = covers(rule, slot);
    const std::optional<TimeMs> since = covered ? rule_since(shard, rule, local, now_ms, nullptr) : std::nullopt;
    auto found = shard.alerts.find(key);
    if (!since) {
      if (found == shard.alerts.end()) return;
      AlertSlot& alert = found->second;
      // A restored alert of a threshold waits for a sample: the evaluator
      // lost its window at the restart.
      if (alert.restored && rule.has_threshold && !from_sample && covered) return;
      if (alert.firing) out.push_back(resolve(rule, AlertSubject{AlertSubjectKind::agent, slot.id.to_string()},
                                              "condition cleared"));
      shard.alerts.erase(found);
      return;
    }
    if (found == shard.alerts.end()) {
      found = shard.alerts.emplace(key, AlertSlot{*since, false, false}).first;
      shard.slots[local].marks |= mark_of(rule);
    }
    AlertSlot& alert = found->second;
    if (from_sample) alert.restored = false;
    if (alert.pending_since_ms == 0) alert.pending_since_ms = *since;
    if (!alert.firing && now_ms >= alert.pending_since_ms + rule.rule.spec.for_ms) {
      alert.firing = true;
      json details;
      rule_since(shard, rule, local, now_ms, &details);
      out.push_back(fire(rule, slot, alert.pending_since_ms, std::move(details)));
    }
  }

  // Sets or clears part `part`'s condition entry for an agent.
  static std::uint64_t mark_of(const CompiledRule& rule) { return std::uint64_t{1} << (rule.serial % 64); }

  static void set_condition(Shard& shard, const CompiledRule& rule, std::uint8_t part, std::uint32_t local, bool holds,
                            TimeMs since_ms, TimeMs now_ms) {
    const std::uint64_t key = entry_key(rule.serial, part, local);
    if (!holds) {
      shard.conditions.erase(key);
      return;
    }
    shard.slots[local].marks |= mark_of(rule);
    auto [entry, created] = shard.conditions.try_emplace(key, CondState{since_ms, now_ms, 0});
    if (!created) entry->second.last_ms = now_ms;
  }

  // Re-derives the status parts of every per-agent rule of the agent's org
  // from its slot, then evaluates those rules.
  void refresh_agent(Shard& shard, const RuleSet& rules, std::uint32_t local, TimeMs now_ms,
                     std::vector<AlertTransition>& out, const std::set<std::uint32_t>* only = nullptr) {
    const Slot& slot = shard.slots[local];
    const auto found = rules.agent_rules.find(*slot.org);
    if (found == rules.agent_rules.end()) return;
    for (const std::size_t index : found->second) {
      const CompiledRule& rule = rules.rules[index];
      if (only != nullptr && only->count(rule.serial) == 0) continue;
      bool status_part = false;
      for (std::size_t part = 0; part < rule.parts.size(); ++part) {
        const AgentCondition& condition = rule.parts[part];
        const auto p = static_cast<std::uint8_t>(part);
        if (condition.kind == AlertRuleKind::absence) {
          status_part = true;
          const bool offline = slot.status == AgentStatus::offline;
          const auto existing = shard.conditions.find(entry_key(rule.serial, p, local));
          if (offline && existing != shard.conditions.end()) continue;
          set_condition(shard, rule, p, local, offline, slot.offline_since_ms, now_ms);
        } else if (condition.kind == AlertRuleKind::status) {
          bool holds = false;
          switch (condition.status.check) {
            case StatusCheck::agent_degraded:
              holds = slot.status == AgentStatus::degraded;
              break;
            case StatusCheck::config_failed:
              holds = slot.config == ConfigStatus::failed;
              break;
            case StatusCheck::config_drifted:
              holds = slot.config == ConfigStatus::drifted;
              break;
            default:
              continue;  // reports: set by the report itself
          }
          status_part = true;
          const auto existing = shard.conditions.find(entry_key(rule.serial, p, local));
          if (holds && existing != shard.conditions.end()) continue;
          set_condition(shard, rule, p, local, holds, now_ms, now_ms);
        }
      }
      if (status_part || !covers(rule, slot)) evaluate(shard, rule, local, now_ms, false, out);
    }
  }

  // A group of `org` changed: its members may have joined or left the scope
  // of per-agent rules scoped by a group. Re-derives those rules' status
  // conditions for every agent of the org (a walk of the org's agents, only
  // on a group's change) and evaluates them, so joiners that already hold
  // the condition go pending and leavers' alerts resolve.
  void refresh_group_scoped(const RuleSet& rules, std::string_view org, TimeMs now_ms,
                            std::vector<AlertTransition>& out) {
    const auto found = rules.agent_rules.find(org);
    if (found == rules.agent_rules.end()) return;
    std::set<std::uint32_t> scoped;
    for (const std::size_t index : found->second) {
      if (rules.rules[index].rule.spec.scope.kind == AlertScope::Kind::group) scoped.insert(rules.rules[index].serial);
    }
    if (scoped.empty()) return;
    for (Shard& shard : shards) {
      std::lock_guard<std::mutex> lock(shard.mutex);
      for (std::uint32_t local = 0; local < shard.slots.size(); ++local) {
        if (*shard.slots[local].org != org) continue;
        refresh_agent(shard, rules, local, now_ms, out, &scoped);
        // Rules without a status part (thresholds) are evaluated too: leavers resolve.
        for (const std::size_t index : found->second) {
          const CompiledRule& rule = rules.rules[index];
          if (scoped.count(rule.serial) != 0 && (shard.slots[local].marks & mark_of(rule)) != 0) {
            evaluate(shard, rule, local, now_ms, false, out);
          }
        }
      }
    }
  }

  // --- Org-level rules ---------------------------------------------------------------

  // Counts a fleet rule's agents (org_mutex held; takes each shard's lock).
  void recount(const CompiledRule& rule, OrgLevel& level) {
    level.in_scope = 0;
    level.bad = 0;
    for (Shard& shard : shards) {
      std::lock_guard<std::mutex> lock(shard.mutex);
      for (const Slot& slot : shard.slots) {
        if (!covers(rule, slot)) continue;
        ++level.in_scope;
        if (bad_for(rule.rule.spec.fleet_condition, slot)) ++level.bad;
      }
    }
    level.counted = true;
  }

  bool rollout_paused_for(const CompiledRule& rule, std::vector<std::string>* which) const {
    bool paused = false;
    for (const auto& [id, rollout] : rollouts) {
      if (!rollout.paused || rollout.org != rule.rule.org) continue;
      const AlertScope& scope = rule.rule.spec.scope;
      if (scope.kind == AlertScope::Kind::group && rollout.group != scope.group) continue;
      paused = true;
      if (which != nullptr) which->push_back(id);
    }
    return paused;
  }

  // Evaluates an org-level rule (org_mutex held).
  void evaluate_org_level(const CompiledRule& rule, OrgLevel& level, TimeMs now_ms, std::vector<AlertTransition>& out) {
    bool holds = false;
    json details;
    std::string what;
    if (rule.rule.spec.kind == AlertRuleKind::fleet) {
      if (!level.counted) recount(rule, level);
      const double share = level.in_scope == 0 ? 0.0 : 100.0 * static_cast<double>(level.bad) /
                                                            static_cast<double>(level.in_scope);
      holds = level.in_scope > 0 && share > rule.rule.spec.share_percent;
      details = {{"condition", to_string(rule.rule.spec.fleet_condition)},
                 {"agents", level.in_scope},
                 {"in_condition", level.bad},
                 {"share_percent", share},
                 {"threshold", rule.rule.spec.share_percent}};
      what = fmt::format("{} of {} agents {} ({:.1f}% > {}%)", level.bad, level.in_scope,
                         to_string(rule.rule.spec.fleet_condition), share, rule.rule.spec.share_percent);
    } else {
      std::vector<std::string> which;
      holds = rollout_paused_for(rule, &which);
      details = {{"condition", "rollout paused"}, {"rollouts", which}};
      what = fmt::format("{} rollout(s) paused", which.size());
    }
    if (!holds) {
      if (level.firing) out.push_back(resolve(rule, rule.org_subject, "condition cleared"));
      level.firing = false;
      level.restored = false;
      level.pending_since_ms = 0;
      return;
    }
    level.restored = false;
    if (level.pending_since_ms == 0) level.pending_since_ms = now_ms;
    if (!level.firing && now_ms >= level.pending_since_ms + rule.rule.spec.for_ms) {
      level.firing = true;
      AlertTransition fired;
      fired.kind = AlertTransition::Kind::fire;
      fired.org = rule.rule.org;
      fired.rule_id = rule.rule.rule_id;
      fired.subject = rule.org_subject;
      fired.pending_since_ms = level.pending_since_ms;
      fired.summary = fmt::format("{}: {} {}: {}", rule.rule.spec.name, to_string(rule.org_subject.kind),
                                  rule.org_subject.id, what);
      fired.details = std::move(details);
      out.push_back(std::move(fired));
    }
  }

  void evaluate_org_rules(const RuleSet& rules, std::string_view org, TimeMs now_ms,
                          std::vector<AlertTransition>& out) {
    const auto found = rules.org_rules.find(org);
    if (found == rules.org_rules.end()) return;
    std::lock_guard<std::mutex> lock(org_mutex);
    for (const std::size_t index : found->second) {
      const CompiledRule& rule = rules.rules[index];
      evaluate_org_level(rule, org_levels[rule.serial], now_ms, out);
    }
  }

  // Adjusts the fleet counts of `org` for one agent going from `before` to
  // `after` (its membership unchanged).
  void count_change(const RuleSet& rules, const Slot& before, const Slot& after) {
    const auto found = rules.org_rules.find(*after.org);
    if (found == rules.org_rules.end()) return;
    std::lock_guard<std::mutex> lock(org_mutex);
    for (const std::size_t index : found->second) {
      const CompiledRule& rule = rules.rules[index];
      if (rule.rule.spec.kind != AlertRuleKind::fleet) continue;
      OrgLevel& level = org_levels[rule.serial];
      if (!level.counted) continue;  // counted whole at its next evaluation
      const bool was_in = covers(rule, before);
      const bool is_in = covers(rule, after);
      const bool was_bad = was_in && bad_for(rule.rule.spec.fleet_condition, before);
      const bool is_bad = is_in && bad_for(rule.rule.spec.fleet_condition, after);
      level.in_scope = level.in_scope + (is_in ? 1 : 0) - (was_in ? 1 : 0);
      level.bad = level.bad + (is_bad ? 1 : 0) - (was_bad ? 1 : 0);
    }
  }

  void recount_org(const RuleSet& rules, std::string_view org) {
    const auto found = rules.org_rules.find(org);
    if (found == rules.org_rules.end()) return;
    std::lock_guard<std::mutex> lock(org_mutex);
    for (const std::size_t index : found->second) {
      if (rules.rules[index].rule.spec.kind == AlertRuleKind::fleet) org_levels[rules.rules[index].serial].counted = false;
    }
  }

  // --- Agents' events --------------------------------------------------------------------

  void on_agent_event(const RuleSet& rules, const AgentId& id, const AgentEvent& event, TimeMs event_ms,
                      TimeMs now_ms, std::set<std::string>& orgs_touched, std::set<std::string>& orgs_recount,
                      std::vector<AlertTransition>& out) {
    Shard& shard = shard_for(id);
    std::unique_lock<std::mutex> lock(shard.mutex);
    if (const auto* registered = std::get_if<AgentRegistered>(&event)) {
      const std::uint32_t local = slot_of(shard, id, *registered->org);
      Slot& slot = shard.slots[local];
      slot.org = registered->org;
      slot.labels = registered->profile.labels;
      slot.status = AgentStatus::online;
      slot.config = ConfigStatus::none;
      orgs_recount.insert(*slot.org);
      orgs_touched.insert(*slot.org);
      return;
    }
    const auto found = shard.index.find(id);
    if (found == shard.index.end()) return;  // never registered while watched: the start-up walk adds it
    const std::uint32_t local = found->second;
    Slot& slot = shard.slots[local];
    const Slot before = slot;
    bool membership = false;
    if (const auto* updated = std::get_if<AgentUpdated>(&event)) {
      if (!updated->changes.labels) return;
      slot.labels = *updated->changes.labels;
      membership = true;
    } else if (const auto* changed = std::get_if<AgentStatusChanged>(&event)) {
      slot.status = changed->to;
    } else if (const auto* offline = std::get_if<AgentWentOffline>(&event)) {
      slot.status = AgentStatus::offline;
      slot.offline_since_ms = offline->last_seen_ms > 0 ? offline->last_seen_ms : event_ms;
    } else if (const auto* online = std::get_if<AgentCameOnline>(&event)) {
      slot.status = online->status;
    } else if (std::holds_alternative<AgentDeregistered>(event) ||
               std::holds_alternative<AgentDecommissioned>(event)) {
      slot.status = AgentStatus::unregistered;
      membership = true;
      // Every alert of the agent resolves; its state goes.
      const auto org_rules = rules.agent_rules.find(*slot.org);
      if (org_rules != rules.agent_rules.end()) {
        for (const std::size_t index : org_rules->second) {
          const CompiledRule& rule = rules.rules[index];
          const auto alert = shard.alerts.find(entry_key(rule.serial, kAlertPart, local));
          if (alert != shard.alerts.end()) {
            if (alert->second.firing) {
              out.push_back(resolve(rule, AlertSubject{AlertSubjectKind::agent, id.to_string()}, "agent removed"));
            }
            shard.alerts.erase(alert);
          }
          for (std::size_t part = 0; part < rule.parts.size(); ++part) {
            shard.conditions.erase(entry_key(rule.serial, static_cast<std::uint8_t>(part), local));
          }
        }
      }
    } else if (const auto* reported = std::get_if<AgentReported>(&event)) {
      const auto org_rules = rules.agent_rules.find(*slot.org);
      if (org_rules == rules.agent_rules.end()) return;
      for (const std::size_t index : org_rules->second) {
        const CompiledRule& rule = rules.rules[index];
        bool matched = false;
        for (std::size_t part = 0; part < rule.parts.size(); ++part) {
          const AgentCondition& condition = rule.parts[part];
          if (condition.kind != AlertRuleKind::status || condition.status.check != StatusCheck::report_type ||
              condition.status.report_type != reported->type) {
            continue;
          }
          matched = true;
          const std::uint64_t key = entry_key(rule.serial, static_cast<std::uint8_t>(part), local);
          auto entry = shard.conditions.find(key);
          // A report after the previous one's window begins a new run.
          if (entry != shard.conditions.end() && event_ms - entry->second.last_ms >= condition.status.window_ms) {
            shard.conditions.erase(entry);
          }
          set_condition(shard, rule, static_cast<std::uint8_t>(part), local, true, event_ms, event_ms);
        }
        if (matched) evaluate(shard, rule, local, now_ms, false, out);
      }
      return;
    } else if (std::holds_alternative<AgentConfigReported>(event) ||
               std::holds_alternative<AgentEffectiveConfigReported>(event) ||
               std::holds_alternative<AgentAssignmentSet>(event)) {
      if (config != nullptr) slot.config = config->config_status_of(id);
    } else {
      return;
    }
    orgs_touched.insert(*slot.org);
    refresh_agent(shard, rules, local, now_ms, out);
    const Slot after = slot;
    // Counts take the org lock, which is taken before shards' elsewhere: not under this shard's.
    lock.unlock();
    if (membership) {
      orgs_recount.insert(*after.org);
    } else {
      count_change(rules, before, after);
    }
  }
};

AlertEvaluator::AlertEvaluator(const ConfigModel* config) : impl_(std::make_unique<Impl>(config)) {}

AlertEvaluator::~AlertEvaluator() = default;

std::vector<AlertTransition> AlertEvaluator::set_rules(const std::vector<AlertRule>& rules, TimeMs now_ms) {
  std::vector<AlertTransition> out;
  auto next = std::make_shared<RuleSet>();
  std::shared_ptr<const RuleSet> previous;
  std::set<std::uint32_t> kept;
  {
    std::lock_guard<std::mutex> lock(impl_->rules_mutex);
    previous = impl_->rule_set;
    std::map<std::string, std::pair<std::uint32_t, AlertRuleSpec>> serials;
    for (const AlertRule& rule : rules) {
      if (!rule.live()) continue;
      CompiledRule compiled;
      const auto known = impl_->serials.find(rule.rule_id);
      if (known != impl_->serials.end() && known->second.second == rule.spec) {
        compiled.serial = known->second.first;
        kept.insert(compiled.serial);
      } else {
        compiled.serial = impl_->next_serial++;
      }
      serials[rule.rule_id] = {compiled.serial, rule.spec};
      compiled.rule = rule;
      const AlertRuleSpec& spec = rule.spec;
      compiled.org_level = !spec.per_agent();
      if (spec.kind == AlertRuleKind::composite) {
        compiled.parts = spec.parts;
        compiled.all = spec.composite_all;
      } else if (!compiled.org_level) {
        compiled.parts = {spec.condition};
      }
      for (const AgentCondition& part : compiled.parts) {
        if (part.kind == AlertRuleKind::threshold) compiled.has_threshold = true;
      }
      compiled.org_subject = spec.scope.kind == AlertScope::Kind::group
                                 ? AlertSubject{AlertSubjectKind::group, spec.scope.group}
                                 : AlertSubject{AlertSubjectKind::org, rule.org};
      const std::size_t index = next->rules.size();
      next->by_serial[compiled.serial] = index;
      if (compiled.org_level) {
        next->org_rules[rule.org].push_back(index);
      } else {
        next->agent_rules[rule.org].push_back(index);
        for (std::size_t part = 0; part < compiled.parts.size(); ++part) {
          if (compiled.parts[part].kind != AlertRuleKind::threshold) continue;
          next->metric_parts[rule.org][compiled.parts[part].threshold.metric].emplace_back(
              index, static_cast<std::uint8_t>(part));
        }
      }
      next->rules.push_back(std::move(compiled));
    }
    impl_->serials = std::move(serials);
    impl_->rule_set = next;
    impl_->published.push_back(next);
    impl_->hot_rules.store(next.get(), std::memory_order_release);
  }
  // Alerts of rules gone or changed resolve; their state goes.
  for (const CompiledRule& old : previous->rules) {
    if (kept.count(old.serial) != 0) continue;
    const bool deleted = std::none_of(rules.begin(), rules.end(), [&](const AlertRule& rule) {
      return rule.live() && rule.rule_id == old.rule.rule_id;
    });
    const std::string reason = deleted ? "rule deleted" : "rule changed";
    for (Shard& shard : impl_->shards) {
      std::lock_guard<std::mutex> lock(shard.mutex);
      for (auto entry = shard.alerts.begin(); entry != shard.alerts.end();) {
        if (serial_of(entry->first) != old.serial) {
          ++entry;
          continue;
        }
        if (entry->second.firing) {
          out.push_back(Impl::resolve(old, AlertSubject{AlertSubjectKind::agent,
                                                        shard.slots[local_of(entry->first)].id.to_string()},
                                      reason));
        }
        entry = shard.alerts.erase(entry);
      }
      for (auto entry = shard.conditions.begin(); entry != shard.conditions.end();) {
        entry = serial_of(entry->first) == old.serial ? shard.conditions.erase(entry) : std::next(entry);
      }
      for (std::size_t part = 0; part < old.parts.size(); ++part) shard.averages.erase(old.serial << 8 | part);
    }
    std::lock_guard<std::mutex> lock(impl_->org_mutex);
    const auto level = impl_->org_levels.find(old.serial);
    if (level != impl_->org_levels.end()) {
      if (level->second.firing) out.push_back(Impl::resolve(old, old.org_subject, reason));
      impl_->org_levels.erase(level);
    }
  }
  // New org-level rules: alerts restored firing for them.
  {
    std::lock_guard<std::mutex> lock(impl_->org_mutex);
    for (const CompiledRule& rule : next->rules) {
      if (!rule.org_level || kept.count(rule.serial) != 0) continue;
      OrgLevel& level = impl_->org_levels[rule.serial];
      if (impl_->restored_org_alerts.count(alert_id_for(rule.rule.rule_id, rule.org_subject)) != 0) {
        level.firing = true;
        level.restored = true;
      }
    }
  }
  // Status and absence conditions of new rules: from what the agents are now.
  std::set<std::uint32_t> fresh;
  for (const CompiledRule& rule : next->rules) {
    if (!rule.org_level && kept.count(rule.serial) == 0) fresh.insert(rule.serial);
  }
  if (fresh.empty()) {
    for (const auto& [org, indexes] : next->org_rules) impl_->evaluate_org_rules(*next, org, now_ms, out);
    return out;
  }
  for (Shard& shard : impl_->shards) {
    std::lock_guard<std::mutex> lock(shard.mutex);
    for (std::uint32_t local = 0; local < shard.slots.size(); ++local) {
      impl_->refresh_agent(shard, *next, local, now_ms, out, &fresh);
    }
  }
  for (const auto& [org, indexes] : next->org_rules) impl_->evaluate_org_rules(*next, org, now_ms, out);
  return out;
}

void AlertEvaluator::add_agent(const AlertAgentFacts& facts) {
  Shard& shard = impl_->shard_for(facts.agent_id);
  std::lock_guard<std::mutex> lock(shard.mutex);
  const std::uint32_t local = impl_->slot_of(shard, facts.agent_id, facts.org);
  Slot& slot = shard.slots[local];
  slot.labels = InternedLabels::of(facts.labels);
  slot.status = facts.status;
  slot.config = facts.config_status;
  slot.offline_since_ms = facts.last_seen_ms;
}

void AlertEvaluator::restore_firing(const AlertRecord& alert) {
  if (!alert.firing()) return;
  if (alert.subject.kind != AlertSubjectKind::agent) {
    std::lock_guard<std::mutex> lock(impl_->org_mutex);
    impl_->restored_org_alerts.insert(alert.alert_id);
    return;
  }
  const auto agent_id = AgentId::parse(alert.subject.id);
  if (!agent_id) return;
  const auto rules = impl_->current_rules();
  std::uint32_t serial = 0;
  for (const CompiledRule& rule : rules->rules) {
    if (rule.rule.rule_id == alert.rule_id) serial = rule.serial;
  }
  if (serial == 0) return;
  Shard& shard = impl_->shard_for(*agent_id);
  std::lock_guard<std::mutex> lock(shard.mutex);
  const std::uint32_t local = impl_->slot_of(shard, *agent_id, alert.org);
  shard.alerts[entry_key(serial, kAlertPart, local)] = AlertSlot{alert.pending_since_ms, true, true};
  shard.slots[local].marks |= std::uint64_t{1} << (serial % 64);
}

std::vector<AlertTransition> AlertEvaluator::on_metrics(const AgentId& agent_id, std::string_view org,
                                                        TimeMs heard_at_ms,
                                                        const std::map<std::string, double>& metrics) {
  std::vector<AlertTransition> out;
  const RuleSet* rules = impl_->hot_rules.load(std::memory_order_acquire);
  if (rules == nullptr) return out;
  const auto org_parts = rules->metric_parts.find(org);
  if (org_parts == rules->metric_parts.end()) return out;
  Shard& shard = impl_->shard_for(agent_id);
  std::lock_guard<std::mutex> lock(shard.mutex);
  const std::uint32_t local = impl_->slot_of(shard, agent_id, org);
  Slot& slot = shard.slots[local];
  // Rules touched by this heartbeat, evaluated once each after their parts.
  std::size_t touched[64];
  std::size_t touched_count = 0;
  for (const auto& [metric, parts] : org_parts->second) {
    const auto sample = metrics.find(metric);
    if (sample == metrics.end()) continue;
    const double value = sample->second;
    for (const auto& [index, part] : parts) {
      const CompiledRule& rule = rules->rules[index];
      if (!impl_->covers(rule, slot)) continue;
      const ThresholdCondition& threshold = rule.parts[part].threshold;
      double seen = value;
      if (threshold.fn == ThresholdFn::avg) {
        std::vector<AvgBuckets>& buckets = shard.averages[rule.serial << 8 | part];
        if (buckets.size() <= local) buckets.resize(std::max<std::size_t>(local + 1, shard.slots.size()));
        const TimeMs width = std::max<TimeMs>(threshold.window_ms / static_cast<TimeMs>(kAvgBuckets), 1);
        seen = buckets[local].add(static_cast<std::uint32_t>(heard_at_ms / width) + 1, value);
      }
      const bool violates = compare(threshold.op, seen, threshold.value);
      const std::uint64_t mark = Impl::mark_of(rule);
      // Within bounds and never out of them: nothing to clear, nothing to evaluate.
      if (!violates && (slot.marks & mark) == 0) continue;
      if (violates) slot.marks |= mark;
      const std::uint64_t key = entry_key(rule.serial, part, local);
      switch (shape_of(threshold)) {
        case Shape::latest:
        case Shape::every:
          if (!violates) {
            shard.conditions.erase(key);
          } else {
            auto [entry, created] = shard.conditions.try_emplace(key, CondState{heard_at_ms, heard_at_ms, seen});
            if (!created) {
              entry->second.last_ms = heard_at_ms;
              entry->second.value = seen;
            }
          }
          break;
        case Shape::some:
          if (violates) {
            auto [entry, created] = shard.conditions.try_emplace(key, CondState{heard_at_ms, heard_at_ms, seen});
            if (!created) {
              if (heard_at_ms - entry->second.last_ms >= threshold.window_ms) entry->second.first_ms = heard_at_ms;
              entry->second.last_ms = heard_at_ms;
              entry->second.value = seen;
            }
          }
          break;
      }
      if (std::find(touched, touched + touched_count, index) == touched + touched_count && touched_count < 64) {
        touched[touched_count++] = index;
      }
    }
  }
  for (std::size_t i = 0; i < touched_count; ++i) {
    impl_->evaluate(shard, rules->rules[touched[i]], local, heard_at_ms, true, out);
  }
  return out;
}

std::vector<AlertTransition> AlertEvaluator::on_batch(const std::vector<Event>& batch, TimeMs now_ms) {
  std::vector<AlertTransition> out;
  const auto rules = impl_->current_rules();
  std::set<std::string> orgs_touched;
  std::set<std::string> orgs_recount;
  std::set<std::string> orgs_regrouped;
  for (const Event& event : batch) {
    const auto ref = parse_stream(event.stream);
    if (!ref) continue;
    if (ref->kind == kAgentKind) {
      const auto id = AgentId::parse(ref->id);
      if (!id) continue;
      auto payload = decode_payload<AgentEvent>(event.type, event.schema_version, event.data);
      if (!payload) continue;
      impl_->on_agent_event(*rules, *id, *payload, event.time_ms, now_ms, orgs_touched, orgs_recount, out);
    } else if (ref->kind == kGroupKind) {
      if (const auto scoped = split_org_scoped_id(ref->id)) {
        const std::string org(scoped->org);
        orgs_recount.insert(org);
        orgs_touched.insert(org);
        orgs_regrouped.insert(org);
      }
    } else if (ref->kind == kRolloutKind) {
      const auto scoped = split_org_scoped_id(ref->id);
      if (!scoped) continue;
      auto payload = decode_payload<RolloutEvent>(event.type, event.schema_version, event.data);
      if (!payload) continue;
      std::lock_guard<std::mutex> lock(impl_->org_mutex);
      RolloutSeen& rollout = impl_->rollouts[std::string(scoped->name)];
      if (const auto* created = std::get_if<RolloutCreated>(&*payload)) {
        rollout.org = created->org;
        rollout.group = created->target.group;
      } else if (std::holds_alternative<RolloutPaused>(*payload)) {
        rollout.paused = true;
      } else if (std::holds_alternative<RolloutResumed>(*payload) || std::holds_alternative<RolloutAborted>(*payload) ||
                 std::holds_alternative<RolloutRolledBack>(*payload) ||
                 std::holds_alternative<RolloutCompleted>(*payload)) {
        rollout.paused = false;
      }
      orgs_touched.insert(std::string(scoped->org));
    }
  }
  for (const std::string& org : orgs_recount) impl_->recount_org(*rules, org);
  for (const std::string& org : orgs_regrouped) impl_->refresh_group_scoped(*rules, org, now_ms, out);
  for (const std::string& org : orgs_touched) impl_->evaluate_org_rules(*rules, org, now_ms, out);
  // A group's change may move agents out of (or into) a per-agent rule's scope: its active alerts see it at the next tick.
  return out;
}

std::vector<AlertTransition> AlertEvaluator::tick(TimeMs now_ms) {
  std::vector<AlertTransition> out;
  const auto rules = impl_->current_rules();
  for (Shard& shard : impl_->shards) {
    std::lock_guard<std::mutex> lock(shard.mutex);
    // (serial, local) pairs with an alert or a condition that time alone may change.
    std::set<std::pair<std::uint32_t, std::uint32_t>> due;
    for (const auto& [key, alert] : shard.alerts) due.emplace(serial_of(key), local_of(key));
    for (auto entry = shard.conditions.begin(); entry != shard.conditions.end();) {
      const CompiledRule* rule = rules->find(serial_of(entry->first));
      if (rule == nullptr) {
        entry = shard.conditions.erase(entry);
        continue;
      }
      const AgentCondition& condition = rule->parts[part_of(entry->first)];
      const CondState& state = entry->second;
      bool expired = false;
      if (condition.kind == AlertRuleKind::threshold && shape_of(condition.threshold) == Shape::some) {
        expired = now_ms - state.last_ms >= condition.threshold.window_ms;
      } else if (condition.kind == AlertRuleKind::status && condition.status.check == StatusCheck::report_type) {
        expired = now_ms - state.last_ms >= condition.status.window_ms;
      }
      due.emplace(serial_of(entry->first), local_of(entry->first));
      entry = expired ? shard.conditions.erase(entry) : std::next(entry);
    }
    for (const auto& [serial, local] : due) {
      const CompiledRule* rule = rules->find(serial);
      if (rule == nullptr) {
        shard.alerts.erase(entry_key(serial, kAlertPart, local));
        continue;
      }
      impl_->evaluate(shard, *rule, local, now_ms, false, out);
    }
  }
  {
    std::lock_guard<std::mutex> lock(impl_->org_mutex);
    for (auto& [serial, level] : impl_->org_levels) {
      const CompiledRule* rule = rules->find(serial);
      if (rule == nullptr) continue;
      if (level.pending_since_ms != 0 || level.firing || !level.counted) {
        impl_->evaluate_org_level(*rule, level, now_ms, out);
      }
    }
  }
  return out;
}

std::vector<PendingAlert> AlertEvaluator::pending(std::string_view org_scope) const {
  std::vector<PendingAlert> out;
  const auto rules = impl_->current_rules();
  const auto visible = [&](const std::string& org) { return org_scope.empty() || org_visible(org_scope, org); };
  for (const Shard& shard : impl_->shards) {
    std::lock_guard<std::mutex> lock(shard.mutex);
    for (const auto& [key, alert] : shard.alerts) {
      if (alert.firing) continue;
      const CompiledRule* rule = rules->find(serial_of(key));
      if (rule == nullptr || !visible(rule->rule.org)) continue;
      out.push_back(PendingAlert{rule->rule.org, rule->rule.rule_id,
                                 AlertSubject{AlertSubjectKind::agent, shard.slots[local_of(key)].id.to_string()},
                                 alert.pending_since_ms});
    }
  }
  std::lock_guard<std::mutex> lock(impl_->org_mutex);
  for (const auto& [serial, level] : impl_->org_levels) {
    const CompiledRule* rule = rules->find(serial);
    if (rule == nullptr || level.firing || level.pending_since_ms == 0 || !visible(rule->rule.org)) continue;
    out.push_back(PendingAlert{rule->rule.org, rule->rule.rule_id, rule->org_subject, level.pending_since_ms});
  }
  return out;
}

std::vector<AlertTransition> AlertEvaluator::evaluate_now(const AlertRule& rule, TimeMs now_ms) const {
  std::vector<AlertTransition> out;
  const auto rules = impl_->current_rules();
  // The rule as it is now (a live one), else nothing is known of it yet.
  const CompiledRule* compiled = nullptr;
  for (const CompiledRule& candidate : rules->rules) {
    if (candidate.rule.rule_id == rule.rule_id) compiled = &candidate;
  }
  if (compiled == nullptr) return out;
  if (compiled->org_level) {
    std::lock_guard<std::mutex> lock(impl_->org_mutex);
    const auto found = impl_->org_levels.find(compiled->serial);
    OrgLevel level = found == impl_->org_levels.end() ? OrgLevel{} : found->second;
    level.firing = false;
    level.pending_since_ms = 0;
    level.restored = false;
    CompiledRule at_once = *compiled;
    at_once.rule.spec.for_ms = 0;
    const_cast<Impl&>(*impl_).evaluate_org_level(at_once, level, now_ms, out);
    return out;
  }
  for (const Shard& shard : impl_->shards) {
    std::lock_guard<std::mutex> lock(shard.mutex);
    for (std::uint32_t local = 0; local < shard.slots.size(); ++local) {
      const Slot& slot = shard.slots[local];
      if (!impl_->covers(*compiled, slot)) continue;
      json details;
      const auto since = impl_->rule_since(shard, *compiled, local, now_ms, &details);
      if (since) out.push_back(impl_->fire(*compiled, slot, *since, std::move(details)));
    }
  }
  return out;
}

std::size_t AlertEvaluator::state_bytes() const {
  std::size_t bytes = sizeof(Impl) + impl_->shards.size() * sizeof(Shard);
  for (const Shard& shard : impl_->shards) {
    std::lock_guard<std::mutex> lock(shard.mutex);
    bytes += shard.slots.capacity() * sizeof(Slot);
    // unordered_map: a node (next pointer, value) with malloc overhead, and a bucket pointer.
    bytes += shard.index.size() * (sizeof(void*) + sizeof(std::pair<AgentId, std::uint32_t>) + kMallocOverhead) +
             shard.index.bucket_count() * sizeof(void*);
    bytes += shard.conditions.size() * (sizeof(void*) + sizeof(std::pair<std::uint64_t, CondState>) + kMallocOverhead) +
             shard.conditions.bucket_count() * sizeof(void*);
    bytes += shard.alerts.size() * (sizeof(void*) + sizeof(std::pair<std::uint64_t, AlertSlot>) + kMallocOverhead) +
             shard.alerts.bucket_count() * sizeof(void*);
    for (const auto& [key, buckets] : shard.averages) {
      bytes += buckets.capacity() * sizeof(AvgBuckets) + kMallocOverhead + 64;
    }
  }
  return bytes;
}

std::size_t AlertEvaluator::agents() const {
  std::size_t count = 0;
  for (const Shard& shard : impl_->shards) {
    std::lock_guard<std::mutex> lock(shard.mutex);
    count += shard.slots.size();
  }
  return count;
}

}  // namespace muster
