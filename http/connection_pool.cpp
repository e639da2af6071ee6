#include "http/connection_pool.hpp"

#include <algorithm>
#include <chrono>
#include <thread>

namespace muster::http {

ConnectionPool::ConnectionPool(std::size_t core_threads, std::size_t max_threads, int idle_seconds)
    : core_threads_(std::min(core_threads, std::max<std::size_t>(1, max_threads))),
      max_threads_(std::max<std::size_t>(1, max_threads)),
      idle_seconds_(idle_seconds) {}

ConnectionPool::~ConnectionPool() {
  shutdown();
}

void ConnectionPool::enqueue(std::function<void()> connection) {
  std::lock_guard<std::mutex> lock(mutex_);
  waiting_.push_back(std::move(connection));
  if (idle_threads_ < waiting_.size() && live_threads_ < max_threads_) {
    ++live_threads_;
    // Detached, so a retired thread frees its stack at once; shutdown()
    // waits for the count instead of joining.
    std::thread([this] { run_worker(); }).detach();
  } else {
    work_ready_.notify_one();
  }
}

void ConnectionPool::shutdown() {
  std::unique_lock<std::mutex> lock(mutex_);
  shutting_down_ = true;
  work_ready_.notify_all();
  all_retired_.wait(lock, [&] { return live_threads_ == 0; });
}

void ConnectionPool::run_worker() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    ++idle_threads_;
    const bool woken = work_ready_.wait_for(lock, std::chrono::seconds(idle_seconds_),
                                            [&] { return !waiting_.empty() || shutting_down_; });
    --idle_threads_;
    if (waiting_.empty()) {
      // Stopping, or idle too long while more threads live than the core keeps.
      if (shutting_down_ || (!woken && live_threads_ > core_threads_)) break;
      continue;
    }
    std::function<void()> connection = std::move(waiting_.front());
    waiting_.pop_front();
    lock.unlock();
    connection();
    lock.lock();
  }
  if (--live_threads_ == 0) all_retired_.notify_all();
}

}  // namespace muster::http
