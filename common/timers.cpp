#include "common/timers.hpp"

#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <map>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/log.hpp"

namespace muster {
namespace {

/// Pending timers in deadline order, ties in scheduling order (ids grow).
/// Not thread-safe: each service guards it with its own mutex. Callbacks leave
/// it by value so that they are run and destroyed outside that mutex (their
/// destructors may release things that schedule or cancel timers).
class TimerQueue {
 public:
  using Callback = TimerService::Callback;
  using TimerId = TimerService::TimerId;

  TimerId add(TimeMs deadline_ms, Callback callback) {
    const TimerId id = next_id_++;
    by_deadline_.emplace(Key{deadline_ms, id}, std::move(callback));
    deadline_of_.emplace(id, deadline_ms);
    return id;
  }

  /// The callback of `id`, removed; empty if `id` is not pending.
  std::optional<Callback> remove(TimerId id) {
    const auto found = deadline_of_.find(id);
    if (found == deadline_of_.end()) return std::nullopt;
    const auto entry = by_deadline_.find(Key{found->second, id});
    Callback callback = std::move(entry->second);
    by_deadline_.erase(entry);
    deadline_of_.erase(found);
    return callback;
  }

  std::optional<TimeMs> earliest() const {
    if (by_deadline_.empty()) return std::nullopt;
    return by_deadline_.begin()->first.first;
  }

  /// REQUIRES: !empty().
  Callback pop_earliest() {
    const auto first = by_deadline_.begin();
    Callback callback = std::move(first->second);
    deadline_of_.erase(first->first.second);
    by_deadline_.erase(first);
    return callback;
  }

  /// Every pending callback, removed.
  std::vector<Callback> take_all() {
    std::vector<Callback> all;
    all.reserve(by_deadline_.size());
    for (auto& [key, callback] : by_deadline_) all.push_back(std::move(callback));
    by_deadline_.clear();
    deadline_of_.clear();
    return all;
  }

  std::size_t size() const { return by_deadline_.size(); }

 private:
  using Key = std::pair<TimeMs, TimerId>;
  std::map<Key, Callback> by_deadline_;
  std::unordered_map<TimerId, TimeMs> deadline_of_;
  TimerId next_id_ = 1;
};

/// Runs a callback; what it throws is logged, so no exception leaves a timer.
void run_callback(const TimerService::Callback& callback) {
  try {
    callback();
  } catch (const std::exception& e) {
    log::error("timer callback threw", {{"error", e.what()}});
  } catch (...) {
    log::error("timer callback threw", {{"error", "non-standard exception"}});
  }
}

// The longest the real service's thread waits without reading its clock again.
constexpr TimeMs kMaxWaitMs = 1000;

}  // namespace

// --- RealTimerService ----------------------------------------------------------

struct RealTimerService::Impl {
  /// Reads `clock_in`, or the system's clock if it is null.
  explicit Impl(const Clock* clock_in) : clock(clock_in != nullptr ? *clock_in : system_clock) {}

  void run();

  // Declared before `clock`, which may refer to it.
  SystemClock system_clock;
  const Clock& clock;

  mutable std::mutex mutex;
  std::condition_variable wakeup;
  TimerQueue queue;
  bool started = false;
  bool stopping = false;
  // The thread's id, guarded by `mutex`: stop() from a callback must not wait
  // for the thread (or for another stop() that joins it).
  std::thread::id thread_id;
  // Guarded by join_mutex, which serializes start and the join, so that
  // concurrent stop() calls all return once the thread ended.
  std::thread thread;
  std::mutex join_mutex;

  bool on_own_thread() const {
    std::lock_guard<std::mutex> lock(mutex);
    return thread_id == std::this_thread::get_id();
  }
};

void RealTimerService::Impl::run() {
  std::unique_lock<std::mutex> lock(mutex);
  while (!stopping) {
    const std::optional<TimeMs> earliest = queue.earliest();
    if (!earliest) {
      // schedule_at wakes the thread for a new earliest deadline.
      wakeup.wait(lock);
      continue;
    }
    const TimeMs now = clock.now_ms();
    if (*earliest > now) {
      wakeup.wait_for(lock, std::chrono::milliseconds(std::min(*earliest - now, kMaxWaitMs)));
      continue;
    }
    Callback callback = queue.pop_earliest();
    lock.unlock();
    run_callback(callback);
    callback = nullptr;
    lock.lock();
  }
}

RealTimerService::RealTimerService() : impl_(std::make_shared<Impl>(nullptr)) {}

RealTimerService::RealTimerService(const Clock& clock) : impl_(std::make_shared<Impl>(&clock)) {}

RealTimerService::~RealTimerService() {
  stop();
  if (impl_->on_own_thread()) {
    // Destroyed from one of its own callbacks: stop() could not join, and the
    // thread, which holds the last reference to Impl, ends on its own.
    std::lock_guard<std::mutex> join_lock(impl_->join_mutex);
    impl_->thread.detach();
  }
}

TimeMs RealTimerService::now_ms() const {
  return impl_->clock.now_ms();
}

TimerService::TimerId RealTimerService::schedule_at(TimeMs deadline_ms, Callback callback) {
  std::unique_lock<std::mutex> lock(impl_->mutex);
  if (impl_->stopping) {
    lock.unlock();
    return 0;  // `callback` is destroyed here, outside the lock.
  }
  const std::optional<TimeMs> earliest = impl_->queue.earliest();
  const TimerId id = impl_->queue.add(deadline_ms, std::move(callback));
  if (!earliest || deadline_ms < *earliest) impl_->wakeup.notify_one();
  return id;
}

bool RealTimerService::cancel(TimerId id) {
  std::optional<Callback> removed;
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    removed = impl_->queue.remove(id);
  }
  return removed.has_value();
}

std::size_t RealTimerService::pending() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->queue.size();
}

std::string_view RealTimerService::name() const {
  return "timers";
}

Status RealTimerService::start() {
  std::lock_guard<std::mutex> join_lock(impl_->join_mutex);
  std::lock_guard<std::mutex> lock(impl_->mutex);
  if (impl_->stopping) return make_error(ErrorCode::conflict, "timer service stopped; it cannot start again");
  if (impl_->started) return Status::success();
  try {
    // The thread holds its own reference: see impl_.
    impl_->thread = std::thread([impl = impl_] { impl->run(); });
  } catch (const std::system_error& e) {
    return make_error(ErrorCode::unavailable, std::string("cannot start the timer thread: ") + e.what());
  }
  pthread_setname_np(impl_->thread.native_handle(), "muster-timers");
  impl_->thread_id = impl_->thread.get_id();
  impl_->started = true;
  return Status::success();
}

void RealTimerService::stop() {
  std::vector<Callback> dropped;
  bool on_own_thread = false;
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    impl_->stopping = true;
    dropped = impl_->queue.take_all();
    impl_->wakeup.notify_all();
    on_own_thread = impl_->thread_id == std::this_thread::get_id();
  }
  dropped.clear();
  // From a callback the thread cannot wait for itself: it sees `stopping` once
  // the callback returns, and ends.
  if (on_own_thread) return;
  std::lock_guard<std::mutex> join_lock(impl_->join_mutex);
  if (impl_->thread.joinable()) impl_->thread.join();
}

// --- ManualTimerService --------------------------------------------------------

struct ManualTimerService::Impl {
  explicit Impl(TimeMs start_ms) : now(start_ms) {}

  // Written under `mutex` (by an advance), read without it.
  std::atomic<TimeMs> now;
  mutable std::mutex mutex;
  TimerQueue queue;
  bool stopped = false;
  // The thread advancing, if any; guarded by `mutex`. Lets a nested advance be
  // refused instead of deadlocking, and lets stop() from a callback skip
  // waiting for the advance it runs in.
  std::thread::id advancing;
  // Held for a whole advance: advances run one after the other.
  std::mutex advance_mutex;

  bool called_from_callback() const {
    std::lock_guard<std::mutex> lock(mutex);
    return advancing == std::this_thread::get_id();
  }
};

ManualTimerService::ManualTimerService(TimeMs start_ms) : impl_(std::make_unique<Impl>(start_ms)) {}

ManualTimerService::~ManualTimerService() = default;

TimeMs ManualTimerService::now_ms() const {
  return impl_->now.load();
}

TimerService::TimerId ManualTimerService::schedule_at(TimeMs deadline_ms, Callback callback) {
  std::unique_lock<std::mutex> lock(impl_->mutex);
  if (impl_->stopped) {
    lock.unlock();
    return 0;  // `callback` is destroyed here, outside the lock.
  }
  return impl_->queue.add(deadline_ms, std::move(callback));
}

bool ManualTimerService::cancel(TimerId id) {
  std::optional<Callback> removed;
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    removed = impl_->queue.remove(id);
  }
  return removed.has_value();
}

std::size_t ManualTimerService::pending() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->queue.size();
}

std::size_t ManualTimerService::advance(TimeMs delta_ms) {
  if (impl_->called_from_callback()) {
    log::error("ManualTimerService::advance called from one of its callbacks; ignored");
    return 0;
  }
  // Read under the advance lock, so the span starts where a concurrent advance
  // ended rather than somewhere in its middle.
  TimeMs target = 0;
  {
    std::lock_guard<std::mutex> advance_lock(impl_->advance_mutex);
    target = impl_->now.load() + std::max<TimeMs>(delta_ms, 0);
  }
  return advance_to(target);
}

std::size_t ManualTimerService::advance_to(TimeMs time_ms) {
  if (impl_->called_from_callback()) {
    log::error("ManualTimerService::advance_to called from one of its callbacks; ignored");
    return 0;
  }
  std::lock_guard<std::mutex> advance_lock(impl_->advance_mutex);
  std::unique_lock<std::mutex> lock(impl_->mutex);
  impl_->advancing = std::this_thread::get_id();
  std::size_t ran = 0;
  for (;;) {
    const std::optional<TimeMs> earliest = impl_->queue.earliest();
    if (!earliest || *earliest > time_ms) break;
    if (*earliest > impl_->now.load()) impl_->now.store(*earliest);
    Callback callback = impl_->queue.pop_earliest();
    lock.unlock();
    run_callback(callback);
    callback = nullptr;
    ++ran;
    lock.lock();
  }
  if (time_ms > impl_->now.load()) impl_->now.store(time_ms);
  impl_->advancing = std::thread::id();
  return ran;
}

void ManualTimerService::stop() {
  std::vector<Callback> dropped;
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    impl_->stopped = true;
    dropped = impl_->queue.take_all();
  }
  dropped.clear();
  // Wait for an advance on another thread to end, so that no callback of this
  // service runs after stop() returns (one from a callback cannot wait for
  // the advance it runs in).
  if (!impl_->called_from_callback()) {
    std::lock_guard<std::mutex> wait_for_advance(impl_->advance_mutex);
  }
}

}  // namespace muster
