#pragma once
/// Keeps the read models (projections/read_model.hpp: the agent registry,
/// the access model, the config model, ...) up to date:
/// at start, loads their snapshots; then follows the log from where the
/// snapshots left off (catch-up, then live) and folds each batch into both;
/// in the background, snapshots them again every `snapshot_interval_ms` and
/// once more at stop. Readers that need a write reflected wait, bounded,
/// with `wait_for_position`, or are called back with `when_folded`.
///
/// Thread safety: every method may be called from any thread.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "common/lifecycle.hpp"
#include "common/periodic_timer.hpp"
#include "common/timers.hpp"
#include "eventstore/event_store.hpp"
#include "eventstore/log_follower.hpp"
#include "eventstore/snapshot_store.hpp"
#include "projections/read_model.hpp"

namespace muster {

struct ProjectionRunnerOptions {
  /// How often changed read-model state is written to snapshots. Default: 30 s.
  TimeMs snapshot_interval_ms = 30'000;
  /// Events read and folded at a time. Default: 4096.
  std::size_t batch_size = 4096;
  /// Follow the log on a thread of its own after start(). Tests that step
  /// the runner by hand (`catch_up`) turn this off. Default: on.
  bool follow = true;
};

/// What start-up found, for logs and benchmarks.
struct ProjectionRecovery {
  std::uint64_t head_at_start = 0;  ///< The log's head when the runner started.
  /// Each model's snapshot position, by name; 0: no usable snapshot.
  std::map<std::string, std::uint64_t, std::less<>> snapshot_positions;
  /// The oldest of them: where folding started.
  std::uint64_t folded_from = 0;
  TimeMs snapshot_load_ms = 0;

  /// The snapshot position of the model `name` (0 if none, or no such model).
  std::uint64_t snapshot_position(std::string_view name) const {
    const auto found = snapshot_positions.find(name);
    return found == snapshot_positions.end() ? 0 : found->second;
  }
};

class ProjectionRunner : public Service {
 public:
  /// References must outlive the runner.
  ProjectionRunner(const EventStore& events, SnapshotStore& snapshots, std::vector<ReadModel*> models,
                   TimerService& timers, ProjectionRunnerOptions options = {});
  ~ProjectionRunner() override;
  ProjectionRunner(const ProjectionRunner&) = delete;
  ProjectionRunner& operator=(const ProjectionRunner&) = delete;

  std::string_view name() const override { return "projections"; }
  /// Loads the snapshots and starts following the log after them (catching
  /// up happens on the runner's thread: see `wait_for_position`). Errors:
  /// those of reading the store.
  Status start() override;
  /// Stops following and writes the snapshots once more.
  void stop() override;

  /// The last log position every read model holds.
  std::uint64_t position() const;

  /// Waits until the read models hold `position`, at most `timeout`; true if they do.
  bool wait_for_position(std::uint64_t position, std::chrono::milliseconds timeout) const;

  /// Runs `then` once the read models hold `position`: at once on the
  /// calling thread if they do already, else on the runner's thread right
  /// after the fold that gets there. `then` must not block. Callbacks still
  /// waiting at stop() run then (the caller answers; a read may lag).
  void when_folded(std::uint64_t position, std::function<void()> then);

  /// Folds everything written so far on the calling thread (tests, and
  /// runners started with `follow` off).
  void catch_up();

  /// Writes the snapshots of every read model now; the first failure.
  Status save_snapshots();

  const ProjectionRecovery& recovery() const { return recovery_; }

  /// Sees each batch once every read model folded it: how a process that
  /// reacts to events (the alert evaluator, the notifier) follows the log
  /// with the read models already consistent with it. Runs on the runner's
  /// thread, catch-up batches at start included (`recovery().head_at_start`
  /// tells them apart), before the batch's `when_folded` callbacks; must not
  /// block (hand work to a timer or an actor). Add before start().
  using BatchObserver = std::function<void(const std::vector<Event>& batch)>;
  void observe(BatchObserver observer);

 private:
  void fold(const std::vector<Event>& batch);
  void run_snapshots();
  void run_waiters(std::uint64_t position, bool all);

  const EventStore& events_;
  SnapshotStore& snapshots_;
  const std::vector<ReadModel*> models_;
  std::vector<BatchObserver> observers_;  ///< Fixed once started.
  TimerService& timers_;
  const ProjectionRunnerOptions options_;
  ProjectionRecovery recovery_;
  TimeMs last_progress_log_ms_ = 0;  ///< Follower thread only.
  TimeMs fold_started_ms_ = 0;       ///< Set by start() before the follower starts.

  mutable std::mutex position_mutex_;
  mutable std::condition_variable position_advanced_;
  std::uint64_t position_ = 0;  ///< Guarded by position_mutex_.
  std::multimap<std::uint64_t, std::function<void()>> waiters_;  ///< Guarded by position_mutex_.

  std::unique_ptr<LogFollower> follower_;

  std::mutex snapshot_mutex_;
  std::condition_variable snapshot_wakeup_;
  bool snapshot_due_ = false;      ///< Guarded by snapshot_mutex_.
  bool snapshots_stopping_ = false;  ///< Guarded by snapshot_mutex_.
  std::thread snapshot_thread_;
  /// Wakes the snapshot thread every `snapshot_interval_ms`.
  PeriodicTimer snapshot_timer_;
  std::atomic<bool> started_{false};
  std::atomic<bool> stopped_{false};
};

}  // namespace muster
