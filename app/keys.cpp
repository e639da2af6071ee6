#include <cstdio>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "app/commands.hpp"
#include "http/json_views.hpp"

namespace muster::app {

int run_keys_create(const KeysCreateOptions& options) {
  RocksDbOptions store_options;
  store_options.path = options.data_dir;
  auto opened = open_rocksdb_storage(store_options);
  if (!opened) {
    std::fprintf(stderr, "muster keys create: cannot open %s: %s\n%s", options.data_dir.c_str(),
                 opened.error().message.c_str(),
                 opened.error().code == ErrorCode::unavailable
                     ? "a running server holds it: use POST /api/v1/api-keys with an admin key instead\n"
                     : "");
    return 1;
  }
  auto issued =
      issue_api_key((*opened)->events(), options.name, options.role, options.org, R"({"cause":"cli"})");
  if (!issued) {
    std::fprintf(stderr, "muster keys create: %s\n", issued.error().message.c_str());
    return 1;
  }
  nlohmann::json answer = http::api_key_to_json(issued->key);
  answer["key"] = issued->plaintext;
  std::puts(answer.dump().c_str());
  return 0;
}

}  // namespace muster::app
