#pragma once
/// What muster knows of each agent beyond the log: when it was last heard from
/// and the metrics of its latest heartbeat. Heartbeats are not events, so this
/// is kept by overwrite: the agent actors `touch` it, a flusher saves the
/// changed entries to the store's last-seen table at least once a second, and
/// recovery loads them back. Metrics live in memory only.
///
/// Thread-safe; sharded so heartbeats on different agents rarely contend.

#include <array>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/clock.hpp"
#include "eventstore/last_seen_store.hpp"

namespace muster {

class LastSeenTable {
 public:
  struct Entry {
    TimeMs last_seen_ms = 0;
    std::map<std::string, double> metrics;
  };

  /// Records that `agent_id` was heard from at `time_ms`; replaces its metrics
  /// when `metrics` is given.
  void touch(const std::string& agent_id, TimeMs time_ms,
             const std::map<std::string, double>* metrics = nullptr);

  std::optional<Entry> find(const std::string& agent_id) const;

  /// Loads saved times (at recovery); they are not dirty.
  void load(const std::vector<LastSeen>& saved);

  /// Returns the entries changed since the last call, clearing their mark.
  std::vector<LastSeen> take_dirty();

  /// Marks entries dirty again (after a failed save) unless touched since.
  void restore_dirty(const std::vector<LastSeen>& unsaved);

 private:
  struct Slot {
    Entry entry;
    bool dirty = false;
  };
  struct Shard {
    mutable std::mutex mutex;
    std::unordered_map<std::string, Slot> slots;
    std::vector<std::string> dirty_ids;
  };
  static constexpr std::size_t kShardCount = 64;

  Shard& shard_for(const std::string& agent_id);
  const Shard& shard_for(const std::string& agent_id) const;
  static void mark_dirty(Shard& shard, const std::string& agent_id, Slot& slot);

  std::array<Shard, kShardCount> shards_;
};

}  // namespace muster
