// /api/v1/events/stream: the log live, as Server-Sent Events (README "Live
// event stream"). One SSE event per log event: `id:` its position, `event:`
// its type, `data:` the JSON /api/v1/events gives for it, through the same
// reads (EventQueries: what the caller may see, digests removed).

#include <atomic>
#include <mutex>

#include <fmt/format.h>

#include "actors/runtime/stream_id.hpp"
#include "http/api.hpp"
#include "http/call.hpp"
#include "http/event_streams.hpp"

namespace muster::http::routes {
namespace {

using nlohmann::json;

// One SSE event carrying an error as the API writes errors: a stream's last words.
std::string error_event(const std::string& message, const std::string& code) {
  return "event: error\ndata: " + error_response(500, message, code).body + "\n\n";
}

// One stream: reads the log from its own position, a batch at a time,
// whenever the listener asks for the next piece (the previous one is
// written). It never reads past what the read models folded, so that an
// organization's filter knows every stream it reads (an agent registered a
// moment ago included).
//
// Threads: `open`, `next`, `farewell`, `on_close` on the connection's
// thread; `log_advanced` and `keep_alive_due` on the runner's and the
// timers' (they touch only atomics and the channel, set before they can come).
class EventStreamSource final : public StreamSource,
                                public EventStreams::Follower,
                                public std::enable_shared_from_this<EventStreamSource> {
 public:
  EventStreamSource(const Services& services, Principal caller, LogFilter filter, std::uint64_t from_position)
      : services_(services),
        streams_(*services.event_streams),
        caller_(std::move(caller)),
        filter_(std::move(filter)),
        next_position_(from_position) {}

  void open(std::shared_ptr<StreamChannel> channel) override {
    channel_ = std::move(channel);
    id_ = streams_.add(shared_from_this());
  }

  std::string next() override {
    writing_since_ms_ = 0;
    std::string piece;
    if (keep_alive_wanted_.exchange(false)) piece = ": keep-alive\n\n";
    filter_.last_position = std::max(streams_.folded_position(), services_.projections->position());
    if (next_position_ <= filter_.last_position) {
      if (auto recent = streams_.recent_from(next_position_, streams_.options().batch_events)) {
        send_recent(*recent, piece);
      } else {
        read_store(piece);
      }
    }
    if (!piece.empty()) writing_since_ms_ = streams_.timers().now_ms();
    return piece;
  }

  // What the streams' registry keeps of the last events folded, as it wrote them.
  void send_recent(const std::vector<std::shared_ptr<const StreamedEvent>>& recent, std::string& piece) {
    const std::size_t empty_at = piece.size();
    for (const auto& streamed : recent) {
      if (streamed->event.position > filter_.last_position) break;
      next_position_ = streamed->event.position + 1;
      if (services_.events->wanted(caller_, streamed->event, filter_)) piece += streamed->text;
      if (piece.size() >= streams_.options().max_piece_bytes) break;
    }
    // Nothing kept of a stretch this stream filters out: read on once other connections had their turn.
    if (piece.size() == empty_at && next_position_ <= filter_.last_position) channel_->wake();
  }

  // The store, for a stream further behind than the registry keeps.
  void read_store(std::string& piece) {
    const auto page =
        services_.events->log_events(caller_, next_position_, streams_.options().batch_events, filter_);
    if (!page) return channel_->close(error_event(page.error().message, status_for(page.error().code).code));
    next_position_ = page->resume_at;
    for (const Event& event : page->events) {
      append_sse_event(piece, event);
      if (piece.size() >= streams_.options().max_piece_bytes && &event != &page->events.back()) {
        next_position_ = event.position + 1;  // the rest is read again for the next piece
        break;
      }
    }
    // A read that found nothing it keeps but stopped short (it scans a
    // bounded stretch): read on once other connections had their turn.
    if (page->events.empty() && next_position_ <= filter_.last_position) channel_->wake();
  }

  std::string farewell() override {
    return error_event("the server stops; reconnect later", "SHUTTING_DOWN");
  }

  void on_close() override { streams_.remove(id_); }

  void log_advanced() override { channel_->wake(); }

  void keep_alive_due(TimeMs now_ms) override {
    keep_alive_wanted_ = true;
    const TimeMs stall_ms = streams_.options().stall_timeout_ms;
    const TimeMs cut_off_at = cut_off_at_ms_.load();
    if (cut_off_at != 0) {
      // Cut off, and not even the last words were taken since.
      if (now_ms - cut_off_at >= stall_ms) channel_->abort();
      return;
    }
    const TimeMs writing_since = writing_since_ms_.load();
    if (writing_since != 0 && now_ms - writing_since >= stall_ms) {
      cut_off_at_ms_ = now_ms;
      channel_->close(
          error_event("the client read nothing for too long; reconnect with Last-Event-ID to read on from "
                      "the last event it got",
                      "STREAM_STALLED"));
      return;
    }
    channel_->wake();
  }

 private:
  const Services& services_;
  EventStreams& streams_;
  const Principal caller_;
  LogFilter filter_;                        ///< Connection thread only.
  std::uint64_t next_position_;             ///< Connection thread only.
  std::shared_ptr<StreamChannel> channel_;  ///< Set in open(), before any other thread may call.
  std::uint64_t id_ = 0;
  std::atomic<bool> keep_alive_wanted_{false};
  /// When the piece being written was handed over (timers' time); 0 while nothing is.
  std::atomic<TimeMs> writing_since_ms_{0};
  /// When the stream was cut off for stalling; 0 if it was not.
  std::atomic<TimeMs> cut_off_at_ms_{0};
};

// A position parameter: digits only, at most `max_value`.
std::optional<std::uint64_t> parse_position(std::string_view text, std::uint64_t max_value) {
  if (text.empty() || text.size() > 19 || text.find_first_not_of("0123456789") != std::string_view::npos) {
    return std::nullopt;
  }
  const std::uint64_t value = std::stoull(std::string(text));
  if (value > max_value) return std::nullopt;
  return value;
}

void event_stream(const std::shared_ptr<Call>& call) {
  const QueryParams& query = call->head.query;
  LogFilter filter;
  if (const auto type = query.find("type"); type != query.end()) {
    if (!is_valid_instance_id(type->second)) {
      return call->reply_error(400, "invalid query parameter 'type'", "INVALID_PARAMETER",
                               json{{"type", "must be an event type such as AgentRegistered"}});
    }
    filter.type = type->second;
  }
  if (const auto stream = query.find("stream"); stream != query.end()) {
    if (!parse_stream(stream->second) || stream->second.find('\0') != std::string::npos) {
      return call->reply_error(400, "invalid query parameter 'stream'", "INVALID_PARAMETER",
                               json{{"stream", "must be a stream such as agent:<agent_id>"}});
    }
    filter.stream = stream->second;
  }
  const auto head = call->services.store->head_position();
  if (!head) return call->reply_failure(head.error());
  // Where to start: after Last-Event-ID (a reconnecting EventSource sends it
  // with the URL it first opened, so it wins over from_position), else
  // from_position (0 reads as 1), else after the head: only what comes next.
  std::uint64_t from_position = *head + 1;
  if (const auto last_event_id = call->head.headers.find("Last-Event-ID")) {
    const auto last = parse_position(trim_whitespace(*last_event_id), *head);
    if (!last) {
      return call->reply_error(400, "invalid Last-Event-ID", "INVALID_PARAMETER",
                               json{{"Last-Event-ID", fmt::format("must be the id of an event received, a "
                                                                  "position from 0 to the log's head ({})",
                                                                  *head)}});
    }
    from_position = *last + 1;
  } else if (const auto from = query.find("from_position"); from != query.end()) {
    const auto first = parse_position(from->second, *head + 1);
    if (!first) {
      return call->reply_error(400, "invalid query parameter 'from_position'", "INVALID_PARAMETER",
                               json{{"from_position", fmt::format("must be a position from 0 to the log's "
                                                                  "head + 1 ({})",
                                                                  *head + 1)}});
    }
    from_position = std::max<std::uint64_t>(1, *first);
  }
  Response response;
  response.content_type = "text/event-stream";
  response.headers = {{"Cache-Control", "no-cache"}, {"X-Accel-Buffering", "no"}};
  response.stream =
      std::make_shared<EventStreamSource>(call->services, call->principal, std::move(filter), from_position);
  call->reply(std::move(response));
}

}  // namespace

void add_event_stream(RouteTable& table) {
  table.add("GET", "/api/v1/events/stream", any_node({event_stream, Credential::api_key, Role::viewer}));
}

}  // namespace muster::http::routes
