#include "app/offline_store.hpp"

#include <cstdio>

#include "eventstore/rocksdb_storage.hpp"

namespace muster::app {

std::unique_ptr<Storage> open_stopped_data_dir(const std::string& command, const std::string& data_dir,
                                               const Clock& clock, const std::string& api_route) {
  RocksDbOptions options;
  options.path = data_dir;
  options.store.clock = &clock;
  auto opened = open_rocksdb_storage(options);
  if (opened) return std::move(*opened);
  std::fprintf(stderr, "muster %s: cannot open %s: %s\n", command.c_str(), data_dir.c_str(),
               opened.error().message.c_str());
  if (opened.error().code == ErrorCode::unavailable) {
    std::fprintf(stderr, "a running server holds it: use %s with an admin key instead\n", api_route.c_str());
  }
  return nullptr;
}

}  // namespace muster::app
