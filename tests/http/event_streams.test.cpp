// The live streams' registry: the last events folded, kept once for every
// stream, redacted and written as SSE, bounded, and handed out only where
// they reach back to what a stream asks for.

#include "http/event_streams.hpp"

#include <doctest/doctest.h>

using namespace muster;

namespace {

std::vector<Event> batch(std::uint64_t first, std::uint64_t count, std::size_t data_bytes = 0) {
  std::vector<Event> events;
  for (std::uint64_t position = first; position < first + count; ++position) {
    Event event;
    event.position = position;
    event.stream = "apikey:0123456789abcdef";
    event.version = position;
    event.type = "ApiKeyCreated";
    event.data = R"({"key_id":"0123456789abcdef","secret_sha256":"00ff","pad":")" +
                 std::string(data_bytes, 'x') + R"("})";
    event.meta = "{}";
    events.push_back(event);
  }
  return events;
}

// An open stream that ignores what it is told: the registry keeps events only while one is open.
struct IdleFollower final : http::EventStreams::Follower {
  void log_advanced() override {}
  void keep_alive_due(TimeMs) override {}
};

}  // namespace

TEST_CASE("the streams' recent events: contiguous, redacted, bounded, and only where they reach") {
  ManualTimerService timers;
  http::EventStreamOptions options;
  options.recent_events = 10;
  http::EventStreams streams(timers, options);
  const std::uint64_t follower = streams.add(std::make_shared<IdleFollower>());
  // Nothing folded yet: nothing to read, from here or the store.
  REQUIRE(streams.recent_from(1, 5).has_value());
  CHECK(streams.recent_from(1, 5)->empty());
  streams.on_folded(batch(1, 8));
  streams.on_folded(batch(9, 8));
  CHECK(streams.folded_position() == 16);

  const auto recent = streams.recent_from(7, 3);
  REQUIRE(recent.has_value());
  REQUIRE(recent->size() == 3);
  CHECK((*recent)[0]->event.position == 7);
  CHECK((*recent)[2]->event.position == 9);
  // Redacted once for everyone, and written as the stream sends it.
  CHECK((*recent)[0]->event.data.find("sha256") == std::string::npos);
  CHECK((*recent)[0]->text.rfind("id: 7\nevent: ApiKeyCreated\ndata: {", 0) == 0);
  CHECK((*recent)[0]->text.find("sha256") == std::string::npos);
  // Only the last ten are kept: further back is the store's.
  CHECK_FALSE(streams.recent_from(6, 3).has_value());
  // Past the last folded: nothing yet.
  REQUIRE(streams.recent_from(17, 3).has_value());
  CHECK(streams.recent_from(17, 3)->empty());

  // A gap (which the runner never makes) starts the kept events afresh.
  streams.on_folded(batch(30, 2));
  CHECK_FALSE(streams.recent_from(16, 3).has_value());
  CHECK(streams.recent_from(30, 5)->size() == 2);

  // A batch longer than what is kept: its tail stays.
  streams.on_folded(batch(32, 25));
  CHECK_FALSE(streams.recent_from(46, 1).has_value());
  CHECK(streams.recent_from(47, 100)->size() == 10);

  // With no stream open, nothing is kept: the next stream reads the store first.
  streams.remove(follower);
  streams.on_folded(batch(57, 3));
  CHECK_FALSE(streams.recent_from(57, 3).has_value());
}

TEST_CASE("the streams' recent events hold about recent_bytes, however large the events") {
  ManualTimerService timers;
  http::EventStreamOptions options;
  options.recent_bytes = 64 * 1024;
  http::EventStreams streams(timers, options);
  streams.add(std::make_shared<IdleFollower>());
  streams.on_folded(batch(1, 100, 10'000));
  // About 20 KB each (the event and its text): the last three fit, and no more.
  const auto recent = streams.recent_from(98, 100);
  REQUIRE(recent.has_value());
  CHECK(recent->size() == 3);
  CHECK_FALSE(streams.recent_from(97, 100).has_value());
}
