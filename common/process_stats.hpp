#pragma once
/// What the kernel says about this process, for the standard `process_*`
/// metrics: resident and virtual memory, CPU time, open and allowed file
/// descriptors, start time. Linux only (/proc).

#include <cstdint>
#include <optional>

namespace muster {

struct ProcessStats {
  std::uint64_t resident_memory_bytes = 0;
  std::uint64_t virtual_memory_bytes = 0;
  /// User and system CPU time together.
  double cpu_seconds = 0;
  std::uint64_t open_fds = 0;
  /// The soft limit on open descriptors.
  std::uint64_t max_fds = 0;
  /// Since the Unix epoch.
  double start_time_seconds = 0;
};

/// Reads /proc/self (and /proc/stat for the boot time). Nullopt if /proc
/// cannot be read or parsed. Costs a few small file reads and one
/// directory listing (as many entries as open descriptors). Thread-safe.
std::optional<ProcessStats> read_process_stats();

}  // namespace muster
