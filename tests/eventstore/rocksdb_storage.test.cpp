// What only the RocksDB backend does: a read-only instance beside a writer,
// disk faults, the durable-head mark, power loss through the file hooks,
// opening errors, and the data directories earlier versions wrote. The
// contract every backend keeps is in conformance.test.cpp.

#include "eventstore/rocksdb_storage.hpp"

#include <doctest/doctest.h>
#include <signal.h>
#include <sys/resource.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <optional>
#include <sstream>
#include <thread>

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include "common/clock.hpp"
#include "eventstore/durable_head.hpp"
#include "eventstore/file_hooks.hpp"
#include "tests/eventstore/store_helpers.hpp"
#include "tests/support/temp_dir.hpp"

namespace muster {
namespace {

using testing::TempDir;
using namespace testing;

RocksDbOptions options_for(const TempDir& dir, const Clock* clock = nullptr) {
  RocksDbOptions options;
  options.path = dir.file("data");
  options.store.clock = clock;
  return options;
}

std::unique_ptr<Storage> open_storage(const RocksDbOptions& options) {
  auto storage = open_rocksdb_storage(options);
  REQUIRE_MESSAGE(storage.ok(), (storage.ok() ? "" : storage.error().message));
  return std::move(*storage);
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

// --- A data directory as versions before snapshots wrote it -----------------
// Spelled out byte by byte rather than with event_codec, so that a change to
// the codec cannot change what this test expects.

const std::string kOldAgent = "9a4f82ed-30c0-4871-a5fe-40fcc214df27";  // agents' streams were bare UUIDs
const std::string kOldApiKey = "apikey:a1b2c3d4e5f60718";

/// 8 bytes, big-endian: the old keys of `events` and values of `streams`, `heads`, `last_seen`.
std::string big_endian(std::uint64_t value) {
  std::string bytes(8, '\0');
  for (int byte_idx = 7; byte_idx >= 0; --byte_idx, value >>= 8)
    bytes[byte_idx] = static_cast<char>(value & 0xff);
  return bytes;
}

struct OldEvent {
  Event event;         ///< What the store must read back.
  std::string stored;  ///< Its value in `events`, format 1.
};

std::vector<OldEvent> old_events() {
  // Format 1: u8 1, varint position, string stream, varint version, string
  // type, zigzag varint time_ms, varint schema_version, string data, string
  // meta; a string is a varint length and the bytes.
  return {
      {{1, kOldAgent, 1, "AgentRegistered", kStartMs, 1, R"({"instance_id":"i-1"})",
        R"({"request_id":"r-1"})"},
       std::string("\x01\x01", 2) + "\x24" + kOldAgent + "\x01" + "\x0f" + "AgentRegistered" +
           "\x80\xa0\xab\xfe\xf9\x62" + "\x01" + "\x15" + R"({"instance_id":"i-1"})" + "\x14" +
           R"({"request_id":"r-1"})"},
      {{2, kOldApiKey, 1, "ApiKeyIssued", kStartMs + 1, 1, "{}", "{}"},
       std::string("\x01\x02", 2) + "\x17" + kOldApiKey + "\x01" + "\x0c" + "ApiKeyIssued" +
           "\x82\xa0\xab\xfe\xf9\x62" + "\x01" + "\x02" + "{}" + "\x02" + "{}"},
      {{3, kOldAgent, 2, "AgentStatusChanged", kStartMs + 2, 2, R"({"status":"DEGRADED"})", "{}"},
       std::string("\x01\x03", 2) + "\x24" + kOldAgent + "\x02" + "\x12" + "AgentStatusChanged" +
           "\x84\xa0\xab\xfe\xf9\x62" + "\x02" + "\x15" + R"({"status":"DEGRADED"})" + "\x02" + "{}"},
  };
}

/// Writes, with RocksDB alone, the four column families of old data
/// directories: the log above, its stream index and heads, one last-seen time.
void write_old_data_directory(const std::string& path) {
  rocksdb::DBOptions options;
  options.create_if_missing = true;
  options.create_missing_column_families = true;
  const std::vector<rocksdb::ColumnFamilyDescriptor> families = {{rocksdb::kDefaultColumnFamilyName, {}},
                                                                 {"events", {}},
                                                                 {"streams", {}},
                                                                 {"heads", {}},
                                                                 {"last_seen", {}}};
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* opened = nullptr;
  REQUIRE(rocksdb::DB::Open(options, path, families, &handles, &opened).ok());
  std::unique_ptr<rocksdb::DB> db(opened);
  rocksdb::WriteBatch batch;
  for (const OldEvent& old : old_events()) {
    const Event& event = old.event;
    REQUIRE(batch.Put(handles[1], big_endian(event.position), old.stored).ok());
    REQUIRE(batch
                .Put(handles[2], event.stream + std::string(1, '\0') + big_endian(event.version),
                     big_endian(event.position))
                .ok());
  }
  REQUIRE(batch.Put(handles[3], kOldAgent, big_endian(2)).ok());
  REQUIRE(batch.Put(handles[3], kOldApiKey, big_endian(1)).ok());
  REQUIRE(batch.Put(handles[4], kOldAgent, big_endian(kStartMs + 10)).ok());
  rocksdb::WriteOptions synced;
  synced.sync = true;
  REQUIRE(db->Write(synced, &batch).ok());
  for (auto* handle : handles) REQUIRE(db->DestroyColumnFamilyHandle(handle).ok());
  REQUIRE(db->Close().ok());
}

/// `from` copied to `to`, and the ledger `from_ledger` rewritten to name the copies.
void copy_with_ledger(const std::string& from, const std::string& from_ledger, const std::string& to,
                      const std::string& to_ledger) {
  std::filesystem::copy(from, to, std::filesystem::copy_options::recursive);
  std::ifstream in(from_ledger);
  std::string ledger((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string from_prefix = from + "/";
  for (auto found = ledger.find(from_prefix); found != std::string::npos;
       found = ledger.find(from_prefix, found + to.size() + 1)) {
    ledger.replace(found, from_prefix.size(), to + "/");
  }
  std::ofstream(to_ledger) << ledger;
}

}  // namespace

TEST_SUITE("rocksdb_storage") {
  SCENARIO("a read-only storage beside a running writer") {
    TempDir dir;
    RocksDbOptions options = options_for(dir);
    auto writer = open_storage(options);
    append_ok(writer->events(), "a", kNewStream, {make_event("a1")});
    REQUIRE(writer->last_seen().save({{"agent-1", kStartMs}}).ok());
    REQUIRE(writer->snapshots().write("agents", {{"agent-1", "state-1"}}, 1).ok());

    RocksDbOptions read_only_options = options;
    read_only_options.read_only = true;
    auto reader = open_storage(read_only_options);
    EventStore& reader_log = reader->events();

    THEN("it sees what was appended before it opened") {
      CHECK(reader_log.head_position().value() == 1);
      CHECK(reader_log.stream_version("a").value() == 1);
      CHECK(reader_log.read_log(1, 10)->size() == 1);
    }
    THEN("it sees the last-seen times and snapshots written before it opened") {
      CHECK(load_last_seen(reader->last_seen()) == std::map<std::string, TimeMs>{{"agent-1", kStartMs}});
      CHECK(entries_of(reader->snapshots(), "agents") ==
            std::vector<std::pair<std::string, std::string>>{{"agent-1", "state-1"}});
      CHECK(reader->snapshots().position("agents")->value() == 1);
    }
    WHEN("the writer appends more") {
      append_ok(writer->events(), "a", 1, {make_event("a2")});
      append_ok(writer->events(), "b", kNewStream, {make_event("b1")});
      THEN("the reader catches up") {
        CHECK(reader_log.head_position().value() == 3);
        CHECK(reader_log.stream_version("a").value() == 2);
        CHECK(versions_of(*reader_log.read_stream("a", 1, 10)) == std::vector<std::uint64_t>{1, 2});
        CHECK(read_whole_log(reader_log) == read_whole_log(writer->events()));
      }
    }
    WHEN("the writer saves more last-seen times and snapshots") {
      REQUIRE(writer->last_seen().save({{"agent-1", kStartMs + 1}, {"agent-2", kStartMs + 2}}).ok());
      REQUIRE(writer->snapshots().write("agents", {{"agent-2", "state-2"}}, 2).ok());
      THEN("the reader sees them after catching up") {
        CHECK(load_last_seen(reader->last_seen()) ==
              std::map<std::string, TimeMs>{{"agent-1", kStartMs + 1}, {"agent-2", kStartMs + 2}});
        CHECK(reader->snapshots().get("agents", "agent-2")->value() == "state-2");
        CHECK(reader->snapshots().position("agents")->value() == 2);
      }
    }
    WHEN("the reader waits for a position another thread appends") {
      std::thread appender([&] { append_ok(writer->events(), "a", 1, {make_event("a2")}); });
      auto head = reader_log.wait_for_position(1, std::chrono::seconds(10));
      appender.join();
      THEN("it wakes with the new head") {
        CHECK(head.value() == 2);
      }
    }
    WHEN("nothing is appended") {
      THEN("waiting gives up at the timeout with the head unchanged") {
        CHECK(reader_log.wait_for_position(1, std::chrono::milliseconds(120)).value() == 1);
      }
    }
    WHEN("the reader stops while a thread waits") {
      std::optional<Result<std::uint64_t>> answer;
      std::thread waiter([&] { answer.emplace(reader_log.wait_for_position(1, std::chrono::seconds(60))); });
      reader->stop();
      waiter.join();
      THEN("the waiter returns with unavailable, and so do later reads") {
        CHECK(answer->error().code == ErrorCode::unavailable);
        CHECK(reader_log.read_log(1, 10).error().code == ErrorCode::unavailable);
        CHECK(reader->snapshots().get("agents", "agent-1").error().code == ErrorCode::unavailable);
      }
    }
    THEN("it refuses to write") {
      auto result = reader_log.append("a", 1, {make_event("a2")});
      REQUIRE_FALSE(result.ok());
      CHECK(result.error().code == ErrorCode::unavailable);
      CHECK(reader->last_seen().save({{"a", 1}}).error().code == ErrorCode::unavailable);
      CHECK(reader->snapshots().write("agents", {{"a", "1"}}, 1).error().code == ErrorCode::unavailable);
      CHECK(reader->snapshots().clear("agents").error().code == ErrorCode::unavailable);
      CHECK(writer->events().head_position().value() == 1);
      CHECK(writer->snapshots().get("agents", "a")->has_value() == false);
    }
  }

  SCENARIO("a write that fails acknowledges nothing and leaves no gap") {
    TempDir dir;
    RocksDbOptions options = options_for(dir);
    auto storage = open_storage(options);
    EventStore* store = &storage->events();
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
        CHECK(store->head_position().value() == 1);
        CHECK(store->stream_version("a").value() == 1);
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
        storage.reset();
        auto reopened = open_storage(options);
        CHECK(reopened->events().head_position().value() == 1);
        auto next = append_ok(reopened->events(), "a", 1, {make_event("a2")});
        CHECK(next.first_position == 2);
        CHECK(next.stream_version == 2);
      }
    }
  }

  TEST_CASE("a second writer on the same directory is unavailable") {
    TempDir dir;
    auto first = open_storage(options_for(dir));
    auto second = open_rocksdb_storage(options_for(dir));
    REQUIRE_FALSE(second.ok());
    CHECK(second.error().code == ErrorCode::unavailable);
    CHECK(second.error().message.find("another muster process") != std::string::npos);
  }

  TEST_CASE("opening errors") {
    TempDir dir;
    SUBCASE("the writer creates missing parent directories") {
      RocksDbOptions options;
      options.path = dir.file("a/b/c");
      auto storage = open_storage(options);
      CHECK(storage->events().head_position().value() == 0);
    }
    SUBCASE("a read-only storage needs an existing database") {
      RocksDbOptions options = options_for(dir);
      options.read_only = true;
      auto storage = open_rocksdb_storage(options);
      REQUIRE_FALSE(storage.ok());
      CHECK(storage.error().code == ErrorCode::io_error);
    }
    SUBCASE("a damaged CURRENT file is corruption") {
      RocksDbOptions options = options_for(dir);
      open_storage(options)->stop();
      std::ofstream(options.path + "/CURRENT", std::ios::trunc) << "garbage";
      auto storage = open_rocksdb_storage(options);
      REQUIRE_FALSE(storage.ok());
      CHECK(storage.error().code == ErrorCode::corruption);
      CHECK(storage.error().message.find("CURRENT") != std::string::npos);
    }
    SUBCASE("an empty path is invalid") {
      CHECK(open_rocksdb_storage(RocksDbOptions{}).error().code == ErrorCode::invalid_argument);
    }
  }

  SCENARIO("a data directory written before snapshots existed opens unchanged") {
    TempDir dir;
    RocksDbOptions options = options_for(dir);
    write_old_data_directory(options.path);
    std::vector<Event> expected;
    for (const OldEvent& old : old_events()) expected.push_back(old.event);

    auto check_reads = [&](Storage& storage) {
      EventStore& store = storage.events();
      CHECK(read_whole_log(store) == expected);
      CHECK(store.head_position().value() == 3);
      CHECK(store.stream_version(kOldAgent).value() == 2);
      CHECK(store.stream_version(kOldApiKey).value() == 1);
      CHECK(*store.read_stream(kOldAgent, 1, 10) == std::vector<Event>{expected[0], expected[2]});
      CHECK(load_last_seen(storage.last_seen()) == std::map<std::string, TimeMs>{{kOldAgent, kStartMs + 10}});
      CHECK(storage.snapshots().position("agents")->has_value() == false);
      CHECK(entries_of(storage.snapshots(), "agents").empty());
    };

    WHEN("it is opened read-only (muster replay), before any writer of this version opened it") {
      RocksDbOptions read_only_options = options;
      read_only_options.read_only = true;
      auto reader = open_storage(read_only_options);
      THEN("everything reads back, and there are no snapshots") {
        check_reads(*reader);
      }
    }
    WHEN("it is opened for writing") {
      auto storage = open_storage(options);
      THEN("everything reads back") {
        check_reads(*storage);
      }
      AND_WHEN("the log grows, a snapshot is written and the storage is reopened") {
        auto next = append_ok(storage->events(), kOldAgent, 2, {make_event("AgentDeregistered")});
        CHECK(next.first_position == 4);
        CHECK(next.stream_version == 3);
        REQUIRE(storage->snapshots().write("agents", {{kOldAgent, "state"}}, 4).ok());
        storage.reset();
        auto reopened = open_storage(options);
        THEN("old and new data are both there") {
          CHECK(reopened->events().head_position().value() == 4);
          CHECK(versions_of(*reopened->events().read_stream(kOldAgent, 1, 10)) ==
                std::vector<std::uint64_t>{1, 2, 3});
          CHECK(reopened->snapshots().get("agents", kOldAgent)->value() == "state");
          CHECK(reopened->snapshots().position("agents")->value() == 4);
        }
      }
    }
  }

  TEST_CASE("a snapshot written after the last append survives a clean stop and reopen") {
    TempDir dir;
    RocksDbOptions options = options_for(dir);
    {
      auto storage = open_storage(options);
      append_ok(storage->events(), "a", kNewStream, {make_event("a1")});
      // Not synced on its own, and no append follows: the stop's flush keeps it.
      REQUIRE(storage->snapshots().write("agents", {{"a", "folded"}}, 1).ok());
      storage->stop();
    }
    auto reopened = open_storage(options);
    CHECK(reopened->snapshots().get("agents", "a")->value() == "folded");
    CHECK(reopened->snapshots().position("agents")->value() == 1);
  }

  SCENARIO("the durable-head mark") {
    TempDir dir;
    RocksDbOptions options = options_for(dir);
    const DurableHeadMark mark(options.path);

    WHEN("appends are synced (fsync durability) and the storage stops") {
      {
        auto storage = open_storage(options);
        append_ok(storage->events(), "a", kNewStream, {make_event("a1"), make_event("a2"), make_event("a3")});
      }
      THEN("the mark holds the head") {
        CHECK(mark.read().value() == 3);
      }
      AND_WHEN("the mark is ahead of what the log recovers") {
        REQUIRE(mark.write(10).ok());
        auto reopened = open_rocksdb_storage(options);
        THEN("opening is corruption naming the mark and the lost positions") {
          REQUIRE_FALSE(reopened.ok());
          CHECK(reopened.error().code == ErrorCode::corruption);
          CHECK(reopened.error().message.find(DurableHeadMark::kFileName) != std::string::npos);
          CHECK(reopened.error().message.find("up to position 3, but position 10") != std::string::npos);
        }
      }
    }
    WHEN("appends are not synced (wal durability)") {
      options.durability = Durability::wal;
      {
        auto storage = open_storage(options);
        append_ok(storage->events(), "a", kNewStream, {make_event("a1")});
      }
      THEN("nothing is marked, as nothing was durable enough to mark") {
        CHECK(mark.read().value() == 0);
      }
    }
  }

  SCENARIO("a power loss keeps what was synced, and no snapshot without the events before it") {
    TempDir dir;
    RocksDbOptions options = options_for(dir);
    options.durability = Durability::wal;
    const std::string ledger = dir.file("ledger");
    auto hooks = TestFileHooks::open(ledger, "", 0);
    REQUIRE(hooks.ok());
    options.file_hooks = *hooks;
    auto storage = open_storage(options);

    append_ok(storage->events(), "a", kNewStream, {make_event("a1")});
    REQUIRE(storage->snapshots().write("agents", {{"a", "after a1"}}, 1).ok());
    // A last-seen save is synced: the WAL, with everything before it, is durable.
    REQUIRE(storage->last_seen().save({{"a", kStartMs}}).ok());
    append_ok(storage->events(), "a", 1, {make_event("a2")});
    REQUIRE(storage->snapshots().write("agents", {{"a", "after a2"}}, 2).ok());

    WHEN("the power goes: the directory as it is now, cut back to what was synced") {
      const std::string survivor = dir.file("survivor");
      copy_with_ledger(options.path, ledger, survivor, dir.file("survivor-ledger"));
      auto dropped = drop_unsynced_data(survivor, dir.file("survivor-ledger"), {DurableHeadMark::kFileName});
      REQUIRE(dropped.ok());
      CHECK(*dropped > 0);
      RocksDbOptions survivor_options;
      survivor_options.path = survivor;
      survivor_options.durability = Durability::wal;
      auto recovered = open_storage(survivor_options);
      THEN("the synced writes survive, and the later event and snapshot are both gone") {
        CHECK(recovered->events().head_position().value() == 1);
        CHECK(load_last_seen(recovered->last_seen()) == std::map<std::string, TimeMs>{{"a", kStartMs}});
        CHECK(recovered->snapshots().get("agents", "a")->value() == "after a1");
        CHECK(recovered->snapshots().position("agents")->value() == 1);
      }
    }
  }

}  // TEST_SUITE
}  // namespace muster
