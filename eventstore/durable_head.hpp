#pragma once
/// A watermark of the log's durable head, kept beside the database in a file
/// of its own (DURABLE_HEAD). The primary store rewrites it (fsync, then
/// rename) at most once a second after synced appends and when it stops, and
/// reads it at open: a log that recovers shorter than its watermark lost
/// acknowledged events to a truncated or missing WAL or table file, which
/// RocksDB alone would take for a torn tail and silently serve. Writes of the
/// last second before a crash are not covered.

#include <cstdint>
#include <string>

#include "common/result.hpp"

namespace muster {

class DurableHeadMark {
 public:
  static constexpr const char* kFileName = "DURABLE_HEAD";

  explicit DurableHeadMark(const std::string& directory);

  /// The position last marked; 0 if never. Errors: `corruption` if the file
  /// is unreadable, `io_error`.
  Result<std::uint64_t> read() const;

  /// Makes `position` the mark, durably. Errors: `io_error`.
  Status write(std::uint64_t position) const;

  const std::string& path() const { return path_; }

 private:
  std::string directory_;
  std::string path_;
};

}  // namespace muster
