#include "eventstore/shared_last_seen.hpp"

#include <nats/nats.h>

#include <map>
#include <sstream>

#include <fmt/format.h>

#include "common/log.hpp"

namespace muster {
namespace {

constexpr std::size_t kChunks = 256;
// A chunk another writer changed between our read and our write is read again, a few times.
constexpr int kCompareAndSetAttempts = 4;

/// FNV-1a: the same chunk for an id on every node and every build.
std::size_t chunk_of(std::string_view key) {
  std::uint64_t hash = 14695981039346656037ULL;
  for (unsigned char c : key) hash = (hash ^ c) * 1099511628211ULL;
  return static_cast<std::size_t>(hash % kChunks);
}

std::string chunk_key(std::size_t chunk) {
  return fmt::format("c{:03}", chunk);
}

/// A chunk's times, and the revision they were read at (0: no chunk yet).
struct Chunk {
  std::map<std::string, TimeMs, std::less<>> times;
  std::uint64_t revision = 0;
};

Result<Chunk> read_chunk(kvStore* bucket, std::size_t chunk) {
  Chunk read;
  kvEntry* entry = nullptr;
  const natsStatus status = kvStore_Get(&entry, bucket, chunk_key(chunk).c_str());
  if (status == NATS_NOT_FOUND) return read;
  if (status != NATS_OK) return make_error(ErrorCode::unavailable, nats_error_text(status));
  read.revision = kvEntry_Revision(entry);
  std::istringstream lines(
      std::string(static_cast<const char*>(kvEntry_Value(entry)), static_cast<std::size_t>(kvEntry_ValueLen(entry))));
  kvEntry_Destroy(entry);
  std::string key;
  TimeMs time_ms = 0;
  while (lines >> key >> time_ms) read.times[key] = time_ms;
  return read;
}

std::string encode_chunk(const Chunk& chunk) {
  std::string text;
  for (const auto& [key, time_ms] : chunk.times) text += fmt::format("{} {}\n", key, time_ms);
  return text;
}

}  // namespace

Result<std::unique_ptr<SharedLastSeenStore>> SharedLastSeenStore::open(std::shared_ptr<NatsConnection> connection,
                                                                       LastSeenStore& local, const std::string& bucket,
                                                                       int replicas,
                                                                       std::chrono::milliseconds flush_interval) {
  auto store = connection->open_bucket(bucket, replicas, std::chrono::milliseconds(0));
  if (!store) return store.error();
  return std::unique_ptr<SharedLastSeenStore>(
      new SharedLastSeenStore(std::move(connection), local, *store, flush_interval));
}

SharedLastSeenStore::SharedLastSeenStore(std::shared_ptr<NatsConnection> connection, LastSeenStore& local,
                                         kvStore* bucket, std::chrono::milliseconds flush_interval)
    : connection_(std::move(connection)), local_(local), bucket_(bucket), flush_interval_(flush_interval) {
  flusher_ = std::thread([this] { run(); });
}

SharedLastSeenStore::~SharedLastSeenStore() {
  stop();
  kvStore_Destroy(bucket_);
}

Status SharedLastSeenStore::save(const std::vector<LastSeen>& entries) {
  if (Status saved = local_.save(entries); !saved) return saved;
  std::lock_guard lock(mutex_);
  for (const auto& entry : entries) {
    TimeMs& pending = pending_[entry.key];
    pending = std::max(pending, entry.time_ms);
  }
  return Status::success();
}

Status SharedLastSeenStore::for_each(const std::function<void(std::string_view key, TimeMs time_ms)>& visit) const {
  std::unordered_map<std::string, TimeMs> merged;
  Status loaded = local_.for_each([&](std::string_view key, TimeMs time_ms) { merged[std::string(key)] = time_ms; });
  if (!loaded) return loaded;
  for (std::size_t chunk = 0; chunk < kChunks; ++chunk) {
    auto read = read_chunk(bucket_, chunk);
    if (!read) {
      // The local copy still gives every agent it saw; the full timeout covers the rest.
      log::warn("cannot read the cluster's last-seen times; using this node's own",
                {{"error", read.error().message}});
      break;
    }
    for (const auto& [key, time_ms] : read->times) {
      TimeMs& held = merged[key];
      held = std::max(held, time_ms);
    }
  }
  for (const auto& [key, time_ms] : merged) visit(key, time_ms);
  return Status::success();
}

void SharedLastSeenStore::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (flusher_.joinable()) flusher_.join();
  flush();
}

void SharedLastSeenStore::run() {
  std::unique_lock lock(mutex_);
  while (!stop_cv_.wait_for(lock, flush_interval_, [&] { return stopping_; })) {
    lock.unlock();
    flush();
    lock.lock();
  }
}

void SharedLastSeenStore::flush() {
  std::unordered_map<std::string, TimeMs> taken;
  {
    std::lock_guard lock(mutex_);
    taken.swap(pending_);
  }
  if (taken.empty()) return;
  std::vector<std::vector<std::pair<std::string, TimeMs>>> by_chunk(kChunks);
  for (auto& [key, time_ms] : taken) by_chunk[chunk_of(key)].emplace_back(key, time_ms);
  std::vector<LastSeen> unwritten;
  for (std::size_t chunk = 0; chunk < kChunks; ++chunk) {
    if (by_chunk[chunk].empty()) continue;
    bool written = false;
    for (int attempt = 0; attempt < kCompareAndSetAttempts && !written; ++attempt) {
      auto read = read_chunk(bucket_, chunk);
      if (!read) break;
      for (const auto& [key, time_ms] : by_chunk[chunk]) {
        TimeMs& held = read->times[key];
        held = std::max(held, time_ms);
      }
      const std::string text = encode_chunk(*read);
      std::uint64_t revision = 0;
      const natsStatus status =
          read->revision == 0
              ? kvStore_Create(&revision, bucket_, chunk_key(chunk).c_str(), text.data(), static_cast<int>(text.size()))
              : kvStore_Update(&revision, bucket_, chunk_key(chunk).c_str(), text.data(),
                               static_cast<int>(text.size()), read->revision);
      written = status == NATS_OK;
    }
    if (!written) {
      for (const auto& [key, time_ms] : by_chunk[chunk]) unwritten.push_back({key, time_ms});
    }
  }
  if (unwritten.empty()) return;
  // Kept for the next flush, unless a newer time came meanwhile.
  std::lock_guard lock(mutex_);
  for (const auto& entry : unwritten) {
    TimeMs& pending = pending_[entry.key];
    pending = std::max(pending, entry.time_ms);
  }
}

}  // namespace muster
