#include <doctest/doctest.h>

#include "http/json_views.hpp"

using namespace muster;
using namespace muster::http;

namespace {

Event event_with(std::string stream, std::string data, std::string meta, TimeMs time_ms) {
  return Event{42, std::move(stream), 7, "AgentRegistered", time_ms, 1, std::move(data), std::move(meta)};
}

// What replay's fast path must print: the same line as the JSON value.
std::string reference_line(const Event& event) {
  return event_to_json(event).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace

TEST_CASE("replay's event lines equal the event's JSON, byte for byte") {
  const std::vector<Event> events = {
      event_with("77a90abc-0a01-4beb-a06a-3270591bc0d3", R"({"a":1,"b":{"c":[1,"x"]}})",
                 R"({"principal":"key:1","source":"127.0.0.1"})", 1'795'000'000'123),
      // The same second again (the cached time) and a later one.
      event_with("s", "{}", "{}", 1'795'000'000'999),
      event_with("s", "{}", "{}", 1'795'000'001'000),
      // Before 1970: the millisecond part still counts forward from the second.
      event_with("s", "{}", "{}", -1),
      // Strings JSON must escape, and data that is not a stored object.
      event_with("quote\"back\\slash\x01", R"({"k":"v"})", "{}", 0),
      event_with("s", "not json", "[1,2]", 5),
      event_with("s", "{\"broken\"", "", 5),
      event_with("s", "{\"raw\ncontrol\"}", "{}", 5),
      event_with("caf\xc3\xa9 \xff", "{}", "{}", 5),
  };
  for (const Event& event : events) {
    std::string line;
    append_event_jsonl(line, view_of(event));
    CHECK(line == reference_line(event));
  }
}
