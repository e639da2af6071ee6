#pragma once
/// Operator accounts and their sign-in sessions: what the API and the CLI
/// ask of them. Each user is an aggregate on the runtime (user_decider.hpp);
/// reads and the check of a session's secret on every request come from the
/// access read model (projections/access_projection.hpp), in memory.
///
/// Passwords are hashed and checked with Argon2id on the service's own
/// thread, never on a request's or an actor's: one hash at a time (its
/// memory and CPU are bounded), at most `max_waiting` waiting; beyond,
/// `unavailable` / SIGN_IN_BUSY. A sign-in for a user who does not exist
/// still checks the password against a hash, so its answer takes as long
/// and says the same as a wrong password's: names cannot be probed.
///
/// Thread safety: every method may be called from any thread; `done` runs
/// on the hashing thread, the user's actor or the projection runner's
/// thread, never blocking.

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "actors/access/principal.hpp"
#include "actors/runtime/request_context.hpp"
#include "actors/runtime/runtime.hpp"
#include "actors/runtime/when_folded.hpp"
#include "actors/user/user_state.hpp"
#include "common/lifecycle.hpp"
#include "common/password_hash.hpp"
#include "eventstore/event_store.hpp"
#include "projections/access_projection.hpp"

namespace muster {

struct UserServiceOptions {
  /// A dashboard's session (cookie) works this long after signing in. Default: 12 h.
  TimeMs cookie_lifetime_ms = 12 * 3'600'000;
  /// A script's bearer access token works this long; refresh it before. Default: 15 min.
  TimeMs access_lifetime_ms = 15 * 60'000;
  /// A script's refresh token works this long after it was issued. Default: 7 days.
  TimeMs refresh_lifetime_ms = 7 * 24 * 3'600'000LL;
  PasswordHashCost cost;
  /// Sign-ins and password changes waiting for the hashing thread, at most. Default: 16.
  std::size_t max_waiting = 16;
};

struct UserRequest {
  std::string username;
  std::string password;
  Role role = Role::viewer;
  std::optional<std::string> org;  ///< An organization or "*"; nullopt: the creator's choice.
};

/// A session as issued: its plaintext secrets exist only here.
struct SessionGrant {
  User user;
  std::string session_id;
  SessionKind kind = SessionKind::cookie;
  std::string secret;   ///< "ms_<id>_<secret>": the cookie, or the bearer access token.
  std::string refresh;  ///< "mr_<id>_<secret>", token sessions only.
  TimeMs expires_at_ms = 0;
  TimeMs refresh_expires_at_ms = 0;
  std::uint64_t position = 0;
};

class UserService : public Service {
 public:
  /// `access` may be null where nothing reads users back (the CLI); then
  /// listing, sign-in and authentication find nobody. References must
  /// outlive the service.
  UserService(runtime::Runtime& runtime, EventStore& store, const AccessProjection* access,
              TimerService& timers, WhenFolded when_folded, UserServiceOptions options = {});
  ~UserService() override;

  std::string_view name() const override { return "users"; }
  /// Starts the hashing thread.
  Status start() override;
  /// Refuses new work, answers what waits for the hashing thread `unavailable`, joins it.
  void stop() override;

  /// Makes a user in the organization `creation_org` allows `creator`.
  /// Refused: `invalid_argument` (INVALID_USERNAME, INVALID_PASSWORD),
  /// `permission_denied`, `conflict` / USER_EXISTS.
  void create(const Principal& creator, const UserRequest& request, const RequestContext& context,
              std::function<void(Result<User>)> done);
  /// Sets a user's password; every session of theirs ends.
  void set_password(const Principal& caller, const std::string& username, const std::string& password,
                    const RequestContext& context, std::function<void(Result<std::uint64_t>)> done);
  /// Deletes a user; every session of theirs ends.
  void remove(const Principal& caller, const std::string& username, const RequestContext& context,
              std::function<void(Result<std::uint64_t>)> done);
  /// Ends every session of a user (an admin's revocation).
  void end_sessions(const Principal& caller, const std::string& username, const RequestContext& context,
                    std::function<void(Result<std::uint64_t>)> done);
  /// The users `caller` may see (not deleted), in name order; one by name.
  std::vector<User> list(const Principal& caller) const;
  std::optional<User> find(const Principal& caller, const std::string& username) const;

  /// Checks a password and starts a session of `kind`. A wrong name or
  /// password: `unauthenticated` / INVALID_CREDENTIALS, the same for both.
  void sign_in(const std::string& username, const std::string& password, SessionKind kind,
               const RequestContext& context, std::function<void(Result<SessionGrant>)> done);
  /// Rotates a token session: a new access token and a new refresh token;
  /// the old refresh token stops working. `unauthenticated` / INVALID_REFRESH_TOKEN.
  void refresh(const std::string& refresh_token, const RequestContext& context,
               std::function<void(Result<SessionGrant>)> done);
  /// Ends the session `caller` signed in with.
  void sign_out(const SessionCaller& caller, const RequestContext& context,
                std::function<void(Result<std::uint64_t>)> done);
  /// The session of a live cookie or bearer access token, if any.
  std::optional<SessionCaller> authenticate(std::string_view plaintext) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace muster
