#pragma once
/// The API's answers counted by route and status, and timed by route, for
/// /metrics (http/routes/prometheus.cpp). A route is known by its number
/// in the route table (`Router::Match::index`), so its label is the
/// route's pattern, never the raw path: the series are bounded by the
/// table, whatever clients send. Requests no route matched (404, 405)
/// share one more slot, `unmatched()`.
///
/// Statuses are counted per route for the statuses muster answers
/// (`counted_statuses()`); any other lands in one "other" slot, so that
/// recording is an array index, not a map.
///
/// Thread safety: `record` runs on any thread concurrently, lock-free and
/// without allocating (relaxed atomic increments); reads may run
/// concurrently with it and see each counter's latest value.

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/atomic_histogram.hpp"

namespace muster::http {

class RequestMetrics {
 public:
  /// The statuses counted each in their own slot, ascending.
  static constexpr std::array<int, 32> kCountedStatuses = {
      101, 200, 201, 202, 204, 206, 301, 302, 304, 400, 401, 403, 404, 405, 406, 408,
      409, 410, 412, 413, 414, 415, 416, 422, 426, 429, 431, 500, 501, 502, 503, 504};
  /// Slots per route: each counted status, then "other".
  static constexpr std::size_t kStatusSlots = kCountedStatuses.size() + 1;

  /// A route's labels: the method and pattern it was added with.
  struct RouteLabels {
    std::string method;
    std::string pattern;
  };

  /// For the routes numbered 0 to `routes.size()` - 1, and `unmatched()`.
  explicit RequestMetrics(std::vector<RouteLabels> routes);
  RequestMetrics(const RequestMetrics&) = delete;
  RequestMetrics& operator=(const RequestMetrics&) = delete;

  /// The slot of requests no route matched.
  std::size_t unmatched() const { return routes_.size(); }
  std::size_t route_count() const { return routes_.size(); }
  /// Route `route`'s labels. REQUIRES: route < route_count().
  const RouteLabels& labels(std::size_t route) const { return routes_[route]; }

  /// Counts one answer of route `route` (a route number or `unmatched()`)
  /// with `status`, `latency` after its head was read.
  void record(std::size_t route, int status, std::chrono::steady_clock::duration latency) noexcept;

  /// Answers of `route` with the status in slot `status_slot`.
  std::uint64_t answers(std::size_t route, std::size_t status_slot) const noexcept {
    return answers_[route * kStatusSlots + status_slot].load(std::memory_order_relaxed);
  }
  /// The status label of slot `status_slot`: "200", ..., or "other".
  static std::string_view status_label(std::size_t status_slot);
  const AtomicHistogram& latency(std::size_t route) const { return latency_[route]; }

 private:
  static std::size_t status_slot(int status) noexcept;

  const std::vector<RouteLabels> routes_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> answers_;
  std::deque<AtomicHistogram> latency_;  ///< A deque: histograms do not move.
};

}  // namespace muster::http
