// Dispatch and help of the remote subcommands: `muster GROUP VERB ...`
// finds its row among fleet_commands(), access_commands() and
// event_commands(), parses its arguments and runs it.

#include <cstdio>

#include <fmt/format.h>

#include "app/commands.hpp"
#include "app/remote_command.hpp"

namespace muster::app {
namespace {

const std::vector<RemoteCommand>& all_commands() {
  static const std::vector<RemoteCommand> commands = [] {
    std::vector<RemoteCommand> all = fleet_commands();
    for (auto group : {access_commands(), event_commands()})
      all.insert(all.end(), group.begin(), group.end());
    // kubectl's word for get, which the issue's operators asked for, and a
    // rollout's status: the same command under another name.
    std::vector<RemoteCommand> aliases;
    for (const RemoteCommand& command : all) {
      if (command.verb != "get") continue;
      for (const char* alias : {"show", "status"}) {
        if (std::string(alias) == "status" && command.group != "rollouts") continue;
        RemoteCommand same = command;
        same.verb = alias;
        same.summary = "the same as `" + command.group + " get`";
        aliases.push_back(std::move(same));
      }
    }
    all.insert(all.end(), aliases.begin(), aliases.end());
    return all;
  }();
  return commands;
}

constexpr const char* kGlobalOptions =
    R"(Options of every remote command:
  --server URL        the operators' listener, http://HOST:PORT or https://HOST:PORT
                      [$MUSTER_SERVER, else http://127.0.0.1:8080]
  --key KEY           API key, sent as Authorization: Bearer [$MUSTER_KEY]; never printed
  --ca-cert FILE      PEM certificate authority to trust for https [the system's]
  --output table|json table (or name: value lines) for people, or the API's JSON for
                      scripts (events tail: one JSON object per line) [table]
  A flag wins over its environment variable.
)";

std::string command_line(const RemoteCommand& command) {
  std::string line = fmt::format("  muster {} {}", command.group, command.verb);
  return command.synopsis.empty() ? line : line + " " + command.synopsis;
}

// Every command of `group` (all groups when empty), with what each does.
std::string commands_help(const std::string& group) {
  std::string text;
  for (const RemoteCommand& command : all_commands()) {
    if (!group.empty() && command.group != group) continue;
    text += command_line(command) + "\n      " + command.summary + "\n";
  }
  return text;
}

int fail_usage(const std::string& message, const std::string& help) {
  std::fprintf(stderr, "muster: %s\n\nUsage:\n%s\n%s", message.c_str(), help.c_str(), kGlobalOptions);
  return kExitUsage;
}

bool wants_help(const std::vector<std::string>& args) {
  for (const std::string& arg : args) {
    if (arg == "--help" || arg == "-h") return true;
  }
  return false;
}

}  // namespace

bool is_remote_group(const std::string& group) {
  for (const RemoteCommand& command : all_commands()) {
    if (command.group == group) return true;
  }
  return false;
}

std::string remote_usage() {
  return fmt::format(
      "\nRemote commands (against a running server's operators' API):\n{}\n{}\n"
      "Exit codes: 0 success; 1 server unreachable or server error (5xx); 2 usage error;\n"
      "3 authentication or permission (401, 403); 4 not found (404); 5 other refusal\n"
      "(400, 409, 412, 429, ...: validation, conflict). Errors go to stderr, one line.\n",
      commands_help(""), kGlobalOptions);
}

int run_remote(const std::vector<std::string>& args) {
  const std::string& group = args.at(0);
  const std::string group_help = commands_help(group);
  if (args.size() < 2 || args[1] == "--help" || args[1] == "-h" || args[1] == "help") {
    if (args.size() < 2) return fail_usage(fmt::format("{} needs a command", group), group_help);
    std::printf("Usage:\n%s\n%s", group_help.c_str(), kGlobalOptions);
    return kExitOk;
  }
  for (const RemoteCommand& command : all_commands()) {
    if (command.group != group || command.verb != args[1]) continue;
    const std::vector<std::string> rest(args.begin() + 2, args.end());
    const std::string help = command_line(command) + "\n      " + command.summary + "\n";
    if (wants_help(rest)) {
      std::printf("Usage:\n%s\n%s", help.c_str(), kGlobalOptions);
      return kExitOk;
    }
    auto invocation = parse_remote_args(command.spec, rest);
    if (!invocation) return fail_usage(invocation.error().message, help);
    invocation->command = group + " " + command.verb;
    ApiClient client(invocation->client);
    return command.run(client, *invocation);
  }
  return fail_usage(fmt::format("unknown command '{} {}'", group, args[1]), group_help);
}

}  // namespace muster::app
