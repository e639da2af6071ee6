#pragma once
/// The event store: muster's only source of truth.
///
/// A narrow contract so that a second backend (NATS JetStream) can implement it:
/// append to a stream with an expected version, read a stream, read the log
/// from a position, and wait for the log to grow (which is all a follower needs).
/// Beside the log it keeps one overwrite-only table, each stream's "last seen"
/// time, because heartbeats are not events.
///
/// Thread safety: every method may be called from any thread concurrently.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/clock.hpp"
#include "common/result.hpp"
#include "eventstore/event.hpp"
#include "eventstore/file_hooks.hpp"

namespace muster {

/// Pass as `expected_version` to append to a stream that must not exist yet.
inline constexpr std::uint64_t kNewStream = 0;

enum class Durability {
  /// An append is acknowledged after its WAL record is fsynced. Survives power loss.
  fsync,
  /// Acknowledged after the WAL write reaches the OS. Survives a process crash
  /// (kill -9), but a power loss or kernel crash may lose the last acknowledged writes.
  wal,
};

struct StoreOptions {
  /// Directory of the database; created if missing (unless `read_only`).
  std::string path;
  /// When an append is acknowledged. Default: fsync.
  Durability durability = Durability::fsync;
  /// Open without writing, beside a server that may be running on the same
  /// directory (a RocksDB secondary instance). Appends fail with `unavailable`.
  bool read_only = false;
  /// Stamps `Event::time_ms`. Not owned; must outlive the store. Null: the system clock.
  const Clock* clock = nullptr;
  /// Most appends folded into one synced write (group commit). Default: 1024.
  std::size_t max_batch_appends = 1024;
  /// Appends waiting for the writer at most; beyond, an append fails at once
  /// with `unavailable` (STORE_OVERLOADED) instead of queueing without bound.
  /// Default: 65,536.
  std::size_t max_pending_appends = 65'536;
  /// Called once, on the writing thread, when RocksDB reports it cannot take
  /// writes again without a restart (a non-retryable I/O error). Writes keep
  /// answering `io_error` after it. Null: nobody is told.
  std::function<void(const Error&)> on_unrecoverable_storage;
  /// Test-only: sees every file write and sync (fault injection, power-loss simulation).
  std::shared_ptr<FileHooks> file_hooks;
};

/// What an append reached.
struct AppendResult {
  std::uint64_t first_position = 0;  ///< Position of the first appended event.
  std::uint64_t last_position = 0;   ///< Position of the last appended event.
  std::uint64_t stream_version = 0;  ///< The stream's version after the append.
  TimeMs time_ms = 0;                ///< The time stamped on every appended event.
};

/// One stream's durable "last seen" time.
struct LastSeen {
  std::string stream;
  TimeMs time_ms = 0;
};

class EventStore {
 public:
  using AppendCallback = std::function<void(Result<AppendResult>)>;

  virtual ~EventStore() = default;
  EventStore(const EventStore&) = delete;
  EventStore& operator=(const EventStore&) = delete;

  /// Appends `events` (at least one) to `stream` atomically, if the stream's
  /// current version equals `expected_version` (`kNewStream` for a new stream).
  /// `done` runs exactly once, after the events are durable per `Durability`,
  /// or with an error and nothing written: `conflict` on a version mismatch,
  /// `io_error` if the write failed, `unavailable` when read-only or stopped,
  /// `invalid_argument` for an empty batch or a stream id that is empty or
  /// contains '\0'. It runs on the store's writer thread, except refusals of a
  /// stopped or read-only store, which run on the caller's thread.
  /// `done` must not block for long (other appends wait behind it) and must not
  /// call `append` or `stop` (the writer would wait for itself).
  /// Concurrent appends share one synced write (group commit).
  virtual void append_async(std::string stream, std::uint64_t expected_version, std::vector<NewEvent> events,
                            AppendCallback done) = 0;

  /// Blocking form of `append_async`.
  Result<AppendResult> append(std::string stream, std::uint64_t expected_version,
                              std::vector<NewEvent> events);

  /// Up to `max_count` events of `stream` with version >= `from_version`, in
  /// version order. An unknown stream gives an empty vector.
  virtual Result<std::vector<Event>> read_stream(const std::string& stream, std::uint64_t from_version,
                                                 std::size_t max_count) const = 0;

  /// Up to `max_count` events with position >= `from_position`, in log order.
  virtual Result<std::vector<Event>> read_log(std::uint64_t from_position, std::size_t max_count) const = 0;

  /// The position of the last durable event; 0 for an empty log. A read-only
  /// store first catches up with the primary.
  virtual std::uint64_t head_position() const = 0;

  /// The current version of `stream`; 0 if it has no events.
  virtual std::uint64_t stream_version(const std::string& stream) const = 0;

  /// Blocks until `head_position() > after_position` or `timeout` passes or the
  /// store stops; returns the head position then. `timeout` is real time: a
  /// `Clock` cannot wait.
  virtual std::uint64_t wait_for_position(std::uint64_t after_position,
                                          std::chrono::milliseconds timeout) const = 0;

  /// Overwrites the last-seen times of the given streams (not events: no
  /// position, no version). Durable once it returns.
  virtual Status save_last_seen(const std::vector<LastSeen>& entries) = 0;

  /// Every stream's last-seen time as saved.
  virtual Result<std::vector<LastSeen>> load_last_seen() const = 0;

  /// Refuses new appends, completes those in flight, flushes and closes.
  /// Idempotent; the destructor calls it.
  virtual void stop() = 0;

 protected:
  EventStore() = default;
};

/// Opens (creating if needed) the RocksDB-backed store at `options.path`.
/// Errors: `io_error` (cannot open/create), `corruption` (data damaged; the
/// message names the file when RocksDB does), `unavailable` (locked by another
/// writer process).
Result<std::unique_ptr<EventStore>> open_rocksdb_event_store(const StoreOptions& options);

}  // namespace muster
