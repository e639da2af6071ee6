#include <cstdio>
#include <string>
#include <vector>

#include "app/cli.hpp"
#include "app/commands.hpp"
#include "common/build_info.hpp"

namespace {

std::string full_usage() {
  return muster::app::usage() + muster::app::remote_usage();
}

int fail_usage(const std::string& message) {
  std::fprintf(stderr, "muster: %s\n\n%s", message.c_str(), full_usage().c_str());
  return 2;
}

// `keys create --data DIR` and `users create --data DIR` write into a
// stopped server's data directory; any other `keys` or `users` command calls
// a running server.
bool is_offline_create(const std::vector<std::string>& rest) {
  if (rest.empty() || rest[0] != "create") return false;
  for (const std::string& arg : rest) {
    if (arg == "--data" || arg.rfind("--data=", 0) == 0) return true;
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "help" || args[0] == "--help" || args[0] == "-h") {
    std::fputs(full_usage().c_str(), args.empty() ? stderr : stdout);
    return args.empty() ? 2 : 0;
  }
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  if (args[0] == "version" || args[0] == "--version") {
    const muster::BuildInfo& info = muster::build_info();
    std::printf("muster %s (commit %s)\n", info.version.c_str(), info.commit.c_str());
    return 0;
  }
  if (args[0] == "serve") {
    auto options = muster::app::parse_serve_args(rest);
    if (!options) return fail_usage(options.error().message);
    return muster::app::run_serve(*options);
  }
  if (args[0] == "replay") {
    auto options = muster::app::parse_replay_args(rest);
    if (!options) return fail_usage(options.error().message);
    return muster::app::run_replay(*options);
  }
  if (args[0] == "backup") {
    auto options = muster::app::parse_backup_args(rest);
    if (!options) return fail_usage(options.error().message);
    return muster::app::run_backup(*options);
  }
  if (args[0] == "restore") {
    auto options = muster::app::parse_restore_args(rest);
    if (!options) return fail_usage(options.error().message);
    return muster::app::run_restore(*options);
  }
  if (args[0] == "keys" && is_offline_create(rest)) {
    auto options = muster::app::parse_keys_create_args({rest.begin() + 1, rest.end()});
    if (!options) return fail_usage(options.error().message);
    return muster::app::run_keys_create(*options);
  }
  if (args[0] == "users" && is_offline_create(rest)) {
    auto options = muster::app::parse_users_create_args({rest.begin() + 1, rest.end()});
    if (!options) return fail_usage(options.error().message);
    return muster::app::run_users_create(*options);
  }
  if (muster::app::is_remote_group(args[0])) return muster::app::run_remote(args);
  return fail_usage("unknown command '" + args[0] + "'");
}
