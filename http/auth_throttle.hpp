#pragma once
/// Slows down guessing: an address that fails authentication `max_failures`
/// times within one window is refused (429) until that window ends. Fixed
/// windows per address; memory is bounded by `max_addresses` (expired
/// windows are dropped first, then the table is cleared rather than grow).
///
/// Thread-safe.

#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "common/clock.hpp"

namespace muster::http {

struct AuthThrottleOptions {
  /// Failures allowed per address per window. Default: 20.
  std::uint32_t max_failures = 20;
  /// Length of a window. Default: 60 s.
  TimeMs window_ms = 60'000;
  /// Addresses tracked at most. Default: 100,000.
  std::size_t max_addresses = 100'000;
};

class AuthThrottle {
 public:
  /// `clock` must outlive the throttle.
  AuthThrottle(AuthThrottleOptions options, const Clock& clock) : options_(options), clock_(clock) {}

  /// Seconds until `address` may try again, if it is refused now.
  std::optional<std::int64_t> retry_after_seconds(const std::string& address);

  /// Counts one failed authentication from `address`.
  void record_failure(const std::string& address);

 private:
  struct Window {
    TimeMs started_ms = 0;
    std::uint32_t failures = 0;
  };
  void drop_expired(TimeMs now_ms);

  const AuthThrottleOptions options_;
  const Clock& clock_;
  std::mutex mutex_;
  std::unordered_map<std::string, Window> windows_;
  /// No address is refused at or after this time (written under the mutex).
  std::atomic<TimeMs> refusing_until_ms_{0};
};

}  // namespace muster::http
