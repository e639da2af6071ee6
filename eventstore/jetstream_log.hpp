#pragma once
/// Internal to eventstore/: the shared log (log_replication.hpp) kept in a
/// NATS JetStream stream, for the NATS backend (nats_storage.hpp).
///
/// One message per group commit, on `<prefix>.log.<node>`: a JSON object
/// `{"node", "batch", "first_position", "last_position", "events": [...]}`
/// (each event with its position, stream, version, type, time_ms,
/// schema_version, and data and meta as JSON text), which other systems may
/// read too. Headers `Muster-First-Position` and `Muster-Last-Position`
/// repeat the range. A batch is published with `Nats-Expected-Last-Sequence`,
/// so the stream holds batches whose positions follow each other with no
/// gap, whichever node wrote them.

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "eventstore/log_replication.hpp"
#include "eventstore/nats_connection.hpp"

struct __natsSubscription;

namespace muster {

struct JetStreamLogOptions {
  std::string stream = "MUSTER";
  std::string subject_prefix = "muster";
  /// Replicas when creating the stream; an existing one must match.
  int replicas = 3;
  /// Token naming this node in its subject and its batches.
  std::string node_id;
  /// Whether this node may write now (in a cluster: it holds the lease).
  /// While it says no, `publish` stores nothing and fails `io_error`, so a
  /// leader that lost its lease writes nothing a new leader does not know
  /// of. Unset: always.
  std::function<bool()> may_publish;
};

/// What the stream holds, as its last batch says.
struct JetStreamTail {
  std::uint64_t last_sequence = 0;  ///< The stream's last message; 0 if empty.
  std::uint64_t last_position = 0;  ///< The last event's position; 0 if empty.
  std::int64_t created_ns = 0;      ///< When the stream was created: tells a recreated one apart.
};

class JetStreamLog final : public LogReplication {
 public:
  /// Creates the stream, or checks that the existing one has the subjects
  /// and replicas asked for. Errors: `invalid_argument` (a differing
  /// stream, a node id that is not a subject token), `unavailable`, `io_error`.
  static Result<std::shared_ptr<JetStreamLog>> open(std::shared_ptr<NatsConnection> connection,
                                                    JetStreamLogOptions options);
  ~JetStreamLog() override;

  /// The stream's end and identity, read now.
  Result<JetStreamTail> tail() const;

  /// Wakes the writer as a foreign write would (to catch up at once).
  void wake_writer();
  /// The subscription saw a batch on `subject`: wakes the writer unless it is this node's own.
  void note_message(const std::string& subject);

  Status add(const std::vector<Event>& events) override;
  Status publish() override;
  void discard() override;
  Result<std::vector<Event>> fetch_after(std::uint64_t head_position, std::size_t max_events) override;
  void on_foreign_write(std::function<void()> wake) override;
  void stop() override;

 private:
  struct Batch;
  /// The stream's sequences and creation time, as its info says now.
  struct StreamState {
    std::uint64_t first_sequence = 0;
    std::uint64_t last_sequence = 0;
    std::int64_t created_ns = 0;
  };

  JetStreamLog(std::shared_ptr<NatsConnection> connection, JetStreamLogOptions options, std::size_t max_bytes);
  Status subscribe();
  /// Reads the stream's info; a failure is `failure` (unavailable, or io_error on the write path).
  Result<StreamState> stream_state(ErrorCode failure) const;
  /// The message at `sequence`: nullopt if there is none (yet).
  Result<std::optional<Batch>> read_batch(std::uint64_t sequence) const;
  /// Finds the message whose last position is `head_position` (0: before
  /// the first), so that the next read starts after it.
  Status locate(std::uint64_t head_position);
  /// Resolves a publish whose answer was lost: stored, moved or not stored.
  Status resolve_unanswered(const std::string& batch_id, const Error& failure);
  /// Logs the first failure after a success and the first success after a failure.
  void note_health(const Status& status);

  const std::shared_ptr<NatsConnection> connection_;
  const JetStreamLogOptions options_;
  const std::string subject_;
  const std::size_t max_bytes_;  ///< Most bytes of one message's payload.

  // The batch in the making (writer thread).
  std::string events_json_;
  std::uint64_t first_position_ = 0;
  std::uint64_t last_position_ = 0;
  std::uint64_t batches_ = 0;  ///< Published by this process: part of each batch id.
  const std::string process_id_;

  // Where the replica is in the stream (writer thread): the message holding
  // position `located_head_`, at `located_sequence_`. Unknown until located.
  bool located_ = false;
  std::uint64_t located_head_ = 0;
  std::uint64_t located_sequence_ = 0;
  bool healthy_ = true;

  std::mutex wake_mutex_;
  std::function<void()> wake_;               ///< Guarded by wake_mutex_.
  __natsSubscription* subscription_ = nullptr;  ///< Guarded by wake_mutex_.
};

}  // namespace muster
