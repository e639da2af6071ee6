// `muster users create --data DIR`: the first admin account of a data
// directory (or any account) made while its server is stopped, as
// `keys create --data` makes a key. On a running server, POST /api/v1/users.

#include <cstdio>

#include <nlohmann/json.hpp>

#include "actors/runtime/await.hpp"
#include "actors/user/user_service.hpp"
#include "app/commands.hpp"
#include "app/offline_store.hpp"
#include "app/password_prompt.hpp"
#include "common/timers.hpp"
#include "http/json_views.hpp"

namespace muster::app {

int run_users_create(const UsersCreateOptions& options) {
  const auto password = read_password();
  if (!password) {
    std::fputs("muster users create: no password on stdin\n", stderr);
    return 1;
  }
  RealTimerService timers;
  const std::unique_ptr<Storage> storage =
      open_stopped_data_dir("users create", options.data_dir, timers, "POST /api/v1/users");
  if (!storage) return 1;
  Result<User> created = make_error(ErrorCode::internal, "not run");
  {
    // The user is an aggregate like any other: made by its own actor, as in `serve`.
    runtime::Runtime actors(timers, {});
    UserService users(actors, storage->events(), nullptr, timers, nullptr);
    Status started = users.start();
    RequestContext context;
    context.cause = "cli";
    const Principal cli{"", Role::admin, std::string(kAllOrgs)};
    if (started) {
      created = await_result<User>(
          [&](auto done) {
            users.create(cli, {options.username, *password, options.role, options.org}, context,
                         std::move(done));
          },
          60'000, "BUSY");
    } else {
      created = started.error();
    }
    users.stop();
    actors.stop();
  }
  storage->stop();
  if (!created) {
    std::fprintf(stderr, "muster users create: %s\n", created.error().message.c_str());
    return 1;
  }
  std::puts(http::user_to_json(*created, timers.now_ms()).dump().c_str());
  return 0;
}

}  // namespace muster::app
