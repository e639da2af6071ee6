/// The RocksDB backend of `EventStore`.
///
/// Column families:
///   events    8-byte big-endian position        -> encoded Event (event_codec)
///   streams   stream id + '\0' + BE version     -> BE position
///   heads     stream id                         -> BE current version
///   last_seen stream id                         -> BE milliseconds
///
/// A primary store funnels every append through one writer thread, which folds
/// whatever is queued into one `WriteBatch` and one (synced) write: group
/// commit. A read-only store is a RocksDB secondary instance that catches up
/// with the primary's files before it answers.

#include "eventstore/event_store.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <limits>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string_view>
#include <thread>
#include <unordered_map>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include "common/log.hpp"
#include "eventstore/durable_head.hpp"
#include "eventstore/event_codec.hpp"
#include "eventstore/hooked_file_system.hpp"

namespace muster {
namespace {

using event_codec::decode_u64_be;
using event_codec::encode_u64_be;

using StreamVersions = std::unordered_map<std::string, std::uint64_t>;

constexpr std::chrono::milliseconds kSecondaryPollInterval{50};

Error error_from_rocksdb(const rocksdb::Status& status, std::string_view doing) {
  auto code = status.IsCorruption() ? ErrorCode::corruption : ErrorCode::io_error;
  return make_error(code, fmt::format("{}: {}", doing, status.ToString()));
}

Error open_error_from_rocksdb(const rocksdb::Status& status, const std::string& path) {
  std::string text = status.ToString();
  if (status.IsIOError() && text.find("lock") != std::string::npos) {
    return make_error(ErrorCode::unavailable,
                      fmt::format("another muster process holds the data directory {} ({})", path, text));
  }
  if (status.IsCorruption() && text.find(".sst") == std::string::npos &&
      text.find(".log") == std::string::npos) {
    // RocksDB names a damaged table file, but not the write-ahead log it was
    // replaying: name the candidates, so the message says where to look.
    std::vector<std::string> logs;
    std::error_code ignored;
    for (const auto& entry : std::filesystem::directory_iterator(path, ignored)) {
      if (entry.path().extension() == ".log") logs.push_back(entry.path().filename().string());
    }
    std::sort(logs.begin(), logs.end());
    text += fmt::format(" (while replaying the write-ahead log: {})", fmt::join(logs, ", "));
  }
  return make_error(status.IsCorruption() ? ErrorCode::corruption : ErrorCode::io_error,
                    fmt::format("cannot open event store at {}: {}", path, text));
}

Error stopped_error() {
  return make_error(ErrorCode::unavailable, "event store is stopped");
}

Error read_only_error() {
  return make_error(ErrorCode::unavailable, "event store is open read-only");
}

/// An open RocksDB database with muster's column families. Closing it
/// destroys the column family handles before the database, as RocksDB requires.
/// Thread-safe as RocksDB is.
class Database {
 public:
  static Result<std::unique_ptr<Database>> open_primary(const std::string& path,
                                                        const std::shared_ptr<FileHooks>& hooks,
                                                        std::function<void(const Error&)> on_unrecoverable) {
    rocksdb::DBOptions options = common_options();
    options.create_if_missing = true;
    options.create_missing_column_families = true;
    std::unique_ptr<rocksdb::Env> env;
    if (hooks) {
      env = rocksdb::NewCompositeEnv(make_hooked_file_system(hooks));
      options.env = env.get();
    }
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* db = nullptr;
    auto status = rocksdb::DB::Open(options, path, family_descriptors(), &handles, &db);
    if (!status.ok()) return open_error_from_rocksdb(status, path);
    auto database = std::unique_ptr<Database>(new Database(db, std::move(handles)));
    database->env_ = std::move(env);
    database->on_unrecoverable_ = on_unrecoverable;
    return database;
  }

  static Result<std::unique_ptr<Database>> open_secondary(const std::string& path,
                                                          const std::string& secondary_path) {
    rocksdb::DBOptions options = common_options();
    // RocksDB requires it of secondaries: they must see every table file the primary has.
    options.max_open_files = -1;
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* db = nullptr;
    auto status =
        rocksdb::DB::OpenAsSecondary(options, path, secondary_path, family_descriptors(), &handles, &db);
    if (!status.ok()) return open_error_from_rocksdb(status, path);
    return std::unique_ptr<Database>(new Database(db, std::move(handles)));
  }

  ~Database() {
    for (auto* handle : handles_) {
      auto status = db_->DestroyColumnFamilyHandle(handle);
      if (!status.ok()) log::warn("cannot release column family", {{"error", status.ToString()}});
    }
    auto status = db_->Close();
    if (!status.ok() && !status.IsNotSupported()) {
      log::warn("closing the event store failed", {{"error", status.ToString()}});
    }
  }
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  rocksdb::ColumnFamilyHandle* events_family() const { return handles_[kEventsIdx]; }
  rocksdb::ColumnFamilyHandle* streams_family() const { return handles_[kStreamsIdx]; }
  rocksdb::ColumnFamilyHandle* heads_family() const { return handles_[kHeadsIdx]; }
  rocksdb::ColumnFamilyHandle* last_seen_family() const { return handles_[kLastSeenIdx]; }

  [[nodiscard]] Status write(rocksdb::WriteBatch& batch, bool sync) {
    std::lock_guard<std::mutex> lock(write_mutex_);
    // After a failed write RocksDB refuses every write until it recovers:
    // by itself for a full disk (Resume answers Busy meanwhile), or when
    // resumed. Trying once per later write lets writes come back without a
    // restart once the disk does.
    if (needs_resume_) {
      auto resumed = db_->Resume();
      if (!resumed.ok() && !resumed.IsBusy()) {
        Error failing = error_from_rocksdb(resumed, "storage still failing");
        // Fatal: RocksDB keeps the error (e.g. EIO in its WAL writer) and will
        // not take writes again in this process; a restart recovers.
        if (resumed.severity() >= rocksdb::Status::Severity::kFatalError && on_unrecoverable_) {
          auto told = std::exchange(on_unrecoverable_, nullptr);
          told(failing);
        }
        return failing;
      }
    }
    rocksdb::WriteOptions options;
    options.sync = sync;
    auto status = db_->Write(options, &batch);
    if (!status.ok()) {
      if (!needs_resume_)
        log::error("the event store stopped accepting writes; reads go on", {{"error", status.ToString()}});
      needs_resume_ = true;
      return error_from_rocksdb(status, "write failed");
    }
    if (needs_resume_) log::info("the event store accepts writes again");
    needs_resume_ = false;
    return Status::success();
  }

  /// Writes the memtables to table files so that the next open replays no WAL.
  void flush() {
    auto status = db_->Flush(rocksdb::FlushOptions(), handles_);
    if (!status.ok()) log::warn("flushing the event store failed", {{"error", status.ToString()}});
  }

  [[nodiscard]] Status catch_up_with_primary() {
    auto status = db_->TryCatchUpWithPrimary();
    if (!status.ok()) return error_from_rocksdb(status, "cannot catch up with the primary");
    return Status::success();
  }

  [[nodiscard]] Result<std::vector<Event>> read_log(std::uint64_t from_position,
                                                    std::size_t max_count) const {
    std::vector<Event> events;
    if (max_count == 0) return events;
    // Positions start at 1; the upper bound below counts from the first real one.
    from_position = std::max<std::uint64_t>(1, from_position);
    rocksdb::ReadOptions options;
    std::string upper_key;
    rocksdb::Slice upper_bound;
    if (from_position <= std::numeric_limits<std::uint64_t>::max() - max_count) {
      upper_key = encode_u64_be(from_position + max_count);
      upper_bound = upper_key;
      options.iterate_upper_bound = &upper_bound;
    }
    std::unique_ptr<rocksdb::Iterator> iterator(db_->NewIterator(options, events_family()));
    for (iterator->Seek(encode_u64_be(from_position)); iterator->Valid() && events.size() < max_count;
         iterator->Next()) {
      auto event = decode_stored_event(iterator->key(), iterator->value());
      if (!event) return event.error();
      events.push_back(std::move(*event));
    }
    if (!iterator->status().ok()) return error_from_rocksdb(iterator->status(), "cannot read log");
    return events;
  }

  [[nodiscard]] Result<std::vector<Event>> read_stream(const std::string& stream, std::uint64_t from_version,
                                                       std::size_t max_count) const {
    auto positions = read_stream_positions(stream, from_version, max_count);
    if (!positions) return positions.error();
    std::vector<Event> events;
    events.reserve(positions->size());
    for (const auto& position_key : *positions) {
      std::string value;
      auto status = db_->Get(rocksdb::ReadOptions(), events_family(), position_key, &value);
      if (status.IsNotFound()) {
        return make_error(ErrorCode::corruption,
                          fmt::format("stream {} indexes position {}, which holds no event", stream,
                                      decode_u64_be(position_key).value_or(0)));
      }
      if (!status.ok()) return error_from_rocksdb(status, "cannot read event");
      auto event = decode_stored_event(position_key, value);
      if (!event) return event.error();
      events.push_back(std::move(*event));
    }
    return events;
  }

  /// The last event of the log, if any.
  [[nodiscard]] Result<std::optional<Event>> read_last_event() const {
    std::unique_ptr<rocksdb::Iterator> iterator(db_->NewIterator(rocksdb::ReadOptions(), events_family()));
    iterator->SeekToLast();
    if (!iterator->Valid()) {
      if (!iterator->status().ok()) {
        return error_from_rocksdb(iterator->status(), "cannot read the log's head");
      }
      return std::optional<Event>();
    }
    auto event = decode_stored_event(iterator->key(), iterator->value());
    if (!event) return event.error();
    return std::optional<Event>(std::move(*event));
  }

  [[nodiscard]] Result<StreamVersions> read_stream_versions() const {
    StreamVersions versions;
    std::unique_ptr<rocksdb::Iterator> iterator(db_->NewIterator(rocksdb::ReadOptions(), heads_family()));
    for (iterator->SeekToFirst(); iterator->Valid(); iterator->Next()) {
      auto version = decode_u64_be(iterator->value().ToStringView());
      if (!version) return bad_value("heads", iterator->key());
      versions.emplace(iterator->key().ToString(), *version);
    }
    if (!iterator->status().ok()) {
      return error_from_rocksdb(iterator->status(), "cannot read stream heads");
    }
    return versions;
  }

  [[nodiscard]] Result<std::uint64_t> read_stream_version(const std::string& stream) const {
    std::string value;
    auto status = db_->Get(rocksdb::ReadOptions(), heads_family(), stream, &value);
    if (status.IsNotFound()) return std::uint64_t{0};
    if (!status.ok()) return error_from_rocksdb(status, "cannot read stream head");
    auto version = decode_u64_be(value);
    if (!version) return bad_value("heads", stream);
    return *version;
  }

  [[nodiscard]] Result<std::vector<LastSeen>> read_last_seen() const {
    std::vector<LastSeen> entries;
    std::unique_ptr<rocksdb::Iterator> iterator(db_->NewIterator(rocksdb::ReadOptions(), last_seen_family()));
    for (iterator->SeekToFirst(); iterator->Valid(); iterator->Next()) {
      auto time_ms = decode_u64_be(iterator->value().ToStringView());
      if (!time_ms) return bad_value("last_seen", iterator->key());
      entries.push_back({iterator->key().ToString(), static_cast<TimeMs>(*time_ms)});
    }
    if (!iterator->status().ok()) {
      return error_from_rocksdb(iterator->status(), "cannot read last-seen times");
    }
    return entries;
  }

 private:
  // Indexes into `handles_`, in the order of `family_descriptors()`.
  static constexpr std::size_t kEventsIdx = 1;
  static constexpr std::size_t kStreamsIdx = 2;
  static constexpr std::size_t kHeadsIdx = 3;
  static constexpr std::size_t kLastSeenIdx = 4;

  Database(rocksdb::DB* db, std::vector<rocksdb::ColumnFamilyHandle*> handles)
      : db_(db), handles_(std::move(handles)) {}

  static rocksdb::DBOptions common_options() {
    rocksdb::DBOptions options;
    options.paranoid_checks = true;
    // After kill -9 or a power cut the WAL may end in a torn record: only an
    // incomplete tail is tolerated. A record damaged in the middle makes the
    // open fail instead of silently dropping everything after it (the
    // default, kPointInTimeRecovery, would serve that shortened history).
    options.wal_recovery_mode = rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords;
    // Synced WALs are recorded in the MANIFEST with their sizes, so a WAL
    // that is missing or shorter than what was synced is found at open.
    options.track_and_verify_wals_in_manifest = true;
    return options;
  }

  static std::vector<rocksdb::ColumnFamilyDescriptor> family_descriptors() {
    rocksdb::ColumnFamilyOptions family_options;
    return {{rocksdb::kDefaultColumnFamilyName, family_options},
            {"events", family_options},
            {"streams", family_options},
            {"heads", family_options},
            {"last_seen", family_options}};
  }

  static Error bad_value(std::string_view family, const rocksdb::Slice& key) {
    return make_error(ErrorCode::corruption, fmt::format("malformed value in column family {} under key {:?}",
                                                         family, key.ToString()));
  }

  /// Decodes an `events` value and checks it sits under its own position.
  static Result<Event> decode_stored_event(const rocksdb::Slice& key, const rocksdb::Slice& value) {
    auto event = event_codec::decode_event(value.ToStringView());
    if (!event) return event.error();
    auto position = decode_u64_be(key.ToStringView());
    if (!position || *position != event->position) {
      return make_error(ErrorCode::corruption,
                        fmt::format("event at position {} is stored under another key", event->position));
    }
    return event;
  }

  /// The `events` keys of `stream`'s versions from `from_version`, at most `max_count`.
  Result<std::vector<std::string>> read_stream_positions(const std::string& stream,
                                                         std::uint64_t from_version,
                                                         std::size_t max_count) const {
    std::vector<std::string> positions;
    // Stream ids with '\0' cannot be appended, so such a stream is unknown.
    if (max_count == 0 || stream.find('\0') != std::string::npos) return positions;
    // Every key of the stream starts with stream + '\0'; stream + '\1' is past them all.
    std::string upper_key = stream + '\1';
    rocksdb::Slice upper_bound(upper_key);
    rocksdb::ReadOptions options;
    options.iterate_upper_bound = &upper_bound;
    std::unique_ptr<rocksdb::Iterator> iterator(db_->NewIterator(options, streams_family()));
    for (iterator->Seek(event_codec::stream_version_key(stream, from_version));
         iterator->Valid() && positions.size() < max_count; iterator->Next()) {
      if (!decode_u64_be(iterator->value().ToStringView())) {
        return bad_value("streams", iterator->key());
      }
      positions.push_back(iterator->value().ToString());
    }
    if (!iterator->status().ok()) {
      return error_from_rocksdb(iterator->status(), "cannot read stream");
    }
    return positions;
  }

  std::unique_ptr<rocksdb::Env> env_;                   ///< Declared first: it must outlive the database.
  std::mutex write_mutex_;                              ///< The writer thread and last-seen saves.
  std::function<void(const Error&)> on_unrecoverable_;  ///< Guarded by write_mutex_.
  bool needs_resume_ = false;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
};

/// What both stores share: the reads, and a database that `stop()` may close
/// while other threads read (they then get `unavailable`).
class RocksDbEventStore : public EventStore {
 public:
  Result<std::vector<Event>> read_stream(const std::string& stream, std::uint64_t from_version,
                                         std::size_t max_count) const final {
    std::shared_lock lifetime(lifetime_mutex_);
    if (!database_) return stopped_error();
    if (auto status = refresh(*database_); !status) return status.error();
    return database_->read_stream(stream, from_version, max_count);
  }

  Result<std::vector<Event>> read_log(std::uint64_t from_position, std::size_t max_count) const final {
    std::shared_lock lifetime(lifetime_mutex_);
    if (!database_) return stopped_error();
    // A full batch leaves more to read in what this view already holds: only
    // a read that reached the view's end brings it up to date first. (A
    // secondary's catch-up rereads the MANIFEST and starts threads to open
    // tables: once per batch it took most of a replay's time.)
    if (log_end_reached_) {
      if (auto status = refresh(*database_); !status) return status.error();
    }
    auto events = database_->read_log(from_position, max_count);
    log_end_reached_ = !events || events->size() < max_count;
    return events;
  }

  Result<std::vector<LastSeen>> load_last_seen() const final {
    std::shared_lock lifetime(lifetime_mutex_);
    if (!database_) return stopped_error();
    if (auto status = refresh(*database_); !status) return status.error();
    return database_->read_last_seen();
  }

 protected:
  explicit RocksDbEventStore(std::unique_ptr<Database> database) : database_(std::move(database)) {}

  /// Brings `database` up to date before a read: a no-op for the primary.
  [[nodiscard]] virtual Status refresh(Database& database) const = 0;

  /// Flushes if asked, then closes the database once no read is using it.
  void close_database(bool flush) {
    std::unique_lock lifetime(lifetime_mutex_);
    if (database_ && flush) database_->flush();
    database_.reset();
  }

  // Shared by reads, exclusive for closing.
  mutable std::shared_mutex lifetime_mutex_;
  /// False while the last read_log returned a full batch (see read_log).
  mutable std::atomic<bool> log_end_reached_{true};
  std::unique_ptr<Database> database_;
};

/// One queued `append_async` call.
struct PendingAppend {
  std::string stream;
  std::uint64_t expected_version = 0;
  std::vector<NewEvent> events;
  EventStore::AppendCallback done;
};

/// What the stream heads looked like when the primary opened.
struct RecoveredState {
  std::uint64_t head_position = 0;
  TimeMs last_time_ms = 0;
  StreamVersions stream_versions;
};

/// One group commit in the making: the write, and each append's answer should it succeed.
struct BatchPlan {
  rocksdb::WriteBatch batch;
  std::vector<Result<AppendResult>> outcomes;  ///< One per append, in queue order.
  StreamVersions new_stream_versions;          ///< Streams this batch advances.
  std::uint64_t new_head_position = 0;
  std::size_t accepted_count = 0;
};

class PrimaryEventStore final : public RocksDbEventStore {
 public:
  PrimaryEventStore(std::unique_ptr<Database> database, const StoreOptions& options, const Clock& clock,
                    RecoveredState recovered)
      : RocksDbEventStore(std::move(database)),
        clock_(clock),
        sync_writes_(options.durability == Durability::fsync),
        max_batch_appends_(std::max<std::size_t>(1, options.max_batch_appends)),
        max_pending_appends_(std::max<std::size_t>(1, options.max_pending_appends)),
        head_mark_(options.path),
        marked_position_(recovered.head_position),
        head_position_(recovered.head_position),
        stream_versions_(std::move(recovered.stream_versions)),
        last_time_ms_(recovered.last_time_ms),
        writer_([this] { run_writer(); }) {}

  ~PrimaryEventStore() override { stop(); }

  void append_async(std::string stream, std::uint64_t expected_version, std::vector<NewEvent> events,
                    AppendCallback done) override {
    bool saturated = false;
    {
      std::lock_guard queue_lock(queue_mutex_);
      saturated = queue_.size() >= max_pending_appends_;
      if (accepting_ && !saturated) {
        queue_.push_back({std::move(stream), expected_version, std::move(events), std::move(done)});
        queue_cv_.notify_one();
        return;
      }
    }
    // Refused here, outside the lock: the writer is gone, or too far behind.
    done(saturated ? make_error(ErrorCode::unavailable,
                                "the event log is saturated with writes; retry shortly", "STORE_OVERLOADED")
                   : stopped_error());
  }

  std::uint64_t head_position() const override {
    std::lock_guard state_lock(state_mutex_);
    return head_position_;
  }

  std::uint64_t stream_version(const std::string& stream) const override {
    std::lock_guard state_lock(state_mutex_);
    auto found = stream_versions_.find(stream);
    return found == stream_versions_.end() ? 0 : found->second;
  }

  std::uint64_t wait_for_position(std::uint64_t after_position,
                                  std::chrono::milliseconds timeout) const override {
    std::unique_lock state_lock(state_mutex_);
    head_advanced_.wait_for(state_lock, timeout, [&] { return head_position_ > after_position || stopped_; });
    return head_position_;
  }

  Status save_last_seen(const std::vector<LastSeen>& entries) override {
    std::shared_lock lifetime(lifetime_mutex_);
    if (!database_) return stopped_error();
    if (entries.empty()) return Status::success();
    rocksdb::WriteBatch batch;
    for (const auto& entry : entries) {
      auto status = batch.Put(database_->last_seen_family(), entry.stream,
                              encode_u64_be(static_cast<std::uint64_t>(entry.time_ms)));
      if (!status.ok()) return error_from_rocksdb(status, "cannot save last-seen times");
    }
    return database_->write(batch, /*sync=*/true);
  }

  void stop() override {
    std::lock_guard stop_lock(stop_mutex_);
    if (!writer_.joinable()) return;
    {
      std::lock_guard queue_lock(queue_mutex_);
      accepting_ = false;
    }
    queue_cv_.notify_all();
    writer_.join();
    mark_durable_head(/*now=*/true);
    {
      std::lock_guard state_lock(state_mutex_);
      stopped_ = true;
    }
    head_advanced_.notify_all();
    close_database(/*flush=*/true);
  }

 private:
  Status refresh(Database& /*database*/) const override { return Status::success(); }

  void run_writer() {
    while (auto appends = take_pending_appends()) {
      if (appends->empty()) {
        mark_durable_head(/*now=*/false);  // idle: let the mark catch up with the last writes
      } else {
        commit(std::move(*appends));
      }
    }
  }

  /// Waits (at most a mark interval) for appends and takes up to
  /// `max_batch_appends_` of them; nullopt once stopping and nothing is left.
  std::optional<std::vector<PendingAppend>> take_pending_appends() {
    std::unique_lock queue_lock(queue_mutex_);
    queue_cv_.wait_for(queue_lock, std::chrono::milliseconds(kMarkIntervalMs),
                       [&] { return !queue_.empty() || !accepting_; });
    if (queue_.empty() && !accepting_) return std::nullopt;
    auto count = static_cast<std::ptrdiff_t>(std::min(queue_.size(), max_batch_appends_));
    std::vector<PendingAppend> taken(std::make_move_iterator(queue_.begin()),
                                     std::make_move_iterator(queue_.begin() + count));
    queue_.erase(queue_.begin(), queue_.begin() + count);
    return taken;
  }

  /// Writes the acceptable appends in one write, publishes the new heads only
  /// if it succeeded, then answers every append.
  void commit(std::vector<PendingAppend> appends) {
    // Never backwards, even if the wall clock is.
    TimeMs time_ms = std::max(last_time_ms_, clock_.now_ms());
    BatchPlan plan = plan_batch(appends, time_ms);
    if (plan.accepted_count > 0) {
      // No lifetime lock: stop() joins this thread before it closes the database.
      if (auto written = database_->write(plan.batch, sync_writes_); written) {
        publish(plan, time_ms);
        mark_durable_head(/*now=*/false);
      } else {
        fail_accepted(plan.outcomes, written.error());
      }
    }
    for (std::size_t append_idx = 0; append_idx < appends.size(); ++append_idx) {
      appends[append_idx].done(std::move(plan.outcomes[append_idx]));
    }
  }

  BatchPlan plan_batch(const std::vector<PendingAppend>& appends, TimeMs time_ms) {
    BatchPlan plan;
    plan.new_head_position = head_position_;
    plan.outcomes.reserve(appends.size());
    for (const auto& append : appends) plan.outcomes.push_back(plan_append(plan, append, time_ms));
    for (const auto& [stream, version] : plan.new_stream_versions) {
      // Cannot fail: Put refuses only oversized keys and values, and a longer
      // key made of this stream id already went into `streams`.
      (void)plan.batch.Put(database_->heads_family(), stream, encode_u64_be(version));
    }
    return plan;
  }

  /// Adds `append` to `plan` if its expected version holds against the heads
  /// as the earlier appends of this batch leave them.
  Result<AppendResult> plan_append(BatchPlan& plan, const PendingAppend& append, TimeMs time_ms) {
    if (auto invalid = validate(append); !invalid) return invalid.error();
    std::uint64_t current_version = planned_version(plan, append.stream);
    if (current_version != append.expected_version) {
      return make_error(ErrorCode::conflict,
                        fmt::format("stream {:?} is at version {}, expected {}", append.stream,
                                    current_version, append.expected_version));
    }
    AppendResult result{plan.new_head_position + 1, plan.new_head_position, current_version, time_ms};
    plan.batch.SetSavePoint();
    for (const auto& new_event : append.events) {
      ++result.last_position;
      ++result.stream_version;
      auto status = add_event(plan.batch, append.stream, new_event, result);
      if (!status.ok()) {
        // Only this append is dropped: the batch returns to where it started.
        (void)plan.batch.RollbackToSavePoint();
        return make_error(ErrorCode::invalid_argument, fmt::format("event too large: {}", status.ToString()));
      }
    }
    (void)plan.batch.PopSavePoint();
    plan.new_head_position = result.last_position;
    plan.new_stream_versions[append.stream] = result.stream_version;
    ++plan.accepted_count;
    return result;
  }

  static Status validate(const PendingAppend& append) {
    if (append.stream.empty()) {
      return make_error(ErrorCode::invalid_argument, "stream id must not be empty");
    }
    if (append.stream.find('\0') != std::string::npos) {
      return make_error(ErrorCode::invalid_argument, "stream id must not contain NUL");
    }
    if (append.events.empty()) {
      return make_error(ErrorCode::invalid_argument, "an append needs at least one event");
    }
    return Status::success();
  }

  /// The stream's version with this batch's earlier appends applied.
  std::uint64_t planned_version(const BatchPlan& plan, const std::string& stream) const {
    if (auto planned = plan.new_stream_versions.find(stream); planned != plan.new_stream_versions.end()) {
      return planned->second;
    }
    // Only this thread writes stream_versions_, so it may read without the lock.
    auto found = stream_versions_.find(stream);
    return found == stream_versions_.end() ? 0 : found->second;
  }

  /// Puts the event at `result.last_position`/`result.stream_version` and its stream index.
  rocksdb::Status add_event(rocksdb::WriteBatch& batch, const std::string& stream, const NewEvent& new_event,
                            const AppendResult& result) {
    Event event;
    event.position = result.last_position;
    event.stream = stream;
    event.version = result.stream_version;
    event.type = new_event.type;
    event.time_ms = result.time_ms;
    event.schema_version = new_event.schema_version;
    event.data = new_event.data;
    event.meta = new_event.meta;
    std::string position_key = encode_u64_be(result.last_position);
    auto status = batch.Put(database_->events_family(), position_key, event_codec::encode_event(event));
    if (!status.ok()) return status;
    return batch.Put(database_->streams_family(),
                     event_codec::stream_version_key(stream, result.stream_version), position_key);
  }

  static void fail_accepted(std::vector<Result<AppendResult>>& outcomes, const Error& error) {
    for (auto& outcome : outcomes) {
      if (outcome.ok()) outcome = error;
    }
  }

  /// Raises the durable-head watermark to the head (at most once per
  /// `kMarkIntervalMs` unless `now`). Only synced appends are durable enough
  /// to mark; a failure is logged, as the mark only guards against damage.
  void mark_durable_head(bool now) {
    if (!sync_writes_ || head_position_ == marked_position_) return;
    // At stop (`now`) the clock is not read: whoever owns it may be tearing down.
    const TimeMs clock_ms = now ? marked_at_ms_ : clock_.now_ms();
    if (!now && clock_ms < marked_at_ms_ + kMarkIntervalMs) return;
    if (Status marked = head_mark_.write(head_position_); !marked) {
      log::warn("cannot mark the durable head", {{"error", marked.error().message}});
      return;
    }
    marked_position_ = head_position_;
    marked_at_ms_ = clock_ms;
  }

  void publish(const BatchPlan& plan, TimeMs time_ms) {
    last_time_ms_ = time_ms;
    {
      std::lock_guard state_lock(state_mutex_);
      head_position_ = plan.new_head_position;
      for (const auto& [stream, version] : plan.new_stream_versions) {
        stream_versions_[stream] = version;
      }
    }
    head_advanced_.notify_all();
  }

  static constexpr TimeMs kMarkIntervalMs = 1000;

  const Clock& clock_;
  const bool sync_writes_;
  const std::size_t max_batch_appends_;
  const std::size_t max_pending_appends_;
  const DurableHeadMark head_mark_;
  std::uint64_t marked_position_;  ///< Writer thread only.
  TimeMs marked_at_ms_ = 0;        ///< Writer thread only.

  std::mutex queue_mutex_;
  std::condition_variable queue_cv_;
  std::deque<PendingAppend> queue_;  // Guarded by queue_mutex_.
  bool accepting_ = true;            // Guarded by queue_mutex_.

  // Guards what readers see of the writer's progress. Only the writer thread
  // changes head_position_ and stream_versions_.
  mutable std::mutex state_mutex_;
  mutable std::condition_variable head_advanced_;
  std::uint64_t head_position_;
  StreamVersions stream_versions_;
  bool stopped_ = false;

  TimeMs last_time_ms_;  // Writer thread only.

  std::mutex stop_mutex_;
  std::thread writer_;  // Last: starts once everything above is initialised.
};

/// A read-only view beside a running primary: a RocksDB secondary instance
/// whose private files live in a temporary directory removed on stop.
class SecondaryEventStore final : public RocksDbEventStore {
 public:
  SecondaryEventStore(std::unique_ptr<Database> database, std::string secondary_path)
      : RocksDbEventStore(std::move(database)), secondary_path_(std::move(secondary_path)) {}

  ~SecondaryEventStore() override { stop(); }

  void append_async(std::string /*stream*/, std::uint64_t /*expected_version*/,
                    std::vector<NewEvent> /*events*/, AppendCallback done) override {
    done(read_only_error());
  }

  std::uint64_t head_position() const override {
    std::shared_lock lifetime(lifetime_mutex_);
    if (!database_) return last_known_head_.load();
    // A failed catch-up or read leaves the head as last seen: the primary's
    // files are in motion, and the next call tries again.
    if (refresh(*database_).ok()) {
      if (auto last_event = database_->read_last_event(); last_event && *last_event) {
        last_known_head_ = (*last_event)->position;
      }
    }
    return last_known_head_.load();
  }

  std::uint64_t stream_version(const std::string& stream) const override {
    std::shared_lock lifetime(lifetime_mutex_);
    if (!database_ || !refresh(*database_).ok()) return 0;
    auto version = database_->read_stream_version(stream);
    return version ? *version : 0;
  }

  std::uint64_t wait_for_position(std::uint64_t after_position,
                                  std::chrono::milliseconds timeout) const override {
    // The primary is another process: nothing signals its writes, so poll.
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      std::uint64_t head = head_position();
      auto now = std::chrono::steady_clock::now();
      if (head > after_position || now >= deadline) return head;
      std::unique_lock stop_lock(stop_mutex_);
      if (stop_requested_.wait_for(
              stop_lock,
              std::min<std::chrono::steady_clock::duration>(kSecondaryPollInterval, deadline - now),
              [&] { return stopped_; })) {
        return head;
      }
    }
  }

  Status save_last_seen(const std::vector<LastSeen>& /*entries*/) override { return read_only_error(); }

  void stop() override {
    {
      std::lock_guard stop_lock(stop_mutex_);
      if (stopped_) return;
      stopped_ = true;
    }
    stop_requested_.notify_all();
    close_database(/*flush=*/false);
    std::error_code ignored;
    std::filesystem::remove_all(secondary_path_, ignored);
  }

 private:
  Status refresh(Database& database) const override { return database.catch_up_with_primary(); }

  std::string secondary_path_;
  mutable std::atomic<std::uint64_t> last_known_head_{0};
  mutable std::mutex stop_mutex_;
  mutable std::condition_variable stop_requested_;
  bool stopped_ = false;  // Guarded by stop_mutex_.
};

Result<RecoveredState> recover_state(const Database& database) {
  RecoveredState recovered;
  auto last_event = database.read_last_event();
  if (!last_event) return last_event.error();
  if (*last_event) {
    recovered.head_position = (*last_event)->position;
    recovered.last_time_ms = (*last_event)->time_ms;
  }
  auto stream_versions = database.read_stream_versions();
  if (!stream_versions) return stream_versions.error();
  recovered.stream_versions = std::move(*stream_versions);
  return recovered;
}

const Clock& clock_or_system(const StoreOptions& options) {
  static const SystemClock system_clock;
  return options.clock != nullptr ? *options.clock : system_clock;
}

Result<std::unique_ptr<EventStore>> open_primary_store(const StoreOptions& options) {
  std::error_code error;
  std::filesystem::create_directories(options.path, error);
  if (error) {
    return make_error(ErrorCode::io_error,
                      fmt::format("cannot create data directory {}: {}", options.path, error.message()));
  }
  auto database = Database::open_primary(options.path, options.file_hooks, options.on_unrecoverable_storage);
  if (!database) return database.error();
  auto recovered = recover_state(**database);
  if (!recovered) return recovered.error();
  if (options.durability == Durability::fsync) {
    const DurableHeadMark mark(options.path);
    auto marked = mark.read();
    if (!marked) return marked.error();
    if (recovered->head_position < *marked) {
      return make_error(ErrorCode::corruption,
                        fmt::format("the log recovered up to position {}, but position {} was durable before "
                                    "(recorded in {}): a write-ahead log (*.log) or table (*.sst) file in {} "
                                    "was truncated, damaged or removed",
                                    recovered->head_position, *marked, mark.path(), options.path));
    }
  }
  return std::unique_ptr<EventStore>(std::make_unique<PrimaryEventStore>(
      std::move(*database), options, clock_or_system(options), std::move(*recovered)));
}

Result<std::string> make_secondary_directory() {
  std::error_code error;
  auto base = std::filesystem::temp_directory_path(error);
  if (error) base = "/tmp";
  std::string pattern = (base / "muster-secondary-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    return make_error(
        ErrorCode::io_error,
        fmt::format("cannot create a directory for the read-only instance: {}", std::strerror(errno)));
  }
  return pattern;
}

Result<std::unique_ptr<EventStore>> open_secondary_store(const StoreOptions& options) {
  auto secondary_path = make_secondary_directory();
  if (!secondary_path) return secondary_path.error();
  auto database = Database::open_secondary(options.path, *secondary_path);
  if (!database) {
    std::error_code ignored;
    std::filesystem::remove_all(*secondary_path, ignored);
    return database.error();
  }
  return std::unique_ptr<EventStore>(
      std::make_unique<SecondaryEventStore>(std::move(*database), std::move(*secondary_path)));
}

}  // namespace

Result<std::unique_ptr<EventStore>> open_rocksdb_event_store(const StoreOptions& options) {
  if (options.path.empty()) {
    return make_error(ErrorCode::invalid_argument, "the event store needs a path");
  }
  return options.read_only ? open_secondary_store(options) : open_primary_store(options);
}

}  // namespace muster
