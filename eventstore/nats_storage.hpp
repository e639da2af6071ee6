#pragma once
/// The NATS JetStream backend: the event log lives in a replicated JetStream
/// stream that several muster nodes share; each node keeps a local RocksDB
/// replica of it in its data directory (from which it reads, and beside which
/// it keeps its own snapshots and metrics history). Last-seen times are saved
/// in the replica and, every couple of seconds, in a key-value bucket the
/// nodes share (`<stream>_last_seen`), so that a new leader knows them.
///
/// The stream holds one message per group commit: an atomic batch of whole
/// appends with their positions, published with JetStream's expected last
/// sequence, so that positions stay contiguous across nodes and a
/// multi-event append is all or nothing (nats-server 2.9 has no atomic
/// publish of several messages). A node whose publish finds that another
/// node wrote first catches up, checks its appends again and retries.
///
/// What an acknowledgment promises: the batch was stored by a quorum of the
/// stream's replicas (JetStream's publish acknowledgment). nats-server 2.9
/// writes to disk lazily (every two minutes by default, and it refuses
/// `sync_interval: always`), so with R3 an acknowledged append survives any
/// process crash and the loss of any one server, but not a simultaneous
/// power loss of two.

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "common/result.hpp"
#include "eventstore/nats_connection.hpp"
#include "eventstore/storage.hpp"

namespace muster {

struct NatsOptions {
  /// What every backend understands.
  StoreOptions store;
  /// Where this node's replica, snapshots and metrics live (a RocksDB
  /// database); created if missing.
  std::string path;
  /// How to reach NATS (servers, credentials, TLS, waits).
  NatsConnectOptions connection;
  /// The JetStream stream holding the log; its subjects are
  /// `<subject_prefix>.log.>`.
  std::string stream = "MUSTER";
  std::string subject_prefix = "muster";
  /// Replicas of the stream when muster creates it; an existing stream must
  /// have exactly this many, or opening fails (`invalid_argument`).
  int replicas = 3;
  /// Names this node in the subject of the batches it publishes.
  std::string node_id;
  /// Whether this node may write now (as `JetStreamLogOptions::may_publish`).
  std::function<bool()> may_publish;
  /// How long the replica may go without progress while it catches up at open.
  std::chrono::milliseconds catch_up_stall{30'000};
  /// How often saved last-seen times go to the cluster's bucket
  /// (`<stream>_last_seen`), where a new leader reads them.
  std::chrono::milliseconds last_seen_flush_interval{2'000};
};

/// Connects, creates or checks the stream, opens the replica at
/// `options.path` and brings it up to the stream's end.
/// Errors: `invalid_argument` (no path, a node id that is not a subject
/// token, a stream whose configuration differs, a replica that follows
/// another stream),
/// `unavailable` (NATS unreachable: the message names the URL),
/// and the RocksDB backend's errors for the replica.
Result<std::unique_ptr<Storage>> open_nats_storage(const NatsOptions& options);

}  // namespace muster
