#pragma once
/// On a node that does not run the fleet: when each agent was last heard
/// from, read into the agent registry every `interval` from the last-seen
/// store (in a cluster, the bucket the leader writes to every couple of
/// seconds), so that the node answers the fleet's lists and counts itself,
/// with times at most the leader's flush interval plus `interval` old.
///
/// Heartbeats that change nothing are not events, so following the log alone
/// would leave each agent's last-seen time at its latest event's.
///
/// Runs on its own thread: a read of the store may wait on the network.
/// start() once; stop() (idempotent) before the node runs the fleet itself,
/// whose own heartbeats are then the times. Thread-safe.

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "eventstore/last_seen_store.hpp"
#include "projections/agent_registry.hpp"

namespace muster {

class LastSeenFollower {
 public:
  /// `store` and `registry` must outlive this (or its stop()).
  LastSeenFollower(const LastSeenStore& store, AgentRegistry& registry, std::chrono::milliseconds interval);
  ~LastSeenFollower();
  LastSeenFollower(const LastSeenFollower&) = delete;
  LastSeenFollower& operator=(const LastSeenFollower&) = delete;

  /// Reads the store now (on the thread), then every `interval`. Once only.
  void start();
  /// Waits for the read in progress (the first one, if it has not run yet);
  /// none follows. Idempotent.
  void stop();

 private:
  void run();

  const LastSeenStore& store_;
  AgentRegistry& registry_;
  const std::chrono::milliseconds interval_;
  std::mutex stop_mutex_;  ///< Held through stop(), so that one thread joins.
  std::mutex mutex_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;  ///< Guarded by mutex_.
  std::thread thread_;
};

}  // namespace muster
