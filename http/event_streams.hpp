#pragma once
/// The live event streams that are open (GET /api/v1/events/stream,
/// http/routes/event_stream.cpp), and what moves them. Each stream reads the
/// log from its own position, a bounded batch at a time, and only once its
/// connection wrote the previous batch (http/stream_channel.hpp): a stream
/// behind the log holds no copy of what it has not sent. What it reads comes
/// from the last `recent_events` events folded, kept here once for every
/// stream, each already redacted and written as an SSE event; a stream
/// further behind reads on from the store. This registry tells the streams when there is more to
/// read (`on_folded`: the read models folded a batch, so a stream filtered
/// by organization sees what they know) and, every `keep_alive_interval_ms`,
/// that a keep-alive is due, which is also when a stream checks whether its
/// peer stalled.
///
/// Thread safety: every method may be called from any thread.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/lifecycle.hpp"
#include "common/periodic_timer.hpp"
#include "common/timers.hpp"
#include "eventstore/event.hpp"

namespace muster::http {

struct EventStreamOptions {
  /// A comment line (": keep-alive") this often on every stream, so that
  /// proxies keep it open; stalls are checked as often. Default: 15 s.
  TimeMs keep_alive_interval_ms = 15'000;
  /// A stream whose peer took nothing of a batch for this long is cut off:
  /// its last words (an `event: error`, STREAM_STALLED) follow what is being
  /// written, and if the peer takes nothing for as long again the
  /// connection is dropped. Checked at each keep-alive, so a stall is cut
  /// off up to one interval later. Default: 60 s.
  TimeMs stall_timeout_ms = 60'000;
  /// Events a stream reads from the log at a time, at most. Default: 64.
  std::size_t batch_events = 64;
  /// A piece written at a time ends after the event that reaches this size
  /// (so a stream holds at most this plus one event). Default: 64 KiB.
  std::size_t max_piece_bytes = 64 * 1024;
  /// The last events folded, kept for every stream to read: 200 streams
  /// following the log read it once, not 200 times. At most this many
  /// events (default 4096) and about this many bytes (default 8 MiB).
  std::size_t recent_events = 4096;
  std::size_t recent_bytes = 8 << 20;
};

/// One log event as the streams send it: redacted, and its SSE text
/// ("id: <position>\nevent: <type>\ndata: <JSON>\n\n").
struct StreamedEvent {
  Event event;
  std::string text;
};

/// Appends `event`'s SSE text to `out`.
void append_sse_event(std::string& out, const Event& event);

class EventStreams : public Service {
 public:
  /// One open stream, as the registry sees it. Both calls come from the
  /// registry's callers' threads (the projection runner's, the timers');
  /// neither may block or call back into the registry.
  class Follower {
   public:
    virtual ~Follower() = default;
    /// The read models hold more of the log.
    virtual void log_advanced() = 0;
    /// A keep-alive is due; `now_ms` is the timers' time.
    virtual void keep_alive_due(TimeMs now_ms) = 0;
  };

  /// `timers` must outlive this.
  explicit EventStreams(TimerService& timers, EventStreamOptions options = {});
  ~EventStreams() override;
  EventStreams(const EventStreams&) = delete;
  EventStreams& operator=(const EventStreams&) = delete;

  std::string_view name() const override { return "event-streams"; }
  /// Arms the keep-alives.
  Status start() override;
  /// Stops the keep-alives. The streams themselves end with the listener
  /// (its stop() says each one's farewell): stop this after the listener.
  void stop() override;

  const EventStreamOptions& options() const { return options_; }
  TimerService& timers() const { return timers_; }

  /// What `ProjectionRunner::observe` calls after each folded batch (in log
  /// order, with no gap): keeps its events for the streams to read, if any
  /// stream is open, and tells every open stream.
  void on_folded(const std::vector<Event>& batch);

  /// Up to `limit` events from `position` on, if the recent events reach
  /// back that far (empty: none folded past it yet); nullopt if they do not,
  /// and the store has what the stream needs.
  std::optional<std::vector<std::shared_ptr<const StreamedEvent>>> recent_from(std::uint64_t position,
                                                                               std::size_t limit) const;

  /// The last position the read models folded, as far as `on_folded` was
  /// told (observers run before the runner's own `position()` moves).
  std::uint64_t folded_position() const { return folded_position_.load(); }

  /// Adds an open stream; the id given removes it.
  std::uint64_t add(std::shared_ptr<Follower> follower);
  /// Removes the stream `id`; once this returns, it is told nothing more.
  void remove(std::uint64_t id);

  /// How many streams are open (a gauge's reading; one lock, no scan).
  std::size_t open_streams() const;

 private:
  void keep_alive();

  TimerService& timers_;
  const EventStreamOptions options_;
  mutable std::mutex mutex_;
  std::map<std::uint64_t, std::shared_ptr<Follower>> followers_;  ///< Guarded by mutex_.
  std::uint64_t next_id_ = 1;                                     ///< Guarded by mutex_.
  std::atomic<std::uint64_t> folded_position_{0};
  mutable std::mutex recent_mutex_;
  /// The last events folded, consecutive positions. Guarded by recent_mutex_.
  std::deque<std::shared_ptr<const StreamedEvent>> recent_;
  std::size_t recent_bytes_ = 0;  ///< What recent_ holds, about. Guarded by recent_mutex_.
  PeriodicTimer keep_alive_timer_;
};

}  // namespace muster::http
