#include "projections/last_seen_follower.hpp"

#include "common/log.hpp"

namespace muster {

LastSeenFollower::LastSeenFollower(const LastSeenStore& store, AgentRegistry& registry,
                                   std::chrono::milliseconds interval)
    : store_(store), registry_(registry), interval_(interval) {}

LastSeenFollower::~LastSeenFollower() { stop(); }

void LastSeenFollower::start() {
  thread_ = std::thread([this] { run(); });
}

void LastSeenFollower::stop() {
  // The promotion and the shutdown may both stop it.
  std::lock_guard stopping(stop_mutex_);
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void LastSeenFollower::run() {
  // The first read happens even if stop() came first: start() promised it.
  std::unique_lock lock(mutex_);
  do {
    lock.unlock();
    // A failed read leaves the times as they were: the next one may get through.
    if (Status loaded = registry_.load_last_seen(store_); !loaded) {
      log::warn("cannot read the agents' last-seen times", {{"error", loaded.error().message}});
    }
    lock.lock();
  } while (!stop_cv_.wait_for(lock, interval_, [this] { return stopping_; }));
}

}  // namespace muster
