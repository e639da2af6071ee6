#include "http/request_metrics.hpp"

#include <algorithm>
#include <string>

namespace muster::http {
namespace {

// "101" ... "504", "other": the labels of the status slots, made once.
const std::array<std::string, RequestMetrics::kStatusSlots>& status_labels() {
  static const auto labels = [] {
    std::array<std::string, RequestMetrics::kStatusSlots> made;
    for (std::size_t slot = 0; slot < RequestMetrics::kCountedStatuses.size(); ++slot) {
      made[slot] = std::to_string(RequestMetrics::kCountedStatuses[slot]);
    }
    made.back() = "other";
    return made;
  }();
  return labels;
}

}  // namespace

RequestMetrics::RequestMetrics(std::vector<RouteLabels> routes)
    : routes_(std::move(routes)),
      // Value-initialized: every counter starts at 0.
      answers_(std::make_unique<std::atomic<std::uint64_t>[]>((routes_.size() + 1) * kStatusSlots)) {
  for (std::size_t route = 0; route <= routes_.size(); ++route) latency_.emplace_back(latency_buckets());
}

std::size_t RequestMetrics::status_slot(int status) noexcept {
  const auto found = std::lower_bound(kCountedStatuses.begin(), kCountedStatuses.end(), status);
  if (found == kCountedStatuses.end() || *found != status) return kCountedStatuses.size();
  return static_cast<std::size_t>(found - kCountedStatuses.begin());
}

std::string_view RequestMetrics::status_label(std::size_t status_slot) {
  return status_labels().at(status_slot);
}

void RequestMetrics::record(std::size_t route, int status,
                            std::chrono::steady_clock::duration latency) noexcept {
  route = std::min(route, routes_.size());
  answers_[route * kStatusSlots + status_slot(status)].fetch_add(1, std::memory_order_relaxed);
  const auto microseconds = std::chrono::duration_cast<std::chrono::microseconds>(latency).count();
  latency_[route].observe(static_cast<std::uint64_t>(std::max<std::int64_t>(0, microseconds)));
}

}  // namespace muster::http
