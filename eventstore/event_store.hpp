#pragma once
/// The event log: muster's only source of truth.
///
/// A narrow, backend-neutral contract: append to a stream with an expected
/// version, read a stream, read (or scan) the log from a position, and wait
/// for the log to grow, which is all a follower needs. Every backend (RocksDB,
/// in memory, later NATS JetStream) passes the same conformance suite
/// (tests/eventstore/conformance.test.cpp). Stream ids are opaque to the store;
/// the runtime names them "<kind>:<id>".
///
/// Thread safety: every method may be called from any thread concurrently.

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.hpp"
#include "common/result.hpp"
#include "eventstore/event.hpp"

namespace muster {

struct LogMetrics;

/// Pass as `expected_version` to append to a stream that must not exist yet.
inline constexpr std::uint64_t kNewStream = 0;

/// Options every backend understands. Backends add their own (see
/// rocksdb_storage.hpp, memory_storage.hpp).
struct StoreOptions {
  /// Stamps `Event::time_ms`. Not owned; must outlive the store. Null: the system clock.
  const Clock* clock = nullptr;
  /// Most appends folded into one durable write (group commit). Default: 1024.
  std::size_t max_batch_appends = 1024;
  /// Appends waiting for the writer at most; beyond, an append fails at once
  /// with `unavailable` (STORE_OVERLOADED) instead of queueing without bound.
  /// Default: 65,536.
  std::size_t max_pending_appends = 65'536;
  /// Called once, on the writing thread, when the backend reports it cannot
  /// take writes again without a restart. Writes keep answering `io_error`
  /// after it. Null: nobody is told.
  std::function<void(const Error&)> on_unrecoverable_storage;
  /// Where the writer counts appends and times its durable writes
  /// (log_metrics.hpp). Not owned; must outlive the store. Null: nothing counted.
  LogMetrics* metrics = nullptr;
};

/// What an append reached.
struct AppendResult {
  std::uint64_t first_position = 0;  ///< Position of the first appended event.
  std::uint64_t last_position = 0;   ///< Position of the last appended event.
  std::uint64_t stream_version = 0;  ///< The stream's version after the append.
  TimeMs time_ms = 0;                ///< The time stamped on every appended event.
};

class EventStore {
 public:
  using AppendCallback = std::function<void(Result<AppendResult>)>;
  /// Sees one event of a scan; returns false to stop the scan there.
  using EventVisitor = std::function<bool(const EventView&)>;

  virtual ~EventStore() = default;
  EventStore(const EventStore&) = delete;
  EventStore& operator=(const EventStore&) = delete;

  /// Appends `events` (at least one) to `stream` atomically, if the stream's
  /// current version equals `expected_version` (`kNewStream` for a new stream).
  /// `done` runs exactly once, after the events are durable (as the backend's
  /// options define it), or with an error and nothing written: `conflict` on
  /// a version mismatch, `io_error` if the write failed, `unavailable` when
  /// read-only, stopped or saturated (STORE_OVERLOADED), `invalid_argument`
  /// for an empty batch, an event too large, or a stream id that is empty or
  /// contains '\0'. It runs on the store's writer thread, except refusals of a
  /// stopped, read-only or saturated store, which run on the caller's thread.
  /// `done` must not block for long (other appends wait behind it) and must not
  /// call `append` or `stop` (the writer would wait for itself).
  /// Concurrent appends share one durable write (group commit).
  virtual void append_async(std::string stream, std::uint64_t expected_version, std::vector<NewEvent> events,
                            AppendCallback done) = 0;

  /// Blocking form of `append_async`.
  Result<AppendResult> append(std::string stream, std::uint64_t expected_version,
                              std::vector<NewEvent> events);

  /// Up to `max_count` events of `stream` with version >= `from_version`, in
  /// version order. An unknown stream gives an empty vector. Errors:
  /// `io_error`, `corruption`, `unavailable` (stopped).
  virtual Result<std::vector<Event>> read_stream(const std::string& stream, std::uint64_t from_version,
                                                 std::size_t max_count) const = 0;

  /// Up to `max_count` events with position >= `from_position`, in log order.
  /// Errors as `read_stream`.
  virtual Result<std::vector<Event>> read_log(std::uint64_t from_position, std::size_t max_count) const = 0;

  /// Calls `visit` for up to `max_count` events with position >=
  /// `from_position`, in log order, until it returns false; returns the
  /// position after the last event visited (`from_position` if none). The
  /// view's strings live only during the call: a scan of the whole log
  /// allocates nothing per event. Errors as `read_stream`.
  virtual Result<std::uint64_t> scan_log(std::uint64_t from_position, std::size_t max_count,
                                         const EventVisitor& visit) const;

  /// The position of the last durable event; 0 for an empty log. A read-only
  /// store first catches up with the writer. Errors as `read_stream`.
  virtual Result<std::uint64_t> head_position() const = 0;

  /// The current version of `stream`; 0 if it has no events. Errors as `read_stream`.
  virtual Result<std::uint64_t> stream_version(const std::string& stream) const = 0;

  /// Blocks until the head position is past `after_position`, `timeout`
  /// passes or the store stops; returns the head position then (`timeout` is
  /// real time: a `Clock` cannot wait). Errors: `unavailable` once stopped,
  /// and those of `head_position`.
  virtual Result<std::uint64_t> wait_for_position(std::uint64_t after_position,
                                                  std::chrono::milliseconds timeout) const = 0;

  /// Refuses new appends, completes those in flight and releases the
  /// backend's resources. Idempotent; later calls answer `unavailable`.
  virtual void stop() = 0;

 protected:
  EventStore() = default;
};

}  // namespace muster
