#include <cstdio>
#include <string>
#include <vector>

#include "app/cli.hpp"
#include "app/commands.hpp"
#include "common/build_info.hpp"

namespace {

int fail_usage(const std::string& message) {
  std::fprintf(stderr, "muster: %s\n\n%s", message.c_str(), muster::app::usage());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "help" || args[0] == "--help" || args[0] == "-h") {
    std::fputs(muster::app::usage(), args.empty() ? stderr : stdout);
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
  if (args[0] == "keys" && !rest.empty() && rest[0] == "create") {
    auto options = muster::app::parse_keys_create_args({rest.begin() + 1, rest.end()});
    if (!options) return fail_usage(options.error().message);
    return muster::app::run_keys_create(*options);
  }
  return fail_usage("unknown command '" + args[0] + "'");
}
