#include "eventstore/log_follower.hpp"

#include <algorithm>

#include "common/log.hpp"

namespace muster {
namespace {

// Bounds how long stop() waits for the follower thread to notice.
constexpr std::chrono::milliseconds kWaitSlice{200};
constexpr std::chrono::milliseconds kRetryDelay{100};

}  // namespace

LogFollower::LogFollower(const EventStore& store, std::uint64_t from_position, Handler handler,
                         std::size_t batch_size)
    // Positions start at 1; 0 would make the follower wait "after position -1".
    : store_(store),
      next_position_(std::max<std::uint64_t>(1, from_position)),
      handler_(std::move(handler)),
      batch_size_(std::max<std::size_t>(1, batch_size)) {}

LogFollower::~LogFollower() {
  stop();
}

void LogFollower::start() {
  thread_ = std::thread([this] { run(); });
}

void LogFollower::stop() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
}

bool LogFollower::deliver_available() {
  while (!stopping_) {
    auto batch = store_.read_log(next_position_, batch_size_);
    if (!batch) {
      log::error("log follower cannot read the log",
                 {{"position", next_position_.load()}, {"error", batch.error().message}});
      return false;
    }
    if (batch->empty()) return true;
    handler_(*batch);
    next_position_ = batch->back().position + 1;
  }
  return true;
}

void LogFollower::run() {
  while (!stopping_) {
    if (!deliver_available()) {
      // The store may recover (a transient I/O error); retry without spinning.
      std::this_thread::sleep_for(kRetryDelay);
      continue;
    }
    // A failed wait (a stopped store, say) must not make the loop spin.
    if (!store_.wait_for_position(next_position_ - 1, kWaitSlice)) std::this_thread::sleep_for(kRetryDelay);
  }
}

}  // namespace muster
