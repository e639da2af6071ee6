// What `EventStore` itself provides to a backend: the default `scan_log`,
// built on `read_log` for backends that cannot read in place.

#include "eventstore/event_store.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <optional>

namespace muster {
namespace {

/// A log of `count` events that only reads, counting its reads; `failing_from`
/// makes reads from that position on fail.
class ReadOnlyLog final : public EventStore {
 public:
  explicit ReadOnlyLog(std::uint64_t count, std::optional<std::uint64_t> failing_from = std::nullopt)
      : failing_from_(failing_from) {
    for (std::uint64_t position = 1; position <= count; ++position) {
      events_.push_back(Event{position, "s", position, "T" + std::to_string(position), 0, 1, "{}", "{}"});
    }
  }

  void append_async(std::string, std::uint64_t, std::vector<NewEvent>, AppendCallback done) override {
    done(make_error(ErrorCode::unavailable, "read-only"));
  }
  Result<std::vector<Event>> read_stream(const std::string&, std::uint64_t, std::size_t) const override {
    return std::vector<Event>();
  }
  Result<std::vector<Event>> read_log(std::uint64_t from_position, std::size_t max_count) const override {
    ++reads;
    if (failing_from_ && from_position >= *failing_from_) return make_error(ErrorCode::io_error, "disk gone");
    const std::uint64_t begin =
        std::min<std::uint64_t>(std::max<std::uint64_t>(1, from_position) - 1, events_.size());
    const std::uint64_t end = begin + std::min<std::uint64_t>(max_count, events_.size() - begin);
    return std::vector<Event>(events_.begin() + static_cast<std::ptrdiff_t>(begin),
                              events_.begin() + static_cast<std::ptrdiff_t>(end));
  }
  Result<std::uint64_t> head_position() const override { return events_.size(); }
  Result<std::uint64_t> stream_version(const std::string&) const override { return events_.size(); }
  Result<std::uint64_t> wait_for_position(std::uint64_t, std::chrono::milliseconds) const override {
    return events_.size();
  }
  void stop() override {}

  mutable std::size_t reads = 0;

 private:
  std::vector<Event> events_;
  std::optional<std::uint64_t> failing_from_;
};

/// Positions visited, stopping after `stop_after` (never, if 0), and the answer.
std::pair<std::vector<std::uint64_t>, Result<std::uint64_t>> scan_positions(const EventStore& store,
                                                                            std::uint64_t from_position,
                                                                            std::size_t max_count,
                                                                            std::uint64_t stop_after = 0) {
  std::vector<std::uint64_t> positions;
  auto next = store.scan_log(from_position, max_count, [&](const EventView& event) {
    CHECK(event.type == "T" + std::to_string(event.position));
    positions.push_back(event.position);
    return event.position != stop_after;
  });
  return {positions, next};
}

}  // namespace

TEST_SUITE("event_store") {
  TEST_CASE("the default scan_log reads the log in bounded batches and says where to go on") {
    ReadOnlyLog store(3000);
    SUBCASE("the whole log, in a few reads") {
      auto [positions, next] = scan_positions(store, 1, 10'000);
      CHECK(positions.size() == 3000);
      CHECK(positions.back() == 3000);
      CHECK(*next == 3001);
      CHECK(store.reads <= 3);
    }
    SUBCASE("a limit, a start from 0, past the head, or nothing") {
      CHECK(scan_positions(store, 2, 3).first == std::vector<std::uint64_t>{2, 3, 4});
      CHECK(*scan_positions(store, 2, 3).second == 5);
      CHECK(scan_positions(store, 0, 2).first == std::vector<std::uint64_t>{1, 2});
      CHECK(*scan_positions(store, 5000, 10).second == 5000);
      CHECK(scan_positions(store, 1, 0).first.empty());
      CHECK(*scan_positions(store, 7, 0).second == 7);
    }
    SUBCASE("a visitor that stops") {
      auto [positions, next] = scan_positions(store, 1000, 10'000, /*stop_after=*/1500);
      CHECK(positions.size() == 501);
      CHECK(*next == 1501);
    }
    SUBCASE("a read that fails") {
      ReadOnlyLog failing(3000, 1025);
      auto [positions, next] = scan_positions(failing, 1, 10'000);
      CHECK(positions.size() == 1024);
      REQUIRE_FALSE(next.ok());
      CHECK(next.error().code == ErrorCode::io_error);
    }
  }
}  // TEST_SUITE
}  // namespace muster
