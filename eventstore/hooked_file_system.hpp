#pragma once
/// A RocksDB file system that reports syncs, renames and deletes to
/// `FileHooks` and lets them fail writes (internal to the RocksDB store).

#include <memory>

#include <rocksdb/file_system.h>

#include "eventstore/file_hooks.hpp"

namespace muster {

/// Wraps the default file system; `hooks` must not be null.
std::shared_ptr<rocksdb::FileSystem> make_hooked_file_system(std::shared_ptr<FileHooks> hooks);

}  // namespace muster
