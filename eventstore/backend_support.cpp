#include "eventstore/backend_support.hpp"

#include <algorithm>
#include <iterator>
#include <utility>

#include <fmt/format.h>

#include "eventstore/log_metrics.hpp"

namespace muster {
namespace {

Status validate_append(const PendingAppend& append) {
  if (append.stream.empty()) {
    return make_error(ErrorCode::invalid_argument, "stream id must not be empty");
  }
  if (append.stream.find('\0') != std::string::npos) {
    return make_error(ErrorCode::invalid_argument, "stream id must not contain NUL");
  }
  if (append.events.empty()) {
    return make_error(ErrorCode::invalid_argument, "an append needs at least one event");
  }
  return Status::success();
}

}  // namespace

const Clock& clock_or_system(const StoreOptions& options) {
  static const SystemClock system_clock;
  return options.clock != nullptr ? *options.clock : system_clock;
}

Error stopped_error(std::string_view what) {
  return make_error(ErrorCode::unavailable, fmt::format("{} is stopped", what));
}

Error read_only_error() {
  return make_error(ErrorCode::unavailable, "storage is open read-only");
}

Status validate_scope(const std::string& scope) {
  if (scope.empty()) return make_error(ErrorCode::invalid_argument, "snapshot scope must not be empty");
  if (scope.find('\0') != std::string::npos) {
    return make_error(ErrorCode::invalid_argument, "snapshot scope must not contain NUL");
  }
  return Status::success();
}

GroupCommitLog::GroupCommitLog(const StoreOptions& options, RecoveredLog recovered, LogSink& sink,
                               std::chrono::milliseconds idle_interval)
    : clock_(clock_or_system(options)),
      max_batch_appends_(std::max<std::size_t>(1, options.max_batch_appends)),
      max_pending_appends_(std::max<std::size_t>(1, options.max_pending_appends)),
      idle_interval_(idle_interval),
      metrics_(options.metrics),
      sink_(sink),
      head_position_(recovered.head_position),
      last_time_ms_(recovered.last_time_ms),
      writer_([this] { run_writer(); }) {}

GroupCommitLog::~GroupCommitLog() {
  stop();
}

void GroupCommitLog::append_async(std::string stream, std::uint64_t expected_version,
                                  std::vector<NewEvent> events, EventStore::AppendCallback done) {
  bool saturated = false;
  {
    std::lock_guard queue_lock(queue_mutex_);
    saturated = queue_.size() >= max_pending_appends_;
    if (accepting_ && !saturated) {
      queue_.push_back({std::move(stream), expected_version, std::move(events), std::move(done)});
      queue_cv_.notify_one();
      return;
    }
  }
  // Refused here, outside the lock: the writer is gone, or too far behind.
  done(saturated ? make_error(ErrorCode::unavailable, "the event log is saturated with writes; retry shortly",
                              "STORE_OVERLOADED")
                 : stopped_error("event store"));
}

Result<std::uint64_t> GroupCommitLog::head_position() const {
  std::lock_guard state_lock(state_mutex_);
  if (stopped_) return stopped_error("event store");
  return head_position_;
}

Result<std::uint64_t> GroupCommitLog::wait_for_position(std::uint64_t after_position,
                                                        std::chrono::milliseconds timeout) const {
  std::unique_lock state_lock(state_mutex_);
  head_advanced_.wait_for(state_lock, timeout, [&] { return head_position_ > after_position || stopped_; });
  if (stopped_) return stopped_error("event store");
  return head_position_;
}

void GroupCommitLog::stop() {
  std::lock_guard stop_lock(stop_mutex_);
  if (!writer_.joinable()) return;
  {
    std::lock_guard queue_lock(queue_mutex_);
    accepting_ = false;
  }
  queue_cv_.notify_all();
  writer_.join();
  {
    std::lock_guard state_lock(state_mutex_);
    stopped_ = true;
  }
  head_advanced_.notify_all();
}

bool GroupCommitLog::stopped() const {
  std::lock_guard state_lock(state_mutex_);
  return stopped_;
}

void GroupCommitLog::nudge() {
  {
    std::lock_guard queue_lock(queue_mutex_);
    nudged_ = true;
  }
  queue_cv_.notify_one();
}

void GroupCommitLog::run_writer() {
  bool nudged = false;
  while (auto appends = take_pending_appends(nudged)) {
    if (appends->empty()) sink_.idle();
    // Idle, a shared log is polled too: a wake-up may have been missed.
    if (sink_.replans() && (nudged || appends->empty())) catch_up();
    if (!appends->empty()) commit(std::move(*appends));
  }
  sink_.drained();
}

/// Waits (at most an idle interval) for appends or a nudge and takes up to
/// `max_batch_appends_` appends; nullopt once stopping and nothing is left.
std::optional<std::vector<PendingAppend>> GroupCommitLog::take_pending_appends(bool& nudged) {
  std::unique_lock queue_lock(queue_mutex_);
  queue_cv_.wait_for(queue_lock, idle_interval_, [&] { return !queue_.empty() || !accepting_ || nudged_; });
  nudged = std::exchange(nudged_, false);
  if (queue_.empty() && !accepting_) return std::nullopt;
  auto count = static_cast<std::ptrdiff_t>(std::min(queue_.size(), max_batch_appends_));
  std::vector<PendingAppend> taken(std::make_move_iterator(queue_.begin()),
                                   std::make_move_iterator(queue_.begin() + count));
  queue_.erase(queue_.begin(), queue_.begin() + count);
  return taken;
}

/// Writes the acceptable appends in one write, publishes the new head only
/// if it succeeded, then answers every append. A shared log that moved
/// meanwhile is caught up with and the batch planned again, a bounded
/// number of times.
void GroupCommitLog::commit(std::vector<PendingAppend> appends) {
  constexpr int kMaxReplans = 64;
  for (int replans = 0;; ++replans) {
    // Only a sink that may ask for the batch again needs the events kept.
    const bool keep_events = sink_.replans() && replans < kMaxReplans;
    // Never backwards, even if the wall clock is.
    const TimeMs time_ms = std::max(last_time_ms_, clock_.now_ms());
    std::uint64_t head_position = head_position_;
    StreamVersions advanced;
    std::vector<Result<AppendResult>> outcomes;
    outcomes.reserve(appends.size());
    for (std::size_t append_idx = 0; append_idx < appends.size(); ++append_idx) {
      auto outcome = plan_append(appends[append_idx], keep_events, time_ms, head_position, advanced);
      if (!outcome && outcome.error().reason == kBatchFullReason && append_idx > 0) {
        defer(appends, append_idx);
        break;
      }
      outcomes.push_back(std::move(outcome));
    }
    if (!advanced.empty()) {
      // Real time, not `clock_`: this measures the disk, which a test clock does not move.
      const auto write_started = std::chrono::steady_clock::now();
      Status written = sink_.write(advanced, head_position);
      if (!written && written.error().reason == kLogMovedReason) {
        if (keep_events) {
          catch_up();
          continue;
        }
        written = make_error(ErrorCode::unavailable,
                             "other nodes kept writing to the shared log first; retry shortly", "STORE_OVERLOADED");
      }
      if (metrics_ != nullptr) record_write(outcomes, written.ok(), std::chrono::steady_clock::now() - write_started);
      if (written) {
        publish(head_position, time_ms);
      } else {
        for (auto& outcome : outcomes) {
          if (outcome.ok()) outcome = written.error();
        }
      }
    }
    for (std::size_t append_idx = 0; append_idx < appends.size(); ++append_idx) {
      appends[append_idx].done(std::move(outcomes[append_idx]));
    }
    return;
  }
}

/// Brings the head up to what other writers of a shared log added. A
/// failure is the sink's to report; the next idle interval tries again.
void GroupCommitLog::catch_up() {
  auto caught = sink_.catch_up();
  if (caught && *caught) publish((*caught)->head_position, std::max(last_time_ms_, (*caught)->last_time_ms));
}

/// Puts `appends` from index `from` back at the front of the queue, for the
/// next batch, and drops them from `appends`.
void GroupCommitLog::defer(std::vector<PendingAppend>& appends, std::size_t from) {
  {
    std::lock_guard queue_lock(queue_mutex_);
    queue_.insert(queue_.begin(), std::make_move_iterator(appends.begin() + static_cast<std::ptrdiff_t>(from)),
                  std::make_move_iterator(appends.end()));
  }
  appends.erase(appends.begin() + static_cast<std::ptrdiff_t>(from), appends.end());
}

/// Hands `append` to the sink if its expected version holds against the
/// versions as the batch's earlier appends leave them; advances
/// `head_position` and `advanced` past it if the sink takes it.
Result<AppendResult> GroupCommitLog::plan_append(PendingAppend& append, bool keep_events, TimeMs time_ms,
                                                 std::uint64_t& head_position, StreamVersions& advanced) {
  if (auto invalid = validate_append(append); !invalid) return invalid.error();
  const auto planned = planned_version(advanced, append.stream);
  if (!planned) return planned.error();
  const std::uint64_t current_version = *planned;
  if (current_version != append.expected_version) {
    return make_error(ErrorCode::conflict,
                      fmt::format("stream {:?} is at version {}, expected {}", append.stream, current_version,
                                  append.expected_version));
  }
  AppendResult result{head_position + 1, head_position, current_version, time_ms};
  std::vector<Event> events;
  events.reserve(append.events.size());
  // The append is answered from `done` alone, so its events move into the
  // batch, unless the batch may have to be planned again.
  for (auto& new_event : append.events) {
    ++result.last_position;
    ++result.stream_version;
    NewEvent planned = keep_events ? new_event : std::move(new_event);
    events.push_back(Event{result.last_position, append.stream, result.stream_version,
                           std::move(planned.type), time_ms, planned.schema_version, std::move(planned.data),
                           std::move(planned.meta)});
  }
  if (Status added = sink_.add(std::move(events)); !added) return added.error();
  head_position = result.last_position;
  advanced[append.stream] = result.stream_version;
  return result;
}

/// The stream's version with the batch's earlier appends applied.
Result<std::uint64_t> GroupCommitLog::planned_version(const StreamVersions& advanced,
                                                      const std::string& stream) const {
  if (auto planned = advanced.find(stream); planned != advanced.end()) return planned->second;
  return sink_.read_version(stream);
}

void GroupCommitLog::record_write(const std::vector<Result<AppendResult>>& outcomes, bool written,
                                  std::chrono::steady_clock::duration took) {
  metrics_->write_latency.observe(
      static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(took).count()));
  if (!written) {
    metrics_->failed_writes.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  std::uint64_t appends = 0;
  std::uint64_t events = 0;
  for (const auto& outcome : outcomes) {
    if (!outcome.ok()) continue;
    ++appends;
    events += outcome->last_position - outcome->first_position + 1;
  }
  metrics_->appends.fetch_add(appends, std::memory_order_relaxed);
  metrics_->events.fetch_add(events, std::memory_order_relaxed);
  metrics_->batch_appends.observe(appends);
}

void GroupCommitLog::publish(std::uint64_t head_position, TimeMs time_ms) {
  last_time_ms_ = time_ms;
  {
    std::lock_guard state_lock(state_mutex_);
    head_position_ = head_position;
  }
  head_advanced_.notify_all();
}

}  // namespace muster
