#pragma once
/// Snapshots of folded state, kept beside the log so that start-up loads
/// them and folds only the tail of the log.
///
/// A snapshot lives in a *scope* (a projection, or an aggregate kind): a set
/// of entries (key -> opaque bytes) and, optionally, the log position the
/// scope reflects. What the bytes mean, and whether they can still be read,
/// is the owner's business: a snapshot is derived data, and an owner that
/// cannot decode one clears the scope and folds the log from the start.
///
/// Durability: a write is atomic (its entries and position together or
/// nothing, also across a crash) but not synced on its own; it becomes
/// durable with the next durable append, and a crash never keeps a write
/// while losing an event appended before it.
///
/// Thread safety: every method may be called from any thread concurrently.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.hpp"

namespace muster {

struct SnapshotEntry {
  std::string key;
  std::string value;
};

class SnapshotStore {
 public:
  virtual ~SnapshotStore() = default;

  /// Puts `entries` into `scope` (replacing entries with the same keys) and,
  /// if given, sets the scope's position, atomically. Errors: `io_error`,
  /// `invalid_argument` (an empty scope or one containing '\0'),
  /// `unavailable` (read-only or stopped).
  virtual Status write(const std::string& scope, const std::vector<SnapshotEntry>& entries,
                       std::optional<std::uint64_t> position) = 0;

  /// The position last set for `scope`; nullopt if none. Errors: `io_error`,
  /// `corruption`, `unavailable` (stopped).
  virtual Result<std::optional<std::uint64_t>> position(const std::string& scope) const = 0;

  /// One entry; nullopt if absent. Errors as `position`.
  virtual Result<std::optional<std::string>> get(const std::string& scope, const std::string& key) const = 0;

  /// Calls `visit` for every entry of `scope` in key order until it returns
  /// false. The views live only during the call. Errors as `position`.
  virtual Status for_each(const std::string& scope,
                          const std::function<bool(std::string_view key, std::string_view value)>& visit) const = 0;

  /// Removes every entry and the position of `scope`. Errors as `write`.
  virtual Status clear(const std::string& scope) = 0;
};

}  // namespace muster
