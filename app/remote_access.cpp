// `muster keys|tokens list|create|revoke`: operators' API keys and agents'
// enrollment tokens on a running server (admin). A new key or token is in
// the answer only, so `create` prints it once, as the API does.
// (`muster keys create --data DIR` issues a key offline instead: app/keys.cpp.)
// `muster users ...`: operators' accounts (admin); a password is read from
// stdin, never taken as an argument. (`users create --data DIR`: app/users.cpp.)

#include "app/password_prompt.hpp"
#include "app/remote_command.hpp"

namespace muster::app {

using nlohmann::json;

namespace {

// `method` `target` with `body` plus the password read from stdin.
int send_with_password(ApiClient& client, const RemoteInvocation& invocation, const std::string& method,
                       const std::string& target, json body) {
  const auto password = read_password();
  if (!password) {
    std::fprintf(stderr, "muster %s: no password on stdin\n", invocation.command.c_str());
    return kExitUsage;
  }
  body["password"] = *password;
  return run_one(client, invocation, method, target, body);
}

}  // namespace
std::vector<RemoteCommand> access_commands() {
  return {
      {"keys",
       "list",
       "",
       "list API keys (never the keys themselves)",
       {},
       [](ApiClient& client, const RemoteInvocation& invocation) {
         return run_list(client, invocation, "/api/v1/api-keys", "api_keys",
                         {{"ID", "id"},
                          {"NAME", "name"},
                          {"ROLE", "role"},
                          {"ORG", "org"},
                          {"CREATED", "created_at"},
                          {"REVOKED", "revoked"}});
       }},
      {"keys",
       "create",
       "--name NAME --role viewer|operator|admin [--org ORG|*]",
       "issue an API key and print it (only this once); with --data DIR instead, offline (muster --help)",
       {{}, {"--name", "--role", "--org"}, {}, {}},
       [](ApiClient& client, const RemoteInvocation& invocation) {
         return run_one(client, invocation, "POST", "/api/v1/api-keys",
                        body_of(invocation, {{"--name", "name"}, {"--role", "role"}, {"--org", "org"}}));
       }},
      command_on_one("keys", "revoke", "ID", "revoke an API key (for good)", "DELETE", "/api/v1/api-keys"),
      {"tokens",
       "list",
       "",
       "list enrollment tokens (uses, expiry; never the tokens themselves)",
       {},
       [](ApiClient& client, const RemoteInvocation& invocation) {
         return run_list(client, invocation, "/api/v1/enrollment-tokens", "enrollment_tokens",
                         {{"ID", "id"},
                          {"NAME", "name"},
                          {"ORG", "org"},
                          {"USES", "uses"},
                          {"MAX_USES", "max_uses"},
                          {"EXPIRES", "expires_at"},
                          {"REVOKED", "revoked"}});
       }},
      {"tokens",
       "create",
       "--name NAME [--expires-in D] [--max-uses N] [--label K=V]... [--org ORG]",
       "issue an enrollment token for agents and print it (only this once)",
       {{}, {"--name", "--expires-in", "--max-uses", "--org"}, {"--label"}, {}},
       [](ApiClient& client, const RemoteInvocation& invocation) {
         json body =
             body_of(invocation, {{"--name", "name"}, {"--expires-in", "expires_in"}, {"--org", "org"}});
         if (const auto max_uses = invocation.value("--max-uses"))
           body["max_uses"] = number_or_text(*max_uses);
         if (const auto labels = invocation.values.find("--label"); labels != invocation.values.end()) {
           body["labels"] = json::object();
           for (const std::string& label : labels->second) {
             const auto equals = label.find('=');
             // "K" without "=V" is sent as an empty value, for the server to judge.
             body["labels"][label.substr(0, equals)] =
                 equals == std::string::npos ? "" : label.substr(equals + 1);
           }
         }
         return run_one(client, invocation, "POST", "/api/v1/enrollment-tokens", body);
       }},
      command_on_one("tokens", "revoke", "ID", "revoke an enrollment token (for good)", "DELETE",
                     "/api/v1/enrollment-tokens"),
      {"users",
       "list",
       "",
       "list operator accounts (never a password)",
       {},
       [](ApiClient& client, const RemoteInvocation& invocation) {
         return run_list(client, invocation, "/api/v1/users", "users",
                         {{"USERNAME", "username"},
                          {"ROLE", "role"},
                          {"ORG", "org"},
                          {"SESSIONS", "sessions"},
                          {"CREATED", "created_at"}});
       }},
      command_on_one("users", "get", "USERNAME", "show an operator account", "GET", "/api/v1/users"),
      {"users",
       "create",
       "--username NAME --role viewer|operator|admin [--org ORG|*] < PASSWORD",
       "make an operator account, its password read from stdin; with --data DIR instead, offline",
       {{}, {"--username", "--role", "--org"}, {}, {}},
       [](ApiClient& client, const RemoteInvocation& invocation) {
         return send_with_password(
             client, invocation, "POST", "/api/v1/users",
             body_of(invocation, {{"--username", "username"}, {"--role", "role"}, {"--org", "org"}}));
       }},
      {"users",
       "password",
       "USERNAME < PASSWORD",
       "set a user's password (read from stdin); every session of theirs ends",
       {{"USERNAME"}, {}, {}, {}},
       [](ApiClient& client, const RemoteInvocation& invocation) {
         return send_with_password(client, invocation, "PUT",
                                   path_of("/api/v1/users", invocation.arguments[0], "/password"),
                                   json::object());
       }},
      command_on_one("users", "sign-out", "USERNAME", "end every session of a user", "DELETE",
                     "/api/v1/users", "/sessions"),
      command_on_one("users", "delete", "USERNAME", "delete an operator account; its sessions end", "DELETE",
                     "/api/v1/users"),
  };
}

}  // namespace muster::app
