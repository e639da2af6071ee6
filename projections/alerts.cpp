#include "projections/alerts.hpp"

#include <algorithm>
#include <mutex>

#include "actors/organization.hpp"
#include "actors/runtime/stream_id.hpp"

namespace muster {
namespace {

constexpr std::string_view kRuleEntry = "rule:";
constexpr std::string_view kAlertEntry = "alert:";

bool in_scope(std::string_view org_scope, const std::string& org) {
  return org_scope.empty() || org_visible(org_scope, org);
}

// One snapshot entry: a rule or an alert.
struct Entry {
  std::optional<AlertRule> rule;
  std::optional<AlertRecord> alert;
  bool exists() const { return (rule && rule->exists()) || (alert && alert->exists()); }
  std::string id() const {
    return rule ? std::string(kRuleEntry) + rule->rule_id : std::string(kAlertEntry) + alert->alert_id;
  }
};

}  // namespace

Status Alerts::apply(const std::vector<Event>& batch) {
  Status first_failure;
  std::unique_lock<std::shared_mutex> lock(mutex_);
  for (const Event& event : batch) {
    if (event.position <= position_) continue;
    position_ = event.position;
    const auto ref = parse_stream(event.stream);
    if (!ref || (ref->kind != kAlertRuleKind && ref->kind != kAlertKind)) continue;
    const auto scoped = split_org_scoped_id(ref->id);
    if (!scoped) continue;
    const std::string id(scoped->name);
    Status folded;
    if (ref->kind == kAlertRuleKind) {
      AlertRule& rule = rules_[id];
      folded = muster::apply(rule, event);
      if (!folded && !rule.exists()) rules_.erase(id);
      if (folded) marks_.changed.insert(std::string(kRuleEntry) + id);
    } else {
      AlertRecord& alert = alerts_[id];
      folded = muster::apply(alert, event);
      if (!folded && !alert.exists()) alerts_.erase(id);
      if (folded) marks_.changed.insert(std::string(kAlertEntry) + id);
    }
    if (!folded && first_failure.ok()) first_failure = folded;
  }
  return first_failure;
}

std::uint64_t Alerts::position() const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  return position_;
}

std::optional<AlertRule> Alerts::find_rule(const std::string& rule_id) const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  const auto found = rules_.find(rule_id);
  if (found == rules_.end()) return std::nullopt;
  return found->second;
}

std::vector<AlertRule> Alerts::rules(std::string_view org_scope) const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  std::vector<AlertRule> out;
  for (const auto& [id, rule] : rules_) {
    if (rule.live() && in_scope(org_scope, rule.org)) out.push_back(rule);
  }
  std::sort(out.begin(), out.end(),
            [](const AlertRule& left, const AlertRule& right) { return left.created_position < right.created_position; });
  return out;
}

std::optional<AlertRecord> Alerts::find_alert(const std::string& alert_id) const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  const auto found = alerts_.find(alert_id);
  if (found == alerts_.end()) return std::nullopt;
  return found->second;
}

std::vector<AlertRecord> Alerts::alerts(std::string_view org_scope, const AlertFilter& filter,
                                        std::size_t limit) const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  std::vector<const AlertRecord*> matching;
  for (const auto& [id, alert] : alerts_) {
    if (!in_scope(org_scope, alert.org)) continue;
    if (filter.status && alert.status != *filter.status) continue;
    if (filter.severity && alert.severity != *filter.severity) continue;
    if (filter.rule_id && alert.rule_id != *filter.rule_id) continue;
    matching.push_back(&alert);
  }
  std::sort(matching.begin(), matching.end(), [](const AlertRecord* left, const AlertRecord* right) {
    if (left->fired_at_ms != right->fired_at_ms) return left->fired_at_ms > right->fired_at_ms;
    return left->alert_id < right->alert_id;
  });
  std::vector<AlertRecord> out;
  for (const AlertRecord* alert : matching) {
    if (out.size() == limit) break;
    out.push_back(*alert);
  }
  return out;
}

std::vector<AlertRecord> Alerts::firing() const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  std::vector<AlertRecord> out;
  for (const auto& [id, alert] : alerts_) {
    if (alert.firing()) out.push_back(alert);
  }
  return out;
}

AlertCounts Alerts::counts() const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  AlertCounts counts{};
  for (const auto& [id, alert] : alerts_) {
    if (alert.exists()) ++counts[static_cast<std::size_t>(alert.status)][static_cast<std::size_t>(alert.severity)];
  }
  return counts;
}

Status Alerts::save_snapshot(SnapshotStore& store) {
  return save_changed_records(store, kSnapshotScope, "", mutex_, marks_, position_, [this](const std::string& id) {
    if (id.rfind(kRuleEntry, 0) == 0) return encode_alert_rule(rules_.at(id.substr(kRuleEntry.size())));
    return encode_alert(alerts_.at(id.substr(kAlertEntry.size())));
  });
}

Result<std::uint64_t> Alerts::load_snapshot(SnapshotStore& store, std::uint64_t head_position) {
  // Keys are "rule:<id>" or "alert:<id>"; the prefix given to the helper is
  // empty and each entry's decoder is chosen by what its bytes hold.
  auto loaded = load_keyed_records<Entry>(
      store, kSnapshotScope, "", head_position, "the alerts'",
      [](std::string_view bytes) -> Result<Entry> {
        const auto data = nlohmann::json::parse(bytes, nullptr, false);
        Entry entry;
        if (data.is_object() && data.contains("rule")) {
          auto rule = decode_alert_rule(bytes);
          if (!rule) return rule.error();
          entry.rule = std::move(*rule);
        } else {
          auto alert = decode_alert(bytes);
          if (!alert) return alert.error();
          entry.alert = std::move(*alert);
        }
        return entry;
      },
      [](const Entry& entry) { return entry.id(); });
  if (!loaded) return loaded.error();
  if (!*loaded) return std::uint64_t{0};
  std::unique_lock<std::shared_mutex> lock(mutex_);
  rules_.clear();
  alerts_.clear();
  for (Entry& entry : (*loaded)->records) {
    if (entry.rule) {
      const std::string id = entry.rule->rule_id;
      rules_.emplace(id, std::move(*entry.rule));
    } else {
      const std::string id = entry.alert->alert_id;
      alerts_.emplace(id, std::move(*entry.alert));
    }
  }
  marks_ = SnapshotMarks{{}, (*loaded)->position};
  position_ = (*loaded)->position;
  return position_;
}

}  // namespace muster
