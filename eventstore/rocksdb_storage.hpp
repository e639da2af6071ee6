#pragma once
/// The RocksDB backend: the log, the last-seen table and the snapshots in one
/// database in the data directory, each in column families of its own.

#include <memory>
#include <string>

#include "common/result.hpp"
#include "eventstore/file_hooks.hpp"
#include "eventstore/storage.hpp"

namespace muster {

class LogReplication;

enum class Durability {
  /// An append is acknowledged after its WAL record is fsynced. Survives power loss.
  fsync,
  /// Acknowledged after the WAL write reaches the OS. Survives a process crash
  /// (kill -9), but a power loss or kernel crash may lose the last acknowledged writes.
  wal,
};

struct RocksDbOptions {
  /// What every backend understands.
  StoreOptions store;
  /// Directory of the database; created if missing (unless `read_only`).
  std::string path;
  /// When an append is acknowledged. Default: fsync.
  Durability durability = Durability::fsync;
  /// Open without writing, beside a server that may be running on the same
  /// directory (a RocksDB secondary instance). Writes fail with `unavailable`.
  bool read_only = false;
  /// Test-only: sees every file write and sync (fault injection, power-loss simulation).
  std::shared_ptr<FileHooks> file_hooks;
  /// Internal (eventstore/log_replication.hpp): the database is a replica
  /// of this shared log, which appends go to first. Null: the log is the
  /// database's own.
  std::shared_ptr<LogReplication> replication;
};

/// Opens (creating if needed) the RocksDB storage at `options.path`.
/// Errors: `invalid_argument` (no path; a NATS node's replica opened for
/// writing without its shared log), `io_error` (cannot open/create),
/// `corruption` (data damaged; the message names the file when RocksDB does,
/// or the log recovered shorter than its durable-head mark), `unavailable`
/// (locked by another writer process).
Result<std::unique_ptr<Storage>> open_rocksdb_storage(const RocksDbOptions& options);

}  // namespace muster
