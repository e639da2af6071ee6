#include "http/event_streams.hpp"

namespace muster::http {

EventStreams::EventStreams(TimerService& timers, EventStreamOptions options)
    : timers_(timers),
      options_(options),
      keep_alive_timer_(timers, options.keep_alive_interval_ms, [this] { keep_alive(); }) {}

EventStreams::~EventStreams() {
  stop();
}

Status EventStreams::start() {
  keep_alive_timer_.start();
  return Status::success();
}

void EventStreams::stop() {
  keep_alive_timer_.stop();
}

// Under the lock: a follower only flags and posts, and a stream removed
// after this returns is never told again.
void EventStreams::on_folded(std::uint64_t position) {
  if (position > folded_position_.load()) folded_position_ = position;  // one observer thread: no race
  std::lock_guard lock(mutex_);
  for (auto& [id, follower] : followers_) follower->log_advanced();
}

void EventStreams::keep_alive() {
  const TimeMs now_ms = timers_.now_ms();
  std::lock_guard lock(mutex_);
  for (auto& [id, follower] : followers_) follower->keep_alive_due(now_ms);
}

std::uint64_t EventStreams::add(std::shared_ptr<Follower> follower) {
  std::lock_guard lock(mutex_);
  const std::uint64_t id = next_id_++;
  followers_.emplace(id, std::move(follower));
  return id;
}

void EventStreams::remove(std::uint64_t id) {
  std::shared_ptr<Follower> removed;
  {
    std::lock_guard lock(mutex_);
    const auto found = followers_.find(id);
    if (found == followers_.end()) return;
    removed = std::move(found->second);
    followers_.erase(found);
  }
  // Released outside the lock: the last reference may be this one.
}

std::size_t EventStreams::open_streams() const {
  std::lock_guard lock(mutex_);
  return followers_.size();
}

}  // namespace muster::http
