/// The in-memory backend of `Storage` (memory_storage.hpp). Appends take the
/// same path as RocksDB's (backend_support.hpp: one writer thread, group
/// commit, the same checks), and land in a `MemoryDisk` instead of a database.

#include "eventstore/memory_storage.hpp"

#include <algorithm>
#include <array>
#include <deque>
#include <iterator>
#include <map>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <utility>

#include "eventstore/backend_support.hpp"

namespace muster {

/// What a storage stores, kept apart from the storage so that it outlives it.
class MemoryDisk {
 public:
  struct Scope {
    std::optional<std::uint64_t> position;
    std::map<std::string, std::string> entries;
  };

  /// Guards everything below. A plain mutex: every hold is short, and an
  /// rwlock that lets readers in first could keep the writer waiting.
  mutable std::mutex mutex;
  /// A storage is open on the disk.
  bool in_use = false;
  /// The log: position p at index p - 1. Events never change once written,
  /// and a deque keeps them in place as it grows, so a scan may read one
  /// outside the lock once it found it under the lock.
  std::deque<Event> log;
  /// The positions of each stream's events: version v at index v - 1.
  std::unordered_map<std::string, std::vector<std::uint64_t>> stream_positions;
  std::unordered_map<std::string, TimeMs> last_seen;
  std::map<std::string, Scope> scopes;
  /// The metrics history's families, by MetricFamily.
  std::array<std::map<std::string, std::string, std::less<>>, kMetricFamilyCount> metric_families;
};

std::shared_ptr<MemoryDisk> make_memory_disk() {
  return std::make_shared<MemoryDisk>();
}

namespace {

// Nothing to do while idle: the interval only bounds how long the writer sleeps.
constexpr std::chrono::milliseconds kIdleInterval{1000};

using SharedDisk = ClosableHandle<std::shared_ptr<MemoryDisk>>;

/// Up to `max_count` items from the first with 1-based number `first`, in a
/// sequence of `size`: the index range [begin, end).
std::pair<std::size_t, std::size_t> range_from(std::uint64_t first, std::size_t max_count, std::size_t size) {
  const std::uint64_t begin = std::max<std::uint64_t>(1, first) - 1;
  if (begin >= size) return {size, size};
  return {begin, begin + std::min<std::uint64_t>(max_count, size - begin)};
}

/// The version of `stream` on `disk`. The caller holds the disk's lock.
std::uint64_t version_on(const MemoryDisk& disk, const std::string& stream) {
  const auto found = disk.stream_positions.find(stream);
  return found == disk.stream_positions.end() ? 0 : found->second.size();
}

/// Moves each group commit onto the disk, all at once.
class MemoryLogSink final : public LogSink {
 public:
  explicit MemoryLogSink(MemoryDisk& disk) : disk_(disk) {}

  Status add(std::vector<Event> events) override {
    std::move(events.begin(), events.end(), std::back_inserter(batch_));
    return Status::success();
  }

  Result<std::uint64_t> read_version(const std::string& stream) const override {
    std::lock_guard disk_lock(disk_.mutex);
    return version_on(disk_, stream);
  }

  Status write(const StreamVersions& /*advanced*/, std::uint64_t /*head_position*/) override {
    {
      std::lock_guard disk_lock(disk_.mutex);
      for (Event& event : batch_) {
        disk_.stream_positions[event.stream].push_back(event.position);
        disk_.log.push_back(std::move(event));
      }
    }
    batch_.clear();
    return Status::success();
  }

 private:
  MemoryDisk& disk_;
  std::vector<Event> batch_;
};

class MemoryEventStore final : public EventStore {
 public:
  MemoryEventStore(const SharedDisk& disk, const StoreOptions& options, RecoveredLog recovered)
      : disk_(disk), sink_(disk.unguarded()), log_(options, std::move(recovered), sink_, kIdleInterval) {}

  void append_async(std::string stream, std::uint64_t expected_version, std::vector<NewEvent> events,
                    AppendCallback done) override {
    log_.append_async(std::move(stream), expected_version, std::move(events), std::move(done));
  }

  Result<std::vector<Event>> read_stream(const std::string& stream, std::uint64_t from_version,
                                         std::size_t max_count) const override {
    if (log_.stopped()) return stopped_error(kEventStore);
    return disk_.use([&](const MemoryDisk& disk) -> Result<std::vector<Event>> {
      std::lock_guard disk_lock(disk.mutex);
      std::vector<Event> events;
      const auto found = disk.stream_positions.find(stream);
      if (found == disk.stream_positions.end()) return events;
      const auto [begin, end] = range_from(from_version, max_count, found->second.size());
      for (std::size_t version_idx = begin; version_idx < end; ++version_idx) {
        events.push_back(disk.log[found->second[version_idx] - 1]);
      }
      return events;
    });
  }

  Result<std::vector<Event>> read_log(std::uint64_t from_position, std::size_t max_count) const override {
    if (log_.stopped()) return stopped_error(kEventStore);
    return disk_.use([&](const MemoryDisk& disk) -> Result<std::vector<Event>> {
      std::lock_guard disk_lock(disk.mutex);
      const auto [begin, end] = range_from(from_position, max_count, disk.log.size());
      return std::vector<Event>(disk.log.begin() + static_cast<std::ptrdiff_t>(begin),
                                disk.log.begin() + static_cast<std::ptrdiff_t>(end));
    });
  }

  /// Finds a chunk of events under the lock and visits them outside it, so
  /// that the visitor may append (the writer takes the lock too).
  Result<std::uint64_t> scan_log(std::uint64_t from_position, std::size_t max_count,
                                 const EventVisitor& visit) const override {
    constexpr std::size_t kChunkSize = 256;
    std::array<const Event*, kChunkSize> chunk{};
    std::uint64_t next_position = from_position;
    std::uint64_t chunk_start = std::max<std::uint64_t>(1, from_position);
    for (std::size_t visited = 0; visited < max_count;) {
      if (log_.stopped()) return stopped_error(kEventStore);
      auto found = disk_.use([&](const MemoryDisk& disk) -> Result<std::size_t> {
        std::lock_guard disk_lock(disk.mutex);
        const auto [begin, end] =
            range_from(chunk_start, std::min(kChunkSize, max_count - visited), disk.log.size());
        for (std::size_t log_idx = begin; log_idx < end; ++log_idx)
          chunk[log_idx - begin] = &disk.log[log_idx];
        return end - begin;
      });
      if (!found) return found.error();
      if (*found == 0) break;
      for (std::size_t chunk_idx = 0; chunk_idx < *found; ++chunk_idx) {
        ++visited;
        next_position = chunk[chunk_idx]->position + 1;
        if (!visit(view_of(*chunk[chunk_idx]))) return next_position;
      }
      chunk_start += *found;
    }
    return next_position;
  }

  Result<std::uint64_t> head_position() const override { return log_.head_position(); }

  Result<std::uint64_t> stream_version(const std::string& stream) const override {
    if (log_.stopped()) return stopped_error(kEventStore);
    return disk_.use([&](const MemoryDisk& disk) -> Result<std::uint64_t> {
      std::lock_guard disk_lock(disk.mutex);
      return version_on(disk, stream);
    });
  }

  Result<std::uint64_t> wait_for_position(std::uint64_t after_position,
                                          std::chrono::milliseconds timeout) const override {
    return log_.wait_for_position(after_position, timeout);
  }

  void stop() override { log_.stop(); }

 private:
  const SharedDisk& disk_;
  MemoryLogSink sink_;
  GroupCommitLog log_;  ///< Last: its writer thread uses sink_.
};

class MemoryLastSeenStore final : public LastSeenStore {
 public:
  explicit MemoryLastSeenStore(const SharedDisk& disk) : disk_(disk) {}

  Status save(const std::vector<LastSeen>& entries) override {
    return disk_.use([&](MemoryDisk& disk) {
      std::lock_guard disk_lock(disk.mutex);
      for (const auto& entry : entries) disk.last_seen[entry.key] = entry.time_ms;
      return Status::success();
    });
  }

  /// Visits a copy, so that the visitor may save.
  Status for_each(const std::function<void(std::string_view key, TimeMs time_ms)>& visit) const override {
    auto copied = disk_.use([](const MemoryDisk& disk) -> Result<std::vector<LastSeen>> {
      std::lock_guard disk_lock(disk.mutex);
      std::vector<LastSeen> entries;
      entries.reserve(disk.last_seen.size());
      for (const auto& [key, time_ms] : disk.last_seen) entries.push_back({key, time_ms});
      return entries;
    });
    if (!copied) return copied.error();
    for (const auto& entry : *copied) visit(entry.key, entry.time_ms);
    return Status::success();
  }

 private:
  const SharedDisk& disk_;
};

class MemorySnapshotStore final : public SnapshotStore {
 public:
  explicit MemorySnapshotStore(const SharedDisk& disk) : disk_(disk) {}

  Status write(const std::string& scope, const std::vector<SnapshotEntry>& entries,
               std::optional<std::uint64_t> position) override {
    if (Status valid = validate_scope(scope); !valid) return valid;
    return disk_.use([&](MemoryDisk& disk) {
      if (entries.empty() && !position) return Status::success();
      std::lock_guard disk_lock(disk.mutex);
      MemoryDisk::Scope& stored = disk.scopes[scope];
      for (const auto& entry : entries) stored.entries[entry.key] = entry.value;
      if (position) stored.position = position;
      return Status::success();
    });
  }

  Result<std::optional<std::uint64_t>> position(const std::string& scope) const override {
    return read_scope(
        scope, [](const MemoryDisk::Scope* stored) { return stored ? stored->position : std::nullopt; });
  }

  Result<std::optional<std::string>> get(const std::string& scope, const std::string& key) const override {
    return read_scope(scope, [&](const MemoryDisk::Scope* stored) -> std::optional<std::string> {
      if (!stored) return std::nullopt;
      const auto found = stored->entries.find(key);
      return found == stored->entries.end() ? std::nullopt : std::optional<std::string>(found->second);
    });
  }

  /// Visits a copy, taken at once (as a RocksDB iterator sees one moment),
  /// so that the visitor may write.
  Status for_each(
      const std::string& scope,
      const std::function<bool(std::string_view key, std::string_view value)>& visit) const override {
    auto copied = read_scope(scope, [](const MemoryDisk::Scope* stored) {
      return stored ? stored->entries : std::map<std::string, std::string>();
    });
    if (!copied) return copied.error();
    for (const auto& [key, value] : *copied) {
      if (!visit(key, value)) break;
    }
    return Status::success();
  }

  Status clear(const std::string& scope) override {
    if (Status valid = validate_scope(scope); !valid) return valid;
    return disk_.use([&](MemoryDisk& disk) {
      std::lock_guard disk_lock(disk.mutex);
      disk.scopes.erase(scope);
      return Status::success();
    });
  }

 private:
  /// `read(scope's data, or null if it has none)` for a valid scope, under the disk's lock.
  template <class Read>
  auto read_scope(const std::string& scope, Read&& read) const
      -> Result<decltype(read(std::declval<const MemoryDisk::Scope*>()))> {
    using Value = decltype(read(std::declval<const MemoryDisk::Scope*>()));
    if (Status valid = validate_scope(scope); !valid) return valid.error();
    return disk_.use([&](const MemoryDisk& disk) -> Result<Value> {
      std::lock_guard disk_lock(disk.mutex);
      const auto found = disk.scopes.find(scope);
      return read(found == disk.scopes.end() ? nullptr : &found->second);
    });
  }

  const SharedDisk& disk_;
};

/// A cursor over one of the metrics' families on a disk that others write
/// meanwhile: each move looks its key up again under the disk's lock and
/// keeps a copy of what it found.
class MemoryMetricCursor final : public MetricCursor {
 public:
  MemoryMetricCursor(const MemoryDisk& disk, MetricFamily family) : disk_(disk), family_(family) {}

  void seek(std::string_view key) override { move([&](const Family& family) { return family.lower_bound(key); }); }
  void next() override {
    move([&](const Family& family) { return family.upper_bound(std::string_view(key_)); });
  }
  bool valid() const override { return valid_; }
  std::string_view key() const override { return key_; }
  std::string_view value() const override { return value_; }
  Status status() const override { return Status::success(); }

 private:
  using Family = std::map<std::string, std::string, std::less<>>;

  template <class Find>
  void move(Find&& find) {
    std::lock_guard disk_lock(disk_.mutex);
    const Family& family = disk_.metric_families[static_cast<std::size_t>(family_)];
    const auto found = find(family);
    valid_ = found != family.end();
    if (valid_) {
      key_ = found->first;
      value_ = found->second;
    }
  }

  const MemoryDisk& disk_;
  const MetricFamily family_;
  bool valid_ = false;
  std::string key_;
  std::string value_;
};

class MemoryMetricReader final : public MetricReader {
 public:
  explicit MemoryMetricReader(const MemoryDisk& disk) : disk_(disk) {}

  std::unique_ptr<MetricCursor> open(MetricFamily family) override {
    return std::make_unique<MemoryMetricCursor>(disk_, family);
  }

  Result<std::optional<std::string>> get(MetricFamily family, std::string_view key) override {
    std::lock_guard disk_lock(disk_.mutex);
    const auto& stored = disk_.metric_families[static_cast<std::size_t>(family)];
    const auto found = stored.find(key);
    if (found == stored.end()) return std::optional<std::string>();
    return std::optional<std::string>(found->second);
  }

 private:
  const MemoryDisk& disk_;
};

class MemoryMetricTable final : public MetricTable {
 public:
  explicit MemoryMetricTable(const SharedDisk& disk) : disk_(disk) {}

  Status write(const MetricBatch& batch) override {
    return disk_.use([&](MemoryDisk& disk) {
      std::lock_guard disk_lock(disk.mutex);
      for (const auto& operation : batch.operations) {
        auto& family = disk.metric_families[static_cast<std::size_t>(operation.family)];
        if (operation.erase) {
          family.erase(operation.key);
        } else {
          family[operation.key] = operation.value;
        }
      }
      return Status::success();
    });
  }

  Status read(const std::function<Status(MetricReader&)>& body) const override {
    return disk_.use([&](const MemoryDisk& disk) {
      MemoryMetricReader reader(disk);
      return body(reader);
    });
  }

  Status compact() override { return Status::success(); }

  Result<std::uint64_t> stored_bytes(MetricFamily family) const override {
    return disk_.use([&](const MemoryDisk& disk) -> Result<std::uint64_t> {
      std::lock_guard disk_lock(disk.mutex);
      std::uint64_t bytes = 0;
      for (const auto& [key, value] : disk.metric_families[static_cast<std::size_t>(family)]) {
        bytes += key.size() + value.size();
      }
      return bytes;
    });
  }

 private:
  const SharedDisk& disk_;
};

class MemoryStorage final : public Storage {
 public:
  MemoryStorage(std::shared_ptr<MemoryDisk> disk, const StoreOptions& options, RecoveredLog recovered)
      : disk_(std::move(disk)),
        events_(disk_, options, std::move(recovered)),
        last_seen_(disk_),
        snapshots_(disk_),
        metric_table_(disk_) {}

  ~MemoryStorage() override { stop(); }

  EventStore& events() override { return events_; }
  LastSeenStore& last_seen() override { return last_seen_; }
  SnapshotStore& snapshots() override { return snapshots_; }
  MetricTable& metric_table() override { return metric_table_; }

  void stop() override {
    std::lock_guard stop_lock(stop_mutex_);
    if (stopped_) return;
    stopped_ = true;
    events_.stop();
    disk_.close([](MemoryDisk& disk) {
      std::lock_guard disk_lock(disk.mutex);
      disk.in_use = false;
    });
  }

 private:
  SharedDisk disk_;  ///< Before the stores: they use it until they are destroyed.
  MemoryEventStore events_;
  MemoryLastSeenStore last_seen_;
  MemorySnapshotStore snapshots_;
  MemoryMetricTable metric_table_;
  std::mutex stop_mutex_;
  bool stopped_ = false;  ///< Guarded by stop_mutex_.
};

}  // namespace

Result<std::unique_ptr<Storage>> open_memory_storage(const StoreOptions& options,
                                                     std::shared_ptr<MemoryDisk> disk) {
  if (!disk) disk = make_memory_disk();
  RecoveredLog recovered;
  {
    std::lock_guard disk_lock(disk->mutex);
    if (disk->in_use) {
      return make_error(ErrorCode::unavailable, "another storage is open on this memory disk");
    }
    disk->in_use = true;
    recovered.head_position = disk->log.size();
    if (!disk->log.empty()) recovered.last_time_ms = disk->log.back().time_ms;
  }
  return std::unique_ptr<Storage>(
      std::make_unique<MemoryStorage>(std::move(disk), options, std::move(recovered)));
}

}  // namespace muster
