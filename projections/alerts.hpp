#pragma once
/// The read model of alerting: every alert rule (actors/alert/alert_rule_state.hpp)
/// and every alert (actors/alert/alert_state.hpp), folded from the
/// "alert-rule:" and "alert:" streams with their own `apply`, so the API
/// lists and shows them and the evaluator finds, at start, the rules to
/// evaluate and the alerts firing.
///
/// Folded by the projection runner, in log order; snapshotted per record
/// (only those changed since the last snapshot are written). Thread-safe:
/// one writer, many readers.

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "actors/alert/alert_rule_state.hpp"
#include "actors/alert/alert_state.hpp"
#include "common/result.hpp"
#include "eventstore/event.hpp"
#include "eventstore/snapshot_store.hpp"
#include "projections/keyed_records.hpp"
#include "projections/read_model.hpp"

namespace muster {

/// Which alerts a list wants; each given criterion must match.
struct AlertFilter {
  std::optional<AlertStatus> status;
  std::optional<AlertSeverity> severity;
  std::optional<std::string> rule_id;
};

/// Alerts that ever fired, by status then severity (indexed by the enums' values).
using AlertCounts = std::array<std::array<std::size_t, 3>, 2>;

class Alerts : public ReadModel {
 public:
  /// Folds the events of "alert-rule:" and "alert:" streams in `batch`,
  /// skipping events at or before `position()`. A failing event is reported
  /// and skipped. Returns the first failure.
  Status apply(const std::vector<Event>& batch) override;
  std::uint64_t position() const;

  /// The rule `rule_id`, deleted ones included; nullopt if there is none.
  std::optional<AlertRule> find_rule(const std::string& rule_id) const;
  /// Live rules of the organizations `org_scope` covers ("*": all; empty: all), oldest first.
  std::vector<AlertRule> rules(std::string_view org_scope = {}) const;
  /// The alert `alert_id`; nullopt if it never fired.
  std::optional<AlertRecord> find_alert(const std::string& alert_id) const;
  /// Alerts of `org_scope` matching `filter`, most recently fired first, at most `limit`.
  std::vector<AlertRecord> alerts(std::string_view org_scope, const AlertFilter& filter, std::size_t limit) const;
  /// Every alert firing now (of every org).
  std::vector<AlertRecord> firing() const;
  /// Every alert (of every org) counted by status and severity; copies none.
  AlertCounts counts() const;

  static constexpr const char* kSnapshotScope = "alerts";
  std::string_view name() const override { return kSnapshotScope; }
  Status save_snapshot(SnapshotStore& store) override;
  Result<std::uint64_t> load_snapshot(SnapshotStore& store, std::uint64_t head_position) override;

 private:
  mutable std::shared_mutex mutex_;
  std::uint64_t position_ = 0;
  std::map<std::string, AlertRule> rules_;     ///< By rule id.
  std::map<std::string, AlertRecord> alerts_;  ///< By alert id.
  SnapshotMarks marks_;                        ///< Ids "rule:<id>" and "alert:<id>".
};

}  // namespace muster
