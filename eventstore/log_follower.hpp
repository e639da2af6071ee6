#pragma once
/// Follows the log: catches up from a position, then delivers new events as
/// they are written. Built only on `EventStore`'s contract, so it works for
/// every backend.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

#include "eventstore/event_store.hpp"

namespace muster {

class LogFollower {
 public:
  /// Receives events in log order, in batches, on the follower's thread.
  using Handler = std::function<void(const std::vector<Event>& batch)>;

  /// Reads from `from_position` onwards. `store` must outlive the follower.
  LogFollower(const EventStore& store, std::uint64_t from_position, Handler handler,
              std::size_t batch_size = 4096);
  ~LogFollower();
  LogFollower(const LogFollower&) = delete;
  LogFollower& operator=(const LogFollower&) = delete;

  /// Starts the follower thread. Call once.
  void start();
  /// Stops after the batch in hand. Idempotent.
  void stop();

  /// Reads and delivers everything up to the current head on the calling
  /// thread; returns false if a read failed. Used by `start()`'s loop, and by
  /// tests that step the follower by hand instead of starting it.
  bool deliver_available();

  /// The position of the next event the follower will deliver.
  std::uint64_t next_position() const { return next_position_.load(); }

 private:
  void run();

  const EventStore& store_;
  std::atomic<std::uint64_t> next_position_;
  Handler handler_;
  std::size_t batch_size_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace muster
