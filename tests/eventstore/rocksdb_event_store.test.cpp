#include "eventstore/event_store.hpp"

#include <doctest/doctest.h>
#include <signal.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <fstream>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "common/clock.hpp"
#include "tests/support/temp_dir.hpp"

namespace muster {
namespace {

using testing::TempDir;

constexpr TimeMs kStartMs = 1'700'000'000'000;

NewEvent make_event(std::string type, std::string data = "{}") {
  NewEvent event;
  event.type = std::move(type);
  event.data = std::move(data);
  event.meta = R"({"request_id":"test"})";
  return event;
}

StoreOptions options_for(const TempDir& dir, const Clock* clock = nullptr) {
  StoreOptions options;
  options.path = dir.file("data");
  options.clock = clock;
  return options;
}

std::unique_ptr<EventStore> open_store(const StoreOptions& options) {
  auto store = open_rocksdb_event_store(options);
  REQUIRE_MESSAGE(store.ok(), (store.ok() ? "" : store.error().message));
  return std::move(*store);
}

AppendResult append_ok(EventStore& store, const std::string& stream, std::uint64_t expected_version,
                       std::vector<NewEvent> events) {
  auto result = store.append(stream, expected_version, std::move(events));
  REQUIRE_MESSAGE(result.ok(), (result.ok() ? "" : result.error().message));
  return *result;
}

std::vector<std::uint64_t> positions_of(const std::vector<Event>& events) {
  std::vector<std::uint64_t> positions;
  for (const auto& event : events) positions.push_back(event.position);
  return positions;
}

std::vector<std::uint64_t> versions_of(const std::vector<Event>& events) {
  std::vector<std::uint64_t> versions;
  for (const auto& event : events) versions.push_back(event.version);
  return versions;
}

std::vector<Event> read_whole_log(const EventStore& store) {
  auto events = store.read_log(1, 1'000'000);
  REQUIRE(events.ok());
  return *events;
}

/// Makes writes past `max_bytes` into any file fail with EFBIG (instead of
/// killing the process with SIGXFSZ) while it lives: a full disk, in effect.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t max_bytes) {
    REQUIRE(::getrlimit(RLIMIT_FSIZE, &saved_limit_) == 0);
    saved_handler_ = ::signal(SIGXFSZ, SIG_IGN);
    rlimit limit = saved_limit_;
    limit.rlim_cur = max_bytes;
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &limit) == 0);
  }
  ~FileSizeLimit() {
    ::setrlimit(RLIMIT_FSIZE, &saved_limit_);
    ::signal(SIGXFSZ, saved_handler_);
  }
  FileSizeLimit(const FileSizeLimit&) = delete;
  FileSizeLimit& operator=(const FileSizeLimit&) = delete;

 private:
  rlimit saved_limit_{};
  sighandler_t saved_handler_ = SIG_DFL;
};

}  // namespace

TEST_SUITE("rocksdb_event_store") {
  SCENARIO("appending to a new stream") {
    TempDir dir;
    ManualClock clock(kStartMs);
    auto store = open_store(options_for(dir, &clock));

    GIVEN("an empty store") {
      CHECK(store->head_position() == 0);
      CHECK(store->stream_version("agent-1") == 0);

      WHEN("two events are appended with kNewStream") {
        auto result =
            append_ok(*store, "agent-1", kNewStream,
                      {make_event("AgentRegistered", R"({"host":"a"})"), make_event("AgentConnected")});

        THEN("they get positions 1 and 2, versions 1 and 2, and the clock's time") {
          CHECK(result.first_position == 1);
          CHECK(result.last_position == 2);
          CHECK(result.stream_version == 2);
          CHECK(result.time_ms == kStartMs);
          CHECK(store->head_position() == 2);
          CHECK(store->stream_version("agent-1") == 2);

          auto events = store->read_stream("agent-1", 1, 10);
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
          clock.advance_ms(1500);
          auto next = append_ok(*store, "agent-1", 2, {make_event("AgentDisconnected")});
          THEN("the log and the stream continue where they were") {
            CHECK(next.first_position == 3);
            CHECK(next.last_position == 3);
            CHECK(next.stream_version == 3);
            CHECK(next.time_ms == kStartMs + 1500);
          }
        }
      }
    }
  }

  SCENARIO("an expected-version mismatch is a conflict and writes nothing") {
    TempDir dir;
    auto store = open_store(options_for(dir));
    append_ok(*store, "agent-1", kNewStream, {make_event("A"), make_event("B")});

    WHEN("appending with a stale expected version") {
      auto result = store->append("agent-1", 1, {make_event("C")});
      THEN("the answer is conflict naming the stream, the expected and the actual version") {
        REQUIRE_FALSE(result.ok());
        CHECK(result.error().code == ErrorCode::conflict);
        CHECK(result.error().message.find("agent-1") != std::string::npos);
        CHECK(result.error().message.find("1") != std::string::npos);
        CHECK(result.error().message.find("2") != std::string::npos);
      }
      THEN("neither the log nor the stream changed") {
        CHECK(store->head_position() == 2);
        CHECK(store->stream_version("agent-1") == 2);
        CHECK(read_whole_log(*store).size() == 2);
      }
    }
    WHEN("creating a stream that exists") {
      auto result = store->append("agent-1", kNewStream, {make_event("C")});
      THEN("that is a conflict too") {
        REQUIRE_FALSE(result.ok());
        CHECK(result.error().code == ErrorCode::conflict);
        CHECK(store->head_position() == 2);
      }
    }
    WHEN("appending to a stream that does not exist with a non-zero version") {
      auto result = store->append("agent-2", 3, {make_event("C")});
      THEN("it is a conflict and the stream stays unknown") {
        REQUIRE_FALSE(result.ok());
        CHECK(result.error().code == ErrorCode::conflict);
        CHECK(store->stream_version("agent-2") == 0);
      }
    }
  }

  TEST_CASE("malformed appends are invalid_argument and write nothing") {
    TempDir dir;
    auto store = open_store(options_for(dir));
    CHECK(store->append("agent-1", kNewStream, {}).error().code == ErrorCode::invalid_argument);
    CHECK(store->append("", kNewStream, {make_event("A")}).error().code == ErrorCode::invalid_argument);
    CHECK(store->append(std::string("a\0b", 3), kNewStream, {make_event("A")}).error().code ==
          ErrorCode::invalid_argument);
    CHECK(store->head_position() == 0);
  }

  TEST_CASE("appends queued together are checked against the heads as earlier ones leave them") {
    TempDir dir;
    auto store = open_store(options_for(dir));
    std::mutex mutex;
    std::condition_variable all_done;
    std::vector<std::optional<Result<AppendResult>>> results(4);
    auto record = [&](std::size_t slot) {
      return [&, slot](Result<AppendResult> result) {
        std::lock_guard lock(mutex);
        results[slot].emplace(std::move(result));
        all_done.notify_all();
      };
    };
    // Whether the writer folds these into one batch or not, the answers are the same.
    store->append_async("s", kNewStream, {make_event("A")}, record(0));
    store->append_async("s", kNewStream, {make_event("B")}, record(1));
    store->append_async("s", 1, {make_event("C"), make_event("D")}, record(2));
    store->append_async("t", kNewStream, {make_event("E")}, record(3));
    {
      std::unique_lock lock(mutex);
      REQUIRE(all_done.wait_for(lock, std::chrono::seconds(10), [&] {
        return std::all_of(results.begin(), results.end(),
                           [](const auto& result) { return result.has_value(); });
      }));
    }
    REQUIRE(results[0]->ok());
    CHECK((*results[0])->first_position == 1);
    REQUIRE_FALSE(results[1]->ok());
    CHECK(results[1]->error().code == ErrorCode::conflict);
    REQUIRE(results[2]->ok());
    CHECK((*results[2])->first_position == 2);
    CHECK((*results[2])->last_position == 3);
    CHECK((*results[2])->stream_version == 3);
    REQUIRE(results[3]->ok());
    CHECK((*results[3])->first_position == 4);
    CHECK((*results[3])->stream_version == 1);
    CHECK(positions_of(read_whole_log(*store)) == std::vector<std::uint64_t>{1, 2, 3, 4});
  }

  SCENARIO("reading streams and the log") {
    TempDir dir;
    auto store = open_store(options_for(dir));
    // Interleave two streams: a gets positions 1, 2, 4, 5, 6; b gets 3 and 7.
    append_ok(*store, "a", kNewStream, {make_event("a1"), make_event("a2")});
    append_ok(*store, "b", kNewStream, {make_event("b1")});
    append_ok(*store, "a", 2, {make_event("a3"), make_event("a4"), make_event("a5")});
    append_ok(*store, "b", 1, {make_event("b2")});
    // A stream whose id extends another's must not leak into it.
    append_ok(*store, "ab", kNewStream, {make_event("ab1")});

    WHEN("reading a stream from a version") {
      auto events = store->read_stream("a", 3, 100);
      REQUIRE(events.ok());
      THEN("only that stream's events from that version come back, in order") {
        CHECK(versions_of(*events) == std::vector<std::uint64_t>{3, 4, 5});
        CHECK(positions_of(*events) == std::vector<std::uint64_t>{4, 5, 6});
        CHECK((*events)[0].type == "a3");
      }
    }
    WHEN("reading a stream with a limit") {
      auto events = store->read_stream("a", 1, 2);
      REQUIRE(events.ok());
      CHECK(versions_of(*events) == std::vector<std::uint64_t>{1, 2});
    }
    WHEN("reading a stream past its end, an unknown stream, or nothing") {
      CHECK(store->read_stream("a", 6, 10)->empty());
      CHECK(store->read_stream("nobody", 1, 10)->empty());
      CHECK(store->read_stream("a", 1, 0)->empty());
    }
    WHEN("reading the log from a position with a limit") {
      auto events = store->read_log(2, 3);
      REQUIRE(events.ok());
      CHECK(positions_of(*events) == std::vector<std::uint64_t>{2, 3, 4});
      CHECK((*events)[1].stream == "b");
    }
    WHEN("reading the log from 0, past the head, or with a zero limit") {
      CHECK(positions_of(*store->read_log(0, 2)) == std::vector<std::uint64_t>{1, 2});
      CHECK(store->read_log(9, 10)->empty());
      CHECK(store->read_log(1, 0)->empty());
      CHECK(store->read_log(std::numeric_limits<std::uint64_t>::max(), 10)->empty());
    }
  }

  TEST_CASE("many concurrent appenders are all acknowledged, with no gap or duplicate") {
    constexpr int kThreads = 8;
    constexpr int kAppendsPerThread = 200;
    TempDir dir;
    StoreOptions options = options_for(dir);
    options.durability = Durability::fsync;
    auto store = open_store(options);

    std::atomic<int> failures{0};
    std::vector<std::thread> appenders;
    for (int thread_idx = 0; thread_idx < kThreads; ++thread_idx) {
      appenders.emplace_back([&, thread_idx] {
        std::string stream = "agent-" + std::to_string(thread_idx);
        for (std::uint64_t version = 0; version < kAppendsPerThread; ++version) {
          auto result = store->append(stream, version, {make_event("Beat")});
          if (!result.ok() || result->stream_version != version + 1) ++failures;
        }
      });
    }
    for (auto& appender : appenders) appender.join();
    REQUIRE(failures.load() == 0);

    constexpr std::uint64_t kTotal = kThreads * kAppendsPerThread;
    CHECK(store->head_position() == kTotal);
    auto log = read_whole_log(*store);
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
    CHECK(last_version.size() == kThreads);
    for (const auto& [stream, version] : last_version) {
      CHECK(version == kAppendsPerThread);
      CHECK(store->stream_version(stream) == kAppendsPerThread);
    }
  }

  SCENARIO("reopening a store") {
    TempDir dir;
    ManualClock clock(kStartMs);
    StoreOptions options = options_for(dir, &clock);
    options.durability = Durability::wal;
    {
      auto store = open_store(options);
      append_ok(*store, "a", kNewStream, {make_event("a1"), make_event("a2")});
      append_ok(*store, "b", kNewStream, {make_event("b1")});
      REQUIRE(store->save_last_seen({{"a", kStartMs + 5}}).ok());
    }
    std::vector<Event> before;
    {
      auto store = open_store(options);
      before = read_whole_log(*store);
    }

    WHEN("it is opened again, with a clock that went backwards") {
      clock.set_ms(kStartMs - 60'000);
      auto store = open_store(options);
      THEN("the events, heads and last-seen times are all there") {
        CHECK(read_whole_log(*store) == before);
        CHECK(store->head_position() == 3);
        CHECK(store->stream_version("a") == 2);
        CHECK(store->stream_version("b") == 1);
        auto last_seen = store->load_last_seen();
        REQUIRE(last_seen.ok());
        REQUIRE(last_seen->size() == 1);
        CHECK((*last_seen)[0].time_ms == kStartMs + 5);
      }
      THEN("appends continue at the right position and version, without time going back") {
        CHECK(store->append("a", 1, {make_event("stale")}).error().code == ErrorCode::conflict);
        auto result = append_ok(*store, "a", 2, {make_event("a3")});
        CHECK(result.first_position == 4);
        CHECK(result.stream_version == 3);
        CHECK(result.time_ms == kStartMs);
      }
    }
  }

  SCENARIO("a read-only store beside a running writer") {
    TempDir dir;
    StoreOptions options = options_for(dir);
    auto writer = open_store(options);
    append_ok(*writer, "a", kNewStream, {make_event("a1")});

    StoreOptions read_only_options = options;
    read_only_options.read_only = true;
    auto reader = open_store(read_only_options);

    THEN("it sees what was appended before it opened") {
      CHECK(reader->head_position() == 1);
      CHECK(reader->stream_version("a") == 1);
      CHECK(reader->read_log(1, 10)->size() == 1);
    }
    WHEN("the writer appends more") {
      append_ok(*writer, "a", 1, {make_event("a2")});
      append_ok(*writer, "b", kNewStream, {make_event("b1")});
      THEN("the reader catches up") {
        CHECK(reader->head_position() == 3);
        CHECK(reader->stream_version("a") == 2);
        CHECK(versions_of(*reader->read_stream("a", 1, 10)) == std::vector<std::uint64_t>{1, 2});
        CHECK(read_whole_log(*reader) == read_whole_log(*writer));
      }
    }
    WHEN("the reader waits for a position another thread appends") {
      std::thread appender([&] { append_ok(*writer, "a", 1, {make_event("a2")}); });
      auto head = reader->wait_for_position(1, std::chrono::seconds(10));
      appender.join();
      THEN("it wakes with the new head") {
        CHECK(head == 2);
      }
    }
    WHEN("nothing is appended") {
      THEN("waiting gives up at the timeout with the head unchanged") {
        CHECK(reader->wait_for_position(1, std::chrono::milliseconds(120)) == 1);
      }
    }
    THEN("it refuses to write") {
      auto result = reader->append("a", 1, {make_event("a2")});
      REQUIRE_FALSE(result.ok());
      CHECK(result.error().code == ErrorCode::unavailable);
      CHECK(reader->save_last_seen({{"a", 1}}).error().code == ErrorCode::unavailable);
      CHECK(writer->head_position() == 1);
    }
  }

  SCENARIO("a write that fails acknowledges nothing and leaves no gap") {
    TempDir dir;
    StoreOptions options = options_for(dir);
    auto store = open_store(options);
    append_ok(*store, "a", kNewStream, {make_event("a1")});

    WHEN("the WAL cannot take the write") {
      Result<AppendResult> result = make_error(ErrorCode::internal, "not run");
      {
        FileSizeLimit limit(1 << 20);
        result = store->append("a", 1, {make_event("big", std::string(4 << 20, 'x'))});
      }
      THEN("the append is io_error with RocksDB's reason, and nothing moved") {
        REQUIRE_FALSE(result.ok());
        CHECK(result.error().code == ErrorCode::io_error);
        CHECK(result.error().message.find("IO error") != std::string::npos);
        CHECK(store->head_position() == 1);
        CHECK(store->stream_version("a") == 1);
      }
      THEN("a later append either fails too or takes the very next position") {
        auto later = store->append("a", 1, {make_event("a2")});
        if (later.ok()) {
          CHECK(later->first_position == 2);
        } else {
          CHECK(later.error().code == ErrorCode::io_error);
        }
      }
      THEN("after reopening, the failed event is absent and positions continue without a gap") {
        store.reset();
        auto reopened = open_store(options);
        CHECK(reopened->head_position() == 1);
        auto next = append_ok(*reopened, "a", 1, {make_event("a2")});
        CHECK(next.first_position == 2);
        CHECK(next.stream_version == 2);
      }
    }
  }

  TEST_CASE("a second writer on the same directory is unavailable") {
    TempDir dir;
    auto first = open_store(options_for(dir));
    auto second = open_rocksdb_event_store(options_for(dir));
    REQUIRE_FALSE(second.ok());
    CHECK(second.error().code == ErrorCode::unavailable);
    CHECK(second.error().message.find("another muster process") != std::string::npos);
  }

  TEST_CASE("opening errors") {
    TempDir dir;
    SUBCASE("the writer creates missing parent directories") {
      StoreOptions options;
      options.path = dir.file("a/b/c");
      auto store = open_store(options);
      CHECK(store->head_position() == 0);
    }
    SUBCASE("a read-only store needs an existing database") {
      StoreOptions options = options_for(dir);
      options.read_only = true;
      auto store = open_rocksdb_event_store(options);
      REQUIRE_FALSE(store.ok());
      CHECK(store.error().code == ErrorCode::io_error);
    }
    SUBCASE("a damaged CURRENT file is corruption") {
      StoreOptions options = options_for(dir);
      open_store(options)->stop();
      std::ofstream(options.path + "/CURRENT", std::ios::trunc) << "garbage";
      auto store = open_rocksdb_event_store(options);
      REQUIRE_FALSE(store.ok());
      CHECK(store.error().code == ErrorCode::corruption);
      CHECK(store.error().message.find("CURRENT") != std::string::npos);
    }
    SUBCASE("an empty path is invalid") {
      CHECK(open_rocksdb_event_store(StoreOptions{}).error().code == ErrorCode::invalid_argument);
    }
  }

  TEST_CASE("last-seen times round-trip and overwrite") {
    TempDir dir;
    auto store = open_store(options_for(dir));
    REQUIRE(store->load_last_seen()->empty());
    REQUIRE(store->save_last_seen({{"a", 100}, {"b", 200}}).ok());
    REQUIRE(store->save_last_seen({{"a", 300}}).ok());
    REQUIRE(store->save_last_seen({}).ok());

    auto loaded = store->load_last_seen();
    REQUIRE(loaded.ok());
    std::map<std::string, TimeMs> by_stream;
    for (const auto& entry : *loaded) by_stream[entry.stream] = entry.time_ms;
    CHECK(by_stream == std::map<std::string, TimeMs>{{"a", 300}, {"b", 200}});
    CHECK(store->head_position() == 0);
  }

  SCENARIO("stopping a store") {
    TempDir dir;
    StoreOptions options = options_for(dir);
    auto store = open_store(options);

    GIVEN("appends queued just before stop()") {
      constexpr int kQueued = 50;
      std::atomic<int> acknowledged{0};
      std::atomic<int> answered{0};
      for (std::uint64_t version = 0; version < kQueued; ++version) {
        store->append_async("a", version, {make_event("A")}, [&](Result<AppendResult> result) {
          if (result.ok()) ++acknowledged;
          ++answered;
        });
      }
      store->stop();

      THEN("every one completed before stop() returned") {
        CHECK(answered.load() == kQueued);
        CHECK(acknowledged.load() == kQueued);
      }
      THEN("later appends, reads and writes are unavailable, and stop() is idempotent") {
        CHECK(store->append("a", kQueued, {make_event("late")}).error().code == ErrorCode::unavailable);
        bool answered_unavailable = false;
        store->append_async("a", kQueued, {make_event("late")}, [&](Result<AppendResult> result) {
          answered_unavailable = !result.ok() && result.error().code == ErrorCode::unavailable;
        });
        CHECK(answered_unavailable);
        CHECK(store->read_log(1, 10).error().code == ErrorCode::unavailable);
        CHECK(store->save_last_seen({{"a", 1}}).error().code == ErrorCode::unavailable);
        CHECK(store->wait_for_position(kQueued, std::chrono::seconds(10)) == kQueued);
        store->stop();
      }
      THEN("what was acknowledged is there after reopening") {
        store.reset();
        auto reopened = open_store(options);
        CHECK(reopened->head_position() == kQueued);
        CHECK(reopened->stream_version("a") == kQueued);
      }
    }
  }

}  // TEST_SUITE
}  // namespace muster
