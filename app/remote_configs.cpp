// `muster configs ...`: configs and policies (README "Configs"). `push`
// sends local files as a config's next version (creating the config the
// first time); `diff` prints the server's unified diffs as they are.

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "app/remote_command.hpp"
#include "app/terminal_text.hpp"

namespace muster::app {
namespace {

using nlohmann::json;

// What a file's name says it holds, for the config's `content_type`.
std::string content_type_of(const std::string& name) {
  const auto ends_with = [&](const char* suffix) {
    const std::size_t length = std::strlen(suffix);
    return name.size() >= length && name.compare(name.size() - length, length, suffix) == 0;
  };
  if (ends_with(".yaml") || ends_with(".yml")) return "application/yaml";
  if (ends_with(".json")) return "application/json";
  return "text/plain";
}

std::string config_path(const RemoteInvocation& invocation, const std::string& tail = "") {
  return Query()
      .add("org", invocation.value("--org"))
      .on(path_of("/api/v1/configs", invocation.arguments[0], tail));
}

int push(ApiClient& client, const RemoteInvocation& invocation) {
  const auto paths = invocation.values.find("--file");
  if (paths == invocation.values.end()) {
    std::fprintf(stderr, "muster %s: give the config's files with --file PATH\n", invocation.command.c_str());
    return kExitUsage;
  }
  // Each file under its own name (the path's last part), as the agents get it.
  json files = json::object();
  for (const std::string& path : paths->second) {
    const auto text = read_local_file(invocation, path);
    if (!text) return kExitUsage;
    const std::string name = path.substr(path.rfind('/') + 1);
    files[name] = {{"content_type", invocation.value("--content-type").value_or(content_type_of(name))},
                   {"body", *text}};
  }
  json version = body_of(invocation, {{"--message", "message"}});
  version["files"] = files;
  const ApiAnswer updated = client.request("PUT", config_path(invocation), &version);
  if (updated.status != 404 || updated.body.value("code", "") != "CONFIG_NOT_FOUND") {
    return print_one(invocation, updated);
  }
  json created = body_of(invocation, {{"--kind", "kind"}, {"--description", "description"}});
  created.update(version);
  created["name"] = invocation.arguments[0];
  return print_one(
      invocation,
      client.request("POST", Query().add("org", invocation.value("--org")).on("/api/v1/configs"), &created));
}

// Each changed file's name and change, then its unified diff line by line.
int diff(ApiClient& client, const RemoteInvocation& invocation) {
  const ApiAnswer answer = client.get(Query()
                                          .add("from", invocation.value("--from"))
                                          .add("to", invocation.value("--to"))
                                          .add("org", invocation.value("--org"))
                                          .on(path_of("/api/v1/configs", invocation.arguments[0], "/diff")));
  if (!answer.ok() || invocation.output == OutputFormat::json) return print_one(invocation, answer);
  const json files = answer.body.value("files", json::array());
  if (files.empty()) std::puts("no change");
  for (const json& file : files) {
    std::printf("%s: %s\n", cell_text(file.value("name", json())).c_str(),
                cell_text(file.value("change", json())).c_str());
    std::istringstream lines(file.value("diff", ""));
    for (std::string line; std::getline(lines, line);) std::puts(terminal_safe_text(line).c_str());
  }
  return finish_output();
}

}  // namespace

std::vector<RemoteCommand> config_commands() {
  return {
      {"configs",
       "list",
       "[--org ORG]",
       "list configs and policies",
       {{}, {"--org"}, {}, {}},
       [](ApiClient& client, const RemoteInvocation& invocation) {
         return run_list(client, invocation,
                         Query().add("org", invocation.value("--org")).on("/api/v1/configs"), "configs",
                         {{"NAME", "name"},
                          {"KIND", "kind"},
                          {"VERSION", "latest_version"},
                          {"HASH", "hash"},
                          {"UPDATED", "updated_at"}});
       }},
      {"configs",
       "get",
       "NAME [--version N] [--org ORG]",
       "a config's latest (or given) version with its files",
       {{"NAME"}, {"--version", "--org"}, {}, {}},
       [](ApiClient& client, const RemoteInvocation& invocation) {
         return run_one(client, invocation, "GET",
                        Query()
                            .add("version", invocation.value("--version"))
                            .add("org", invocation.value("--org"))
                            .on(path_of("/api/v1/configs", invocation.arguments[0])));
       }},
      {"configs",
       "push",
       "NAME --file PATH... [--message TEXT] [--content-type T] [--kind config|policy] [--description TEXT] "
       "[--org ORG]",
       "send local files as the config's next version (each named as its path's last part; "
       "created with --kind and --description the first time)",
       {{"NAME"}, {"--message", "--content-type", "--kind", "--description", "--org"}, {"--file"}, {}},
       push},
      {"configs",
       "diff",
       "NAME --from N --to M [--org ORG]",
       "the unified diff of each file between two versions",
       {{"NAME"}, {"--from", "--to", "--org"}, {}, {}},
       diff},
      {"configs",
       "rollback",
       "NAME --version N [--message TEXT] [--org ORG]",
       "make an earlier version's files the latest again (a new version)",
       {{"NAME"}, {"--version", "--message", "--org"}, {}, {}},
       [](ApiClient& client, const RemoteInvocation& invocation) {
         json body = body_of(invocation, {{"--message", "message"}});
         if (const auto version = invocation.value("--version")) body["version"] = number_or_text(*version);
         return run_one(client, invocation, "POST", config_path(invocation, "/rollback"), body);
       }},
  };
}

}  // namespace muster::app
