#pragma once
// Helpers the storage suites share: events to append, appends that must
// succeed, and the stores' contents as plain values to compare.

#include <doctest/doctest.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "eventstore/storage.hpp"

namespace muster::testing {

/// When the storage suites' clocks start.
inline constexpr TimeMs kStartMs = 1'700'000'000'000;

/// The store's head position, which must be readable.
inline std::uint64_t head_of(const EventStore& store) {
  auto head = store.head_position();
  REQUIRE_MESSAGE(head.ok(), (head.ok() ? "" : head.error().message));
  return *head;
}

inline NewEvent make_event(std::string type, std::string data = "{}") {
  NewEvent event;
  event.type = std::move(type);
  event.data = std::move(data);
  event.meta = R"({"request_id":"test"})";
  return event;
}

inline AppendResult append_ok(EventStore& store, const std::string& stream, std::uint64_t expected_version,
                              std::vector<NewEvent> events) {
  auto result = store.append(stream, expected_version, std::move(events));
  REQUIRE_MESSAGE(result.ok(), (result.ok() ? "" : result.error().message));
  return *result;
}

inline std::vector<std::uint64_t> versions_of(const std::vector<Event>& events) {
  std::vector<std::uint64_t> versions;
  for (const auto& event : events) versions.push_back(event.version);
  return versions;
}

inline std::vector<Event> read_whole_log(const EventStore& store) {
  auto events = store.read_log(1, 1'000'000);
  REQUIRE(events.ok());
  return *events;
}

/// Every last-seen entry; each key is visited once.
inline std::map<std::string, TimeMs> load_last_seen(const LastSeenStore& store) {
  std::map<std::string, TimeMs> entries;
  Status loaded = store.for_each([&](std::string_view key, TimeMs time_ms) {
    CHECK(entries.emplace(std::string(key), time_ms).second);
  });
  REQUIRE(loaded.ok());
  return entries;
}

/// A scope's entries in the order `for_each` visits them.
inline std::vector<std::pair<std::string, std::string>> entries_of(const SnapshotStore& store,
                                                                   const std::string& scope) {
  std::vector<std::pair<std::string, std::string>> entries;
  Status visited = store.for_each(scope, [&](std::string_view key, std::string_view value) {
    entries.emplace_back(key, value);
    return true;
  });
  REQUIRE(visited.ok());
  return entries;
}

}  // namespace muster::testing
