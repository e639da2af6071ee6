#pragma once
/// A user's commands and decisions, and the user as the runtime runs it.
/// Secrets arrive already digested or hashed: no plaintext reaches a decision.

#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "actors/runtime/aggregate_host.hpp"
#include "actors/runtime/stream_id.hpp"
#include "actors/user/user_state.hpp"

namespace muster {

struct CreateUser {
  Role role = Role::viewer;
  std::string org;
  std::string password_argon2id;
};
struct SetUserPassword {
  std::string password_argon2id;
};
struct DeleteUser {};
/// Starts a session for a password checked against `verified_argon2id`:
/// refused if the password changed since (or the user is gone).
struct StartSession {
  std::string verified_argon2id;
  UserSessionStarted session;
};
/// Rotates a token session's secrets, if `presented_refresh_sha256` is its live refresh token.
struct RefreshSession {
  Sha256 presented_refresh_sha256{};
  UserSessionRefreshed refreshed;
};
struct EndSession {
  std::string session_id;
  std::string reason;
};
struct EndSessions {};
using UserCommand = std::variant<CreateUser, SetUserPassword, DeleteUser, StartSession, RefreshSession,
                                 EndSession, EndSessions>;

/// The errors, each `unauthenticated` where a credential was wrong so the
/// caller's address is throttled:
///   create:   `conflict` / USER_EXISTS
///   others:   `not_found` / USER_NOT_FOUND (never made, or deleted)
///   start:    `unauthenticated` / INVALID_CREDENTIALS (gone, or its password changed)
///   refresh:  `unauthenticated` / INVALID_REFRESH_TOKEN (unknown, expired, or rotated away)
///   end:      `not_found` / SESSION_NOT_FOUND
/// Starting the (kMaxSessionsPerUser+1)th live session ends the oldest first ("limit").
Result<std::vector<UserEvent>> decide_user(const User& user, const UserCommand& command, TimeMs now_ms);

struct UserAggregate {
  static constexpr std::string_view kKind = kUserKind;
  using State = User;
  using Payload = UserEvent;
  using Command = UserCommand;
  using Context = runtime::DecideContext;

  static State initial_state(const std::string& id) {
    User user;
    user.username = id;
    return user;
  }
  static std::string stream_of(const State& state) { return stream_name(kKind, state.username); }
  static Result<std::vector<Payload>> decide(const State& state, const Command& command, Context& context) {
    return decide_user(state, command, context.now_ms);
  }
  static Status apply(State& state, const Payload& event, const EventHeader& header) {
    return muster::apply(state, event, header);
  }
  static Status apply(State& state, const Event& event) { return muster::apply(state, event); }
};

}  // namespace muster
