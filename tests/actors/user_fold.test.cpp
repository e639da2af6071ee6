// Users: the fold of a user's stream (sessions kept, expired, ended with the
// password and the account), the decisions on it, and the snapshot codec.

#include <doctest/doctest.h>

#include "actors/runtime/stream_id.hpp"
#include "actors/user/user_decider.hpp"
#include "common/password_hash.hpp"

using namespace muster;

namespace {

// Folds `events` into `user` as the log would hand them, at `time_ms`.
void fold(User& user, const std::vector<UserEvent>& events, TimeMs time_ms) {
  // The header views its stream: the name must outlive it.
  const std::string stream = stream_name(kUserKind, user.username);
  for (const UserEvent& event : events) {
    const EventHeader header{user.last_position + 1, stream, user.version + 1, time_ms};
    const Status folded = apply(user, event, header);
    INFO((folded.ok() ? std::string() : folded.error().message));
    REQUIRE(folded.ok());
  }
}

UserSessionStarted cookie_session(const std::string& id, TimeMs expires_at_ms) {
  return UserSessionStarted{id, SessionKind::cookie, sha256(id), std::nullopt, expires_at_ms, 0};
}

User alice() {
  User user = UserAggregate::initial_state("alice");
  fold(user, {UserCreated{"alice", Role::operator_, "acme", "hash-1"}}, 1'000);
  return user;
}

}  // namespace

SCENARIO("a user's sessions live until they expire, end, or the password or account changes") {
  User user = alice();
  CHECK(user.exists());
  CHECK(user.created_at_ms == 1'000);
  fold(user, {cookie_session("s1", 10'000), cookie_session("s2", 50'000)}, 2'000);
  CHECK(user.sessions.size() == 2);

  WHEN("a later event comes after one has expired") {
    fold(user, {UserSessionEnded{"s-unknown", "logout"}}, 20'000);
    THEN("the fold has dropped it") {
      CHECK(user.sessions.count("s1") == 0);
      CHECK(user.sessions.count("s2") == 1);
    }
  }
  WHEN("one is ended") {
    fold(user, {UserSessionEnded{"s2", "logout"}}, 3'000);
    THEN("only the other is left") {
      CHECK(user.sessions.count("s2") == 0);
      CHECK(user.sessions.size() == 1);
    }
  }
  WHEN("the password is set") {
    fold(user, {UserPasswordSet{"hash-2"}}, 3'000);
    THEN("every session ends") {
      CHECK(user.sessions.empty());
      CHECK(user.password_argon2id == "hash-2");
      CHECK(user.password_set_at_ms == 3'000);
    }
  }
  WHEN("an admin ends them") {
    fold(user, {UserSessionsEnded{}}, 3'000);
    THEN("none is left") {
      CHECK(user.sessions.empty());
    }
  }
  WHEN("the user is deleted and made again") {
    fold(user, {UserDeleted{}}, 3'000);
    CHECK_FALSE(user.exists());
    CHECK(user.sessions.empty());
    fold(user, {UserCreated{"alice", Role::viewer, "acme", "hash-3"}}, 4'000);
    THEN("it is a new account") {
      CHECK(user.exists());
      CHECK(user.role == Role::viewer);
      CHECK(user.created_at_ms == 4'000);
    }
  }
}

TEST_CASE("the fold refuses what cannot happen, and changes nothing then") {
  User user = alice();
  const User before = user;
  const std::string stream = stream_name(kUserKind, "alice");
  const auto header = [&](std::uint64_t version) { return EventHeader{9, stream, version, 5'000}; };
  CHECK_FALSE(apply(user, UserEvent{UserCreated{"alice", Role::admin, "*", "h"}}, header(2)).ok());
  CHECK_FALSE(apply(user, UserEvent{UserSessionsEnded{}}, header(5)).ok());
  CHECK_FALSE(
      apply(user, UserEvent{UserSessionRefreshed{"nope", sha256("a"), sha256("b"), 1, 2}}, header(2)).ok());
  User other = UserAggregate::initial_state("bob");
  CHECK_FALSE(apply(other, UserEvent{UserCreated{"alice", Role::admin, "*", "h"}},
                    EventHeader{1, stream_name(kUserKind, "bob"), 1, 0})
                  .ok());
  CHECK_FALSE(
      apply(other, UserEvent{UserDeleted{}}, EventHeader{1, stream_name(kUserKind, "bob"), 1, 0}).ok());
  CHECK(user == before);
}

TEST_CASE("the decisions: exists, gone, a changed password, a used refresh token, too many sessions") {
  User user = alice();
  CHECK(decide_user(user, CreateUser{Role::admin, "*", "h"}, 0).error().reason == "USER_EXISTS");
  CHECK(decide_user(UserAggregate::initial_state("bob"), DeleteUser{}, 0).error().reason == "USER_NOT_FOUND");
  // A password checked against the hash from before a change starts nothing.
  const auto stale = decide_user(user, StartSession{"hash-0", cookie_session("s", 9'000)}, 2'000);
  REQUIRE_FALSE(stale.ok());
  CHECK(stale.error().code == ErrorCode::unauthenticated);
  CHECK(stale.error().reason == "INVALID_CREDENTIALS");

  fold(user, {UserSessionStarted{"t1", SessionKind::token, sha256("a1"), sha256("r1"), 5'000, 100'000}},
       2'000);
  const auto rotated = UserSessionRefreshed{"t1", sha256("a2"), sha256("r2"), 9'000, 200'000};
  CHECK(decide_user(user, RefreshSession{sha256("r0"), rotated}, 3'000).error().reason ==
        "INVALID_REFRESH_TOKEN");
  CHECK(decide_user(user, RefreshSession{sha256("r1"), rotated}, 100'000).error().reason ==
        "INVALID_REFRESH_TOKEN");
  auto refreshed = decide_user(user, RefreshSession{sha256("r1"), rotated}, 3'000);
  REQUIRE(refreshed.ok());
  fold(user, *refreshed, 3'000);
  // The old refresh token was rotated away.
  CHECK(decide_user(user, RefreshSession{sha256("r1"), rotated}, 4'000).error().reason ==
        "INVALID_REFRESH_TOKEN");
  CHECK(decide_user(user, EndSession{"t9", "logout"}, 4'000).error().reason == "SESSION_NOT_FOUND");

  for (std::size_t index = 1; index < kMaxSessionsPerUser; ++index) {
    fold(user, {cookie_session("c" + std::to_string(index), 900'000)}, 5'000 + static_cast<TimeMs>(index));
  }
  REQUIRE(user.sessions.size() == kMaxSessionsPerUser);
  auto one_more = decide_user(user, StartSession{"hash-1", cookie_session("new", 900'000)}, 6'000);
  REQUIRE(one_more.ok());
  REQUIRE(one_more->size() == 2);
  // The oldest, the token session started at 2'000, makes room.
  CHECK(std::get<UserSessionEnded>((*one_more)[0]).session_id == "t1");
  CHECK(std::get<UserSessionEnded>((*one_more)[0]).reason == "limit");
  fold(user, *one_more, 6'000);
  CHECK(user.sessions.size() == kMaxSessionsPerUser);
}

TEST_CASE("a user's snapshot reads back what it wrote, and damage is refused") {
  User user = alice();
  fold(user,
       {cookie_session("s1", 10'000),
        UserSessionStarted{"t1", SessionKind::token, sha256("a"), sha256("r"), 5'000, 90'000}},
       2'000);
  const auto decoded = decode_user(encode_user(user));
  REQUIRE(decoded.ok());
  CHECK(*decoded == user);
  CHECK_FALSE(decode_user("{}").ok());
  CHECK_FALSE(decode_user("not json").ok());
}

TEST_CASE("usernames take lowercase letters, digits, dot, underscore and dash") {
  CHECK(is_valid_username("alice"));
  CHECK(is_valid_username("a.b-c_9"));
  CHECK_FALSE(is_valid_username(""));
  CHECK_FALSE(is_valid_username("Alice"));
  CHECK_FALSE(is_valid_username("-alice"));
  CHECK_FALSE(is_valid_username("al ice"));
  CHECK_FALSE(is_valid_username(std::string(65, 'a')));
}

TEST_CASE("a password hash verifies its own password only") {
  const PasswordHashCost cheap{64, 1, 1};
  const auto hashed = hash_password("correct horse battery", cheap);
  REQUIRE(hashed.ok());
  CHECK(hashed->rfind("$argon2id$", 0) == 0);
  CHECK(hashed->find("correct horse") == std::string::npos);
  CHECK(verify_password(*hashed, "correct horse battery"));
  CHECK_FALSE(verify_password(*hashed, "correct horse batterY"));
  CHECK_FALSE(verify_password("not a hash", "correct horse battery"));
  // Salted: the same password hashes differently each time.
  CHECK(*hash_password("correct horse battery", cheap) != *hashed);
}
