#include "http/auth_throttle.hpp"

namespace muster::http {

std::optional<std::int64_t> AuthThrottle::retry_after_seconds(const std::string& address) {
  const TimeMs now_ms = clock_.now_ms();
  // Every request with a credential asks; without a refused address, skip the lock.
  if (now_ms >= refusing_until_ms_.load(std::memory_order_relaxed)) return std::nullopt;
  std::lock_guard<std::mutex> lock(mutex_);
  const auto found = windows_.find(address);
  if (found == windows_.end() || found->second.failures < options_.max_failures) return std::nullopt;
  const TimeMs ends_ms = found->second.started_ms + options_.window_ms;
  if (now_ms >= ends_ms) return std::nullopt;
  return (ends_ms - now_ms + 999) / 1000;
}

void AuthThrottle::record_failure(const std::string& address) {
  const TimeMs now_ms = clock_.now_ms();
  std::lock_guard<std::mutex> lock(mutex_);
  auto found = windows_.find(address);
  if (found == windows_.end()) {
    if (windows_.size() >= options_.max_addresses) drop_expired(now_ms);
    found = windows_.emplace(address, Window{now_ms, 0}).first;
  } else if (now_ms >= found->second.started_ms + options_.window_ms) {
    found->second = Window{now_ms, 0};
  }
  if (++found->second.failures >= options_.max_failures) {
    const TimeMs ends_ms = found->second.started_ms + options_.window_ms;
    if (ends_ms > refusing_until_ms_.load()) refusing_until_ms_.store(ends_ms);
  }
}

void AuthThrottle::drop_expired(TimeMs now_ms) {
  for (auto window = windows_.begin(); window != windows_.end();) {
    window =
        now_ms >= window->second.started_ms + options_.window_ms ? windows_.erase(window) : std::next(window);
  }
  // Still full: a flood from many addresses. Forgetting is safer than growing without bound.
  if (windows_.size() >= options_.max_addresses) windows_.clear();
}

}  // namespace muster::http
