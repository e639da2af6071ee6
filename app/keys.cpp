#include <cstdio>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "actors/api_key/api_key_service.hpp"
#include "actors/runtime/await.hpp"
#include "app/commands.hpp"
#include "app/offline_store.hpp"
#include "common/timers.hpp"
#include "http/json_views.hpp"

namespace muster::app {

int run_keys_create(const KeysCreateOptions& options) {
  RealTimerService timers;
  const std::unique_ptr<Storage> storage =
      open_stopped_data_dir("keys create", options.data_dir, timers, "POST /api/v1/api-keys");
  if (!storage) return 1;
  Result<IssuedApiKey> issued = make_error(ErrorCode::internal, "not run");
  {
    // The key is an aggregate like any other: made by its own actor, on the same runtime as in `serve`.
    runtime::Runtime actors(timers, {});
    ApiKeyService keys(actors, storage->events(), nullptr, nullptr);
    RequestContext context;
    context.cause = "cli";
    const Principal cli{"", Role::admin, std::string(kAllOrgs)};
    issued = await_result<IssuedApiKey>(
        [&](auto done) {
          keys.create(cli, {options.name, options.role, options.org}, context, std::move(done));
        },
        60'000, "BUSY");
    keys.stop();
    actors.stop();
  }
  storage->stop();
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
