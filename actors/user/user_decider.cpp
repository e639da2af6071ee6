#include "actors/user/user_decider.hpp"

#include <algorithm>

namespace muster {
namespace {

using Events = std::vector<UserEvent>;

Error no_user() {
  return make_error(ErrorCode::not_found, "no user with this name", "USER_NOT_FOUND");
}

Result<Events> start(const User& user, const StartSession& command, TimeMs now_ms) {
  if (!user.exists() || user.password_argon2id != command.verified_argon2id) {
    return make_error(ErrorCode::unauthenticated, "wrong username or password", "INVALID_CREDENTIALS");
  }
  Events events;
  std::vector<const UserSession*> live;
  for (const auto& [id, session] : user.sessions) {
    if (session.last_expiry_ms() > now_ms) live.push_back(&session);
  }
  if (live.size() >= kMaxSessionsPerUser) {
    const auto oldest = std::min_element(live.begin(), live.end(), [](const auto* left, const auto* right) {
      return left->started_at_ms < right->started_at_ms;
    });
    events.emplace_back(UserSessionEnded{(*oldest)->session_id, "limit"});
  }
  events.emplace_back(command.session);
  return events;
}

Result<Events> refresh(const User& user, const RefreshSession& command, TimeMs now_ms) {
  const Error refused =
      make_error(ErrorCode::unauthenticated, "the refresh token is malformed, unknown, expired or used",
                 "INVALID_REFRESH_TOKEN");
  if (!user.exists()) return refused;
  const auto found = user.sessions.find(command.refreshed.session_id);
  if (found == user.sessions.end() || !found->second.refresh_sha256 ||
      found->second.refresh_expires_at_ms <= now_ms ||
      !constant_time_equal(*found->second.refresh_sha256, command.presented_refresh_sha256)) {
    return refused;
  }
  return Events{command.refreshed};
}

}  // namespace

Result<std::vector<UserEvent>> decide_user(const User& user, const UserCommand& command, TimeMs now_ms) {
  if (const auto* create = std::get_if<CreateUser>(&command)) {
    if (user.exists()) return make_error(ErrorCode::conflict, "a user with this name exists", "USER_EXISTS");
    return Events{UserCreated{user.username, create->role, create->org, create->password_argon2id}};
  }
  if (const auto* start_session = std::get_if<StartSession>(&command))
    return start(user, *start_session, now_ms);
  if (const auto* refresh_session = std::get_if<RefreshSession>(&command)) {
    return refresh(user, *refresh_session, now_ms);
  }
  if (!user.exists()) return no_user();
  if (const auto* password = std::get_if<SetUserPassword>(&command)) {
    return Events{UserPasswordSet{password->password_argon2id}};
  }
  if (std::holds_alternative<DeleteUser>(command)) return Events{UserDeleted{}};
  if (const auto* end = std::get_if<EndSession>(&command)) {
    const auto found = user.sessions.find(end->session_id);
    if (found == user.sessions.end() || found->second.last_expiry_ms() <= now_ms) {
      return make_error(ErrorCode::not_found, "no live session with this id", "SESSION_NOT_FOUND");
    }
    return Events{UserSessionEnded{end->session_id, end->reason}};
  }
  return Events{UserSessionsEnded{}};
}

}  // namespace muster
