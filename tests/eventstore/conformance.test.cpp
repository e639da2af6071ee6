// The storage contract (eventstore/storage.hpp and the three stores), as
// users and the runtime rely on it: every backend runs every case here.

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <iterator>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <ostream>
#include <random>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "common/clock.hpp"
#include "eventstore/memory_storage.hpp"
#include "eventstore/nats_storage.hpp"
#include "eventstore/rocksdb_storage.hpp"
#include "tests/eventstore/store_helpers.hpp"
#include "tests/support/nats_server.hpp"
#include "tests/support/temp_dir.hpp"

namespace muster {
namespace {

using namespace std::chrono_literals;
using testing::TempDir;
using namespace testing;

/// A storage under test, on data that outlives it: `reopen()` opens the same
/// data again, as a restart would. `Data` says where the data lives.
template <class Data>
class StorageFixture {
 public:
  ManualClock clock{kStartMs};  ///< Stamps the events; declared first, so that it outlives the storage.
  Data data;
  std::unique_ptr<Storage> storage;

  StorageFixture() {
    options().clock = &clock;
    open();
  }

  /// The options the next `open()` uses.
  StoreOptions& options() { return data.options(); }

  void open() {
    auto opened = data.open();
    REQUIRE_MESSAGE(opened.ok(), (opened.ok() ? "" : opened.error().message));
    storage = std::move(*opened);
  }
  void stop() { storage->stop(); }
  void reopen() {
    storage.reset();
    open();
  }

  EventStore& events() { return storage->events(); }
  LastSeenStore& last_seen() { return storage->last_seen(); }
  SnapshotStore& snapshots() { return storage->snapshots(); }
};

class RocksDbData {
 public:
  RocksDbData() { options_.path = dir_.file("data"); }
  StoreOptions& options() { return options_.store; }
  Result<std::unique_ptr<Storage>> open() { return open_rocksdb_storage(options_); }

 private:
  TempDir dir_;
  RocksDbOptions options_;
};

class MemoryData {
 public:
  StoreOptions& options() { return options_; }
  Result<std::unique_ptr<Storage>> open() { return open_memory_storage(options_, disk_); }

 private:
  StoreOptions options_;
  std::shared_ptr<MemoryDisk> disk_ = make_memory_disk();
};

/// A stream of its own on the process's one nats-server (single server,
/// one replica), and a replica directory of its own.
class NatsData {
 public:
  NatsData() {
    static std::atomic<int> streams{0};
    const int number = ++streams;
    options_.path = dir_.file("replica");
    options_.connection.url = server().url();
    options_.stream = fmt::format("CONFORMANCE_{}", number);
    options_.subject_prefix = fmt::format("conformance{}", number);
    options_.replicas = 1;
    options_.node_id = "node-1";
  }
  StoreOptions& options() { return options_.store; }
  Result<std::unique_ptr<Storage>> open() { return open_nats_storage(options_); }

 private:
  static NatsServer& server() {
    static NatsServer shared;
    return shared;
  }

  TempDir dir_;
  NatsOptions options_;
};

using RocksDbFixture = StorageFixture<RocksDbData>;
using MemoryFixture = StorageFixture<MemoryData>;
using NatsFixture = StorageFixture<NatsData>;

std::uint64_t version_of(const EventStore& store, const std::string& stream) {
  auto version = store.stream_version(stream);
  REQUIRE_MESSAGE(version.ok(), (version.ok() ? "" : version.error().message));
  return *version;
}

std::vector<std::uint64_t> positions_of(const std::vector<Event>& events) {
  std::vector<std::uint64_t> positions;
  for (const auto& event : events) positions.push_back(event.position);
  return positions;
}

std::vector<std::string> types_of(const std::vector<Event>& events) {
  std::vector<std::string> types;
  for (const auto& event : events) types.push_back(event.type);
  return types;
}

/// What a scan visited, and what it returned.
struct Scanned {
  std::vector<Event> events;
  Result<std::uint64_t> next_position = std::uint64_t{0};
};

/// Scans, stopping after the event at `stop_after` (never, if 0).
Scanned scan(const EventStore& store, std::uint64_t from_position, std::size_t max_count,
             std::uint64_t stop_after = 0) {
  Scanned scanned;
  scanned.next_position = store.scan_log(from_position, max_count, [&](const EventView& event) {
    scanned.events.push_back(event.to_event());
    return event.position != stop_after;
  });
  return scanned;
}

/// Answers of `append_async` calls, each in its slot, and the thread each ran on.
class Outcomes {
 public:
  explicit Outcomes(std::size_t count) : results_(count), threads_(count) {}

  EventStore::AppendCallback slot(std::size_t index) {
    return [this, index](Result<AppendResult> result) {
      std::lock_guard lock(mutex_);
      results_[index].emplace(std::move(result));
      threads_[index] = std::this_thread::get_id();
      changed_.notify_all();
    };
  }

  /// Waits (bounded) for every answer.
  void wait_all() {
    std::unique_lock lock(mutex_);
    REQUIRE(changed_.wait_for(lock, 10s, [&] {
      return std::all_of(results_.begin(), results_.end(),
                         [](const auto& result) { return result.has_value(); });
    }));
  }

  const Result<AppendResult>& operator[](std::size_t index) {
    std::lock_guard lock(mutex_);
    REQUIRE(results_[index].has_value());
    return *results_[index];
  }

  std::thread::id thread_of(std::size_t index) {
    std::lock_guard lock(mutex_);
    return threads_[index];
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::optional<Result<AppendResult>>> results_;
  std::vector<std::thread::id> threads_;
};

/// Keeps the writer thread busy in the `done` callback of an append to
/// `stream` (kNewStream), so that appends made meanwhile queue up and go
/// into the next batch together. Releases it when destroyed.
class HeldWriter {
 public:
  HeldWriter(EventStore& store, const std::string& stream) {
    store.append_async(stream, kNewStream, {make_event("Hold")}, [this](Result<AppendResult> result) {
      std::unique_lock lock(mutex_);
      held_ok_ = result.ok();
      held_ = true;
      changed_.notify_all();
      changed_.wait(lock, [&] { return released_; });
      // Said under the lock: release() waits for it, so this object outlives the callback.
      left_ = true;
      changed_.notify_all();
    });
    std::unique_lock lock(mutex_);
    REQUIRE(changed_.wait_for(lock, 10s, [&] { return held_; }));
    REQUIRE(held_ok_);
  }
  ~HeldWriter() { release(); }
  HeldWriter(const HeldWriter&) = delete;
  HeldWriter& operator=(const HeldWriter&) = delete;

  /// Lets the writer go on, and waits until its callback no longer uses this object.
  void release() {
    std::unique_lock lock(mutex_);
    released_ = true;
    changed_.notify_all();
    if (held_) changed_.wait(lock, [&] { return left_; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  bool held_ = false;
  bool held_ok_ = false;
  bool released_ = false;
  bool left_ = false;
};

/// The events of `log` that belong to `stream`, in log order.
std::vector<Event> filter_stream(const std::vector<Event>& log, const std::string& stream) {
  std::vector<Event> events;
  std::copy_if(log.begin(), log.end(), std::back_inserter(events),
               [&](const Event& event) { return event.stream == stream; });
  return events;
}

}  // namespace
}  // namespace muster

TYPE_TO_STRING(muster::RocksDbFixture);
TYPE_TO_STRING(muster::MemoryFixture);
TYPE_TO_STRING(muster::NatsFixture);

namespace muster {

TEST_SUITE("storage conformance") {
  SCENARIO_TEMPLATE("appending to a new stream and to an existing one", Fixture, RocksDbFixture,
                    MemoryFixture, NatsFixture) {
    Fixture fixture;
    EventStore& store = fixture.events();

    GIVEN("an empty store") {
      CHECK(head_of(store) == 0);
      CHECK(version_of(store, "agent-1") == 0);

      WHEN("two events are appended with kNewStream") {
        auto result =
            append_ok(store, "agent-1", kNewStream,
                      {make_event("AgentRegistered", R"({"host":"a"})"), make_event("AgentConnected")});

        THEN("they get positions 1 and 2, versions 1 and 2, and the clock's time") {
          CHECK(result.first_position == 1);
          CHECK(result.last_position == 2);
          CHECK(result.stream_version == 2);
          CHECK(result.time_ms == kStartMs);
          CHECK(head_of(store) == 2);
          CHECK(version_of(store, "agent-1") == 2);

          auto events = store.read_stream("agent-1", 1, 10);
          REQUIRE(events.ok());
          REQUIRE(events->size() == 2);
          const Event& first = (*events)[0];
          CHECK(first.position == 1);
          CHECK(first.stream == "agent-1");
          CHECK(first.version == 1);
          CHECK(first.type == "AgentRegistered");
          CHECK(first.data == R"({"host":"a"})");
          CHECK(first.meta == R"({"request_id":"test"})");
          CHECK(first.schema_version == 1);
          CHECK(first.time_ms == kStartMs);
          CHECK((*events)[1].version == 2);
        }

        AND_WHEN("the clock moves and the stream is appended to at its version") {
          fixture.clock.advance_ms(1500);
          NewEvent versioned = make_event("AgentDisconnected");
          versioned.schema_version = 3;
          auto next = append_ok(store, "agent-1", 2, {versioned});
          THEN("the log and the stream continue where they were") {
            CHECK(next.first_position == 3);
            CHECK(next.last_position == 3);
            CHECK(next.stream_version == 3);
            CHECK(next.time_ms == kStartMs + 1500);
            auto events = store.read_stream("agent-1", 3, 10);
            REQUIRE(events.ok());
            REQUIRE(events->size() == 1);
            CHECK((*events)[0].schema_version == 3);
            CHECK((*events)[0].time_ms == kStartMs + 1500);
          }
        }
      }
    }
  }

  SCENARIO_TEMPLATE("an expected-version mismatch is a conflict and writes nothing", Fixture, RocksDbFixture,
                    MemoryFixture, NatsFixture) {
    Fixture fixture;
    EventStore& store = fixture.events();
    append_ok(store, "agent-1", kNewStream, {make_event("A"), make_event("B")});

    WHEN("appending with a stale expected version") {
      auto result = store.append("agent-1", 1, {make_event("C")});
      THEN("the answer is conflict naming the stream, the expected and the actual version") {
        REQUIRE_FALSE(result.ok());
        CHECK(result.error().code == ErrorCode::conflict);
        CHECK(result.error().message.find("agent-1") != std::string::npos);
        CHECK(result.error().message.find("1") != std::string::npos);
        CHECK(result.error().message.find("2") != std::string::npos);
      }
      THEN("neither the log nor the stream changed") {
        CHECK(head_of(store) == 2);
        CHECK(version_of(store, "agent-1") == 2);
        CHECK(read_whole_log(store).size() == 2);
      }
    }
    WHEN("appending ahead of the stream's version") {
      auto result = store.append("agent-1", 3, {make_event("C")});
      THEN("that is a conflict too") {
        REQUIRE_FALSE(result.ok());
        CHECK(result.error().code == ErrorCode::conflict);
        CHECK(head_of(store) == 2);
      }
    }
    WHEN("creating a stream that exists") {
      auto result = store.append("agent-1", kNewStream, {make_event("C")});
      THEN("that is a conflict too") {
        REQUIRE_FALSE(result.ok());
        CHECK(result.error().code == ErrorCode::conflict);
        CHECK(head_of(store) == 2);
      }
    }
    WHEN("appending to a stream that does not exist with a non-zero version") {
      auto result = store.append("agent-2", 3, {make_event("C")});
      THEN("it is a conflict and the stream stays unknown") {
        REQUIRE_FALSE(result.ok());
        CHECK(result.error().code == ErrorCode::conflict);
        CHECK(version_of(store, "agent-2") == 0);
        CHECK(store.read_stream("agent-2", 1, 10)->empty());
      }
    }
  }

  TEST_CASE_TEMPLATE("appends queued together are checked against the heads as earlier ones leave them",
                     Fixture, RocksDbFixture, MemoryFixture, NatsFixture) {
    Fixture fixture;
    EventStore& store = fixture.events();
    Outcomes results(4);
    {
      // The writer is held, so all four go into one batch (group commit).
      HeldWriter held(store, "held");
      store.append_async("s", kNewStream, {make_event("A")}, results.slot(0));
      store.append_async("s", kNewStream, {make_event("B1"), make_event("B2")}, results.slot(1));
      store.append_async("s", 1, {make_event("C"), make_event("D")}, results.slot(2));
      store.append_async("t", kNewStream, {make_event("E")}, results.slot(3));
    }
    results.wait_all();

    REQUIRE(results[0].ok());
    CHECK(results[0]->first_position == 2);
    REQUIRE_FALSE(results[1].ok());
    CHECK(results[1].error().code == ErrorCode::conflict);
    REQUIRE(results[2].ok());
    CHECK(results[2]->first_position == 3);
    CHECK(results[2]->last_position == 4);
    CHECK(results[2]->stream_version == 3);
    REQUIRE(results[3].ok());
    CHECK(results[3]->first_position == 5);
    CHECK(results[3]->stream_version == 1);
    THEN("nothing of the conflicting append was written") {
      const auto log = read_whole_log(store);
      CHECK(positions_of(log) == std::vector<std::uint64_t>{1, 2, 3, 4, 5});
      CHECK(types_of(log) == std::vector<std::string>{"Hold", "A", "C", "D", "E"});
      CHECK(types_of(*store.read_stream("s", 1, 10)) == std::vector<std::string>{"A", "C", "D"});
      CHECK(version_of(store, "s") == 3);
      CHECK(head_of(store) == 5);
    }
    THEN("each answer ran on the writer thread") {
      for (std::size_t index = 0; index < 4; ++index)
        CHECK(results.thread_of(index) != std::this_thread::get_id());
    }
  }

  TEST_CASE_TEMPLATE("malformed appends are invalid_argument and write nothing", Fixture, RocksDbFixture,
                     MemoryFixture, NatsFixture) {
    Fixture fixture;
    EventStore& store = fixture.events();
    CHECK(store.append("agent-1", kNewStream, {}).error().code == ErrorCode::invalid_argument);
    CHECK(store.append("", kNewStream, {make_event("A")}).error().code == ErrorCode::invalid_argument);
    CHECK(store.append(std::string("a\0b", 3), kNewStream, {make_event("A")}).error().code ==
          ErrorCode::invalid_argument);
    CHECK(head_of(store) == 0);
    CHECK(read_whole_log(store).empty());
    CHECK(store.read_stream(std::string("a\0b", 3), 1, 10)->empty());
    CHECK(version_of(store, std::string("a\0b", 3)) == 0);
  }

  SCENARIO_TEMPLATE("reading streams and the log", Fixture, RocksDbFixture, MemoryFixture, NatsFixture) {
    Fixture fixture;
    EventStore& store = fixture.events();
    // Interleave two streams: a gets positions 1, 2, 4, 5, 6; b gets 3 and 7.
    append_ok(store, "a", kNewStream, {make_event("a1"), make_event("a2")});
    append_ok(store, "b", kNewStream, {make_event("b1")});
    append_ok(store, "a", 2, {make_event("a3"), make_event("a4"), make_event("a5")});
    append_ok(store, "b", 1, {make_event("b2")});
    // A stream whose id extends another's must not leak into it.
    append_ok(store, "ab", kNewStream, {make_event("ab1")});

    WHEN("reading a stream from a version") {
      auto events = store.read_stream("a", 3, 100);
      REQUIRE(events.ok());
      THEN("only that stream's events from that version come back, in order") {
        CHECK(versions_of(*events) == std::vector<std::uint64_t>{3, 4, 5});
        CHECK(positions_of(*events) == std::vector<std::uint64_t>{4, 5, 6});
        CHECK((*events)[0].type == "a3");
      }
    }
    WHEN("reading a stream with a limit") {
      auto events = store.read_stream("a", 1, 2);
      REQUIRE(events.ok());
      CHECK(versions_of(*events) == std::vector<std::uint64_t>{1, 2});
    }
    WHEN("reading a stream from version 0, past its end, an unknown stream, or nothing") {
      CHECK(versions_of(*store.read_stream("a", 0, 2)) == std::vector<std::uint64_t>{1, 2});
      CHECK(store.read_stream("a", 6, 10)->empty());
      CHECK(store.read_stream("a", std::numeric_limits<std::uint64_t>::max(), 10)->empty());
      CHECK(store.read_stream("nobody", 1, 10)->empty());
      CHECK(store.read_stream("a", 1, 0)->empty());
    }
    WHEN("reading the log from a position with a limit") {
      auto events = store.read_log(2, 3);
      REQUIRE(events.ok());
      CHECK(positions_of(*events) == std::vector<std::uint64_t>{2, 3, 4});
      CHECK((*events)[1].stream == "b");
    }
    WHEN("reading the log from 0, past the head, or with a zero limit") {
      CHECK(positions_of(*store.read_log(0, 2)) == std::vector<std::uint64_t>{1, 2});
      CHECK(store.read_log(9, 10)->empty());
      CHECK(store.read_log(1, 0)->empty());
      CHECK(store.read_log(std::numeric_limits<std::uint64_t>::max(), 10)->empty());
    }
    WHEN("scanning the whole log") {
      auto scanned = scan(store, 1, 100);
      THEN("it sees what read_log reads, and returns the position after the head") {
        CHECK(scanned.events == read_whole_log(store));
        REQUIRE(scanned.next_position.ok());
        CHECK(*scanned.next_position == 9);
      }
    }
    WHEN("scanning from a position with a limit") {
      auto scanned = scan(store, 2, 3);
      CHECK(positions_of(scanned.events) == std::vector<std::uint64_t>{2, 3, 4});
      CHECK(*scanned.next_position == 5);
      AND_WHEN("scanning on from where it stopped") {
        auto rest = scan(store, *scanned.next_position, 100);
        CHECK(positions_of(rest.events) == std::vector<std::uint64_t>{5, 6, 7, 8});
        CHECK(*rest.next_position == 9);
      }
    }
    WHEN("the visitor stops the scan") {
      auto scanned = scan(store, 1, 100, /*stop_after=*/3);
      THEN("the event it stopped at was the last visited, and the scan goes on after it") {
        CHECK(positions_of(scanned.events) == std::vector<std::uint64_t>{1, 2, 3});
        CHECK(*scanned.next_position == 4);
      }
    }
    WHEN("scanning from 0, past the head, or with a zero limit") {
      auto from_zero = scan(store, 0, 2);
      CHECK(positions_of(from_zero.events) == std::vector<std::uint64_t>{1, 2});
      CHECK(*from_zero.next_position == 3);
      auto past_head = scan(store, 20, 10);
      CHECK(past_head.events.empty());
      CHECK(*past_head.next_position == 20);
      auto nothing = scan(store, 2, 0);
      CHECK(nothing.events.empty());
      CHECK(*nothing.next_position == 2);
      auto at_end = scan(store, std::numeric_limits<std::uint64_t>::max(), 10);
      CHECK(at_end.events.empty());
      CHECK(*at_end.next_position == std::numeric_limits<std::uint64_t>::max());
    }
    WHEN("scanning more than a backend reads at once") {
      for (std::uint64_t version = 2; version < 1200; version += 100) {
        std::vector<NewEvent> events;
        for (std::uint64_t event_idx = 1; event_idx <= 100; ++event_idx) {
          events.push_back(make_event("b" + std::to_string(version + event_idx)));
        }
        append_ok(store, "b", version, std::move(events));
      }
      auto scanned = scan(store, 5, 1000);
      CHECK(scanned.events.size() == 1000);
      CHECK(scanned.events.front().position == 5);
      CHECK(scanned.events.back().position == 1004);
      CHECK(*scanned.next_position == 1005);
      CHECK(scan(store, 1, 100'000).events == read_whole_log(store));
    }
  }

  SCENARIO_TEMPLATE("waiting for the log to grow", Fixture, RocksDbFixture, MemoryFixture, NatsFixture) {
    Fixture fixture;
    EventStore& store = fixture.events();
    append_ok(store, "a", kNewStream, {make_event("a1")});

    WHEN("another thread appends") {
      std::thread appender([&] { append_ok(store, "a", 1, {make_event("a2")}); });
      auto head = store.wait_for_position(1, 10s);
      appender.join();
      THEN("the waiter wakes with the new head") {
        REQUIRE(head.ok());
        CHECK(*head == 2);
      }
    }
    WHEN("the head is already past the position") {
      auto head = store.wait_for_position(0, 10s);
      REQUIRE(head.ok());
      CHECK(*head == 1);
    }
    WHEN("nothing is appended") {
      const auto started = std::chrono::steady_clock::now();
      auto head = store.wait_for_position(1, 120ms);
      THEN("waiting gives up at the timeout with the head unchanged") {
        REQUIRE(head.ok());
        CHECK(*head == 1);
        CHECK(std::chrono::steady_clock::now() - started >= 100ms);
      }
    }
    WHEN("the storage stops while a thread waits") {
      std::optional<Result<std::uint64_t>> answer;
      std::thread waiter([&] { answer.emplace(store.wait_for_position(1, 60s)); });
      fixture.stop();
      waiter.join();
      THEN("the waiter returns at once with unavailable") {
        REQUIRE(answer.has_value());
        REQUIRE_FALSE(answer->ok());
        CHECK(answer->error().code == ErrorCode::unavailable);
      }
    }
  }

  SCENARIO_TEMPLATE("stopping a storage", Fixture, RocksDbFixture, MemoryFixture, NatsFixture) {
    Fixture fixture;
    EventStore& store = fixture.events();

    GIVEN("appends queued just before stop()") {
      constexpr int kQueued = 50;
      std::atomic<int> acknowledged{0};
      std::atomic<int> answered{0};
      for (std::uint64_t version = 0; version < kQueued; ++version) {
        store.append_async("a", version, {make_event("A")}, [&](Result<AppendResult> result) {
          if (result.ok()) ++acknowledged;
          ++answered;
        });
      }
      fixture.stop();

      THEN("every one completed before stop() returned") {
        CHECK(answered.load() == kQueued);
        CHECK(acknowledged.load() == kQueued);
      }
      THEN("later appends, reads and writes are unavailable, and stop() is idempotent") {
        CHECK(store.append("a", kQueued, {make_event("late")}).error().code == ErrorCode::unavailable);
        bool answered_unavailable = false;
        std::thread::id answered_on;
        store.append_async("a", kQueued, {make_event("late")}, [&](Result<AppendResult> result) {
          answered_unavailable = !result.ok() && result.error().code == ErrorCode::unavailable;
          answered_on = std::this_thread::get_id();
        });
        CHECK(answered_unavailable);
        CHECK(answered_on == std::this_thread::get_id());
        CHECK(store.read_log(1, 10).error().code == ErrorCode::unavailable);
        CHECK(store.read_stream("a", 1, 10).error().code == ErrorCode::unavailable);
        CHECK(store.scan_log(1, 10, [](const EventView&) { return true; }).error().code ==
              ErrorCode::unavailable);
        CHECK(store.head_position().error().code == ErrorCode::unavailable);
        CHECK(store.stream_version("a").error().code == ErrorCode::unavailable);
        CHECK(store.wait_for_position(kQueued, 10s).error().code == ErrorCode::unavailable);
        CHECK(fixture.last_seen().save({{"a", 1}}).error().code == ErrorCode::unavailable);
        CHECK(fixture.last_seen().for_each([](std::string_view, TimeMs) {}).error().code ==
              ErrorCode::unavailable);
        SnapshotStore& snapshots = fixture.snapshots();
        CHECK(snapshots.write("s", {{"k", "v"}}, 1).error().code == ErrorCode::unavailable);
        CHECK(snapshots.get("s", "k").error().code == ErrorCode::unavailable);
        CHECK(snapshots.position("s").error().code == ErrorCode::unavailable);
        CHECK(snapshots.for_each("s", [](std::string_view, std::string_view) { return true; }).error().code ==
              ErrorCode::unavailable);
        CHECK(snapshots.clear("s").error().code == ErrorCode::unavailable);
        fixture.stop();
        store.stop();
      }
      THEN("what was acknowledged is there after reopening") {
        fixture.reopen();
        CHECK(head_of(fixture.events()) == kQueued);
        CHECK(version_of(fixture.events(), "a") == kQueued);
      }
    }
    GIVEN("only the event store is stopped") {
      append_ok(store, "a", kNewStream, {make_event("A")});
      store.stop();
      store.stop();
      THEN("the log refuses appends and reads, and the storage still stops") {
        CHECK(store.append("a", 1, {make_event("B")}).error().code == ErrorCode::unavailable);
        CHECK(store.read_log(1, 10).error().code == ErrorCode::unavailable);
        CHECK(store.head_position().error().code == ErrorCode::unavailable);
        fixture.stop();
        fixture.reopen();
        CHECK(head_of(fixture.events()) == 1);
      }
    }
    GIVEN("threads calling every store while it stops") {
      append_ok(store, "a", kNewStream, {make_event("A")});
      std::atomic<bool> done{false};
      std::atomic<int> unexpected{0};
      auto expect = [&](ErrorCode code) {
        if (code != ErrorCode::unavailable) ++unexpected;
      };
      std::vector<std::thread> callers;
      for (int caller_idx = 0; caller_idx < 4; ++caller_idx) {
        callers.emplace_back([&, caller_idx] {
          for (std::uint64_t round = 0; !done; ++round) {
            if (auto read = store.read_log(1, 10); !read) expect(read.error().code);
            if (auto head = store.head_position(); !head) expect(head.error().code);
            if (auto scanned = store.scan_log(1, 10, [](const EventView&) { return true; }); !scanned) {
              expect(scanned.error().code);
            }
            if (Status saved = fixture.last_seen().save({{"k" + std::to_string(caller_idx), 1}}); !saved) {
              expect(saved.error().code);
            }
            // A scope of its own: what races here is stop(), not the callers among themselves.
            const std::string scope = "s" + std::to_string(caller_idx);
            if (Status written = fixture.snapshots().write(scope, {{"k", std::to_string(round)}}, round);
                !written) {
              expect(written.error().code);
            }
            if (auto got = fixture.snapshots().get(scope, "k"); !got) expect(got.error().code);
            store.append_async("c" + std::to_string(caller_idx), round, {make_event("C")},
                               [&](Result<AppendResult> result) {
                                 if (!result && result.error().code != ErrorCode::conflict) {
                                   expect(result.error().code);
                                 }
                               });
          }
        });
      }
      std::this_thread::sleep_for(20ms);  // let the callers get going
      fixture.stop();
      done = true;
      for (auto& caller : callers) caller.join();
      THEN("each call either worked or answered unavailable") {
        CHECK(unexpected.load() == 0);
      }
    }
  }

  TEST_CASE_TEMPLATE("a second storage on the same data is unavailable until the first stops", Fixture,
                     RocksDbFixture, MemoryFixture, NatsFixture) {
    Fixture fixture;
    append_ok(fixture.events(), "a", kNewStream, {make_event("A")});
    auto second = fixture.data.open();
    REQUIRE_FALSE(second.ok());
    CHECK(second.error().code == ErrorCode::unavailable);
    fixture.stop();
    auto after_stop = fixture.data.open();
    REQUIRE(after_stop.ok());
    CHECK(head_of((*after_stop)->events()) == 1);
  }

  TEST_CASE_TEMPLATE("a saturated writer refuses appends at once with STORE_OVERLOADED", Fixture,
                     RocksDbFixture, MemoryFixture, NatsFixture) {
    Fixture fixture;
    fixture.options().max_pending_appends = 2;
    fixture.reopen();
    EventStore& store = fixture.events();
    Outcomes results(3);
    {
      HeldWriter held(store, "held");
      store.append_async("a", kNewStream, {make_event("A")}, results.slot(0));
      store.append_async("b", kNewStream, {make_event("B")}, results.slot(1));
      store.append_async("c", kNewStream, {make_event("C")}, results.slot(2));
      REQUIRE_FALSE(results[2].ok());
      CHECK(results[2].error().code == ErrorCode::unavailable);
      CHECK(results[2].error().reason == "STORE_OVERLOADED");
      CHECK(results.thread_of(2) == std::this_thread::get_id());
    }
    results.wait_all();
    CHECK(results[0].ok());
    CHECK(results[1].ok());
    CHECK(version_of(store, "c") == 0);
  }

  TEST_CASE_TEMPLATE("time stamps come from the clock and never go back", Fixture, RocksDbFixture,
                     MemoryFixture, NatsFixture) {
    Fixture fixture;
    EventStore& store = fixture.events();
    CHECK(append_ok(store, "a", kNewStream, {make_event("A")}).time_ms == kStartMs);
    fixture.clock.advance_ms(250);
    CHECK(append_ok(store, "a", 1, {make_event("B")}).time_ms == kStartMs + 250);
    fixture.clock.set_ms(kStartMs - 60'000);
    CHECK(append_ok(store, "a", 2, {make_event("C")}).time_ms == kStartMs + 250);
    fixture.reopen();
    CHECK(append_ok(fixture.events(), "a", 3, {make_event("D")}).time_ms == kStartMs + 250);
    fixture.clock.set_ms(kStartMs + 1000);
    CHECK(append_ok(fixture.events(), "a", 4, {make_event("E")}).time_ms == kStartMs + 1000);
    const auto log = read_whole_log(fixture.events());
    CHECK(std::is_sorted(log.begin(), log.end(),
                         [](const Event& left, const Event& right) { return left.time_ms < right.time_ms; }));
  }

  SCENARIO_TEMPLATE("reopening a storage", Fixture, RocksDbFixture, MemoryFixture, NatsFixture) {
    Fixture fixture;
    append_ok(fixture.events(), "a", kNewStream, {make_event("a1"), make_event("a2")});
    append_ok(fixture.events(), "b", kNewStream, {make_event("b1")});
    REQUIRE(fixture.last_seen().save({{"a", kStartMs + 5}}).ok());
    fixture.reopen();
    const std::vector<Event> before = read_whole_log(fixture.events());

    WHEN("it is opened again, with a clock that went backwards") {
      fixture.clock.set_ms(kStartMs - 60'000);
      fixture.reopen();
      EventStore& store = fixture.events();
      THEN("the events, heads and last-seen times are all there") {
        CHECK(read_whole_log(store) == before);
        CHECK(head_of(store) == 3);
        CHECK(version_of(store, "a") == 2);
        CHECK(version_of(store, "b") == 1);
        CHECK(load_last_seen(fixture.last_seen()) == std::map<std::string, TimeMs>{{"a", kStartMs + 5}});
      }
      THEN("appends continue at the right position and version, without time going back") {
        CHECK(store.append("a", 1, {make_event("stale")}).error().code == ErrorCode::conflict);
        auto result = append_ok(store, "a", 2, {make_event("a3")});
        CHECK(result.first_position == 4);
        CHECK(result.stream_version == 3);
        CHECK(result.time_ms == kStartMs);
      }
    }
  }

  TEST_CASE_TEMPLATE(
      "concurrent appends from 8 threads to shared and own streams: no gap, no duplicate, all durable",
      Fixture, RocksDbFixture, MemoryFixture, NatsFixture) {
    constexpr int kThreads = 8;
    constexpr int kOwnAppends = 200;
    constexpr int kSharedAppends = 25;
    Fixture fixture;
    EventStore& store = fixture.events();

    struct Acknowledged {
      std::string stream;
      AppendResult result;
      std::string data;
    };
    std::mutex acknowledged_mutex;
    std::vector<Acknowledged> acknowledged;
    std::atomic<int> failures{0};
    std::atomic<bool> appending{true};
    // The wall clock jitters back and forth meanwhile: stamps must not follow it back.
    std::thread clock_jitter([&] {
      std::mt19937 random(7);
      while (appending) {
        fixture.clock.advance_ms(static_cast<TimeMs>(random() % 21) - 10);
        std::this_thread::yield();
      }
    });
    std::vector<std::thread> appenders;
    for (int thread_idx = 0; thread_idx < kThreads; ++thread_idx) {
      appenders.emplace_back([&, thread_idx] {
        const std::string own = "agent-" + std::to_string(thread_idx);
        auto record = [&](const std::string& stream, const AppendResult& result, const std::string& data) {
          std::lock_guard lock(acknowledged_mutex);
          acknowledged.push_back({stream, result, data});
        };
        for (int append_idx = 0; append_idx < kOwnAppends; ++append_idx) {
          const std::string data = fmt::format(R"({{"thread":{},"own":{}}})", thread_idx, append_idx);
          auto result = store.append(own, append_idx, {make_event("Beat", data)});
          if (!result.ok() || result->stream_version != static_cast<std::uint64_t>(append_idx) + 1) {
            ++failures;
            continue;
          }
          record(own, *result, data);
          if (append_idx % (kOwnAppends / kSharedAppends) != 0) continue;
          // The shared stream: read its version, append at it, retry on conflict.
          const std::string shared_data =
              fmt::format(R"({{"thread":{},"shared":{}}})", thread_idx, append_idx);
          for (;;) {
            auto version = store.stream_version("shared");
            if (!version) {
              ++failures;
              break;
            }
            auto shared = store.append("shared", *version, {make_event("Shared", shared_data)});
            if (shared.ok()) {
              record("shared", *shared, shared_data);
              break;
            }
            if (shared.error().code != ErrorCode::conflict) {
              ++failures;
              break;
            }
          }
        }
      });
    }
    for (auto& appender : appenders) appender.join();
    appending = false;
    clock_jitter.join();
    REQUIRE(failures.load() == 0);

    constexpr std::uint64_t kTotal = kThreads * (kOwnAppends + kSharedAppends);
    REQUIRE(acknowledged.size() == kTotal);
    CHECK(head_of(store) == kTotal);
    auto check_log = [&](const EventStore& checked) {
      const auto log = read_whole_log(checked);
      REQUIRE(log.size() == kTotal);
      std::map<std::string, std::uint64_t> last_version;
      TimeMs last_time = 0;
      for (std::uint64_t event_idx = 0; event_idx < log.size(); ++event_idx) {
        const Event& event = log[event_idx];
        CHECK(event.position == event_idx + 1);
        CHECK(event.version == last_version[event.stream] + 1);
        CHECK(event.time_ms >= last_time);
        last_version[event.stream] = event.version;
        last_time = event.time_ms;
      }
      CHECK(last_version.size() == kThreads + 1);
      for (const auto& [stream, version] : last_version) {
        CHECK(version == (stream == "shared" ? kThreads * kSharedAppends : kOwnAppends));
        CHECK(version_of(checked, stream) == version);
        auto read = checked.read_stream(stream, 1, 1'000'000);
        REQUIRE(read.ok());
        CHECK(*read == filter_stream(log, stream));
      }
      for (const auto& append : acknowledged) {
        CHECK(append.result.first_position == append.result.last_position);
        const Event& event = log[append.result.first_position - 1];
        CHECK(event.stream == append.stream);
        CHECK(event.version == append.result.stream_version);
        CHECK(event.time_ms == append.result.time_ms);
        CHECK(event.data == append.data);
      }
    };
    check_log(store);
    fixture.reopen();
    check_log(fixture.events());
  }

  SCENARIO_TEMPLATE("last-seen times", Fixture, RocksDbFixture, MemoryFixture, NatsFixture) {
    Fixture fixture;
    REQUIRE(load_last_seen(fixture.last_seen()).empty());

    WHEN("times are saved, overwritten, and an empty save is made") {
      REQUIRE(fixture.last_seen().save({{"a", 100}, {"b", 200}}).ok());
      REQUIRE(fixture.last_seen().save({{"a", 300}}).ok());
      REQUIRE(fixture.last_seen().save({}).ok());
      THEN("each key has its last time, and the log is untouched") {
        CHECK(load_last_seen(fixture.last_seen()) == std::map<std::string, TimeMs>{{"a", 300}, {"b", 200}});
        CHECK(head_of(fixture.events()) == 0);
      }
      AND_WHEN("the storage is reopened") {
        fixture.reopen();
        THEN("they are all there") {
          CHECK(load_last_seen(fixture.last_seen()) == std::map<std::string, TimeMs>{{"a", 300}, {"b", 200}});
        }
      }
    }
  }

  SCENARIO_TEMPLATE("snapshots", Fixture, RocksDbFixture, MemoryFixture, NatsFixture) {
    Fixture fixture;
    SnapshotStore& snapshots = fixture.snapshots();

    GIVEN("nothing written") {
      CHECK(snapshots.position("agents")->has_value() == false);
      CHECK(snapshots.get("agents", "a")->has_value() == false);
      CHECK(entries_of(snapshots, "agents").empty());
      CHECK(snapshots.clear("agents").ok());
    }
    GIVEN("a scope written with a position") {
      REQUIRE(snapshots.write("agents", {{"b", "2"}, {"a", "1"}, {"c", ""}}, 7).ok());

      THEN("its entries and position read back, in key order") {
        CHECK(snapshots.get("agents", "a")->value() == "1");
        CHECK(snapshots.get("agents", "c")->value().empty());
        CHECK(snapshots.get("agents", "d")->has_value() == false);
        CHECK(snapshots.position("agents")->value() == 7);
        CHECK(entries_of(snapshots, "agents") ==
              std::vector<std::pair<std::string, std::string>>{{"a", "1"}, {"b", "2"}, {"c", ""}});
      }
      THEN("a visitor may stop early") {
        std::vector<std::string> keys;
        REQUIRE(snapshots
                    .for_each("agents",
                              [&](std::string_view key, std::string_view) {
                                keys.emplace_back(key);
                                return keys.size() < 2;
                              })
                    .ok());
        CHECK(keys == std::vector<std::string>{"a", "b"});
      }
      WHEN("it is written again without a position") {
        REQUIRE(snapshots.write("agents", {{"b", "two"}, {"d", "4"}}, std::nullopt).ok());
        THEN("entries with the same keys are replaced, others added, and the position kept") {
          CHECK(entries_of(snapshots, "agents") == std::vector<std::pair<std::string, std::string>>{
                                                       {"a", "1"}, {"b", "two"}, {"c", ""}, {"d", "4"}});
          CHECK(snapshots.position("agents")->value() == 7);
        }
      }
      WHEN("only its position is written") {
        REQUIRE(snapshots.write("agents", {}, 9).ok());
        CHECK(snapshots.position("agents")->value() == 9);
        CHECK(entries_of(snapshots, "agents").size() == 3);
      }
      WHEN("scopes whose names extend or prefix it are written and one is cleared") {
        REQUIRE(snapshots.write("agent", {{"a", "short"}}, 1).ok());
        REQUIRE(snapshots.write("agents2", {{"a", "long"}}, 2).ok());
        REQUIRE(snapshots.write(std::string("agents\1"), {{"a", "one"}}, 3).ok());
        THEN("each sees only its own") {
          CHECK(entries_of(snapshots, "agent") ==
                std::vector<std::pair<std::string, std::string>>{{"a", "short"}});
          CHECK(entries_of(snapshots, "agents2") ==
                std::vector<std::pair<std::string, std::string>>{{"a", "long"}});
          CHECK(entries_of(snapshots, "agents").size() == 3);
          CHECK(snapshots.position("agent")->value() == 1);
          CHECK(snapshots.position(std::string("agents\1"))->value() == 3);
        }
        AND_WHEN("one is cleared") {
          REQUIRE(snapshots.clear("agents").ok());
          THEN("it is empty, without a position, and the others are intact") {
            CHECK(entries_of(snapshots, "agents").empty());
            CHECK(snapshots.position("agents")->has_value() == false);
            CHECK(snapshots.get("agents", "a")->has_value() == false);
            CHECK(snapshots.get("agent", "a")->value() == "short");
            CHECK(snapshots.get("agents2", "a")->value() == "long");
            CHECK(snapshots.get(std::string("agents\1"), "a")->value() == "one");
            CHECK(snapshots.position("agents2")->value() == 2);
          }
          AND_WHEN("it is written again") {
            REQUIRE(snapshots.write("agents", {{"z", "26"}}, 10).ok());
            CHECK(entries_of(snapshots, "agents") ==
                  std::vector<std::pair<std::string, std::string>>{{"z", "26"}});
            CHECK(snapshots.position("agents")->value() == 10);
          }
        }
      }
      WHEN("the storage is reopened") {
        fixture.reopen();
        SnapshotStore& reopened = fixture.snapshots();
        THEN("the scope is as written") {
          CHECK(entries_of(reopened, "agents") ==
                std::vector<std::pair<std::string, std::string>>{{"a", "1"}, {"b", "2"}, {"c", ""}});
          CHECK(reopened.position("agents")->value() == 7);
        }
      }
    }
    GIVEN("keys and values with any bytes") {
      const std::string key("k\0\xff", 3);
      const std::string value("\0\1\2", 3);
      REQUIRE(snapshots.write("bytes", {{key, value}, {"k", "plain"}}, std::nullopt).ok());
      CHECK(snapshots.get("bytes", key)->value() == value);
      CHECK(entries_of(snapshots, "bytes") ==
            std::vector<std::pair<std::string, std::string>>{{"k", "plain"}, {key, value}});
    }
    GIVEN("scope names that are empty or contain NUL") {
      for (const std::string& scope : {std::string(), std::string("a\0b", 3)}) {
        CHECK(snapshots.write(scope, {{"k", "v"}}, 1).error().code == ErrorCode::invalid_argument);
        CHECK(snapshots.get(scope, "k").error().code == ErrorCode::invalid_argument);
        CHECK(snapshots.position(scope).error().code == ErrorCode::invalid_argument);
        CHECK(
            snapshots.for_each(scope, [](std::string_view, std::string_view) { return true; }).error().code ==
            ErrorCode::invalid_argument);
        CHECK(snapshots.clear(scope).error().code == ErrorCode::invalid_argument);
      }
      CHECK(entries_of(snapshots, "a").empty());
    }
  }

  TEST_CASE_TEMPLATE("a snapshot write's entries and position are seen together", Fixture, RocksDbFixture,
                     MemoryFixture, NatsFixture) {
    constexpr std::uint64_t kWrites = 300;
    Fixture fixture;
    SnapshotStore& snapshots = fixture.snapshots();
    std::atomic<bool> writing{true};
    std::thread writer([&] {
      for (std::uint64_t write_idx = 1; write_idx <= kWrites; ++write_idx) {
        const std::string value = std::to_string(write_idx);
        CHECK(snapshots.write("scope", {{"first", value}, {"second", value}}, write_idx).ok());
      }
      writing = false;
    });
    std::uint64_t torn = 0;
    std::uint64_t reads = 0;
    auto number = [](const Result<std::optional<std::string>>& entry) {
      return entry.ok() && entry->has_value() ? std::stoull(**entry) : 0;
    };
    while (writing || reads == 0) {
      ++reads;
      // Read in both orders: each read must see a write whole or not at all.
      const auto position_first = snapshots.position("scope");
      const std::uint64_t entry_after = number(snapshots.get("scope", "first"));
      if (entry_after < position_first->value_or(0)) ++torn;
      const std::uint64_t entry_before = number(snapshots.get("scope", "second"));
      const auto position_after = snapshots.position("scope");
      if (position_after->value_or(0) < entry_before) ++torn;
      std::vector<std::uint64_t> seen;
      REQUIRE(snapshots
                  .for_each("scope",
                            [&](std::string_view, std::string_view value) {
                              seen.push_back(std::stoull(std::string(value)));
                              return true;
                            })
                  .ok());
      if (seen.size() == 2 && seen[0] != seen[1]) ++torn;
    }
    writer.join();
    CHECK(torn == 0);
    CHECK(snapshots.position("scope")->value() == kWrites);
  }

}  // TEST_SUITE
}  // namespace muster
