#pragma once
/// Internal to eventstore/: what the backends share so that they keep one
/// contract. Only eventstore/*.cpp include this header.
///
/// The append path of every backend: appends queue for one writer thread,
/// which takes whatever is queued (group commit), stamps it with one time,
/// checks each append against the stream versions as the batch's earlier
/// appends leave them, hands the accepted events to the backend's `LogSink`,
/// and publishes the new head and versions only once the sink wrote them.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/clock.hpp"
#include "common/result.hpp"
#include "eventstore/event_store.hpp"
#include "eventstore/log_replication.hpp"

namespace muster {

using StreamVersions = std::unordered_map<std::string, std::uint64_t>;

/// The clock `options` names, or the system clock.
const Clock& clock_or_system(const StoreOptions& options);

/// `unavailable`: `what` ("event store", "storage") was stopped.
Error stopped_error(std::string_view what);
/// What a stopped event store calls itself in `stopped_error`.
inline constexpr std::string_view kEventStore = "event store";
/// `unavailable`: a write to a read-only storage.
Error read_only_error();
/// `invalid_argument` unless `scope` names a snapshot scope: not empty, no NUL
/// (backends use NUL to end a scope inside their keys).
Status validate_scope(const std::string& scope);

/// A backend's open data (its database, its disk) as the stores of one
/// storage share it: `close()` may run while other threads call in. It
/// waits for the calls in flight; later calls get `unavailable`.
/// `Handle` is a `std::unique_ptr` or `std::shared_ptr`.
template <class Handle>
class ClosableHandle {
 public:
  using Resource = typename Handle::element_type;

  explicit ClosableHandle(Handle handle) : handle_(std::move(handle)) {}

  /// `use(resource)`, holding it open meanwhile; `unavailable` once
  /// closing. `use` returns a `Result` or a `Status`.
  template <class Use>
  auto use(Use&& use) const -> decltype(use(std::declval<Resource&>())) {
    // Refused before the lock once closing: glibc's rwlock lets readers in
    // ahead of a waiting writer, so a steady stream of calls would keep
    // close() waiting for ever.
    if (closing_.load()) return stopped_error("storage");
    std::shared_lock lifetime(lifetime_mutex_);
    if (!handle_) return stopped_error("storage");
    return use(*handle_);
  }

  /// The resource without the lifetime lock, for a thread that its owner
  /// stops before it closes the handle. REQUIRES: not closed.
  Resource& unguarded() const { return *handle_; }

  /// Once no call is using the resource, `finish(resource)`, then releases
  /// it. Idempotent.
  template <class Finish>
  void close(Finish&& finish) {
    closing_ = true;
    std::unique_lock lifetime(lifetime_mutex_);
    if (!handle_) return;
    finish(*handle_);
    handle_.reset();
  }

 private:
  std::atomic<bool> closing_{false};
  // Shared by calls, exclusive for closing.
  mutable std::shared_mutex lifetime_mutex_;
  Handle handle_;
};

/// One queued `append_async` call.
struct PendingAppend {
  std::string stream;
  std::uint64_t expected_version = 0;
  std::vector<NewEvent> events;
  EventStore::AppendCallback done;
};

/// What a backend found in its data when it opened.
struct RecoveredLog {
  std::uint64_t head_position = 0;
  TimeMs last_time_ms = 0;  ///< The last event's time: stamps never go back before it.
};

/// Where a backend writes the log. Every method runs on the writer thread
/// of the `GroupCommitLog` it is given to, one at a time.
class LogSink {
 public:
  virtual ~LogSink() = default;

  /// Adds one accepted append's events (one stream, positions, versions and
  /// time assigned) to the batch in the making. An error refuses just this
  /// append; the batch must then be as it was before the call. An
  /// `unavailable` error with `kBatchFullReason` (log_replication.hpp)
  /// instead defers it, and the appends after it, to the next batch.
  [[nodiscard]] virtual Status add(std::vector<Event> events) = 0;

  /// Writes the batch atomically and durably, then starts an empty one
  /// (also when the write failed). `advanced` holds the streams the batch
  /// appends to, at their new versions; `head_position` is its last event's.
  /// Called only when at least one append was added. A sink that `replans`
  /// may answer `conflict` with `kLogMovedReason`: nothing was written and
  /// another writer extended the log, so the log catches up and plans the
  /// batch again.
  [[nodiscard]] virtual Status write(const StreamVersions& advanced, std::uint64_t head_position) = 0;

  /// The log is shared with other writers (log_replication.hpp): `write`
  /// may answer `kLogMovedReason`, and `catch_up` may find their events.
  [[nodiscard]] virtual bool replans() const { return false; }

  /// Writes what other writers added to the log since this sink's head;
  /// answers the new head, or nullopt if there was nothing new.
  [[nodiscard]] virtual Result<std::optional<RecoveredLog>> catch_up() { return std::optional<RecoveredLog>(); }

  /// The version of `stream` as written (0 for none), to check an append
  /// against. Backends look it up rather than this log keeping every
  /// stream's version in memory (a million agents' streams cost 130 MB so).
  [[nodiscard]] virtual Result<std::uint64_t> read_version(const std::string& stream) const = 0;

  /// No append came for an idle interval.
  virtual void idle() {}

  /// The writer is stopping: the last batch was written and answered.
  virtual void drained() {}
};

/// The append half of `EventStore` (append_async, head_position,
/// wait_for_position, stop) over a backend's `LogSink`.
/// Thread-safe, as `EventStore` requires.
class GroupCommitLog {
 public:
  /// Starts the writer thread. `sink` must outlive the log (or its `stop()`);
  /// `idle_interval` is how long the writer waits for appends before it
  /// tells the sink it is idle.
  GroupCommitLog(const StoreOptions& options, RecoveredLog recovered, LogSink& sink,
                 std::chrono::milliseconds idle_interval);
  /// Stops.
  ~GroupCommitLog();
  GroupCommitLog(const GroupCommitLog&) = delete;
  GroupCommitLog& operator=(const GroupCommitLog&) = delete;

  /// As `EventStore::append_async`: queues, or refuses on the caller's thread
  /// once stopped or when `max_pending_appends` are waiting (STORE_OVERLOADED).
  void append_async(std::string stream, std::uint64_t expected_version, std::vector<NewEvent> events,
                    EventStore::AppendCallback done);

  /// Wakes the writer to catch up with other writers of a shared log
  /// (`LogSink::catch_up`). Any thread.
  void nudge();

  /// The published head; `unavailable` once stopped.
  [[nodiscard]] Result<std::uint64_t> head_position() const;
  /// As `EventStore::wait_for_position`.
  [[nodiscard]] Result<std::uint64_t> wait_for_position(std::uint64_t after_position,
                                                        std::chrono::milliseconds timeout) const;

  /// Refuses new appends, writes and answers those queued, tells the sink it
  /// is drained, joins the writer and wakes every waiter. Idempotent; a
  /// concurrent call returns once the first one has finished.
  void stop();
  [[nodiscard]] bool stopped() const;

 private:
  void run_writer();
  std::optional<std::vector<PendingAppend>> take_pending_appends(bool& nudged);
  void commit(std::vector<PendingAppend> appends);
  void catch_up();
  void defer(std::vector<PendingAppend>& appends, std::size_t from);
  Result<AppendResult> plan_append(PendingAppend& append, bool keep_events, TimeMs time_ms,
                                   std::uint64_t& head_position, StreamVersions& advanced);
  Result<std::uint64_t> planned_version(const StreamVersions& advanced, const std::string& stream) const;
  void publish(std::uint64_t head_position, TimeMs time_ms);
  void record_write(const std::vector<Result<AppendResult>>& outcomes, bool written,
                    std::chrono::steady_clock::duration took);

  const Clock& clock_;
  const std::size_t max_batch_appends_;
  const std::size_t max_pending_appends_;
  const std::chrono::milliseconds idle_interval_;
  LogMetrics* const metrics_;  ///< Null: nothing counted.
  LogSink& sink_;

  std::mutex queue_mutex_;
  std::condition_variable queue_cv_;
  std::deque<PendingAppend> queue_;  ///< Guarded by queue_mutex_.
  bool accepting_ = true;            ///< Guarded by queue_mutex_.
  bool nudged_ = false;              ///< Guarded by queue_mutex_: catch up before the next batch.

  /// Guards what readers see of the writer's progress. Only the writer
  /// thread changes head_position_, so it reads it without the lock.
  mutable std::mutex state_mutex_;
  mutable std::condition_variable head_advanced_;
  std::uint64_t head_position_;
  bool stopped_ = false;

  TimeMs last_time_ms_;  ///< Writer thread only.

  std::mutex stop_mutex_;
  std::thread writer_;  ///< Last: starts once everything above is initialised.
};

}  // namespace muster
