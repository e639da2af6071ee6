#include "http/event_streams.hpp"

#include <nlohmann/json.hpp>

#include "http/json_views.hpp"
#include "projections/event_queries.hpp"

namespace muster::http {

// muster writes its events' data as compact JSON, so the line holds no line
// break; one that did (a value written by something else) goes through the
// parser's dump, which never has.
void append_sse_event(std::string& out, const Event& event) {
  out += "id: ";
  out += std::to_string(event.position);
  out += "\nevent: ";
  out += event.type;
  out += "\ndata: ";
  const std::size_t data_at = out.size();
  append_event_jsonl(out, view_of(event));
  if (out.find_first_of("\r\n", data_at) != out.size() - 1) {
    out.resize(data_at);
    out += event_to_json(event).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    out += '\n';
  }
  out += '\n';
}

namespace {

std::size_t bytes_of(const StreamedEvent& streamed) {
  const Event& event = streamed.event;
  return sizeof(StreamedEvent) + streamed.text.size() + event.data.size() + event.meta.size() +
         event.stream.size() + event.type.size();
}

}  // namespace

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
void EventStreams::on_folded(const std::vector<Event>& batch) {
  if (batch.empty()) return;
  {
    // With no stream open nothing is kept: a start folding the whole log, or
    // a server nobody streams from, writes no event as SSE. A stream opened
    // later reads the store until it reaches what is kept from then on.
    const bool followed = open_streams() > 0;
    // Of a batch longer than what is kept (a catch-up), only its tail would stay.
    const std::size_t skipped =
        batch.size() > options_.recent_events ? batch.size() - options_.recent_events : 0;
    std::lock_guard lock(recent_mutex_);
    if (!followed || skipped > 0 ||
        (!recent_.empty() && batch.front().position != recent_.back()->event.position + 1)) {
      recent_.clear();
      recent_bytes_ = 0;
    }
    for (auto event = batch.begin() + static_cast<std::ptrdiff_t>(skipped); followed && event != batch.end();
         ++event) {
      auto streamed = std::make_shared<StreamedEvent>();
      streamed->event = redacted(*event);
      append_sse_event(streamed->text, streamed->event);
      recent_bytes_ += bytes_of(*streamed);
      recent_.push_back(std::move(streamed));
    }
    while (!recent_.empty() &&
           (recent_.size() > options_.recent_events || recent_bytes_ > options_.recent_bytes)) {
      recent_bytes_ -= bytes_of(*recent_.front());
      recent_.pop_front();
    }
  }
  const std::uint64_t position = batch.back().position;
  if (position > folded_position_.load()) folded_position_ = position;  // one observer thread: no race
  std::lock_guard lock(mutex_);
  for (auto& [id, follower] : followers_) follower->log_advanced();
}

std::optional<std::vector<std::shared_ptr<const StreamedEvent>>> EventStreams::recent_from(
    std::uint64_t position, std::size_t limit) const {
  std::lock_guard lock(recent_mutex_);
  if (recent_.empty() || position < recent_.front()->event.position) {
    // Nothing kept yet, or not back that far: the store has it (or nothing is there yet).
    if (position > folded_position_.load()) return std::vector<std::shared_ptr<const StreamedEvent>>{};
    return std::nullopt;
  }
  std::vector<std::shared_ptr<const StreamedEvent>> found;
  const std::uint64_t first = recent_.front()->event.position;
  for (std::size_t index = position - first; index < recent_.size() && found.size() < limit; ++index) {
    found.push_back(recent_[index]);
  }
  return found;
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
