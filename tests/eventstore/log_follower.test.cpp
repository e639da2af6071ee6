#include "eventstore/log_follower.hpp"

#include <doctest/doctest.h>

#include <condition_variable>
#include <mutex>

#include "eventstore/rocksdb_storage.hpp"
#include "tests/support/temp_dir.hpp"

namespace muster {
namespace {

using testing::TempDir;

std::unique_ptr<Storage> open_follower_storage(const TempDir& dir) {
  RocksDbOptions options;
  options.path = dir.file("data");
  options.durability = Durability::wal;
  auto storage = open_rocksdb_storage(options);
  REQUIRE_MESSAGE(storage.ok(), (storage.ok() ? "" : storage.error().message));
  return std::move(*storage);
}

void append_events(EventStore& store, const std::string& stream, int count) {
  for (int event_idx = 0; event_idx < count; ++event_idx) {
    NewEvent event;
    event.type = "Beat";
    event.data = "{}";
    event.meta = "{}";
    auto result = store.append(stream, store.stream_version(stream).value(), {event});
    REQUIRE(result.ok());
  }
}

/// What a follower delivered, safe to inspect from the test thread.
class DeliveryLog {
 public:
  LogFollower::Handler handler() {
    return [this](const std::vector<Event>& batch) {
      std::lock_guard lock(mutex_);
      batch_sizes_.push_back(batch.size());
      for (const auto& event : batch) positions_.push_back(event.position);
      delivered_.notify_all();
    };
  }

  /// Waits (bounded) until `count` events have arrived; false on timeout.
  bool wait_for_count(std::size_t count) {
    std::unique_lock lock(mutex_);
    return delivered_.wait_for(lock, std::chrono::seconds(10), [&] { return positions_.size() >= count; });
  }

  std::vector<std::uint64_t> positions() {
    std::lock_guard lock(mutex_);
    return positions_;
  }

  std::vector<std::size_t> batch_sizes() {
    std::lock_guard lock(mutex_);
    return batch_sizes_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable delivered_;
  std::vector<std::uint64_t> positions_;
  std::vector<std::size_t> batch_sizes_;
};

std::vector<std::uint64_t> range(std::uint64_t first, std::uint64_t last) {
  std::vector<std::uint64_t> values;
  for (auto value = first; value <= last; ++value) values.push_back(value);
  return values;
}

}  // namespace

TEST_SUITE("log_follower") {
  SCENARIO("stepping a follower by hand") {
    TempDir dir;
    auto storage = open_follower_storage(dir);
    EventStore& store = storage->events();
    append_events(store, "a", 5);
    DeliveryLog deliveries;

    WHEN("it starts at position 1 with batches of 2") {
      LogFollower follower(store, 1, deliveries.handler(), 2);
      REQUIRE(follower.deliver_available());
      THEN("it delivers everything in order, in batches of at most 2") {
        CHECK(deliveries.positions() == range(1, 5));
        CHECK(deliveries.batch_sizes() == std::vector<std::size_t>{2, 2, 1});
        CHECK(follower.next_position() == 6);
      }
      AND_WHEN("more is appended") {
        append_events(store, "b", 2);
        REQUIRE(follower.deliver_available());
        THEN("the next step delivers only the new events") {
          CHECK(deliveries.positions() == range(1, 7));
        }
      }
    }
    WHEN("it starts in the middle of the log") {
      LogFollower follower(store, 4, deliveries.handler());
      REQUIRE(follower.deliver_available());
      CHECK(deliveries.positions() == range(4, 5));
    }
    WHEN("it starts at 0") {
      LogFollower follower(store, 0, deliveries.handler());
      CHECK(follower.next_position() == 1);
      REQUIRE(follower.deliver_available());
      CHECK(deliveries.positions() == range(1, 5));
    }
    WHEN("the store cannot be read") {
      LogFollower follower(store, 1, deliveries.handler());
      store.stop();
      THEN("the step reports failure and delivers nothing") {
        CHECK_FALSE(follower.deliver_available());
        CHECK(deliveries.positions().empty());
        CHECK(follower.next_position() == 1);
      }
    }
  }

  TEST_CASE("a started follower catches up, then sees new events live") {
    TempDir dir;
    auto storage = open_follower_storage(dir);
    EventStore& store = storage->events();
    append_events(store, "a", 3);
    DeliveryLog deliveries;
    LogFollower follower(store, 1, deliveries.handler(), 2);
    follower.start();

    REQUIRE(deliveries.wait_for_count(3));
    CHECK(deliveries.positions() == range(1, 3));

    append_events(store, "b", 4);
    REQUIRE(deliveries.wait_for_count(7));
    CHECK(deliveries.positions() == range(1, 7));

    follower.stop();
    follower.stop();
    CHECK(follower.next_position() == 8);
  }

}  // TEST_SUITE
}  // namespace muster
