#pragma once
/// The fleet read model: every agent's state folded from the log with the
/// same `apply` the actors use (less the agent token's digests, which only
/// the actors check), plus the counters behind /stats. Fed by a
/// `ProjectionRunner`; rebuilt from position 1 it equals what the live run built.
///
/// Thread-safe: one writer (the runner) and many readers (HTTP handlers).

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "actors/agent_state.hpp"
#include "common/result.hpp"
#include "eventstore/event.hpp"

namespace muster {

/// Which listed agents a query wants; every given criterion must match.
struct AgentFilter {
  std::optional<std::string> org;
  std::optional<AgentStatus> status;
  std::optional<std::string> version;
  std::optional<std::string> type;
  std::vector<std::pair<std::string, std::string>> labels;  ///< Each key=value must be present.
  std::optional<std::string> text;                          ///< Substring of name or hostname.
};

struct AgentPage {
  std::vector<AgentState> agents;         ///< In agent id order.
  std::size_t total = 0;                  ///< How many agents match, over all pages.
  std::optional<std::string> next_after;  ///< Pass as `after_agent_id` for the next page.
};

struct FleetStats {
  std::size_t total = 0;  ///< Listed agents: online, degraded or offline.
  std::size_t online = 0;
  std::size_t degraded = 0;
  std::size_t offline = 0;
  std::map<std::string, std::size_t> by_version;
  std::map<std::string, std::size_t> by_type;
  std::uint64_t position = 0;  ///< The last log position folded in.
};

class FleetProjection {
 public:
  /// Folds events in log order. A failing event is reported and skipped; the
  /// rest of the batch is still applied. Returns the first failure.
  Status apply(const std::vector<Event>& batch);

  /// Listed agents matching `filter` with id > `after_agent_id`, at most `limit`.
  /// Filters on status and organization only cost the page (the counters give
  /// the total); any other criterion scans every agent.
  AgentPage list(const AgentFilter& filter, std::size_t limit, const std::string& after_agent_id) const;

  /// Any agent ever registered, listed or not.
  std::optional<AgentState> find(const std::string& agent_id) const;
  /// The organization of any agent ever registered (without copying its state).
  std::optional<std::string> org_of(const std::string& agent_id) const;

  /// Counts over the organizations `org_scope` covers ("*": all).
  FleetStats stats(std::string_view org_scope) const;
  std::uint64_t position() const;

  /// Every agent, in id order (to compare a rebuild with the live model).
  std::vector<AgentState> snapshot() const;

 private:
  /// The agent if it was ever registered; the caller holds `mutex_`.
  const AgentState* registered(const std::string& agent_id) const;
  /// `list` for filters the index and counters answer; the caller holds `mutex_`.
  AgentPage list_indexed(const AgentFilter& filter, std::size_t limit,
                         const std::string& after_agent_id) const;
  using Entry = std::map<std::string, AgentState>::value_type;
  void index(const Entry& agent, AgentStatus status, bool add);

  /// Listed agents by status: online, degraded, offline, in id order. They
  /// point into `agents_`, whose nodes never move, so a page reads the
  /// states without looking them up.
  struct ById {
    using is_transparent = void;
    bool operator()(const Entry* left, const Entry* right) const { return left->first < right->first; }
    bool operator()(const Entry* left, const std::string& right) const { return left->first < right; }
    bool operator()(const std::string& left, const Entry* right) const { return left < right->first; }
  };
  std::array<std::set<const Entry*, ById>, 3> listed_by_status_;
  void count(const AgentState& state, int delta);
  static void count_into(FleetStats& stats, const AgentState& state, int delta);

  mutable std::shared_mutex mutex_;
  std::map<std::string, AgentState> agents_;
  FleetStats stats_;
  std::map<std::string, FleetStats, std::less<>> stats_by_org_;
};

}  // namespace muster
