#pragma once
/// The threads that serve HTTP connections. cpp-httplib serves each
/// connection on one thread for as long as it stays open, so a fixed pool is
/// exhausted by idle keep-alive connections and by clients that trickle their
/// requests: everyone else then waits. This pool grows a thread per busy
/// connection, up to `max_threads`, and lets idle threads above
/// `core_threads` retire, so slow or idle connections cost a thread each but
/// do not stop other clients from being served.

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>

#include <httplib.h>

namespace muster::http {

class ConnectionPool final : public httplib::TaskQueue {
 public:
  /// `max_threads` >= 1; threads above `core_threads` end after `idle_seconds` without work.
  ConnectionPool(std::size_t core_threads, std::size_t max_threads, int idle_seconds);
  ~ConnectionPool() override;

  /// Runs `connection` on an idle thread, a new one if none is idle and the
  /// cap allows, or else as soon as a thread frees up.
  void enqueue(std::function<void()> connection) override;
  void shutdown() override;

 private:
  void run_worker();

  const std::size_t core_threads_;
  const std::size_t max_threads_;
  const int idle_seconds_;
  std::mutex mutex_;
  std::condition_variable work_ready_;
  std::condition_variable all_retired_;
  std::deque<std::function<void()>> waiting_;
  std::size_t live_threads_ = 0;  ///< Detached workers still running: shutdown waits for none.
  std::size_t idle_threads_ = 0;
  bool shutting_down_ = false;
};

}  // namespace muster::http
