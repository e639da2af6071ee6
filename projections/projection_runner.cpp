#include "projections/projection_runner.hpp"

#include <algorithm>
#include <thread>
#include <vector>

#include "common/log.hpp"

namespace muster {
namespace {

// How often a long catch-up says how far it got.
constexpr TimeMs kProgressIntervalMs = 5'000;

}  // namespace

ProjectionRunner::ProjectionRunner(const EventStore& events, SnapshotStore& snapshots,
                                   std::vector<ReadModel*> models, TimerService& timers,
                                   ProjectionRunnerOptions options)
    : events_(events),
      snapshots_(snapshots),
      models_(std::move(models)),
      timers_(timers),
      options_(options),
      snapshot_timer_(timers, options.snapshot_interval_ms, [this] {
        {
          std::lock_guard<std::mutex> lock(snapshot_mutex_);
          snapshot_due_ = true;
        }
        snapshot_wakeup_.notify_all();
      }) {}

ProjectionRunner::~ProjectionRunner() {
  stop();
}

Status ProjectionRunner::start() {
  const TimeMs started_ms = timers_.now_ms();
  auto head = events_.head_position();
  if (!head) return head.error();
  recovery_.head_at_start = *head;
  // The models load their snapshots at once, each on a thread of its own:
  // at a million agents the fleet's and the config model's take seconds
  // each, and they share nothing but the (thread-safe) snapshot store.
  std::vector<Result<std::uint64_t>> loads(models_.size(), std::uint64_t{0});
  {
    std::vector<std::thread> loaders;
    for (std::size_t index = 0; index < models_.size(); ++index) {
      loaders.emplace_back([this, &loads, index, head = *head] {
        loads[index] = models_[index]->load_snapshot(snapshots_, head);
      });
    }
    for (std::thread& loader : loaders) loader.join();
  }
  // Each model skips what its snapshot holds: fold from the oldest one.
  std::uint64_t from = *head;
  nlohmann::json fields = nlohmann::json::object();
  for (std::size_t index = 0; index < models_.size(); ++index) {
    ReadModel* model = models_[index];
    const Result<std::uint64_t>& loaded = loads[index];
    if (!loaded) return loaded.error();
    recovery_.snapshot_positions[std::string(model->name())] = *loaded;
    from = std::min(from, *loaded);
    fields[std::string(model->name()) + "_position"] = *loaded;
  }
  recovery_.folded_from = from;
  recovery_.snapshot_load_ms = timers_.now_ms() - started_ms;
  {
    std::lock_guard<std::mutex> lock(position_mutex_);
    position_ = from;
  }
  fields["log_position"] = *head;
  fields["duration_ms"] = recovery_.snapshot_load_ms;
  log::info("read models loaded from snapshots", fields);
  fold_started_ms_ = timers_.now_ms();
  follower_ = std::make_unique<LogFollower>(
      events_, from + 1, [this](const std::vector<Event>& batch) { fold(batch); }, options_.batch_size);
  started_ = true;
  if (options_.follow) follower_->start();
  snapshot_thread_ = std::thread([this] { run_snapshots(); });
  snapshot_timer_.start();
  return Status::success();
}

void ProjectionRunner::stop() {
  if (!started_ || stopped_.exchange(true)) return;
  follower_->stop();
  snapshot_timer_.stop();
  {
    std::lock_guard<std::mutex> lock(snapshot_mutex_);
    snapshots_stopping_ = true;
  }
  snapshot_wakeup_.notify_all();
  if (snapshot_thread_.joinable()) snapshot_thread_.join();
  if (Status saved = save_snapshots(); !saved) {
    log::warn("cannot save the read models' snapshots at stop", {{"error", saved.error().message}});
  }
  run_waiters(0, /*all=*/true);
}

void ProjectionRunner::fold(const std::vector<Event>& batch) {
  // A bad event is skipped rather than stalling: it must not freeze every read.
  for (ReadModel* model : models_) {
    if (Status folded = model->apply(batch); !folded) {
      log::error("projection skipped an event",
                 {{"model", std::string(model->name())}, {"error", folded.error().message}});
    }
  }
  for (const BatchObserver& observer : observers_) observer(batch);
  const std::uint64_t reached = batch.back().position;
  if (reached < recovery_.head_at_start) {
    const TimeMs now = timers_.now_ms();
    if (now - last_progress_log_ms_ >= kProgressIntervalMs) {
      last_progress_log_ms_ = now;
      // Progress on a long start: how far, how fast, and so how long yet.
      const std::uint64_t folded = reached - recovery_.folded_from;
      const std::uint64_t total = recovery_.head_at_start - recovery_.folded_from;
      const TimeMs elapsed_ms = std::max<TimeMs>(now - fold_started_ms_, 1);
      log::info("folding the log", {{"position", reached},
                                    {"log_position", recovery_.head_at_start},
                                    {"events_folded", folded},
                                    {"percent", total == 0 ? 100 : 100 * folded / total},
                                    {"events_per_second", folded * 1000 / static_cast<std::uint64_t>(elapsed_ms)}});
    }
  }
  run_waiters(reached, /*all=*/false);
}

void ProjectionRunner::observe(BatchObserver observer) {
  observers_.push_back(std::move(observer));
}

void ProjectionRunner::run_waiters(std::uint64_t position, bool all) {
  std::vector<std::function<void()>> ready;
  {
    std::lock_guard<std::mutex> lock(position_mutex_);
    position_ = std::max(position_, position);
    const auto end = all ? waiters_.end() : waiters_.upper_bound(position_);
    for (auto waiter = waiters_.begin(); waiter != end; ++waiter) ready.push_back(std::move(waiter->second));
    waiters_.erase(waiters_.begin(), end);
  }
  position_advanced_.notify_all();
  for (auto& then : ready) then();
}

std::uint64_t ProjectionRunner::position() const {
  std::lock_guard<std::mutex> lock(position_mutex_);
  return position_;
}

bool ProjectionRunner::wait_for_position(std::uint64_t position, std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(position_mutex_);
  return position_advanced_.wait_for(lock, timeout, [&] { return position_ >= position; });
}

void ProjectionRunner::when_folded(std::uint64_t position, std::function<void()> then) {
  {
    std::lock_guard<std::mutex> lock(position_mutex_);
    if (position_ < position && !stopped_) {
      waiters_.emplace(position, std::move(then));
      return;
    }
  }
  then();
}

void ProjectionRunner::catch_up() {
  if (follower_) follower_->deliver_available();
}

Status ProjectionRunner::save_snapshots() {
  Status first = Status::success();
  for (ReadModel* model : models_) {
    Status saved = model->save_snapshot(snapshots_);
    if (!saved && first) first = saved;
  }
  return first;
}

// Snapshots are written on a thread of their own: the first one after a
// fleet registered writes a record per agent, too long for the timer's
// thread (heartbeat deadlines) or the follower's (reads would lag).
void ProjectionRunner::run_snapshots() {
  std::unique_lock<std::mutex> lock(snapshot_mutex_);
  for (;;) {
    snapshot_wakeup_.wait(lock, [&] { return snapshot_due_ || snapshots_stopping_; });
    if (snapshots_stopping_) return;
    snapshot_due_ = false;
    lock.unlock();
    const TimeMs started_ms = timers_.now_ms();
    if (Status saved = save_snapshots(); !saved) {
      log::warn("cannot save the read models' snapshots; the next try is in one interval",
                {{"error", saved.error().message}});
    } else {
      log::write(log::Level::debug, "read models snapshotted", {{"duration_ms", timers_.now_ms() - started_ms}});
    }
    lock.lock();
  }
}

}  // namespace muster
