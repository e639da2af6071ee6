// `muster agents|groups|configs|commands|rollouts|alerts ...`: the fleet's
// routes of the operators' API (README "Using it" and the sections of each
// resource), one row per subcommand.

#include <cstdio>

#include <fmt/format.h>

#include "app/remote_command.hpp"
#include "app/terminal_text.hpp"

namespace muster::app {
namespace {

using nlohmann::json;

std::vector<RemoteCommand> agent_commands() {
  const std::vector<Column> columns = {{"AGENT_ID", "agent_id"},  {"NAME", "name"},
                                       {"STATUS", "status"},      {"VERSION", "version"},
                                       {"TYPE", "type"},          {"CONFIG", "config_status"},
                                       {"LAST_SEEN", "last_seen"}};
  return {
      {"agents",
       "list",
       "[--status S] [--version V] [--type T] [--label K=V]... [--search TEXT] [--group G] "
       "[--config-status S] [--org ORG] [--limit N] [--cursor C]",
       "list agents, filtered and paged as GET /api/v1/agents",
       {{},
        {"--status", "--version", "--type", "--search", "--group", "--config-status", "--org", "--limit",
         "--cursor"},
        {"--label"},
        {}},
       [columns](ApiClient& client, const RemoteInvocation& invocation) {
         Query query;
         query.add("status", invocation.value("--status"))
             .add("version", invocation.value("--version"))
             .add("type", invocation.value("--type"))
             .add("q", invocation.value("--search"))
             .add("group", invocation.value("--group"))
             .add("config_status", invocation.value("--config-status"))
             .add("org", invocation.value("--org"))
             .add("limit", invocation.value("--limit"))
             .add("cursor", invocation.value("--cursor"));
         if (const auto labels = invocation.values.find("--label"); labels != invocation.values.end()) {
           query.add_each("label", labels->second);
         }
         return run_list(client, invocation, query.on("/api/v1/agents"), "agents", columns);
       }},
      command_on_one("agents", "get", "AGENT_ID", "one agent with its health and configuration", "GET",
                     "/api/v1/agents"),
      command_on_one("agents", "deregister", "AGENT_ID", "deregister an agent (it may register again)",
                     "DELETE", "/api/v1/agents"),
      command_on_one("agents", "decommission", "AGENT_ID",
                     "retire an agent for good (its instance can never register again)", "POST",
                     "/api/v1/agents", "/decommission"),
  };
}

std::vector<RemoteCommand> group_commands() {
  return {
      {"groups",
       "list",
       "[--org ORG]",
       "list groups",
       {{}, {"--org"}, {}, {}},
       [](ApiClient& client, const RemoteInvocation& invocation) {
         return run_list(client, invocation,
                         Query().add("org", invocation.value("--org")).on("/api/v1/groups"), "groups",
                         {{"NAME", "name"},
                          {"MEMBERS", "member_count"},
                          {"PRIORITY", "priority"},
                          {"DESCRIPTION", "description"}});
       }},
      {"groups",
       "get",
       "NAME [--org ORG]",
       "one group with its selector and assignment",
       {{"NAME"}, {"--org"}, {}, {}},
       [](ApiClient& client, const RemoteInvocation& invocation) {
         return run_one(client, invocation, "GET",
                        Query()
                            .add("org", invocation.value("--org"))
                            .on(path_of("/api/v1/groups", invocation.arguments[0])));
       }},
  };
}

std::vector<RemoteCommand> command_commands() {
  return {
      {"commands",
       "list",
       "[--agent ID] [--type T] [--state S] [--batch ID] [--limit N] [--cursor C]",
       "list commands sent to agents",
       {{}, {"--agent", "--type", "--state", "--batch", "--limit", "--cursor"}, {}, {}},
       [](ApiClient& client, const RemoteInvocation& invocation) {
         Query query;
         for (const char* name : {"agent", "type", "state", "batch", "limit", "cursor"}) {
           query.add(name, invocation.value(std::string("--") + name));
         }
         return run_list(client, invocation, query.on("/api/v1/commands"), "commands",
                         {{"COMMAND_ID", "command_id"},
                          {"AGENT_ID", "agent_id"},
                          {"TYPE", "type"},
                          {"STATE", "state"},
                          {"CREATED", "created_at"}});
       }},
      command_on_one("commands", "get", "COMMAND_ID", "one command with its deliveries and result", "GET",
                     "/api/v1/commands"),
      {"commands",
       "send",
       "AGENT_ID --type T [--params JSON] [--priority normal|emergency] [--expires-in D] [--idempotency-key "
       "K]",
       "send a command to one agent",
       {{"AGENT_ID"}, {"--type", "--params", "--priority", "--expires-in", "--idempotency-key"}, {}, {}},
       [](ApiClient& client, const RemoteInvocation& invocation) {
         json body = body_of(invocation, {{"--type", "type"},
                                          {"--priority", "priority"},
                                          {"--expires-in", "expires_in"},
                                          {"--idempotency-key", "idempotency_key"}});
         if (const auto params = invocation.value("--params")) {
           // Sent as JSON when it is JSON; else as text, which the server refuses by name.
           const json parsed = json::parse(*params, nullptr, false);
           body["params"] = parsed.is_discarded() ? json(*params) : parsed;
         }
         return run_one(client, invocation, "POST",
                        path_of("/api/v1/agents", invocation.arguments[0], "/commands"), body);
       }},
      command_on_one("commands", "cancel", "COMMAND_ID", "cancel a command not yet finished", "POST",
                     "/api/v1/commands", "/cancel"),
  };
}

// pause, resume and abort: a POST with an optional reason.
RemoteCommand rollout_step(const std::string& verb, const std::string& summary) {
  return {"rollouts",
          verb,
          "ROLLOUT_ID [--reason TEXT]",
          summary,
          {{"ROLLOUT_ID"}, {"--reason"}, {}, {}},
          [verb](ApiClient& client, const RemoteInvocation& invocation) {
            return run_one(client, invocation, "POST",
                           path_of("/api/v1/rollouts", invocation.arguments[0], "/" + verb),
                           body_of(invocation, {{"--reason", "reason"}}));
          }};
}

std::vector<RemoteCommand> rollout_commands() {
  return {
      {"rollouts",
       "list",
       "[--limit N] [--cursor C]",
       "list rollouts",
       {{}, {"--limit", "--cursor"}, {}, {}},
       [](ApiClient& client, const RemoteInvocation& invocation) {
         return run_list(client, invocation,
                         Query()
                             .add("limit", invocation.value("--limit"))
                             .add("cursor", invocation.value("--cursor"))
                             .on("/api/v1/rollouts"),
                         "rollouts",
                         {{"ROLLOUT_ID", "rollout_id"},
                          {"NAME", "name"},
                          {"STATE", "state"},
                          {"STAGE", "current_stage"},
                          {"CREATED", "created_at"}});
       }},
      {"rollouts",
       "start",
       "--file ROLLOUT.json",
       "start a rollout defined in a file: {name, target, change, stages, gate?, on_failure?} as the API "
       "takes",
       {{}, {"--file"}, {}, {}},
       [](ApiClient& client, const RemoteInvocation& invocation) {
         const auto path = invocation.value("--file");
         if (!path) {
           std::fprintf(stderr, "muster %s: give the rollout's definition with --file PATH\n",
                        invocation.command.c_str());
           return static_cast<int>(kExitUsage);
         }
         const auto text = read_local_file(invocation, *path);
         if (!text) return static_cast<int>(kExitUsage);
         const json body = json::parse(*text, nullptr, false);
         if (!body.is_object()) {
           std::fprintf(stderr, "muster %s: %s is not a JSON object\n", invocation.command.c_str(),
                        terminal_safe_text(*path).c_str());
           return static_cast<int>(kExitUsage);
         }
         return run_one(client, invocation, "POST", "/api/v1/rollouts", body);
       }},
      command_on_one("rollouts", "get", "ROLLOUT_ID", "one rollout with each stage's progress", "GET",
                     "/api/v1/rollouts"),
      rollout_step("pause", "pause a running rollout"),
      rollout_step("resume", "resume a paused rollout"),
      rollout_step("abort", "abort a rollout (agents keep what they have)"),
  };
}

std::vector<RemoteCommand> alert_commands() {
  return {
      {"alerts",
       "list",
       "[--state firing|pending|resolved] [--severity S] [--rule ID] [--limit N]",
       "list alerts",
       {{}, {"--state", "--severity", "--rule", "--limit"}, {}, {}},
       [](ApiClient& client, const RemoteInvocation& invocation) {
         Query query;
         for (const char* name : {"state", "severity", "rule", "limit"}) {
           query.add(name, invocation.value(std::string("--") + name));
         }
         return run_list(client, invocation, query.on("/api/v1/alerts"), "alerts",
                         {{"ALERT_ID", "alert_id"},
                          {"STATE", "state"},
                          {"SEVERITY", "severity"},
                          {"SUMMARY", "summary"},
                          {"FIRED", "fired_at"}});
       }},
      {"alerts",
       "ack",
       "ALERT_ID [--comment TEXT]",
       "acknowledge a firing alert (stops its escalation)",
       {{"ALERT_ID"}, {"--comment"}, {}, {}},
       [](ApiClient& client, const RemoteInvocation& invocation) {
         return run_one(client, invocation, "POST",
                        path_of("/api/v1/alerts", invocation.arguments[0], "/ack"),
                        body_of(invocation, {{"--comment", "comment"}}));
       }},
  };
}

}  // namespace

std::vector<RemoteCommand> fleet_commands() {
  std::vector<RemoteCommand> all;
  for (auto group : {agent_commands(), group_commands(), config_commands(), command_commands(),
                     rollout_commands(), alert_commands()}) {
    all.insert(all.end(), group.begin(), group.end());
  }
  return all;
}

}  // namespace muster::app
