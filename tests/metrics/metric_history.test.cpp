#include "eventstore/metrics/metric_history.hpp"

#include <doctest/doctest.h>
#include <rocksdb/db.h>

#include <cmath>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "common/timers.hpp"
#include "eventstore/memory_storage.hpp"
#include "eventstore/metrics/metric_codec.hpp"
#include "eventstore/rocksdb_storage.hpp"
#include "tests/support/temp_dir.hpp"

namespace muster {
namespace {

using testing::TempDir;

constexpr TimeMs kMinute = 60'000;
constexpr TimeMs kHour = 3'600'000;
constexpr TimeMs kDay = 86'400'000;
/// A day boundary, so that the simulated days are whole days.
constexpr TimeMs kStart = 1'700'006'400'000;

AgentId agent(int index) {
  std::array<std::uint8_t, 16> bytes{};
  bytes[0] = 0x40;
  bytes[15] = static_cast<std::uint8_t>(index);
  return AgentId::from_bytes(bytes);
}

std::unique_ptr<Storage> open_rocksdb(const TempDir& dir, const Clock& clock) {
  RocksDbOptions options;
  options.path = dir.path();
  options.durability = Durability::wal;
  options.store.clock = &clock;
  auto opened = open_rocksdb_storage(options);
  REQUIRE(opened);
  return std::move(*opened);
}

/// Every point recorded, by series, kept by the test: the straight computation's input.
struct RawPoint {
  TimeMs time_ms;
  double value;
};
using Truth = std::map<std::pair<int, std::string>, std::vector<RawPoint>>;

/// `points` in [from, to) folded into buckets of `step` aligned to its multiples: the straight computation.
std::vector<MetricPoint> straight(const std::vector<RawPoint>& points, TimeMs from, TimeMs to, TimeMs step) {
  std::map<TimeMs, MetricSummary> buckets;
  for (const auto& point : points) {
    if (point.time_ms < from || point.time_ms >= to) continue;
    MetricSummary& bucket = buckets[point.time_ms - point.time_ms % step];
    if (bucket.count == 0) {
      bucket = {point.value, point.value, point.value, 1, point.value};
    } else {
      bucket.min = std::min(bucket.min, point.value);
      bucket.max = std::max(bucket.max, point.value);
      bucket.sum += point.value;
      bucket.count += 1;
      bucket.last = point.value;
    }
  }
  std::vector<MetricPoint> out;
  for (const auto& [time_ms, summary] : buckets) out.push_back({time_ms, summary});
  return out;
}

void check_same(const std::vector<MetricPoint>& got, const std::vector<MetricPoint>& expected) {
  REQUIRE(got.size() == expected.size());
  for (std::size_t index = 0; index < got.size(); ++index) {
    CAPTURE(index);
    CHECK(got[index].time_ms == expected[index].time_ms);
    CHECK(got[index].summary.count == expected[index].summary.count);
    CHECK(got[index].summary.min == expected[index].summary.min);
    CHECK(got[index].summary.max == expected[index].summary.max);
    CHECK(got[index].summary.last == expected[index].summary.last);
    CHECK(got[index].summary.sum == doctest::Approx(expected[index].summary.sum).epsilon(1e-9));
  }
}

/// How many keys of `family` the table holds.
std::size_t count_keys(MetricTable& table, MetricFamily family) {
  std::size_t count = 0;
  REQUIRE(table
              .read([&](MetricReader& reader) -> Status {
                auto cursor = reader.open(family);
                for (cursor->seek(""); cursor->valid(); cursor->next()) ++count;
                return cursor->status();
              })
              .ok());
  return count;
}

/// Every key and value of the aggregate families, to compare two tables.
std::map<std::string, std::string> aggregates_of(MetricTable& table) {
  std::map<std::string, std::string> all;
  REQUIRE(table
              .read([&](MetricReader& reader) -> Status {
                for (auto family : {MetricFamily::minute, MetricFamily::hour, MetricFamily::day}) {
                  auto cursor = reader.open(family);
                  for (cursor->seek(""); cursor->valid(); cursor->next()) {
                    all[std::to_string(static_cast<int>(family)) + std::string(cursor->key())] =
                        std::string(cursor->value());
                  }
                  if (Status status = cursor->status(); !status) return status;
                }
                return Status::success();
              })
              .ok());
  return all;
}

}  // namespace

TEST_SUITE("metric_history") {
  SCENARIO("points round-trip through a real RocksDB data directory, and names persist") {
    TempDir dir;
    ManualTimerService timers(kStart);
    {
      auto storage = open_rocksdb(dir, timers);
      MetricHistory history(storage->metric_table(), timers, {});
      REQUIRE(history.start().ok());
      history.record(agent(1), "acme", kStart + 1000, {{"cpu", 0.5}, {"mem", 100}});
      history.record(agent(1), "acme", kStart + 2000, {{"cpu", 0.75}});
      history.record(agent(2), "other", kStart + 2000, {{"disk", 3}});
      history.stop();
      CHECK(history.stats().points_flushed == 4);
      storage->stop();
    }
    auto storage = open_rocksdb(dir, timers);
    MetricHistory history(storage->metric_table(), timers, {});
    REQUIRE(history.start().ok());
    auto points = history.read(agent(1), "cpu", MetricLevel::raw, kStart, kStart + 10'000, 1);
    REQUIRE(points);
    REQUIRE(points->size() == 2);
    CHECK((*points)[0].time_ms == kStart + 1000);
    CHECK((*points)[0].summary.last == 0.5);
    CHECK((*points)[1].summary.last == 0.75);
    CHECK(history.names("acme") == std::vector<std::string>{"cpu", "mem"});
    CHECK(history.names("other") == std::vector<std::string>{"disk"});
    CHECK(history.names("nobody").empty());
    auto window = history.window(agent(1), "cpu", kStart, kStart + 10'000);
    REQUIRE(window);
    CHECK(window->count == 2);
    CHECK(window->min == 0.5);
    CHECK(window->max == 0.75);
    CHECK(window->last == 0.75);
    history.stop();
  }

  SCENARIO("a data directory written before the metrics existed opens and gets their families") {
    TempDir dir;
    {
      rocksdb::DBOptions options;
      options.create_if_missing = true;
      options.create_missing_column_families = true;
      const std::vector<rocksdb::ColumnFamilyDescriptor> families = {
          {rocksdb::kDefaultColumnFamilyName, {}}, {"events", {}}, {"streams", {}}, {"heads", {}}, {"last_seen", {}},
          {"snapshots", {}}};
      std::vector<rocksdb::ColumnFamilyHandle*> handles;
      rocksdb::DB* opened = nullptr;
      REQUIRE(rocksdb::DB::Open(options, dir.path(), families, &handles, &opened).ok());
      for (auto* handle : handles) REQUIRE(opened->DestroyColumnFamilyHandle(handle).ok());
      REQUIRE(opened->Close().ok());
      delete opened;
    }
    ManualTimerService timers(kStart);
    auto storage = open_rocksdb(dir, timers);
    MetricHistory history(storage->metric_table(), timers, {});
    REQUIRE(history.start().ok());
    history.record(agent(1), "acme", kStart, {{"cpu", 1}});
    auto window = history.window(agent(1), "cpu", kStart, kStart + 1);
    REQUIRE(window);
    CHECK(window->count == 1);
  }

  SCENARIO("rollups match a straight computation over the raw points (randomized)") {
    // Retentions short enough that three simulated days expire raw points
    // and minutes: what is read there comes from the stored aggregates alone.
    MetricHistoryOptions options;
    options.raw_retention_ms = 6 * kHour;
    options.minute_retention_ms = 2 * kDay;
    options.hour_retention_ms = 10 * kDay;
    options.rollup_interval_ms = 5 * kMinute;
    options.rollup_batch_series = 3;  // many steps per pass
    const auto seed = std::random_device{}();
    CAPTURE(seed);
    std::mt19937_64 random(seed);
    ManualTimerService timers(kStart);
    auto storage = open_memory_storage({});
    REQUIRE(storage);
    MetricHistory history((*storage)->metric_table(), timers, options);
    REQUIRE(history.start().ok());

    Truth truth;
    const std::vector<std::string> names = {"cpu", "mem", "latency_ms"};
    std::map<int, TimeMs> next_heartbeat;
    for (int index = 0; index < 4; ++index) next_heartbeat[index] = kStart + static_cast<TimeMs>(random() % 30'000);
    const TimeMs end = kStart + 3 * kDay;
    for (;;) {
      auto earliest = std::min_element(next_heartbeat.begin(), next_heartbeat.end(),
                                       [](const auto& left, const auto& right) { return left.second < right.second; });
      if (earliest->second >= end) break;
      const int index = earliest->first;
      const TimeMs at = earliest->second;
      timers.advance_to(at);
      std::map<std::string, double> metrics;
      for (const auto& name : names) {
        if (random() % 4 == 0) continue;  // not every metric in every heartbeat
        metrics[name] = std::uniform_real_distribution<double>(-100, 100)(random);
        truth[{index, name}].push_back({at, metrics[name]});
      }
      history.record(agent(index), "acme", at, metrics);
      // Mostly every 10 to 40 s, sometimes silent for up to 3 hours.
      earliest->second += random() % 50 == 0 ? static_cast<TimeMs>(random() % (3 * kHour))
                                             : 10'000 + static_cast<TimeMs>(random() % 30'000);
    }
    timers.advance_to(end + 20 * kMinute);
    const TimeMs now = timers.now_ms();
    CHECK(history.stats().passes_finished > 100);

    THEN("raw points older than their retention are gone, the minutes likewise") {
      std::size_t recent = 0;
      for (const auto& [series, points] : truth) {
        for (const auto& point : points) recent += point.time_ms >= now - options.raw_retention_ms - 10 * kMinute;
      }
      CHECK(count_keys((*storage)->metric_table(), MetricFamily::raw) <= recent);
      std::size_t minutes_kept = count_keys((*storage)->metric_table(), MetricFamily::minute);
      CHECK(minutes_kept <= truth.size() * static_cast<std::size_t>((options.minute_retention_ms + kHour) / kMinute));
    }
    THEN("every level answers what a straight computation over the raw points does") {
      for (const auto& entry : truth) {
        const auto& series = entry.first;
        const auto& points = entry.second;
        CAPTURE(series.first);
        CAPTURE(series.second);
        // Raw: the last 6 hours.
        const TimeMs raw_from = now - options.raw_retention_ms + kMinute;
        auto raw = history.read(agent(series.first), series.second, MetricLevel::raw, raw_from, now, 1);
        REQUIRE(raw);
        check_same(*raw, straight(points, raw_from, now, 1));
        // Minutes over the last 2 days (hours of it only as aggregates), in 1 and 5-minute steps.
        const TimeMs minute_from = (now - options.minute_retention_ms + kHour) / kHour * kHour;
        for (TimeMs step : {kMinute, 5 * kMinute}) {
          auto minutes = history.read(agent(series.first), series.second, MetricLevel::minute, minute_from, now, step);
          REQUIRE(minutes);
          check_same(*minutes, straight(points, minute_from, now, step));
        }
        // Hours and days over everything.
        auto hours = history.read(agent(series.first), series.second, MetricLevel::hour, kStart, now, kHour);
        REQUIRE(hours);
        check_same(*hours, straight(points, kStart, now, kHour));
        auto days = history.read(agent(series.first), series.second, MetricLevel::day, kStart, now, kDay);
        REQUIRE(days);
        check_same(*days, straight(points, kStart, now, kDay));
        // A window folds to one summary.
        auto window = history.window(agent(series.first), series.second, now - kHour, now);
        REQUIRE(window);
        auto expected = straight(points, now - kHour, now, 2 * kHour);
        MetricSummary folded;
        for (const auto& point : expected) folded.add(point.summary);
        CHECK(window->count == folded.count);
        CHECK(window->max == folded.max);
      }
    }
    history.stop();
  }

  SCENARIO("a restart in the middle of a rollup pass counts nothing twice") {
    TempDir dir;
    TempDir control_dir;
    MetricHistoryOptions options;
    options.rollup_batch_series = 4;
    ManualTimerService timers(kStart);
    Truth truth;
    // The same heartbeats to both histories.
    auto record_hours = [&](MetricHistory& history, MetricHistory& control, TimeMs from, TimeMs to) {
      for (TimeMs at = from; at < to; at += 15'000) {
        for (int index = 0; index < 10; ++index) {
          const double cpu = std::sin(static_cast<double>(at / 1000 + index));
          const double mem = static_cast<double>(index * 1000 + (at / 15'000) % 97);
          history.record(agent(index), "acme", at, {{"cpu", cpu}, {"mem", mem}});
          control.record(agent(index), "acme", at, {{"cpu", cpu}, {"mem", mem}});
          truth[{index, "cpu"}].push_back({at, cpu});
          truth[{index, "mem"}].push_back({at, mem});
        }
      }
    };
    // Not started: the test drives the steps (no timers armed).
    auto storage = open_rocksdb(dir, timers);
    auto control_storage = open_rocksdb(control_dir, timers);
    auto history = std::make_unique<MetricHistory>(storage->metric_table(), timers, options);
    MetricHistory control(control_storage->metric_table(), timers, options);
    // The control rolls up without interruption.
    record_hours(*history, control, kStart, kStart + 3 * kHour);
    timers.advance_to(kStart + 3 * kHour + kMinute);
    // A first pass, interrupted after two steps (8 of the 20 series).
    REQUIRE(history->roll_up_step(4).value() == false);
    REQUIRE(history->roll_up_step(4).value() == false);
    history->stop();
    history.reset();
    storage->stop();
    storage = open_rocksdb(dir, timers);
    history = std::make_unique<MetricHistory>(storage->metric_table(), timers, options);
    // The new process starts its pass from the first series again. Two
    // passes each: the hours roll up from minutes an earlier step stored.
    int steps = 0;
    while (!history->roll_up_step(4).value()) ++steps;
    CHECK(steps == 5);
    while (!history->roll_up_step(4).value()) {
    }
    for (int pass = 0; pass < 2; ++pass) {
      while (!control.roll_up_step(100).value()) {
      }
    }
    THEN("the stored aggregates are those of an uninterrupted pass") {
      CHECK(aggregates_of(storage->metric_table()) == aggregates_of(control_storage->metric_table()));
      CHECK(count_keys(storage->metric_table(), MetricFamily::minute) == 20 * 180);
    }
    THEN("they match the straight computation") {
      for (const auto& [series, points] : truth) {
        auto minutes = history->read(agent(series.first), series.second, MetricLevel::minute, kStart,
                                     kStart + 3 * kHour, kMinute);
        REQUIRE(minutes);
        check_same(*minutes, straight(points, kStart, kStart + 3 * kHour, kMinute));
        auto hours = history->read(agent(series.first), series.second, MetricLevel::hour, kStart,
                                   kStart + 3 * kHour, kHour);
        REQUIRE(hours);
        check_same(*hours, straight(points, kStart, kStart + 3 * kHour, kHour));
      }
    }
    WHEN("the same pass runs once more at the same time") {
      const auto before = aggregates_of(storage->metric_table());
      while (!history->roll_up_step(3).value()) {
      }
      THEN("nothing changes") { CHECK(aggregates_of(storage->metric_table()) == before); }
    }
  }

  SCENARIO("expiry removes each level's old points once the level above holds them") {
    MetricHistoryOptions options;
    options.raw_retention_ms = kHour;
    options.minute_retention_ms = 3 * kHour;
    options.hour_retention_ms = 2 * kDay;
    options.day_retention_ms = 3 * kDay;
    ManualTimerService timers(kStart);
    auto storage = open_memory_storage({});
    REQUIRE(storage);
    MetricTable& table = (*storage)->metric_table();
    MetricHistory history(table, timers, options);
    REQUIRE(history.start().ok());
    for (TimeMs at = kStart; at < kStart + 2 * kHour; at += 10'000) {
      timers.advance_to(at);
      history.record(agent(1), "acme", at, {{"cpu", 1.0}});
    }
    timers.advance_to(kStart + 2 * kHour + 15 * kMinute);
    THEN("raw points older than an hour (and a slice) are gone, the minutes all kept") {
      const std::size_t raw = count_keys(table, MetricFamily::raw);
      CHECK(raw <= (kHour + 25 * kMinute) / 10'000);
      CHECK(raw >= (kHour - 15 * kMinute) / 10'000);
      CHECK(count_keys(table, MetricFamily::minute) == 120);
    }
    WHEN("five days pass") {
      timers.advance(5 * kDay);
      THEN("only the day aggregates younger than three days are left, then nothing") {
        CHECK(count_keys(table, MetricFamily::raw) == 0);
        CHECK(count_keys(table, MetricFamily::minute) == 0);
        CHECK(count_keys(table, MetricFamily::hour) == 0);
        CHECK(count_keys(table, MetricFamily::day) == 0);
        auto window = history.window(agent(1), "cpu", kStart, timers.now_ms());
        REQUIRE(window);
        CHECK(window->count == 0);
      }
    }
    WHEN("two days pass") {
      timers.advance(2 * kDay);
      THEN("the day remains, and still counts every point") {
        CHECK(count_keys(table, MetricFamily::raw) == 0);
        CHECK(count_keys(table, MetricFamily::minute) == 0);
        // Both hours are past their retention; expiry works in one-day slices, so either may still be there.
        CHECK(count_keys(table, MetricFamily::hour) <= 2);
        CHECK(count_keys(table, MetricFamily::day) == 1);
        auto days = history.read(agent(1), "cpu", MetricLevel::day, kStart, timers.now_ms(), kDay);
        REQUIRE(days);
        REQUIRE(days->size() == 1);
        CHECK(days->front().summary.count == 720);
      }
    }
    history.stop();
  }

  SCENARIO("a metric an agent starts reporting later is rolled up, and its rows expire with the agent's") {
    MetricHistoryOptions options;
    options.raw_retention_ms = kHour;
    ManualTimerService timers(kStart);
    auto storage = open_memory_storage({});
    REQUIRE(storage);
    MetricTable& table = (*storage)->metric_table();
    MetricHistory history(table, timers, options);
    REQUIRE(history.start().ok());
    // Two hours of cpu alone, then an hour with mem as well, one heartbeat a minute.
    for (TimeMs at = kStart; at < kStart + 3 * kHour; at += kMinute) {
      timers.advance_to(at);
      std::map<std::string, double> metrics{{"cpu", 0.5}};
      if (at >= kStart + 2 * kHour) metrics["mem"] = static_cast<double>((at - kStart) / kMinute);
      history.record(agent(1), "acme", at, metrics);
    }
    timers.advance_to(kStart + 3 * kHour + 15 * kMinute);
    THEN("mem's minutes hold each of its points, from the first") {
      auto minutes = history.read(agent(1), "mem", MetricLevel::minute, kStart, kStart + 3 * kHour, kMinute);
      REQUIRE(minutes);
      REQUIRE(minutes->size() == 60);
      CHECK(minutes->front().time_ms == kStart + 2 * kHour);
      CHECK(minutes->front().summary.last == 120.0);
      CHECK(minutes->back().summary.last == 179.0);
      CHECK(history.read(agent(1), "cpu", MetricLevel::minute, kStart, kStart + 3 * kHour, kMinute)->size() == 180);
    }
    THEN("one raw row per heartbeat, the rows older than an hour (and a slice) gone") {
      const std::size_t rows = count_keys(table, MetricFamily::raw);
      CHECK(rows <= 60 + 25);
      CHECK(rows >= 60 - 15);
      auto raw = history.read(agent(1), "mem", MetricLevel::raw, kStart + 2 * kHour + 30 * kMinute,
                              kStart + 3 * kHour, 1);
      REQUIRE(raw);
      CHECK(raw->size() == 30);
    }
    history.stop();
  }

  SCENARIO("a full buffer drops points and says so, and a heartbeat never waits for the table") {
    MetricHistoryOptions options;
    options.max_buffered_bytes = 200;
    ManualTimerService timers(kStart);
    auto storage = open_memory_storage({});
    REQUIRE(storage);
    MetricHistory history((*storage)->metric_table(), timers, options);
    for (int index = 0; index < 10; ++index) history.record(agent(1), "acme", kStart + index, {{"cpu", 1.0}});
    const auto stats = history.stats();
    CHECK(stats.points_recorded == 10);
    CHECK(stats.points_dropped > 0);
    CHECK(stats.buffered_bytes <= 200);
    REQUIRE(history.flush().ok());
    CHECK(history.stats().points_flushed == 10 - stats.points_dropped);
  }
}

}  // namespace muster
