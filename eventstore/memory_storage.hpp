#pragma once
/// The in-memory backend: the same contract as RocksDB's with nothing on
/// disk, for tests and for trying muster out. Its data lives in a
/// `MemoryDisk` that outlives the storage opened on it, so a test can stop
/// one storage and open another on the same data, as a restart would.

#include <memory>

#include "common/result.hpp"
#include "eventstore/storage.hpp"

namespace muster {

/// The data of an in-memory storage. Opaque; shared by the storages opened on it.
class MemoryDisk;

/// A new, empty disk.
std::shared_ptr<MemoryDisk> make_memory_disk();

/// Opens storage on `disk` (a new empty one if null). Only one storage may be
/// open on a disk at a time: a second answers `unavailable`, as a second
/// RocksDB writer would.
Result<std::unique_ptr<Storage>> open_memory_storage(const StoreOptions& options,
                                                     std::shared_ptr<MemoryDisk> disk = nullptr);

}  // namespace muster
