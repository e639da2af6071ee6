/// rocksdb_baseline: the durable-registration benchmark's baseline. Synced
/// RocksDB Puts of a registration's size from as many threads as muster gets
/// concurrent registrations: what the disk and RocksDB's group commit allow
/// before any of muster's work.
///
///   rocksdb_baseline --dir DIR --threads T --puts N --value-bytes B
///
/// Prints one JSON line: puts, seconds, per_second.

#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <rocksdb/db.h>

int main(int argc, char** argv) {
  std::string dir;
  std::size_t threads = 64, puts = 10'000, value_bytes = 600;
  for (int index = 1; index + 1 < argc; index += 2) {
    const std::string name = argv[index];
    const std::string value = argv[index + 1];
    if (name == "--dir")
      dir = value;
    else if (name == "--threads")
      threads = std::stoul(value);
    else if (name == "--puts")
      puts = std::stoul(value);
    else if (name == "--value-bytes")
      value_bytes = std::stoul(value);
    else
      return 2;
  }
  if (dir.empty() || threads == 0) {
    std::fputs("usage: rocksdb_baseline --dir DIR --threads T --puts N --value-bytes B\n", stderr);
    return 2;
  }
  rocksdb::Options options;
  options.create_if_missing = true;
  rocksdb::DB* opened = nullptr;
  if (const auto status = rocksdb::DB::Open(options, dir, &opened); !status.ok()) {
    std::fprintf(stderr, "cannot open %s: %s\n", dir.c_str(), status.ToString().c_str());
    return 1;
  }
  std::unique_ptr<rocksdb::DB> db(opened);
  rocksdb::WriteOptions synced;
  synced.sync = true;
  const std::string value(value_bytes, 'x');
  std::atomic<std::size_t> next{0};
  std::atomic<bool> failed{false};
  const auto started = std::chrono::steady_clock::now();
  std::vector<std::thread> workers;
  for (std::size_t thread = 0; thread < threads; ++thread) {
    workers.emplace_back([&] {
      for (std::size_t index = next++; index < puts; index = next++) {
        if (!db->Put(synced, fmt::format("key-{:012}", index), value).ok()) failed = true;
      }
    });
  }
  for (auto& worker : workers) worker.join();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf("{\"puts\":%zu,\"seconds\":%.3f,\"per_second\":%.1f}\n", puts, seconds, puts / seconds);
  return failed ? 1 : 0;
}
