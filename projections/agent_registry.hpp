#pragma once
/// The agent registry: one compact record per agent, shared by the agents'
/// hot path and the fleet read model (lists, filters, counts), so a million
/// agents are held once.
///
/// Each record is an `AgentState` (folded by the one `apply`) plus what the
/// hot path keeps: when the agent was last heard from, its latest metrics,
/// and whether its actor is deciding. Two writers fold into a record, and
/// both fold the same events with the same function: the projection runner
/// (every event, in log order: `apply`) and the agent's actor (its own
/// commits, at once: `end_decision`). A record takes an event only if it does
/// not hold that version yet, so whichever comes second changes nothing; the
/// runner's `position` says the read model holds everything up to it.
///
/// The hot path: a heartbeat that changes nothing is decided on the record,
/// under its lock, unless the agent's actor is deciding (`begin_decision` to
/// `end_decision`), so the two never decide on different states.
///
/// Locks: a shard lock per record (the hot path), and one fold lock that
/// every change to folded state also takes, shared by readers of lists and
/// counts. Thread-safe throughout.

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "actors/agent/agent_health.hpp"
#include "actors/agent/agent_state.hpp"
#include "common/clock.hpp"
#include "common/result.hpp"
#include "eventstore/event.hpp"
#include "eventstore/last_seen_store.hpp"
#include "eventstore/snapshot_store.hpp"
#include "projections/read_model.hpp"

namespace muster {

/// Which listed agents a query wants; every given criterion must match.
struct AgentFilter {
  std::optional<std::string> org;
  std::optional<AgentStatus> status;
  std::optional<std::string> version;
  std::optional<std::string> type;
  std::vector<std::pair<std::string, std::string>> labels;  ///< Each key=value must be present.
  std::optional<std::string> text;                          ///< Substring of name, hostname or instance id.
  /// Any further criterion (another read model's: a group, a config
  /// status). Called under the registry's read lock: it must not call back
  /// into the registry.
  std::function<bool(const AgentState&)> also;
};

/// An agent as the read model shows it.
struct AgentView {
  AgentState state;
  /// When it was last heard from (its latest event's time if not since start-up).
  TimeMs last_seen_ms = 0;
  /// Its latest heartbeat's metrics (filled by `find` only).
  std::map<std::string, double> metrics;
  /// From the config model, filled by the API (the registry knows neither).
  std::uint64_t config_version = 0;
  std::string config_hash;
  const char* config_status = "none";
};

struct AgentPage {
  std::vector<AgentView> agents;      ///< In agent id order.
  std::size_t total = 0;              ///< How many agents match, over all pages.
  std::optional<AgentId> next_after;  ///< Pass as `after` for the next page.
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

/// Listed agents by health (actors/agent/agent_health.hpp) at one moment.
struct HealthCounts {
  std::size_t healthy = 0;
  std::size_t warning = 0;
  std::size_t unhealthy = 0;
  std::size_t offline = 0;
};

class AgentRegistry : public ReadModel {
 public:
  AgentRegistry();
  ~AgentRegistry();
  AgentRegistry(const AgentRegistry&) = delete;
  AgentRegistry& operator=(const AgentRegistry&) = delete;

  // --- Folding in log order (the projection runner) ----------------------------

  /// Folds the agent events of `batch`, in log order; other streams, and
  /// versions a record holds already, are skipped. A failing event is
  /// reported and skipped; the rest is still folded. Returns the first failure.
  Status apply(const std::vector<Event>& batch) override;

  /// The last log position `apply` saw: the read model holds everything up to it.
  std::uint64_t position() const;

  // --- The agents' actors --------------------------------------------------------

  /// The state of `id` as folded so far; nullopt without a record.
  std::optional<AgentState> state_of(const AgentId& id) const;
  /// True if `id` has a record (it was registered, or its registration is being answered).
  bool contains(const AgentId& id) const;

  /// Starts a decision of `id`'s actor: until `end_decision`, the hot path
  /// leaves the agent to its actor. Returns when it was last heard from
  /// (nullopt: no record yet).
  std::optional<TimeMs> begin_decision(const AgentId& id);

  /// Ends it: takes `state` if the record does not hold its version yet
  /// (creating the record for a new agent), records `heard_at` (and
  /// `metrics`) as the last time it was heard from, and lets the hot path back in.
  void end_decision(const AgentState& state, std::optional<TimeMs> heard_at,
                    const std::optional<std::map<std::string, double>>& metrics);

  // --- The heartbeat hot path -----------------------------------------------------

  enum class Visit { visited, absent, busy };
  /// Calls `decide(state)` under the record's lock unless the record is
  /// absent or its actor is deciding. If `decide` returns true the agent was
  /// heard from: `now_ms` and `metrics` become its last seen and metrics.
  /// (A template so that the hot path allocates no std::function.)
  template <class Decide>
  Visit visit(const AgentId& id, Decide&& decide, TimeMs now_ms,
              const std::map<std::string, double>& metrics) {
    using Callable = std::remove_reference_t<Decide>;
    return visit_record(
        id,
        [](void* callable, const AgentState& state) { return (*static_cast<Callable*>(callable))(state); },
        const_cast<void*>(static_cast<const void*>(&decide)), now_ms, metrics);
  }

  /// The actor of `id` failed mid-decision: lets the hot path back in.
  void abandon_decision(const AgentId& id);

  // --- Instances ------------------------------------------------------------------

  struct Instance {
    AgentId agent_id;
    AgentStatus status = AgentStatus::unregistered;  ///< unregistered: a new or in-flight registration.
  };
  /// The agent of `instance_id` in `org`: the one registered, or the one
  /// claimed by a registration not folded yet, or a new claim, so that
  /// concurrent first registrations agree on one agent.
  Instance agent_for_instance(const std::string& org, const std::string& instance_id);
  /// The agent registered (or deregistered...) as `instance_id` in `org`, as
  /// folded so far; claims nothing. Nullopt when none is.
  std::optional<Instance> find_instance(const std::string& org, const std::string& instance_id) const;

  // --- Heartbeat deadlines (at most one armed per agent) ----------------------------

  /// If `id` is live and has no deadline armed, arms it and returns when it
  /// falls due: max(last seen, `not_before_ms`) + `timeout_ms`.
  std::optional<TimeMs> arm_deadline(const AgentId& id, TimeMs timeout_ms, TimeMs not_before_ms);

  struct Due {
    enum class What { drop, wait, fire } what = What::drop;
    TimeMs deadline_ms = 0;  ///< For `wait`: the deadline armed again.
  };
  /// `id`'s armed deadline came due at `now_ms`: drop it (not live, or its
  /// actor is deciding and will arm again), wait (heard from since: armed
  /// again at `deadline_ms`), or fire (silent past its deadline: the caller
  /// sends the timeout check, whose decision arms again).
  Due deadline_due(const AgentId& id, TimeMs now_ms, TimeMs timeout_ms, TimeMs not_before_ms);

  /// Arms the deadline of every live agent that has none (at start-up) and
  /// calls `schedule(id, deadline)` for each.
  void arm_live_deadlines(TimeMs timeout_ms, TimeMs not_before_ms,
                          const std::function<void(const AgentId&, TimeMs)>& schedule);

  // --- Last seen (not events: saved by overwrite, see LastSeenStore) -------------------

  /// Takes the saved times of agents with records that are later than those
  /// they hold (at start-up, after the fold; and on a node that does not run
  /// the fleet, as the leader saves them: LastSeenFollower).
  Status load_last_seen(const LastSeenStore& store);
  /// The times changed since the last call, clearing their marks.
  std::vector<LastSeen> take_dirty_last_seen();
  /// Marks times dirty again after a failed save.
  void restore_dirty_last_seen(const std::vector<LastSeen>& unsaved);

  // --- Snapshots -----------------------------------------------------------------------

  static constexpr const char* kSnapshotScope = "fleet";
  std::string_view name() const override { return kSnapshotScope; }
  /// Writes the records changed since the last call (in bounded batches),
  /// then the position they reflect at least. A record may be newer than the
  /// position (its actor folded ahead of the runner): folding the log's tail
  /// after the position skips what it holds. On failure the unwritten
  /// records stay marked for the next call.
  Status save_snapshot(SnapshotStore& store) override;
  /// Loads the snapshot into an empty registry; returns the position to fold
  /// the log after. A snapshot past `head_position`, or one that cannot be
  /// decoded, is dropped (the registry is left empty and the caller folds
  /// the whole log: never a wrong state): 0 then.
  Result<std::uint64_t> load_snapshot(SnapshotStore& store, std::uint64_t head_position) override;

  // --- Reads -----------------------------------------------------------------------------

  /// Listed agents matching `filter` with id > `after`, at most `limit`.
  /// Filters on status and organization cost only the page (counters give
  /// the total); any other criterion scans every listed agent.
  AgentPage list(const AgentFilter& filter, std::size_t limit, const std::optional<AgentId>& after) const;
  /// Any agent ever registered, listed or not, with its metrics.
  std::optional<AgentView> find(const AgentId& id) const;
  /// The organization of any agent ever registered.
  std::optional<std::string> org_of(const AgentId& id) const;
  /// Counts over the organizations `org_scope` covers ("*": all).
  FleetStats stats(std::string_view org_scope) const;
  /// The listed agents of `org_scope` ("*": all) by health at `now_ms`.
  /// Health moves with the clock, so this scans the live agents: for a
  /// request that asks for it, not for every stats call.
  HealthCounts health_counts(std::string_view org_scope, TimeMs now_ms,
                             const HealthThresholds& thresholds) const;
  /// Every registered agent's state, in id order (to compare with a fold).
  std::vector<AgentState> states() const;

 private:
  struct Record;
  struct Shard;
  struct ById {
    using is_transparent = void;
    bool operator()(const Record* left, const Record* right) const;
    bool operator()(const Record* left, const AgentId& right) const;
    bool operator()(const AgentId& left, const Record* right) const;
  };
  /// What the indexes and counters hold of a record.
  struct Indexed {
    AgentStatus status = AgentStatus::unregistered;
    InternedString org;
    InternedString version;
    InternedString type;
  };

  using DecideFn = bool (*)(void* callable, const AgentState& state);
  Visit visit_record(const AgentId& id, DecideFn decide, void* callable, TimeMs now_ms,
                     const std::map<std::string, double>& metrics);
  Shard& shard_for(const AgentId& id) const;
  static Indexed indexed(const Record& record);
  /// Re-files `record` after its state changed from `before`. Holds the fold lock (exclusive) and the
  /// shard's.
  void reindex(Record& record, const Indexed& before, std::vector<std::string>& unclaim);
  /// Files a record loaded from a snapshot (new to the registry) in the indexes and counters.
  void index_loaded(Record& record);
  void count(const Indexed& attributes, int delta);
  void mark_for_snapshot(Record& record);
  void unclaim(const std::vector<std::string>& keys);
  TimeMs last_seen_of(const Record& record) const;
  AgentView view_of(const Record& record) const;
  /// Calls `visit` for each listed record in id order from after `after`, until it returns false.
  void for_each_listed(std::optional<AgentStatus> status, const std::optional<AgentId>& after,
                       const std::function<bool(const Record&)>& visit) const;
  void clear();

  std::unique_ptr<Shard[]> shards_;

  mutable std::shared_mutex fold_mutex_;
  std::uint64_t position_ = 0;
  std::array<std::set<const Record*, ById>, 3> listed_by_status_;  ///< online, degraded, offline.
  FleetStats stats_;
  std::map<std::string, FleetStats, std::less<>> stats_by_org_;
  /// Hash of (org, instance id) -> records with that hash.
  std::unordered_multimap<std::uint64_t, Record*> by_instance_;

  std::mutex claims_mutex_;
  /// "<org>/<instance id>" -> the agent a registration not yet folded claimed.
  std::unordered_map<std::string, AgentId> claims_;

  std::mutex snapshot_mutex_;
  std::vector<AgentId> snapshot_dirty_;
};

/// Refuses `ids` unless each is an agent of `org`: `invalid_argument` /
/// UNKNOWN_AGENTS on `field`, naming the others (each once, sorted, the
/// first 20).
Status require_agents_of(const AgentRegistry& registry, const std::string& org, const std::vector<AgentId>& ids,
                         const std::string& field);

}  // namespace muster
