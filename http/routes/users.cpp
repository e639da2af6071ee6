// /api/v1/users: operators' accounts, admin only. Passwords go in, never out.

#include "http/call.hpp"

namespace muster::http::routes {
namespace {

using nlohmann::json;

TimeMs now_ms(const Call& call) {
  return call.services.timers->now_ms();
}

void create_user(const std::shared_ptr<Call>& call) {
  json body;
  if (!call->parse_body(false, body)) return;
  auto request = parse_user_request(body);
  if (auto* invalid = std::get_if<Invalid>(&request)) return call->reply_invalid(*invalid);
  call->await<User>(
      "BUSY",
      [&](auto done) {
        call->services.users->create(call->principal, std::get<UserRequest>(request), call->context,
                                     std::move(done));
      },
      [call](Result<User> created) {
        if (!created) return call->reply_failure(created.error());
        json answer = user_to_json(*created, now_ms(*call));
        answer["position"] = created->last_position;
        call->reply_json(201, answer);
      });
}

void list_users(const std::shared_ptr<Call>& call) {
  call->when_projected([call] {
    json users = json::array();
    for (const User& user : call->services.users->list(call->principal)) {
      users.push_back(user_to_json(user, now_ms(*call)));
    }
    call->reply_json(200, {{"users", std::move(users)}});
  });
}

void get_user(const std::shared_ptr<Call>& call) {
  call->when_projected([call] {
    const auto user = call->services.users->find(call->principal, call->params["username"]);
    if (!user) return call->reply_error(404, "no user with this name", "USER_NOT_FOUND");
    call->reply_json(200, user_to_json(*user, now_ms(*call)));
  });
}

// Starts a change to the path's user, `start(username, done)`, and answers
// {username, <what>: true, position}. Each such change ends the user's sessions.
template <class Start>
void change_user(const std::shared_ptr<Call>& call, const char* what, Start start) {
  const std::string username = call->params["username"];
  call->await<std::uint64_t>(
      "BUSY", [&](auto done) { start(username, std::move(done)); },
      [call, username, what](Result<std::uint64_t> changed) {
        if (!changed) return call->reply_failure(changed.error());
        call->reply_json(200, {{"username", username}, {what, true}, {"position", *changed}});
      });
}

void delete_user(const std::shared_ptr<Call>& call) {
  change_user(call, "deleted", [&](const std::string& username, auto done) {
    call->services.users->remove(call->principal, username, call->context, std::move(done));
  });
}

void set_password(const std::shared_ptr<Call>& call) {
  json body;
  if (!call->parse_body(false, body)) return;
  auto password = parse_password(body);
  if (auto* invalid = std::get_if<Invalid>(&password)) return call->reply_invalid(*invalid);
  change_user(call, "password_set", [&](const std::string& username, auto done) {
    call->services.users->set_password(call->principal, username, std::get<std::string>(password),
                                       call->context, std::move(done));
  });
}

void end_sessions(const std::shared_ptr<Call>& call) {
  change_user(call, "sessions_ended", [&](const std::string& username, auto done) {
    call->services.users->end_sessions(call->principal, username, call->context, std::move(done));
  });
}

}  // namespace

void add_users(RouteTable& table) {
  table.add("POST", "/api/v1/users", {create_user, Credential::api_key, Role::admin, false, true});
  table.add("GET", "/api/v1/users", any_node({list_users, Credential::api_key, Role::admin}));
  table.add("GET", "/api/v1/users/{username}", any_node({get_user, Credential::api_key, Role::admin}));
  table.add("DELETE", "/api/v1/users/{username}", {delete_user, Credential::api_key, Role::admin});
  table.add("PUT", "/api/v1/users/{username}/password",
            {set_password, Credential::api_key, Role::admin, false, true});
  table.add("DELETE", "/api/v1/users/{username}/sessions", {end_sessions, Credential::api_key, Role::admin});
}

}  // namespace muster::http::routes
