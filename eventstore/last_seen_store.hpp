#pragma once
/// When each agent was last heard from. Heartbeats are not events, so this
/// is not part of the log: a small overwrite-only table beside it, saved in
/// the background and loaded at start-up.
///
/// Thread safety: every method may be called from any thread concurrently.

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.hpp"
#include "common/result.hpp"

namespace muster {

/// One key's durable "last seen" time (the key is an agent id).
struct LastSeen {
  std::string key;
  TimeMs time_ms = 0;
};

class LastSeenStore {
 public:
  virtual ~LastSeenStore() = default;

  /// Overwrites the times of the given keys, all or none. Durable once it
  /// returns. Errors: `io_error`, `unavailable` (read-only or stopped).
  virtual Status save(const std::vector<LastSeen>& entries) = 0;

  /// Calls `visit` for every saved key with its time, in no particular order.
  /// Errors: `io_error`, `corruption`, `unavailable` (stopped).
  virtual Status for_each(const std::function<void(std::string_view key, TimeMs time_ms)>& visit) const = 0;
};

}  // namespace muster
