#include <cstdio>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "actors/api_key/api_key_service.hpp"
#include "actors/runtime/await.hpp"
#include "app/commands.hpp"
#include "common/timers.hpp"
#include "eventstore/rocksdb_storage.hpp"
#include "http/json_views.hpp"

namespace muster::app {

int run_keys_create(const KeysCreateOptions& options) {
  RealTimerService timers;
  RocksDbOptions store_options;
  store_options.path = options.data_dir;
  store_options.store.clock = &timers;
  auto opened = open_rocksdb_storage(store_options);
  if (!opened) {
    std::fprintf(stderr, "muster keys create: cannot open %s: %s\n%s", options.data_dir.c_str(),
                 opened.error().message.c_str(),
                 opened.error().code == ErrorCode::unavailable
                     ? "a running server holds it: use POST /api/v1/api-keys with an admin key instead\n"
                     : "");
    return 1;
  }
  Result<IssuedApiKey> issued = make_error(ErrorCode::internal, "not run");
  {
    // The key is an aggregate like any other: made by its own actor, on the same runtime as in `serve`.
    runtime::Runtime actors(timers, {});
    ApiKeyService keys(actors, (*opened)->events(), nullptr, nullptr);
    RequestContext context;
    context.cause = "cli";
    const Principal cli{"", Role::admin, std::string(kAllOrgs)};
    issued = await_result<IssuedApiKey>(
        [&](auto done) { keys.create(cli, {options.name, options.role, options.org}, context, std::move(done)); },
        60'000, "BUSY");
    keys.stop();
    actors.stop();
  }
  (*opened)->stop();
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
