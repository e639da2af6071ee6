#pragma once
/// The read model of commands to agents: every command's state (without
/// its params and output: `compact`), folded from the "command:" streams
/// with the command's own `apply`. It answers what the API lists and what
/// the command service needs fast:
///
/// - per agent, its open commands (queued or delivered) in delivery order:
///   emergency first, then oldest (by queue position);
/// - per agent, how many are queued (heartbeats' `commands_pending`: one
///   hash lookup under a shared lock);
/// - per batch, how many of its commands are in each state;
/// - lists newest first, filtered by agent, type, state or batch.
///
/// Folded by the projection runner, in log order; snapshotted per command
/// (only the commands changed since the last snapshot are written).
/// Thread-safe: one writer, many readers.

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "actors/command/command_state.hpp"
#include "common/result.hpp"
#include "eventstore/event.hpp"
#include "eventstore/snapshot_store.hpp"
#include "projections/keyed_records.hpp"
#include "projections/read_model.hpp"

namespace muster {

/// What a list keeps: each given criterion must match.
struct CommandFilter {
  std::optional<AgentId> agent_id;
  std::optional<std::string> type;
  std::optional<CommandState> state;
  std::optional<std::string> batch_id;
};

/// A page of commands, newest first.
struct CommandPage {
  std::vector<CommandRecord> commands;
  std::optional<std::string> next_after;  ///< Pass as `after` for the next page.
};

/// Commands of one batch per state, indexed by CommandState.
using CommandStateCounts = std::array<std::size_t, kCommandStateCount>;

class CommandQueue : public ReadModel {
 public:
  /// Runs after a batch of the log is folded, on the projection runner's
  /// thread with no lock of the model held, with each agent a command was
  /// queued for in that batch (once each). It must return quickly.
  using QueuedHook = std::function<void(const std::vector<AgentId>& agents)>;

  /// Sets (or, with nullptr, clears) the hook; any thread, at any time.
  void set_on_queued(QueuedHook hook);

  /// Folds the events of "command:" streams in `batch`, skipping events at
  /// or before `position()`. A failing event is reported and skipped.
  /// Returns the first failure.
  Status apply(const std::vector<Event>& batch) override;
  /// The last log position folded.
  std::uint64_t position() const;

  /// The command `command_id` (compact); nullopt if there is none.
  std::optional<CommandRecord> find(const std::string& command_id) const;
  /// Commands of the organizations `org_scope` covers ("*": all) matching
  /// `filter`, newest first, at most `limit`, after the command `after`
  /// (the previous page's last). Errors: `invalid_argument` (field
  /// "cursor") for an `after` that is no command the scope sees.
  Result<CommandPage> list(std::string_view org_scope, const CommandFilter& filter, std::size_t limit,
                           const std::optional<std::string>& after) const;

  /// How many of the agent's commands are queued (not yet delivered).
  std::size_t pending_of(const AgentId& agent_id) const;
  /// The agent's commands a fetch at `now_ms` may deliver, in delivery
  /// order, at most `limit`: queued ones whose not_before has come, and
  /// delivered ones last delivered at least `redeliver_after_ms` ago; none
  /// whose expiry has come.
  std::vector<CommandRecord> deliverable(const AgentId& agent_id, TimeMs now_ms, TimeMs redeliver_after_ms,
                                         std::size_t limit) const;
  /// Every command not final, oldest first.
  std::vector<CommandRecord> open() const;
  /// The batch's commands per state; nullopt for a batch with no command.
  std::optional<CommandStateCounts> batch_counts(const std::string& batch_id) const;

  static constexpr const char* kSnapshotScope = "commands";
  std::string_view name() const override { return kSnapshotScope; }
  /// Writes the commands changed since the last call, and the position they reflect.
  Status save_snapshot(SnapshotStore& store) override;
  /// Loads the snapshot into an empty model; returns the position to fold
  /// after (0, leaving the model empty, for none, one that cannot be read
  /// or one past `head_position`).
  Result<std::uint64_t> load_snapshot(SnapshotStore& store, std::uint64_t head_position) override;

 private:
  /// Delivery order: (0 for emergency, 1 for normal; queue position).
  using DeliveryKey = std::pair<int, std::uint64_t>;
  struct AgentEntry {
    std::map<DeliveryKey, std::string> open;  ///< Queued or delivered -> command id.
    std::size_t queued = 0;
    std::set<std::uint64_t> all;  ///< Queue positions of every command of the agent.
  };
  struct BatchEntry {
    CommandStateCounts counts{};
    std::set<std::uint64_t> all;  ///< Queue positions.
  };

  void index_locked(const CommandRecord& record);
  void unindex_locked(const CommandRecord& record);

  mutable std::shared_mutex mutex_;
  std::uint64_t position_ = 0;
  std::unordered_map<std::string, CommandRecord> commands_;  ///< By command id.
  std::map<std::uint64_t, std::string> by_creation_;         ///< created_position -> command id.
  std::unordered_map<AgentId, AgentEntry, AgentIdHash> agents_;
  std::unordered_map<std::string, BatchEntry> batches_;
  SnapshotMarks marks_;
  mutable std::mutex hook_mutex_;
  QueuedHook on_queued_;  ///< Guarded by hook_mutex_; called with a copy, no lock held.
};

}  // namespace muster
