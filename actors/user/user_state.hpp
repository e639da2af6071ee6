#pragma once
/// Operator accounts: people who sign in as themselves, with the roles and
/// organization scopes API keys have. Each user is a stream "user:<username>"
/// holding the account and its sign-in sessions, so `muster replay` shows who
/// made whom, who signed in when, and who ended which session:
///
///   UserCreated          {username, role, org, password_argon2id}
///   UserPasswordSet      {password_argon2id}   ends every session
///   UserDeleted          {}                    ends every session
///   UserSessionStarted   {session_id, kind, secret_sha256, refresh_sha256?,
///                         expires_at, refresh_expires_at?}
///   UserSessionRefreshed {session_id, secret_sha256, refresh_sha256,
///                         expires_at, refresh_expires_at}
///   UserSessionEnded     {session_id, reason}  ("logout", "limit")
///   UserSessionsEnded    {}                    an admin ended them all
///
/// A session's secret reads "ms_<session_id>_<secret>": the dashboard's
/// cookie, or a script's bearer access token; a script's refresh token reads
/// "mr_<session_id>_<secret>". Only their SHA-256 digests are kept, and only
/// the Argon2id hash of the password (common/password_hash.hpp); event views
/// drop every "*_sha256" and "*_argon2id" member (projections/event_queries.hpp).
///
/// The fold drops sessions past their last expiry as of each event's time,
/// so a user's state holds at most `kMaxSessionsPerUser` live sessions.

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include <nlohmann/json.hpp>

#include "actors/api_key/api_key_state.hpp"
#include "actors/runtime/payload_codec.hpp"
#include "common/clock.hpp"
#include "common/result.hpp"
#include "common/secrets.hpp"

namespace muster {

inline constexpr std::string_view kUserKind = "user";
inline constexpr std::string_view kSessionPrefix = "ms";
inline constexpr std::string_view kRefreshPrefix = "mr";
/// Live sessions one user may hold; starting one more ends the oldest.
inline constexpr std::size_t kMaxSessionsPerUser = 32;

/// True for a username: 1 to 64 of [a-z0-9._-], starting with a letter or digit.
bool is_valid_username(std::string_view text);

enum class SessionKind {
  cookie,  ///< The dashboard's: an HttpOnly cookie, CSRF-checked on writes.
  token,   ///< A script's: a short-lived bearer token and a refresh token.
};
const char* to_string(SessionKind kind);
std::optional<SessionKind> parse_session_kind(std::string_view text);

struct UserCreated {
  static constexpr EventType kType{"UserCreated", kUserKind, 1};
  std::string username;
  Role role = Role::viewer;
  std::string org;
  std::string password_argon2id;
  nlohmann::json to_json() const;
  static Result<UserCreated> from_json(const nlohmann::json& data, std::uint32_t schema_version);
};

struct UserPasswordSet {
  static constexpr EventType kType{"UserPasswordSet", kUserKind, 1};
  std::string password_argon2id;
  nlohmann::json to_json() const;
  static Result<UserPasswordSet> from_json(const nlohmann::json& data, std::uint32_t schema_version);
};

struct UserDeleted {
  static constexpr EventType kType{"UserDeleted", kUserKind, 1};
  nlohmann::json to_json() const { return nlohmann::json::object(); }
  static Result<UserDeleted> from_json(const nlohmann::json&, std::uint32_t) { return UserDeleted{}; }
};

struct UserSessionStarted {
  static constexpr EventType kType{"UserSessionStarted", kUserKind, 1};
  std::string session_id;
  SessionKind kind = SessionKind::cookie;
  Sha256 secret_sha256{};
  std::optional<Sha256> refresh_sha256;  ///< Token sessions only.
  TimeMs expires_at_ms = 0;
  TimeMs refresh_expires_at_ms = 0;  ///< Token sessions; 0 for a cookie.
  nlohmann::json to_json() const;
  static Result<UserSessionStarted> from_json(const nlohmann::json& data, std::uint32_t schema_version);
};

struct UserSessionRefreshed {
  static constexpr EventType kType{"UserSessionRefreshed", kUserKind, 1};
  std::string session_id;
  Sha256 secret_sha256{};
  Sha256 refresh_sha256{};
  TimeMs expires_at_ms = 0;
  TimeMs refresh_expires_at_ms = 0;
  nlohmann::json to_json() const;
  static Result<UserSessionRefreshed> from_json(const nlohmann::json& data, std::uint32_t schema_version);
};

struct UserSessionEnded {
  static constexpr EventType kType{"UserSessionEnded", kUserKind, 1};
  std::string session_id;
  std::string reason;
  nlohmann::json to_json() const { return {{"session_id", session_id}, {"reason", reason}}; }
  static Result<UserSessionEnded> from_json(const nlohmann::json& data, std::uint32_t schema_version);
};

struct UserSessionsEnded {
  static constexpr EventType kType{"UserSessionsEnded", kUserKind, 1};
  nlohmann::json to_json() const { return nlohmann::json::object(); }
  static Result<UserSessionsEnded> from_json(const nlohmann::json&, std::uint32_t) {
    return UserSessionsEnded{};
  }
};

using UserEvent = std::variant<UserCreated, UserPasswordSet, UserDeleted, UserSessionStarted,
                               UserSessionRefreshed, UserSessionEnded, UserSessionsEnded>;

struct UserSession {
  std::string session_id;
  SessionKind kind = SessionKind::cookie;
  Sha256 secret_sha256{};
  std::optional<Sha256> refresh_sha256;
  TimeMs started_at_ms = 0;
  TimeMs expires_at_ms = 0;
  TimeMs refresh_expires_at_ms = 0;

  /// The last moment anything of it works: its refresh token's, or its own.
  TimeMs last_expiry_ms() const { return std::max(expires_at_ms, refresh_expires_at_ms); }
};
bool operator==(const UserSession& left, const UserSession& right);

struct User {
  std::string username;
  Role role = Role::viewer;
  std::string org;
  std::string password_argon2id;
  bool deleted = false;
  TimeMs created_at_ms = 0;
  TimeMs password_set_at_ms = 0;
  std::map<std::string, UserSession> sessions;  ///< Live as of the last event, by id.
  std::uint64_t version = 0;
  std::uint64_t last_position = 0;

  /// Created and not deleted.
  bool exists() const { return version > 0 && !deleted; }
};
bool operator==(const User& left, const User& right);

/// A user's state in a snapshot, and back. Total: damage gives `corruption`.
std::string encode_user(const User& user);
Result<User> decode_user(std::string_view bytes);

/// Folds one event of a "user:" stream. Errors: `corruption`, state unchanged.
Status apply(User& user, const Event& event);
Status apply(User& user, const UserEvent& event, const EventHeader& header);

}  // namespace muster
