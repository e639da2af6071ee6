/// The NATS backend (nats_storage.hpp): a RocksDB replica
/// (rocksdb_storage.hpp) whose log is the JetStream stream
/// (jetstream_log.hpp), caught up before it is handed out, and whose
/// last-seen times are shared through a key-value bucket (shared_last_seen.hpp).

#include "eventstore/nats_storage.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "eventstore/jetstream_log.hpp"
#include "eventstore/log_replication.hpp"
#include "eventstore/rocksdb_storage.hpp"
#include "eventstore/shared_last_seen.hpp"

namespace muster {
namespace {

/// Names the stream a replica follows, in its directory: a stream that was
/// deleted and created again starts its log anew, and a replica of the old
/// one must not mix with it.
class StreamIdentity {
 public:
  StreamIdentity(const std::string& path, const std::string& stream, std::int64_t created_ns)
      : file_(std::filesystem::path(path) / kReplicaMarkFile),
        text_(fmt::format("stream {} created {}\n", stream, created_ns)) {}

  /// Refuses a replica of another stream (or another creation of this one).
  Status check() const {
    std::ifstream in(file_);
    if (!in) return Status::success();
    std::stringstream held;
    held << in.rdbuf();
    if (held.str() == text_) return Status::success();
    return make_error(ErrorCode::invalid_argument,
                      fmt::format("the replica in {} follows \"{}\", but NATS now holds \"{}\" (the stream was "
                                  "created again, or this directory belongs to another cluster): move the "
                                  "directory away to build the replica anew",
                                  file_.parent_path().string(), trimmed(held.str()), trimmed(text_)));
  }

  Status record() const {
    const auto temporary = file_.string() + ".tmp";
    {
      std::ofstream out(temporary, std::ios::trunc);
      out << text_;
      if (!out.flush()) {
        return make_error(ErrorCode::io_error, fmt::format("cannot write {}", temporary));
      }
    }
    std::error_code error;
    std::filesystem::rename(temporary, file_, error);
    if (error) return make_error(ErrorCode::io_error, fmt::format("cannot write {}: {}", file_.string(), error.message()));
    return Status::success();
  }

 private:
  static std::string trimmed(std::string text) {
    while (!text.empty() && text.back() == '\n') text.pop_back();
    return text;
  }

  const std::filesystem::path file_;
  const std::string text_;
};

/// The replica, with last-seen times shared through the cluster's bucket.
class NatsStorage final : public Storage {
 public:
  NatsStorage(std::unique_ptr<Storage> replica, std::unique_ptr<SharedLastSeenStore> last_seen)
      : replica_(std::move(replica)), last_seen_(std::move(last_seen)) {}
  ~NatsStorage() override { stop(); }

  EventStore& events() override { return replica_->events(); }
  LastSeenStore& last_seen() override { return *last_seen_; }
  SnapshotStore& snapshots() override { return replica_->snapshots(); }
  MetricTable& metric_table() override { return replica_->metric_table(); }

  void stop() override {
    // The last times go to the bucket while the replica they are saved in is still open.
    last_seen_->stop();
    replica_->stop();
  }

 private:
  std::unique_ptr<Storage> replica_;
  std::unique_ptr<SharedLastSeenStore> last_seen_;  ///< Uses the replica's own table.
};

/// Waits until the replica holds `position`, while it keeps making progress.
Status catch_up_to(EventStore& events, std::uint64_t position, std::chrono::milliseconds stall) {
  auto head = events.head_position();
  while (head && *head < position) {
    const std::uint64_t before = *head;
    head = events.wait_for_position(before, stall);
    if (head && *head == before) {
      return make_error(ErrorCode::unavailable,
                        fmt::format("the replica stopped catching up with the event stream at position {} of {}",
                                    before, position));
    }
  }
  if (!head) return head.error();
  return Status::success();
}

}  // namespace

Result<std::unique_ptr<Storage>> open_nats_storage(const NatsOptions& options) {
  if (options.path.empty()) return make_error(ErrorCode::invalid_argument, "the storage needs a path");
  auto connection = NatsConnection::connect(options.connection);
  if (!connection) return connection.error();
  auto log = JetStreamLog::open(*connection, {options.stream, options.subject_prefix, options.replicas,
                                              options.node_id, options.may_publish});
  if (!log) return log.error();
  auto tail = (*log)->tail();
  if (!tail) return tail.error();
  const StreamIdentity identity(options.path, options.stream, tail->created_ns);
  if (Status same = identity.check(); !same) return same.error();

  RocksDbOptions replica;
  replica.store = options.store;
  replica.path = options.path;
  // The stream's quorum makes an append durable; the replica is rebuilt
  // from it after a crash, so its own writes need not wait for the disk.
  replica.durability = Durability::wal;
  replica.replication = *log;
  auto storage = open_rocksdb_storage(replica);
  if (!storage) return storage.error();
  if (Status recorded = identity.record(); !recorded) return recorded.error();
  (*log)->wake_writer();
  if (Status caught = catch_up_to((*storage)->events(), tail->last_position, options.catch_up_stall); !caught) {
    return caught.error();
  }
  auto last_seen = SharedLastSeenStore::open(*connection, (*storage)->last_seen(), options.stream + "_last_seen",
                                             options.replicas, options.last_seen_flush_interval);
  if (!last_seen) return last_seen.error();
  return std::unique_ptr<Storage>(std::make_unique<NatsStorage>(std::move(*storage), std::move(*last_seen)));
}

}  // namespace muster
