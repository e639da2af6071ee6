// What the NATS backend promises beyond the storage contract every backend
// keeps (conformance.test.cpp): several nodes share one log, each reading
// its own replica; a node's writes survive NATS failing and coming back; a
// stream or replica that does not match is refused. Against real nats-server.

#include <doctest/doctest.h>

#include <atomic>
#include <map>
#include <filesystem>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "common/clock.hpp"
#include "eventstore/nats_storage.hpp"
#include "eventstore/rocksdb_storage.hpp"
#include "tests/eventstore/store_helpers.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/nats_server.hpp"
#include "tests/support/temp_dir.hpp"

namespace muster {
namespace {

using namespace std::chrono_literals;
using namespace testing;

/// A node's storage options on `server`'s stream `stream`, its replica in `dir`.
NatsOptions node_options(const NatsServer& server, const std::string& stream, const std::string& node,
                         const std::string& dir) {
  NatsOptions options;
  options.path = dir;
  options.connection.url = server.url();
  options.connection.request_timeout = 2s;
  options.stream = stream;
  options.subject_prefix = stream + "-subjects";
  options.replicas = 1;
  options.node_id = node;
  return options;
}

std::unique_ptr<Storage> open_ok(const NatsOptions& options) {
  auto opened = open_nats_storage(options);
  REQUIRE_MESSAGE(opened.ok(), (opened.ok() ? "" : opened.error().message));
  return std::move(*opened);
}

std::vector<std::string> types_of_events(const std::vector<Event>& events) {
  std::vector<std::string> types;
  for (const auto& event : events) types.push_back(event.type);
  return types;
}

/// Waits (bounded) until `store`'s replica holds `position`.
void wait_for(const EventStore& store, std::uint64_t position) {
  REQUIRE(eventually([&] { return head_of(store) >= position; }, 10s));
}

}  // namespace

TEST_SUITE("nats storage") {
  TEST_CASE("two nodes share one log: each reads the other's appends, in one order, with no gap") {
    NatsServer server;
    TempDir dir;
    auto first = open_ok(node_options(server, "SHARED", "one", dir.file("one")));
    auto second = open_ok(node_options(server, "SHARED", "two", dir.file("two")));

    append_ok(first->events(), "agent:a", kNewStream, {make_event("Registered"), make_event("Connected")});
    wait_for(second->events(), 2);
    auto read = second->events().read_stream("agent:a", 1, 10);
    REQUIRE(read.ok());
    CHECK(types_of_events(*read) == std::vector<std::string>{"Registered", "Connected"});

    SUBCASE("an append with the version a node has not yet seen is a conflict on that node") {
      append_ok(second->events(), "agent:a", 2, {make_event("Heartbeat")});
      // `first` may not have caught up yet: its check must still see version 3.
      auto stale = first->events().append("agent:a", 2, {make_event("Stale")});
      REQUIRE_FALSE(stale.ok());
      CHECK(stale.error().code == ErrorCode::conflict);
      CHECK(head_of(first->events()) == 3);
      CHECK(append_ok(first->events(), "agent:a", 3, {make_event("Fresh")}).first_position == 4);
    }

    SUBCASE("appends from both nodes at once all land, each exactly once, in the same order on both") {
      constexpr int kAppendsPerNode = 200;
      std::atomic<int> failures{0};
      auto writer = [&](Storage& storage, const std::string& node) {
        for (int index = 0; index < kAppendsPerNode; ++index) {
          std::vector<NewEvent> events{make_event(fmt::format("{}-{}", node, index))};
          if (index % 3 == 0) events.push_back(make_event(fmt::format("{}-{}-second", node, index)));
          if (!storage.events().append(fmt::format("{}:{}", node, index), kNewStream, std::move(events))) {
            ++failures;
          }
        }
      };
      std::thread one(writer, std::ref(*first), "one");
      std::thread two(writer, std::ref(*second), "two");
      one.join();
      two.join();
      CHECK(failures.load() == 0);
      const std::uint64_t expected = 2 + 2 * (kAppendsPerNode + (kAppendsPerNode + 2) / 3);
      wait_for(first->events(), expected);
      wait_for(second->events(), expected);
      const auto on_first = read_whole_log(first->events());
      const auto on_second = read_whole_log(second->events());
      REQUIRE(on_first.size() == expected);
      CHECK(on_first == on_second);
      for (std::size_t index = 0; index < on_first.size(); ++index) CHECK(on_first[index].position == index + 1);
      // A two-event append is never split by the other node's events.
      for (std::size_t index = 0; index + 1 < on_first.size(); ++index) {
        const Event& event = on_first[index];
        const auto colon = event.stream.find(':');
        if (event.stream == "agent:a" || event.version != 1) continue;
        if (std::stoi(event.stream.substr(colon + 1)) % 3 != 0) continue;
        CHECK(on_first[index + 1].stream == event.stream);
        CHECK(on_first[index + 1].type == event.type + "-second");
      }
    }
  }

  TEST_CASE("last-seen times one node saves reach every node, the later time winning") {
    NatsServer server;
    TempDir dir;
    auto one_options = node_options(server, "SEEN", "one", dir.file("one"));
    one_options.last_seen_flush_interval = 50ms;
    auto two_options = node_options(server, "SEEN", "two", dir.file("two"));
    two_options.last_seen_flush_interval = 50ms;
    auto one = open_ok(one_options);
    auto two = open_ok(two_options);
    REQUIRE(one->last_seen().save({{"agent-a", 1'000}, {"agent-b", 2'000}}).ok());
    REQUIRE(two->last_seen().save({{"agent-b", 1'500}, {"agent-c", 3'000}}).ok());
    const std::map<std::string, TimeMs> expected{{"agent-a", 1'000}, {"agent-b", 2'000}, {"agent-c", 3'000}};
    CHECK(eventually([&] { return load_last_seen(two->last_seen()) == expected; }, 10s));
    CHECK(eventually([&] { return load_last_seen(one->last_seen()) == expected; }, 10s));
    // A node opened later (a new leader) reads them too, saved on disk or not.
    one->stop();
    two->stop();
    auto three = open_ok(node_options(server, "SEEN", "three", dir.file("three")));
    CHECK(load_last_seen(three->last_seen()) == expected);
  }

  TEST_CASE("a replica is written only through its stream: RocksDB alone opens it read-only, never to write") {
    NatsServer server;
    TempDir dir;
    auto options = node_options(server, "MARKED", "one", dir.file("one"));
    {
      auto storage = open_ok(options);
      append_ok(storage->events(), "a", kNewStream, {make_event("A")});
    }
    RocksDbOptions alone;
    alone.path = options.path;
    auto written = open_rocksdb_storage(alone);
    REQUIRE_FALSE(written.ok());
    CHECK(written.error().code == ErrorCode::invalid_argument);
    CHECK(written.error().message.find("replica of a NATS stream") != std::string::npos);
    alone.read_only = true;
    auto read = open_rocksdb_storage(alone);
    REQUIRE(read.ok());
    CHECK(read_whole_log((*read)->events()).size() == 1);
  }

  TEST_CASE("a node whose replica is gone builds it again from the stream") {
    NatsServer server;
    TempDir dir;
    auto options = node_options(server, "REBUILD", "one", dir.file("one"));
    {
      auto storage = open_ok(options);
      append_ok(storage->events(), "a", kNewStream, {make_event("A"), make_event("B")});
      append_ok(storage->events(), "b", kNewStream, {make_event("C")});
    }
    std::filesystem::remove_all(options.path);
    auto storage = open_ok(options);
    CHECK(head_of(storage->events()) == 3);
    CHECK(read_whole_log(storage->events()).back().type == "C");
    CHECK(append_ok(storage->events(), "a", 2, {make_event("D")}).first_position == 4);
  }

  TEST_CASE("while NATS is down appends answer io_error STORAGE_UNAVAILABLE, and they work again once it is back") {
    NatsServer server;
    TempDir dir;
    auto storage = open_ok(node_options(server, "OUTAGE", "one", dir.file("one")));
    append_ok(storage->events(), "a", kNewStream, {make_event("A")});

    server.kill9();
    auto refused = storage->events().append("a", 1, {make_event("B")});
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().code == ErrorCode::io_error);
    CHECK(refused.error().reason == "STORAGE_UNAVAILABLE");
    // Reads go on from the replica.
    CHECK(read_whole_log(storage->events()).size() == 1);

    server.restart();
    // The outcome of the refused append is unknown to the caller: whatever
    // the version is now, appends at it succeed again without a reopen.
    REQUIRE(eventually(
        [&] {
          auto version = storage->events().stream_version("a");
          return version.ok() && storage->events().append("a", *version, {make_event("C")}).ok();
        },
        20s));
    const auto log = read_whole_log(storage->events());
    CHECK(log.back().type == "C");
    for (std::size_t index = 0; index < log.size(); ++index) CHECK(log[index].position == index + 1);
  }

  TEST_CASE("what does not match is refused with a clear message, and nothing is written") {
    NatsServer server;
    TempDir dir;
    auto options = node_options(server, "MISMATCH", "one", dir.file("one"));
    { open_ok(options); }

    SUBCASE("another replica count than the stream's") {
      auto other = options;
      other.replicas = 3;
      auto opened = open_nats_storage(other);
      REQUIRE_FALSE(opened.ok());
      CHECK(opened.error().code == ErrorCode::invalid_argument);
      CHECK(opened.error().message.find("1 replica(s)") != std::string::npos);
    }
    SUBCASE("a node id that is not a subject token") {
      auto other = options;
      other.node_id = "a.b";
      auto opened = open_nats_storage(other);
      REQUIRE_FALSE(opened.ok());
      CHECK(opened.error().code == ErrorCode::invalid_argument);
    }
    SUBCASE("a replica of an earlier stream of the same name") {
      server.kill9();
      std::filesystem::remove_all(server.store_dir() + "/jetstream");
      server.restart();
      auto opened = open_nats_storage(options);
      REQUIRE_FALSE(opened.ok());
      CHECK(opened.error().code == ErrorCode::invalid_argument);
      CHECK(opened.error().message.find("move the directory away") != std::string::npos);
    }
    SUBCASE("NATS unreachable: the error names the URL") {
      auto other = options;
      other.connection.url = "nats://127.0.0.1:1";
      auto opened = open_nats_storage(other);
      REQUIRE_FALSE(opened.ok());
      CHECK(opened.error().code == ErrorCode::unavailable);
      CHECK(opened.error().message.find("nats://127.0.0.1:1") != std::string::npos);
    }
  }
}

}  // namespace muster
