/// store_latency: what one durable append costs in each event-store backend,
/// before any of muster's HTTP, actors or read models. C threads each append
/// one event of about B bytes to a stream of its own (kNewStream, as a
/// registration does), N appends in all, through the EventStore contract;
/// the backends' group commit folds what the threads have in flight into one
/// durable write (a fsync, or one JetStream message acknowledged by a quorum).
///
///   muster_bench_store --backend rocksdb-fsync|rocksdb-wal|nats --dir DIR
///                      [--nats-url URLS --replicas R --stream NAME]
///                      --threads C1[,C2...] --appends N [--event-bytes B] [--label L]
///
/// The store is opened once in DIR (a fresh directory) and each thread count
/// runs after the other on it. With `nats`, the servers are the caller's
/// (bench/run starts them): the stream NAME, created with R replicas, must
/// not exist yet or must have R replicas. Prints one JSON line per thread
/// count: label, threads, appends, seconds, per_second, p50_ms, p99_ms,
/// failed. Exits 1 if an append failed or the store would not open.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "eventstore/event_store.hpp"
#include "eventstore/nats_storage.hpp"
#include "eventstore/rocksdb_storage.hpp"

namespace {

struct Args {
  std::string backend;
  std::string dir;
  std::string nats_url;
  int replicas = 1;
  std::string stream = "BENCH";
  std::vector<std::size_t> thread_counts;
  std::size_t appends = 10'000;
  std::size_t event_bytes = 300;
  std::string label;
};

bool parse(int argc, char** argv, Args& args) {
  for (int index = 1; index + 1 < argc; index += 2) {
    const std::string name = argv[index];
    const std::string value = argv[index + 1];
    if (name == "--backend") {
      args.backend = value;
    } else if (name == "--dir") {
      args.dir = value;
    } else if (name == "--nats-url") {
      args.nats_url = value;
    } else if (name == "--replicas") {
      args.replicas = std::stoi(value);
    } else if (name == "--stream") {
      args.stream = value;
    } else if (name == "--threads") {
      for (std::size_t start = 0; start <= value.size();) {
        const auto comma = std::min(value.find(',', start), value.size());
        args.thread_counts.push_back(std::stoul(value.substr(start, comma - start)));
        start = comma + 1;
      }
    } else if (name == "--appends") {
      args.appends = std::stoul(value);
    } else if (name == "--event-bytes") {
      args.event_bytes = std::stoul(value);
    } else if (name == "--label") {
      args.label = value;
    } else {
      return false;
    }
  }
  const bool known = args.backend == "rocksdb-fsync" || args.backend == "rocksdb-wal" ||
                     (args.backend == "nats" && !args.nats_url.empty());
  const bool counts_positive = std::none_of(args.thread_counts.begin(), args.thread_counts.end(),
                                            [](std::size_t count) { return count == 0; });
  return known && !args.dir.empty() && !args.thread_counts.empty() && counts_positive && args.appends > 0;
}

muster::Result<std::unique_ptr<muster::Storage>> open_storage(const Args& args) {
  if (args.backend == "nats") {
    muster::NatsOptions options;
    options.path = args.dir;
    options.connection.url = args.nats_url;
    options.connection.name = "muster_bench_store";
    // A cluster just started may still be electing its meta leader.
    options.connection.connect_wait = std::chrono::seconds(10);
    options.stream = args.stream;
    // A subject space of its own, so the stream overlaps no other on the same servers.
    options.subject_prefix = "bench_" + args.stream;
    options.replicas = args.replicas;
    options.node_id = "bench";
    return muster::open_nats_storage(options);
  }
  muster::RocksDbOptions options;
  options.path = args.dir;
  options.durability = args.backend == "rocksdb-wal" ? muster::Durability::wal : muster::Durability::fsync;
  return muster::open_rocksdb_storage(options);
}

/// The registration-sized payload: a JSON object of about `bytes` bytes.
std::string payload(std::size_t bytes) {
  std::string data = R"({"hostname":"bench-host","labels":{"role":"bench"},"padding":")";
  const std::string tail = "\"}";
  if (data.size() + tail.size() < bytes) data.append(bytes - data.size() - tail.size(), 'x');
  return data + tail;
}

double percentile(std::vector<double>& sorted_latencies, double fraction) {
  if (sorted_latencies.empty()) return 0;
  const auto rank = static_cast<std::size_t>(fraction * static_cast<double>(sorted_latencies.size() - 1));
  return sorted_latencies[rank];
}

/// One measured run: `threads` threads share `appends` appends, each to a
/// new stream named after `run` so that runs on the same store never collide.
bool run(muster::EventStore& store, const Args& args, std::size_t threads, const std::string& run_name) {
  const std::string data = payload(args.event_bytes);
  std::atomic<std::size_t> next{0};
  std::atomic<std::size_t> failed{0};
  std::vector<std::vector<double>> latencies(threads);
  std::vector<std::thread> workers;
  const auto started = std::chrono::steady_clock::now();
  for (std::size_t thread = 0; thread < threads; ++thread) {
    workers.emplace_back([&, thread] {
      auto& mine = latencies[thread];
      for (std::size_t index = next++; index < args.appends; index = next++) {
        std::vector<muster::NewEvent> events{muster::NewEvent{"BenchAppended", data, "{}", 1}};
        const auto before = std::chrono::steady_clock::now();
        auto appended =
            store.append(run_name + ":" + std::to_string(index), muster::kNewStream, std::move(events));
        const auto after = std::chrono::steady_clock::now();
        if (!appended.ok()) {
          // The first failure says why; the count says how often.
          if (failed++ == 0) std::fprintf(stderr, "append failed: %s\n", appended.error().message.c_str());
          continue;
        }
        mine.push_back(std::chrono::duration<double, std::milli>(after - before).count());
      }
    });
  }
  for (auto& worker : workers) worker.join();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::vector<double> all;
  for (auto& mine : latencies) all.insert(all.end(), mine.begin(), mine.end());
  std::sort(all.begin(), all.end());
  const std::size_t succeeded = all.size();
  std::printf(
      "{\"label\":\"%s\",\"threads\":%zu,\"appends\":%zu,\"seconds\":%.3f,\"per_second\":%.1f,"
      "\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"failed\":%zu}\n",
      args.label.c_str(), threads, succeeded, seconds, seconds > 0 ? succeeded / seconds : 0.0,
      percentile(all, 0.50), percentile(all, 0.99), failed.load());
  std::fflush(stdout);
  return failed == 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  if (!parse(argc, argv, args)) {
    std::fputs(
        "usage: muster_bench_store --backend rocksdb-fsync|rocksdb-wal|nats --dir DIR\n"
        "                          [--nats-url URLS --replicas R --stream NAME]\n"
        "                          --threads C1[,C2...] --appends N [--event-bytes B] [--label L]\n",
        stderr);
    return 2;
  }
  if (args.label.empty()) args.label = args.backend;
  auto opened = open_storage(args);
  if (!opened.ok()) {
    std::fprintf(stderr, "cannot open the %s store: %s\n", args.backend.c_str(),
                 opened.error().message.c_str());
    return 1;
  }
  auto storage = std::move(opened).value();
  bool clean = true;
  for (const auto threads : args.thread_counts) {
    clean = run(storage->events(), args, threads, "bench-c" + std::to_string(threads)) && clean;
  }
  storage->stop();
  return clean ? 0 : 1;
}
