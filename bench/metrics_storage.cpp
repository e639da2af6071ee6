/// What the metrics history costs on disk: a simulated day of heartbeats,
/// each carrying METRICS metrics, from AGENTS agents every INTERVAL seconds,
/// recorded through the real history (buffer, flusher, rollup passes on a
/// manual clock) into a real RocksDB data directory; then every metric
/// family is compacted and its table files measured. Prints one JSON line:
/// bytes per agent per metric per day at each level, and what the default
/// retentions (raw 24h, 1m 7d, 1h 90d, 1d 365d) keep per agent and metric.
///
///   muster_bench_metrics [--agents N] [--metrics M] [--interval-s S] [--dir DIR]
///
/// The values are random walks (gauges), growing counters and noisy
/// latencies, so compression sees what real metrics give it, not constants.

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "common/timers.hpp"
#include "eventstore/metrics/metric_history.hpp"
#include "eventstore/rocksdb_storage.hpp"

namespace {

using muster::TimeMs;

constexpr TimeMs kDayMs = 86'400'000;
constexpr TimeMs kStartMs = 1'700'006'400'000;  // a day boundary

int fail(const std::string& message) {
  std::fprintf(stderr, "muster_bench_metrics: %s\n", message.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  int agents = 200;
  int metrics = 8;
  int interval_s = 30;
  std::string dir;
  for (int index = 1; index + 1 < argc; index += 2) {
    const std::string flag = argv[index];
    const std::string value = argv[index + 1];
    if (flag == "--agents") {
      agents = std::atoi(value.c_str());
    } else if (flag == "--metrics") {
      metrics = std::atoi(value.c_str());
    } else if (flag == "--interval-s") {
      interval_s = std::atoi(value.c_str());
    } else if (flag == "--dir") {
      dir = value;
    } else {
      return fail("unknown flag " + flag);
    }
  }
  if (agents < 1 || metrics < 1 || metrics > 64 || interval_s < 1) return fail("bad sizes");
  bool remove_dir = false;
  if (dir.empty()) {
    dir = (std::filesystem::temp_directory_path() / fmt::format("muster-bench-metrics-{}", ::getpid())).string();
    remove_dir = true;
  }

  muster::ManualTimerService timers(kStartMs);
  muster::RocksDbOptions options;
  options.path = dir;
  options.durability = muster::Durability::wal;
  options.store.clock = &timers;
  auto opened = muster::open_rocksdb_storage(options);
  if (!opened) return fail(opened.error().message);
  muster::Storage& storage = **opened;

  // Nothing expires during the simulated day: every level keeps all of it.
  muster::MetricHistoryOptions history_options;
  history_options.raw_retention_ms = 3 * kDayMs;
  history_options.minute_retention_ms = 3 * kDayMs;
  history_options.hour_retention_ms = 3 * kDayMs;
  history_options.day_retention_ms = 3 * kDayMs;
  muster::MetricHistory history(storage.metric_table(), timers, history_options);
  if (auto started = history.start(); !started) return fail(started.error().message);

  std::mt19937_64 random(42);
  std::vector<muster::AgentId> ids;
  for (int index = 0; index < agents; ++index) ids.push_back(muster::AgentId::random());
  const std::vector<std::string> names = {"cpu",        "memory_bytes", "error_rate", "latency_ms",
                                          "logs_processed", "errors_total", "queue_len", "disk_free_bytes"};
  std::vector<std::vector<double>> state(agents, std::vector<double>(metrics, 0.0));
  std::normal_distribution<double> noise(0.0, 1.0);

  const auto started_at = std::chrono::steady_clock::now();
  std::uint64_t points = 0;
  // Each agent heartbeats every interval, the fleet spread evenly over it.
  const TimeMs interval_ms = interval_s * 1000LL;
  std::map<std::string, double> values;
  for (TimeMs round = kStartMs; round < kStartMs + kDayMs; round += interval_ms) {
    for (int agent = 0; agent < agents; ++agent) {
      const TimeMs now = round + agent * interval_ms / agents;
      timers.advance_to(now);
      values.clear();
      auto& walk = state[agent];
      for (int metric = 0; metric < metrics; ++metric) {
        double& value = walk[metric];
        switch (metric % 4) {
          case 0:  // a gauge wandering between 0 and 1
            value = std::min(1.0, std::max(0.0, value + 0.02 * noise(random)));
            break;
          case 1:  // a large gauge (bytes)
            value = value == 0 ? 4e9 : value + 1e6 * noise(random);
            break;
          case 2:  // a counter
            value += std::floor(std::abs(50 * noise(random)));
            break;
          default:  // a noisy latency
            value = std::abs(20 + 5 * noise(random));
            break;
        }
        const std::string name =
            metric < static_cast<int>(names.size()) ? names[metric] : fmt::format("m{}", metric);
        values[name] = value;
      }
      history.record(ids[agent], "bench", now, values);
      points += values.size();
    }
  }
  // Let the last buckets close and roll up (the day's own 1d bucket too).
  timers.advance_to(kStartMs + kDayMs + 3 * 3'600'000);
  while (!history.roll_up_step(100'000).value()) {
  }
  while (!history.roll_up_step(100'000).value()) {
  }
  const double simulate_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started_at).count();
  history.stop();
  if (auto compacted = storage.metric_table().compact(); !compacted) return fail(compacted.error().message);

  const double series = static_cast<double>(agents) * metrics;
  auto per_series = [&](muster::MetricFamily family) {
    auto bytes = storage.metric_table().stored_bytes(family);
    return bytes ? static_cast<double>(*bytes) / series : -1.0;
  };
  const double raw = per_series(muster::MetricFamily::raw);
  const double minute = per_series(muster::MetricFamily::minute);
  const double hour = per_series(muster::MetricFamily::hour);
  const double day = per_series(muster::MetricFamily::day);
  const double meta = per_series(muster::MetricFamily::meta);
  // What the default retentions keep of one agent's metric, steady state.
  const double retained = raw * 1 + minute * 7 + hour * 90 + day * 365 + meta;
  std::printf(
      "{\"agents\":%d,\"metrics\":%d,\"interval_s\":%d,\"points\":%llu,\"simulate_s\":%.1f,"
      "\"raw_bytes_per_agent_metric_day\":%.0f,\"minute_bytes_per_agent_metric_day\":%.0f,"
      "\"hour_bytes_per_agent_metric_day\":%.1f,\"day_bytes_per_agent_metric_day\":%.1f,"
      "\"marks_bytes_per_agent_metric\":%.1f,\"raw_bytes_per_point\":%.2f,\"minute_bytes_per_bucket\":%.2f,"
      "\"default_retention_bytes_per_agent_metric\":%.0f}\n",
      agents, metrics, interval_s, static_cast<unsigned long long>(points), simulate_s, raw, minute, hour, day, meta,
      raw / (86'400.0 / interval_s), minute / 1440.0, retained);
  storage.stop();
  if (remove_dir) std::filesystem::remove_all(dir);
  return 0;
}
