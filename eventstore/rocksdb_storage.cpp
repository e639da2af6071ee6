/// The RocksDB backend of `Storage`.
///
/// Column families (the first four keep the names and encodings of every
/// earlier version, so existing data directories open unchanged):
///   events    8-byte big-endian position        -> encoded Event (event_codec)
///   streams   stream id + '\0' + BE version     -> BE position
///   heads     stream id                         -> BE current version
///   last_seen key                               -> BE milliseconds
///   snapshots 'e' + scope + '\0' + key          -> entry value
///             'p' + scope                       -> BE position of the scope
///   metrics_raw, metrics_1m, metrics_1h, metrics_1d, metrics_meta: the
///             metrics history's (eventstore/metrics/metric_codec.hpp);
///             created when a directory of an earlier version is opened
///
/// A primary storage funnels every append through one writer thread, which
/// folds whatever is queued into one `WriteBatch` and one (synced) write:
/// group commit (backend_support.hpp). A read-only storage is a RocksDB
/// secondary instance that catches up with the primary's files before it
/// answers.

#include "eventstore/rocksdb_storage.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <mutex>
#include <optional>
#include <string_view>
#include <tuple>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include "common/log.hpp"
#include "common/tsan_annotations.hpp"
#include "eventstore/backend_support.hpp"
#include "eventstore/durable_head.hpp"
#include "eventstore/event_codec.hpp"
#include "eventstore/hooked_file_system.hpp"
#include "eventstore/log_replication.hpp"

namespace muster {
namespace {

using event_codec::decode_u64_be;
using event_codec::encode_u64_be;

constexpr std::chrono::milliseconds kSecondaryPollInterval{50};
/// How often at most the primary rewrites its DURABLE_HEAD mark.
constexpr std::chrono::milliseconds kMarkInterval{1000};
// How often a replica asks its shared log for other writers' batches when
// nothing woke it: wake-ups (core NATS messages) are not guaranteed.
constexpr std::chrono::milliseconds kReplicaPollInterval{250};


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
                    fmt::format("cannot open storage at {}: {}", path, text));
}

/// How a scan of the log ended.
struct ScanEnd {
  std::uint64_t next_position = 0;  ///< After the last event visited; the start if none.
  bool reached_end = false;         ///< It stopped for want of events, not at a limit.
};

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
    // A memtable flush writes every column family up to the same point: a
    // table file never holds one family's writes (a snapshot, a last-seen
    // time) without the earlier writes of the others (the events before
    // it), which a power loss could otherwise take with the WAL's tail.
    options.atomic_flush = true;
    std::unique_ptr<rocksdb::Env> env;
    if (hooks) {
      env = rocksdb::NewCompositeEnv(make_hooked_file_system(hooks));
      options.env = env.get();
    }
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* db = nullptr;
    auto status = rocksdb::DB::Open(options, path,
                                    family_descriptors(/*with_snapshots=*/true, /*with_metrics=*/true),
                                    &handles, &db);
    if (!status.ok()) return open_error_from_rocksdb(status, path);
    auto database = std::unique_ptr<Database>(new Database(db, std::move(handles), /*secondary=*/false));
    database->env_ = std::move(env);
    database->on_unrecoverable_ = on_unrecoverable;
    return database;
  }

  static Result<std::unique_ptr<Database>> open_secondary(const std::string& path,
                                                          const std::string& secondary_path) {
    rocksdb::DBOptions options = common_options();
    // RocksDB requires it of secondaries: they must see every table file the primary has.
    options.max_open_files = -1;
    // A data directory no primary of this version opened yet has no
    // snapshots family, and a secondary cannot create one: it then has no
    // snapshots (nor sees them before it is reopened, if a primary adds them).
    std::vector<std::string> families;
    auto listed = rocksdb::DB::ListColumnFamilies(options, path, &families);
    if (!listed.ok()) return open_error_from_rocksdb(listed, path);
    const bool with_snapshots =
        std::find(families.begin(), families.end(), kSnapshotsFamily) != families.end();
    // Likewise the metrics' families: a secondary without them reads no metrics.
    const bool with_metrics =
        with_snapshots && std::all_of(std::begin(kMetricFamilies), std::end(kMetricFamilies), [&](const char* name) {
          return std::find(families.begin(), families.end(), name) != families.end();
        });
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* db = nullptr;
    auto status = rocksdb::DB::OpenAsSecondary(options, path, secondary_path,
                                               family_descriptors(with_snapshots, with_metrics), &handles, &db);
    if (!status.ok()) return open_error_from_rocksdb(status, path);
    return std::unique_ptr<Database>(new Database(db, std::move(handles), /*secondary=*/true));
  }

  ~Database() {
    for (auto* handle : handles_) {
      auto status = db_->DestroyColumnFamilyHandle(handle);
      if (!status.ok()) log::warn("cannot release column family", {{"error", status.ToString()}});
    }
    auto status = db_->Close();
    if (!status.ok() && !status.IsNotSupported()) {
      log::warn("closing the storage failed", {{"error", status.ToString()}});
    }
  }
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  bool read_only() const { return secondary_; }

  rocksdb::ColumnFamilyHandle* events_family() const { return handles_[kEventsIdx]; }
  rocksdb::ColumnFamilyHandle* streams_family() const { return handles_[kStreamsIdx]; }
  rocksdb::ColumnFamilyHandle* heads_family() const { return handles_[kHeadsIdx]; }
  rocksdb::ColumnFamilyHandle* last_seen_family() const { return handles_[kLastSeenIdx]; }
  /// Null for a secondary of a directory without snapshots (see open_secondary).
  rocksdb::ColumnFamilyHandle* snapshots_family() const {
    return handles_.size() > kSnapshotsIdx ? handles_[kSnapshotsIdx] : nullptr;
  }
  /// Null for a secondary of a directory without the metrics' families (see open_secondary).
  rocksdb::ColumnFamilyHandle* metric_family(MetricFamily family) const {
    const std::size_t index = kFirstMetricIdx + static_cast<std::size_t>(family);
    return handles_.size() > index ? handles_[index] : nullptr;
  }

  /// A consistent view for a read of several keys (null on a secondary,
  /// which reads what it caught up with); release it with `release_snapshot`.
  const rocksdb::Snapshot* take_snapshot() const { return secondary_ ? nullptr : reading().GetSnapshot(); }
  void release_snapshot(const rocksdb::Snapshot* snapshot) const {
    if (snapshot != nullptr) db_->ReleaseSnapshot(snapshot);
  }

  /// A new iterator over `family` (which must exist), for a read at `snapshot` (null: now).
  std::unique_ptr<rocksdb::Iterator> new_metric_iterator(MetricFamily family,
                                                         const rocksdb::Snapshot* snapshot) const {
    rocksdb::ReadOptions options;
    options.snapshot = snapshot;
    return std::unique_ptr<rocksdb::Iterator>(reading().NewIterator(options, metric_family(family)));
  }

  [[nodiscard]] Result<std::optional<std::string>> read_metric_value(MetricFamily family, std::string_view key,
                                                                     const rocksdb::Snapshot* snapshot) const {
    if (metric_family(family) == nullptr) return std::optional<std::string>();
    std::string value;
    rocksdb::ReadOptions options;
    options.snapshot = snapshot;
    auto status = reading().Get(options, metric_family(family), key, &value);
    if (status.IsNotFound()) return std::optional<std::string>();
    if (!status.ok()) return error_from_rocksdb(status, "cannot read metrics");
    return std::optional<std::string>(std::move(value));
  }

  /// Compacts the metrics' families fully (tombstones and old values dropped).
  [[nodiscard]] Status compact_metrics() {
    rocksdb::CompactRangeOptions options;
    options.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
    for (std::size_t index = 0; index < kMetricFamilyCount; ++index) {
      auto* family = metric_family(static_cast<MetricFamily>(index));
      if (family == nullptr) continue;
      auto flushed = db_->Flush(rocksdb::FlushOptions(), family);
      if (!flushed.ok()) return error_from_rocksdb(flushed, "cannot flush metrics");
      auto compacted = db_->CompactRange(options, family, nullptr, nullptr);
      if (!compacted.ok()) return error_from_rocksdb(compacted, "cannot compact metrics");
    }
    return Status::success();
  }

  [[nodiscard]] Result<std::uint64_t> metric_table_bytes(MetricFamily family) const {
    auto* handle = metric_family(family);
    if (handle == nullptr) return std::uint64_t{0};
    std::uint64_t bytes = 0;
    if (!reading().GetIntProperty(handle, "rocksdb.live-sst-files-size", &bytes)) {
      return make_error(ErrorCode::io_error, "cannot read the size of the metrics' table files");
    }
    return bytes;
  }

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
    tsan::release(this);  // see reading()
    if (!status.ok()) {
      if (!needs_resume_)
        log::error("the storage stopped accepting writes; reads go on", {{"error", status.ToString()}});
      needs_resume_ = true;
      return error_from_rocksdb(status, "write failed");
    }
    if (needs_resume_) log::info("the storage accepts writes again");
    needs_resume_ = false;
    return Status::success();
  }

  /// Writes the memtables to table files so that the next open replays no WAL.
  void flush() {
    auto status = db_->Flush(rocksdb::FlushOptions(), handles_);
    if (!status.ok()) log::warn("flushing the storage failed", {{"error", status.ToString()}});
  }

  /// Reads every block of every table file and checks its checksum. Errors:
  /// `corruption` naming the damaged file.
  [[nodiscard]] Status verify_checksums() {
    auto status = db_->VerifyChecksum();
    if (!status.ok()) return error_from_rocksdb(status, "a table file is damaged");
    return Status::success();
  }

  /// Brings a secondary up to date with the primary's files before a read;
  /// nothing to do for the primary.
  [[nodiscard]] Status refresh() {
    if (!secondary_) return Status::success();
    auto status = db_->TryCatchUpWithPrimary();
    if (!status.ok()) return error_from_rocksdb(status, "cannot catch up with the primary");
    return Status::success();
  }

  /// Visits up to `max_count` events from `from_position`, decoded in place.
  [[nodiscard]] Result<ScanEnd> scan_log(std::uint64_t from_position, std::size_t max_count,
                                         const EventStore::EventVisitor& visit) const {
    ScanEnd end{from_position, false};
    if (max_count == 0) return end;
    // Positions start at 1; the upper bound below counts from the first real one.
    const std::uint64_t first_position = std::max<std::uint64_t>(1, from_position);
    rocksdb::ReadOptions options;
    std::string upper_key;
    rocksdb::Slice upper_bound;
    if (first_position <= std::numeric_limits<std::uint64_t>::max() - max_count) {
      upper_key = encode_u64_be(first_position + max_count);
      upper_bound = upper_key;
      options.iterate_upper_bound = &upper_bound;
    }
    std::unique_ptr<rocksdb::Iterator> iterator(reading().NewIterator(options, events_family()));
    std::size_t visited = 0;
    for (iterator->Seek(encode_u64_be(first_position)); iterator->Valid() && visited < max_count;
         iterator->Next()) {
      auto event = decode_stored_event(iterator->key(), iterator->value());
      if (!event) return event.error();
      ++visited;
      end.next_position = event->position + 1;
      if (!visit(*event)) return end;
    }
    if (!iterator->status().ok()) return error_from_rocksdb(iterator->status(), "cannot read log");
    end.reached_end = visited < max_count;
    return end;
  }

  [[nodiscard]] Result<std::vector<Event>> read_stream(const std::string& stream, std::uint64_t from_version,
                                                       std::size_t max_count) const {
    auto positions = read_stream_positions(stream, from_version, max_count);
    if (!positions) return positions.error();
    std::vector<Event> events;
    events.reserve(positions->size());
    for (const auto& position_key : *positions) {
      rocksdb::PinnableSlice value;
      auto status = reading().Get(rocksdb::ReadOptions(), events_family(), position_key, &value);
      if (status.IsNotFound()) {
        return make_error(ErrorCode::corruption,
                          fmt::format("stream {} indexes position {}, which holds no event", stream,
                                      decode_u64_be(position_key).value_or(0)));
      }
      if (!status.ok()) return error_from_rocksdb(status, "cannot read event");
      auto event = decode_stored_event(position_key, value);
      if (!event) return event.error();
      events.push_back(event->to_event());
    }
    return events;
  }

  /// The position and time of the log's last event, if any.
  [[nodiscard]] Result<std::optional<std::pair<std::uint64_t, TimeMs>>> read_last_event() const {
    std::unique_ptr<rocksdb::Iterator> iterator(
        reading().NewIterator(rocksdb::ReadOptions(), events_family()));
    iterator->SeekToLast();
    if (!iterator->Valid()) {
      if (!iterator->status().ok()) {
        return error_from_rocksdb(iterator->status(), "cannot read the log's head");
      }
      return std::optional<std::pair<std::uint64_t, TimeMs>>();
    }
    auto event = decode_stored_event(iterator->key(), iterator->value());
    if (!event) return event.error();
    return std::optional<std::pair<std::uint64_t, TimeMs>>({event->position, event->time_ms});
  }

  [[nodiscard]] Result<std::uint64_t> read_stream_version(const std::string& stream) const {
    std::string value;
    auto status = reading().Get(rocksdb::ReadOptions(), heads_family(), stream, &value);
    if (status.IsNotFound()) return std::uint64_t{0};
    if (!status.ok()) return error_from_rocksdb(status, "cannot read stream head");
    auto version = decode_u64_be(value);
    if (!version) return bad_value("heads", stream);
    return *version;
  }

  [[nodiscard]] Status for_each_last_seen(
      const std::function<void(std::string_view key, TimeMs time_ms)>& visit) const {
    std::unique_ptr<rocksdb::Iterator> iterator(
        reading().NewIterator(rocksdb::ReadOptions(), last_seen_family()));
    for (iterator->SeekToFirst(); iterator->Valid(); iterator->Next()) {
      auto time_ms = decode_u64_be(iterator->value().ToStringView());
      if (!time_ms) return bad_value("last_seen", iterator->key());
      visit(iterator->key().ToStringView(), static_cast<TimeMs>(*time_ms));
    }
    if (!iterator->status().ok()) {
      return error_from_rocksdb(iterator->status(), "cannot read last-seen times");
    }
    return Status::success();
  }

  [[nodiscard]] Result<std::optional<std::uint64_t>> read_snapshot_position(const std::string& scope) const {
    auto value = read_snapshot_value(event_codec::snapshot_position_key(scope));
    if (!value) return value.error();
    if (!*value) return std::optional<std::uint64_t>();
    auto position = decode_u64_be(**value);
    if (!position) return bad_value(kSnapshotsFamily, event_codec::snapshot_position_key(scope));
    return std::optional<std::uint64_t>(*position);
  }

  [[nodiscard]] Result<std::optional<std::string>> read_snapshot_value(const std::string& key) const {
    if (snapshots_family() == nullptr) return std::optional<std::string>();
    std::string value;
    auto status = reading().Get(rocksdb::ReadOptions(), snapshots_family(), key, &value);
    if (status.IsNotFound()) return std::optional<std::string>();
    if (!status.ok()) return error_from_rocksdb(status, "cannot read snapshot");
    return std::optional<std::string>(std::move(value));
  }

  [[nodiscard]] Status for_each_snapshot_entry(
      const std::string& scope,
      const std::function<bool(std::string_view key, std::string_view value)>& visit) const {
    if (snapshots_family() == nullptr) return Status::success();
    const std::string begin = event_codec::snapshot_entries_begin(scope);
    const std::string end = event_codec::snapshot_entries_end(scope);
    rocksdb::Slice upper_bound(end);
    rocksdb::ReadOptions options;
    options.iterate_upper_bound = &upper_bound;
    std::unique_ptr<rocksdb::Iterator> iterator(reading().NewIterator(options, snapshots_family()));
    for (iterator->Seek(begin); iterator->Valid(); iterator->Next()) {
      std::string_view key = iterator->key().ToStringView();
      key.remove_prefix(begin.size());
      if (!visit(key, iterator->value().ToStringView())) break;
    }
    if (!iterator->status().ok()) return error_from_rocksdb(iterator->status(), "cannot read snapshots");
    return Status::success();
  }

 private:
  static constexpr const char* kSnapshotsFamily = "snapshots";
  // Indexes into `handles_`, in the order of `family_descriptors()`.
  static constexpr std::size_t kEventsIdx = 1;
  static constexpr std::size_t kStreamsIdx = 2;
  static constexpr std::size_t kHeadsIdx = 3;
  static constexpr std::size_t kLastSeenIdx = 4;
  static constexpr std::size_t kSnapshotsIdx = 5;
  static constexpr std::size_t kFirstMetricIdx = 6;
  /// In the order of MetricFamily.
  static constexpr const char* kMetricFamilies[kMetricFamilyCount] = {"metrics_raw", "metrics_1m", "metrics_1h",
                                                                      "metrics_1d", "metrics_meta"};

  Database(rocksdb::DB* db, std::vector<rocksdb::ColumnFamilyHandle*> handles, bool secondary)
      : secondary_(secondary), db_(db), handles_(std::move(handles)) {}

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

  static std::vector<rocksdb::ColumnFamilyDescriptor> family_descriptors(bool with_snapshots,
                                                                          bool with_metrics) {
    rocksdb::ColumnFamilyOptions family_options;
    std::vector<rocksdb::ColumnFamilyDescriptor> descriptors = {
        {rocksdb::kDefaultColumnFamilyName, family_options},
        {"events", family_options},
        {"streams", family_options},
        {"heads", family_options},
        {"last_seen", family_options}};
    if (with_snapshots) descriptors.emplace_back(kSnapshotsFamily, family_options);
    if (with_snapshots && with_metrics) {
      for (const char* name : kMetricFamilies) descriptors.emplace_back(name, family_options);
    }
    return descriptors;
  }

  /// The database, for a read. RocksDB hands a write to later readers
  /// through its own atomics, which ThreadSanitizer cannot see (Debian's
  /// librocksdb is not instrumented): every write releases the database and
  /// every read acquires it, or a read of a value another thread wrote long
  /// ago (whose stack TSan no longer has, so that tests/tsan.supp cannot
  /// match it) looks like a race.
  rocksdb::DB& reading() const {
    tsan::acquire(this);
    return *db_;
  }

  static Error bad_value(std::string_view family, const rocksdb::Slice& key) {
    return make_error(ErrorCode::corruption, fmt::format("malformed value in column family {} under key {:?}",
                                                         family, key.ToString()));
  }

  /// Decodes an `events` value in place and checks it sits under its own position.
  static Result<EventView> decode_stored_event(const rocksdb::Slice& key, const rocksdb::Slice& value) {
    auto event = event_codec::decode_event_view(value.ToStringView());
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
    std::unique_ptr<rocksdb::Iterator> iterator(reading().NewIterator(options, streams_family()));
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

  const bool secondary_;
  std::unique_ptr<rocksdb::Env> env_;  ///< Declared before db_: it must outlive the database.
  std::mutex write_mutex_;             ///< Every write: the log's writer and the other stores.
  std::function<void(const Error&)> on_unrecoverable_;  ///< Guarded by write_mutex_.
  bool needs_resume_ = false;                           ///< Guarded by write_mutex_.
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
};

/// The database the three stores share.
using SharedDatabase = ClosableHandle<std::unique_ptr<Database>>;

/// The reads both event stores share.
class RocksDbEventStore : public EventStore {
 public:
  Result<std::vector<Event>> read_stream(const std::string& stream, std::uint64_t from_version,
                                         std::size_t max_count) const final {
    if (stopped()) return stopped_error(kEventStore);
    return database_.use([&](Database& database) -> Result<std::vector<Event>> {
      if (Status refreshed = database.refresh(); !refreshed) return refreshed.error();
      return database.read_stream(stream, from_version, max_count);
    });
  }

  Result<std::vector<Event>> read_log(std::uint64_t from_position, std::size_t max_count) const final {
    std::vector<Event> events;
    auto scanned = scan(from_position, max_count, [&](const EventView& event) {
      events.push_back(event.to_event());
      return true;
    });
    if (!scanned) return scanned.error();
    return events;
  }

  Result<std::uint64_t> scan_log(std::uint64_t from_position, std::size_t max_count,
                                 const EventVisitor& visit) const final {
    return scan(from_position, max_count, visit);
  }

 protected:
  explicit RocksDbEventStore(const SharedDatabase& database) : database_(database) {}

  /// True once `stop()` was called: reads answer `unavailable`.
  virtual bool stopped() const = 0;

  const SharedDatabase& database_;

 private:
  Result<std::uint64_t> scan(std::uint64_t from_position, std::size_t max_count,
                             const EventVisitor& visit) const {
    if (stopped()) return stopped_error(kEventStore);
    return database_.use([&](Database& database) -> Result<std::uint64_t> {
      // A scan stopped by its limit leaves more to read in what this view
      // already holds: only a scan that reached the view's end brings it up
      // to date first. (A secondary's catch-up rereads the MANIFEST and
      // starts threads to open tables: once per batch it took most of a
      // replay's time.)
      if (log_end_reached_) {
        if (Status refreshed = database.refresh(); !refreshed) return refreshed.error();
      }
      auto end = database.scan_log(from_position, max_count, visit);
      log_end_reached_ = !end || end->reached_end;
      if (!end) return end.error();
      return end->next_position;
    });
  }

  /// False while the last scan stopped at its limit (see scan).
  mutable std::atomic<bool> log_end_reached_{true};
};

/// Writes the primary's group commits: each one `WriteBatch`, one (synced)
/// write. Keeps the DURABLE_HEAD mark up with what it wrote. With a shared
/// log to replicate (log_replication.hpp), a batch goes there first and is
/// written here only once stored there, and other writers' batches are
/// fetched and written here in the shared log's order.
class RocksDbLogSink final : public LogSink {
 public:
  RocksDbLogSink(Database& database, const RocksDbOptions& options, std::uint64_t head_position)
      : database_(database),
        clock_(clock_or_system(options.store)),
        sync_writes_(options.durability == Durability::fsync),
        replication_(options.replication),
        head_mark_(options.path),
        head_position_(head_position),
        marked_position_(head_position) {}

  Status add(std::vector<Event> events) override {
    batch_.SetSavePoint();
    Status added = put_events(events);
    if (added && replication_) added = replication_->add(events);
    if (!added) {
      // Only this append is dropped: the batch returns to where it started.
      (void)batch_.RollbackToSavePoint();
      return added;
    }
    (void)batch_.PopSavePoint();
    return Status::success();
  }

  Status write(const StreamVersions& advanced, std::uint64_t head_position) override {
    if (replication_) {
      if (Status shared = replication_->publish(); !shared) {
        batch_.Clear();
        return shared;
      }
    }
    return write_batch(advanced, head_position);
  }

  Result<std::uint64_t> read_version(const std::string& stream) const override {
    return database_.read_stream_version(stream);
  }

  bool replans() const override { return replication_ != nullptr; }

  Result<std::optional<RecoveredLog>> catch_up() override {
    // Whole batches of the shared log, about this many events per write here.
    constexpr std::size_t kCatchUpEvents = 4096;
    std::optional<RecoveredLog> caught;
    if (!replication_) return caught;
    for (;;) {
      auto fetched = replication_->fetch_after(head_position_, kCatchUpEvents);
      if (!fetched) return fetched.error();
      if (fetched->empty()) return caught;
      StreamVersions advanced;
      std::uint64_t expected_position = head_position_ + 1;
      for (const Event& event : *fetched) {
        if (event.position != expected_position++) {
          return make_error(ErrorCode::corruption,
                            fmt::format("the shared log jumps from position {} to {}", expected_position - 2,
                                        event.position));
        }
        advanced[event.stream] = event.version;
      }
      if (Status put = put_events(*fetched); !put) return put.error();
      if (Status written = write_batch(advanced, fetched->back().position); !written) return written.error();
      caught = RecoveredLog{head_position_, fetched->back().time_ms};
    }
  }

  // Idle: let the mark catch up with the last writes.
  void idle() override { mark_durable_head(/*now=*/false); }

  void drained() override { mark_durable_head(/*now=*/true); }

 private:
  /// Raises the durable-head watermark to the head (at most once per
  /// `kMarkInterval` unless `now`). Only synced appends are durable enough
  /// to mark; a failure is logged, as the mark only guards against damage.
  void mark_durable_head(bool now) {
    if (!sync_writes_ || head_position_ == marked_position_) return;
    // At stop (`now`) the clock is not read: whoever owns it may be tearing down.
    const TimeMs clock_ms = now ? marked_at_ms_ : clock_.now_ms();
    if (!now && clock_ms < marked_at_ms_ + kMarkInterval.count()) return;
    if (Status marked = head_mark_.write(head_position_); !marked) {
      log::warn("cannot mark the durable head", {{"error", marked.error().message}});
      return;
    }
    marked_position_ = head_position_;
    marked_at_ms_ = clock_ms;
  }

  /// Puts `events` and their stream versions into the batch in the making.
  Status put_events(const std::vector<Event>& events) {
    for (const Event& event : events) {
      std::string position_key = encode_u64_be(event.position);
      auto status = batch_.Put(database_.events_family(), position_key, event_codec::encode_event(event));
      if (status.ok()) {
        status = batch_.Put(database_.streams_family(),
                            event_codec::stream_version_key(event.stream, event.version), position_key);
      }
      if (!status.ok()) {
        return make_error(ErrorCode::invalid_argument, fmt::format("event too large: {}", status.ToString()));
      }
    }
    return Status::success();
  }

  /// Writes the batch in the making, with the streams' new heads, and starts an empty one.
  Status write_batch(const StreamVersions& advanced, std::uint64_t head_position) {
    for (const auto& [stream, version] : advanced) {
      // Cannot fail: Put refuses only oversized keys and values, and a longer
      // key made of this stream id already went into `streams`.
      (void)batch_.Put(database_.heads_family(), stream, encode_u64_be(version));
    }
    // No lifetime lock: the storage stops the writer before it closes the database.
    Status written = database_.write(batch_, sync_writes_);
    batch_.Clear();
    if (written) {
      head_position_ = head_position;
      mark_durable_head(/*now=*/false);
    }
    return written;
  }

  Database& database_;
  const Clock& clock_;
  const bool sync_writes_;
  const std::shared_ptr<LogReplication> replication_;  ///< Null: the log is this database's own.
  const DurableHeadMark head_mark_;
  rocksdb::WriteBatch batch_;
  std::uint64_t head_position_;    ///< The last event written.
  std::uint64_t marked_position_;  ///< The position in the mark.
  TimeMs marked_at_ms_ = 0;
};

class PrimaryEventStore final : public RocksDbEventStore {
 public:
  PrimaryEventStore(const SharedDatabase& shared, Database& database, const RocksDbOptions& options,
                    RecoveredLog recovered)
      : RocksDbEventStore(shared),
        replication_(options.replication),
        sink_(database, options, recovered.head_position),
        log_(options.store, std::move(recovered), sink_,
             replication_ ? kReplicaPollInterval : kMarkInterval) {
    if (replication_) replication_->on_foreign_write([this] { log_.nudge(); });
  }

  void append_async(std::string stream, std::uint64_t expected_version, std::vector<NewEvent> events,
                    AppendCallback done) override {
    log_.append_async(std::move(stream), expected_version, std::move(events), std::move(done));
  }

  Result<std::uint64_t> head_position() const override { return log_.head_position(); }

  Result<std::uint64_t> stream_version(const std::string& stream) const override {
    if (stopped()) return stopped_error(kEventStore);
    return database_.use([&](Database& database) { return database.read_stream_version(stream); });
  }

  Result<std::uint64_t> wait_for_position(std::uint64_t after_position,
                                          std::chrono::milliseconds timeout) const override {
    return log_.wait_for_position(after_position, timeout);
  }

  void stop() override {
    log_.stop();
    if (replication_) replication_->stop();
  }

 private:
  bool stopped() const override { return log_.stopped(); }

  const std::shared_ptr<LogReplication> replication_;  ///< Null: the log is the database's own.
  RocksDbLogSink sink_;
  GroupCommitLog log_;  ///< Last: its writer thread uses sink_.
};

/// The log of a read-only storage beside a running primary.
class SecondaryEventStore final : public RocksDbEventStore {
 public:
  explicit SecondaryEventStore(const SharedDatabase& database) : RocksDbEventStore(database) {}

  void append_async(std::string /*stream*/, std::uint64_t /*expected_version*/,
                    std::vector<NewEvent> /*events*/, AppendCallback done) override {
    done(stopped() ? stopped_error(kEventStore) : read_only_error());
  }

  Result<std::uint64_t> head_position() const override {
    if (stopped()) return stopped_error(kEventStore);
    Status used = database_.use([&](Database& database) {
      // A failed catch-up or read leaves the head as last seen: the primary's
      // files are in motion, and the next call tries again.
      if (database.refresh().ok()) {
        if (auto last_event = database.read_last_event(); last_event && *last_event) {
          last_known_head_ = (*last_event)->first;
        }
      }
      return Status::success();
    });
    if (!used) return used.error();
    return last_known_head_.load();
  }

  Result<std::uint64_t> stream_version(const std::string& stream) const override {
    if (stopped()) return stopped_error(kEventStore);
    return database_.use([&](Database& database) -> Result<std::uint64_t> {
      if (Status refreshed = database.refresh(); !refreshed) return refreshed.error();
      return database.read_stream_version(stream);
    });
  }

  Result<std::uint64_t> wait_for_position(std::uint64_t after_position,
                                          std::chrono::milliseconds timeout) const override {
    // The primary is another process: nothing signals its writes, so poll.
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto head = head_position();
      auto now = std::chrono::steady_clock::now();
      if (!head || *head > after_position || now >= deadline) return head;
      std::unique_lock stop_lock(stop_mutex_);
      if (stop_requested_.wait_for(
              stop_lock,
              std::min<std::chrono::steady_clock::duration>(kSecondaryPollInterval, deadline - now),
              [&] { return stopped_; })) {
        return stopped_error(kEventStore);
      }
    }
  }

  void stop() override {
    {
      std::lock_guard stop_lock(stop_mutex_);
      stopped_ = true;
    }
    stop_requested_.notify_all();
  }

 private:
  bool stopped() const override {
    std::lock_guard stop_lock(stop_mutex_);
    return stopped_;
  }

  mutable std::atomic<std::uint64_t> last_known_head_{0};
  mutable std::mutex stop_mutex_;
  mutable std::condition_variable stop_requested_;
  bool stopped_ = false;  ///< Guarded by stop_mutex_.
};

class RocksDbLastSeenStore final : public LastSeenStore {
 public:
  explicit RocksDbLastSeenStore(const SharedDatabase& database) : database_(database) {}

  Status save(const std::vector<LastSeen>& entries) override {
    return database_.use([&](Database& database) -> Status {
      if (database.read_only()) return read_only_error();
      if (entries.empty()) return Status::success();
      rocksdb::WriteBatch batch;
      for (const auto& entry : entries) {
        auto status = batch.Put(database.last_seen_family(), entry.key,
                                encode_u64_be(static_cast<std::uint64_t>(entry.time_ms)));
        if (!status.ok()) return error_from_rocksdb(status, "cannot save last-seen times");
      }
      return database.write(batch, /*sync=*/true);
    });
  }

  Status for_each(const std::function<void(std::string_view key, TimeMs time_ms)>& visit) const override {
    return database_.use([&](Database& database) -> Status {
      if (Status refreshed = database.refresh(); !refreshed) return refreshed;
      return database.for_each_last_seen(visit);
    });
  }

 private:
  const SharedDatabase& database_;
};

class RocksDbSnapshotStore final : public SnapshotStore {
 public:
  explicit RocksDbSnapshotStore(const SharedDatabase& database) : database_(database) {}

  Status write(const std::string& scope, const std::vector<SnapshotEntry>& entries,
               std::optional<std::uint64_t> position) override {
    if (Status valid = validate_scope(scope); !valid) return valid;
    return database_.use([&](Database& database) -> Status {
      if (database.read_only()) return read_only_error();
      if (entries.empty() && !position) return Status::success();
      rocksdb::WriteBatch batch;
      for (const auto& entry : entries) {
        auto status = batch.Put(database.snapshots_family(),
                                event_codec::snapshot_entry_key(scope, entry.key), entry.value);
        if (!status.ok()) return error_from_rocksdb(status, "cannot write snapshot");
      }
      if (position) {
        auto status = batch.Put(database.snapshots_family(), event_codec::snapshot_position_key(scope),
                                encode_u64_be(*position));
        if (!status.ok()) return error_from_rocksdb(status, "cannot write snapshot");
      }
      // Not synced: the next synced append makes it durable, and the WAL's
      // order (with atomic flush) never keeps it without the events before it.
      return database.write(batch, /*sync=*/false);
    });
  }

  Result<std::optional<std::uint64_t>> position(const std::string& scope) const override {
    return read(scope, [&](Database& database) { return database.read_snapshot_position(scope); });
  }

  Result<std::optional<std::string>> get(const std::string& scope, const std::string& key) const override {
    return read(scope, [&](Database& database) {
      return database.read_snapshot_value(event_codec::snapshot_entry_key(scope, key));
    });
  }

  Status for_each(
      const std::string& scope,
      const std::function<bool(std::string_view key, std::string_view value)>& visit) const override {
    return read(scope, [&](Database& database) { return database.for_each_snapshot_entry(scope, visit); });
  }

  Status clear(const std::string& scope) override {
    if (Status valid = validate_scope(scope); !valid) return valid;
    return database_.use([&](Database& database) -> Status {
      if (database.read_only()) return read_only_error();
      rocksdb::WriteBatch batch;
      auto status = batch.DeleteRange(database.snapshots_family(), event_codec::snapshot_entries_begin(scope),
                                      event_codec::snapshot_entries_end(scope));
      if (status.ok())
        status = batch.Delete(database.snapshots_family(), event_codec::snapshot_position_key(scope));
      if (!status.ok()) return error_from_rocksdb(status, "cannot clear snapshot");
      return database.write(batch, /*sync=*/false);
    });
  }

 private:
  /// `read(database)` for a valid scope, after a secondary caught up.
  template <class Read>
  auto read(const std::string& scope, Read&& read_from) const
      -> decltype(read_from(std::declval<Database&>())) {
    if (Status valid = validate_scope(scope); !valid) return valid.error();
    return database_.use([&](Database& database) -> decltype(read_from(database)) {
      if (Status refreshed = database.refresh(); !refreshed) return refreshed.error();
      return read_from(database);
    });
  }

  const SharedDatabase& database_;
};

/// A cursor over one of the metrics' families: a RocksDB iterator.
class RocksDbMetricCursor final : public MetricCursor {
 public:
  explicit RocksDbMetricCursor(std::unique_ptr<rocksdb::Iterator> iterator) : iterator_(std::move(iterator)) {}

  void seek(std::string_view key) override { iterator_->Seek(rocksdb::Slice(key.data(), key.size())); }
  void next() override { iterator_->Next(); }
  bool valid() const override { return iterator_->Valid(); }
  std::string_view key() const override { return iterator_->key().ToStringView(); }
  std::string_view value() const override { return iterator_->value().ToStringView(); }
  Status status() const override {
    if (iterator_->status().ok()) return Status::success();
    return error_from_rocksdb(iterator_->status(), "cannot read metrics");
  }

 private:
  std::unique_ptr<rocksdb::Iterator> iterator_;
};

/// A family a secondary does not have: empty.
class EmptyMetricCursor final : public MetricCursor {
 public:
  void seek(std::string_view /*key*/) override {}
  void next() override {}
  bool valid() const override { return false; }
  std::string_view key() const override { return {}; }
  std::string_view value() const override { return {}; }
  Status status() const override { return Status::success(); }
};

/// Reads one moment of the database (a snapshot), so that a series' marks
/// and its points agree even while a rollup step writes.
class RocksDbMetricReader final : public MetricReader {
 public:
  explicit RocksDbMetricReader(const Database& database)
      : database_(database), snapshot_(database.take_snapshot()) {}
  ~RocksDbMetricReader() override { database_.release_snapshot(snapshot_); }
  RocksDbMetricReader(const RocksDbMetricReader&) = delete;
  RocksDbMetricReader& operator=(const RocksDbMetricReader&) = delete;

  std::unique_ptr<MetricCursor> open(MetricFamily family) override {
    if (database_.metric_family(family) == nullptr) return std::make_unique<EmptyMetricCursor>();
    return std::make_unique<RocksDbMetricCursor>(database_.new_metric_iterator(family, snapshot_));
  }

  Result<std::optional<std::string>> get(MetricFamily family, std::string_view key) override {
    return database_.read_metric_value(family, key, snapshot_);
  }

 private:
  const Database& database_;
  const rocksdb::Snapshot* const snapshot_;
};

class RocksDbMetricTable final : public MetricTable {
 public:
  explicit RocksDbMetricTable(const SharedDatabase& database) : database_(database) {}

  Status write(const MetricBatch& batch) override {
    return database_.use([&](Database& database) -> Status {
      if (database.read_only()) return read_only_error();
      if (batch.empty()) return Status::success();
      rocksdb::WriteBatch write_batch;
      for (const auto& operation : batch.operations) {
        auto* family = database.metric_family(operation.family);
        auto status = operation.erase ? write_batch.Delete(family, operation.key)
                                      : write_batch.Put(family, operation.key, operation.value);
        if (!status.ok()) return error_from_rocksdb(status, "cannot write metrics");
      }
      // Not synced: metrics are not events (see metric_table.hpp).
      return database.write(write_batch, /*sync=*/false);
    });
  }

  Status read(const std::function<Status(MetricReader&)>& body) const override {
    return database_.use([&](Database& database) -> Status {
      if (Status refreshed = database.refresh(); !refreshed) return refreshed;
      RocksDbMetricReader reader(database);
      return body(reader);
    });
  }

  Status compact() override {
    return database_.use([&](Database& database) -> Status {
      if (database.read_only()) return read_only_error();
      return database.compact_metrics();
    });
  }

  Result<std::uint64_t> stored_bytes(MetricFamily family) const override {
    return database_.use([&](Database& database) { return database.metric_table_bytes(family); });
  }

 private:
  const SharedDatabase& database_;
};

class RocksDbStorage final : public Storage {
 public:
  /// A primary storage if `recovered` holds what its database recovered; a
  /// read-only one (a secondary whose private files are in
  /// `secondary_path`, removed at stop) if not.
  RocksDbStorage(std::unique_ptr<Database> database, const RocksDbOptions& options,
                 std::optional<RecoveredLog> recovered, std::string secondary_path)
      : read_only_(!recovered),
        secondary_path_(std::move(secondary_path)),
        database_(std::move(database)),
        last_seen_(database_),
        snapshots_(database_),
        metric_table_(database_) {
    if (recovered) {
      events_ = std::make_unique<PrimaryEventStore>(database_, database_.unguarded(), options,
                                                    std::move(*recovered));
    } else {
      events_ = std::make_unique<SecondaryEventStore>(database_);
    }
  }

  ~RocksDbStorage() override { stop(); }

  EventStore& events() override { return *events_; }
  LastSeenStore& last_seen() override { return last_seen_; }
  SnapshotStore& snapshots() override { return snapshots_; }
  MetricTable& metric_table() override { return metric_table_; }

  void stop() override {
    std::lock_guard stop_lock(stop_mutex_);
    if (stopped_) return;
    stopped_ = true;
    events_->stop();
    database_.close([&](Database& database) {
      if (!read_only_) database.flush();
    });
    if (!secondary_path_.empty()) {
      std::error_code ignored;
      std::filesystem::remove_all(secondary_path_, ignored);
    }
  }

 private:
  const bool read_only_;
  const std::string secondary_path_;
  SharedDatabase database_;  ///< Before the stores: they use it until they are destroyed.
  RocksDbLastSeenStore last_seen_;
  RocksDbSnapshotStore snapshots_;
  RocksDbMetricTable metric_table_;
  std::unique_ptr<EventStore> events_;
  std::mutex stop_mutex_;
  bool stopped_ = false;  ///< Guarded by stop_mutex_.
};

Result<RecoveredLog> recover_log(const Database& database) {
  RecoveredLog recovered;
  auto last_event = database.read_last_event();
  if (!last_event) return last_event.error();
  if (*last_event) std::tie(recovered.head_position, recovered.last_time_ms) = **last_event;
  return recovered;
}

Result<std::unique_ptr<Storage>> open_primary_storage(const RocksDbOptions& options) {
  std::error_code error;
  if (!options.replication && std::filesystem::exists(std::filesystem::path(options.path) / kReplicaMarkFile, error)) {
    // An event written here alone would never reach the stream, and the
    // replica would no longer be a prefix of it: its node could not start.
    return make_error(ErrorCode::invalid_argument,
                      fmt::format("{} is a node's replica of a NATS stream ({}): it is written only through "
                                  "that stream, by its node (muster serve --store nats) or its API",
                                  options.path, kReplicaMarkFile));
  }
  std::filesystem::create_directories(options.path, error);
  if (error) {
    return make_error(ErrorCode::io_error,
                      fmt::format("cannot create data directory {}: {}", options.path, error.message()));
  }
  auto database =
      Database::open_primary(options.path, options.file_hooks, options.store.on_unrecoverable_storage);
  if (!database) return database.error();
  auto recovered = recover_log(**database);
  if (!recovered) return recovered.error();
  // Start-up reads only the snapshots and the log's tail, so nothing else
  // would meet a damaged table file until some read (an audit, a replay)
  // did: check them all now, and refuse a state that cannot be trusted.
  if (Status verified = (*database)->verify_checksums(); !verified) return verified.error();
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
  return std::unique_ptr<Storage>(
      std::make_unique<RocksDbStorage>(std::move(*database), options, std::move(*recovered), std::string()));
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

Result<std::unique_ptr<Storage>> open_secondary_storage(const RocksDbOptions& options) {
  auto secondary_path = make_secondary_directory();
  if (!secondary_path) return secondary_path.error();
  auto database = Database::open_secondary(options.path, *secondary_path);
  if (!database) {
    std::error_code ignored;
    std::filesystem::remove_all(*secondary_path, ignored);
    return database.error();
  }
  return std::unique_ptr<Storage>(std::make_unique<RocksDbStorage>(std::move(*database), options,
                                                                   std::nullopt, std::move(*secondary_path)));
}

}  // namespace

Result<std::unique_ptr<Storage>> open_rocksdb_storage(const RocksDbOptions& options) {
  if (options.path.empty()) {
    return make_error(ErrorCode::invalid_argument, "the storage needs a path");
  }
  return options.read_only ? open_secondary_storage(options) : open_primary_storage(options);
}

}  // namespace muster
