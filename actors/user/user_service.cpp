#include "actors/user/user_service.hpp"

#include <fmt/format.h>

#include "actors/access/credentials.hpp"
#include "actors/access/record_revocation.hpp"
#include "actors/user/user_decider.hpp"
#include "common/log.hpp"

namespace muster {
namespace {

Error wrong_credentials() {
  return make_error(ErrorCode::unauthenticated, "wrong username or password", "INVALID_CREDENTIALS");
}

Error invalid_field(std::string message, std::string code, std::string field) {
  Error error = make_error(ErrorCode::invalid_argument, std::move(message), std::move(code));
  error.field = std::move(field);
  return error;
}

Status check_password(const std::string& password) {
  if (password.size() < kMinPasswordBytes || password.size() > kMaxPasswordBytes) {
    return invalid_field(
        fmt::format("password must be {} to {} bytes long", kMinPasswordBytes, kMaxPasswordBytes),
        "INVALID_PASSWORD", "password");
  }
  return Status::success();
}

Status check_username(const std::string& username) {
  if (!is_valid_username(username)) {
    return invalid_field(
        "username must be 1 to 64 of a-z, 0-9, '.', '_' and '-', starting with a letter or digit",
        "INVALID_USERNAME", "username");
  }
  return Status::success();
}

}  // namespace

struct UserService::Impl {
  Impl(runtime::Runtime& runtime, EventStore& store, const AccessProjection* access_in,
       TimerService& timers_in, WhenFolded when_folded_in, UserServiceOptions options_in)
      : access(access_in),
        timers(timers_in),
        when_folded(std::move(when_folded_in)),
        options(options_in),
        host(runtime, store, repository, host_options()) {}

  static runtime::AggregateHostOptions host_options() {
    runtime::AggregateHostOptions options;
    options.core.kind = "user";
    return options;
  }

  // --- The hashing thread ----------------------------------------------------------
  /// Queues `run` for the hashing thread, or calls `refuse` with why not:
  /// too much waits (SIGN_IN_BUSY) or the service stopped (SHUTTING_DOWN).
  /// A job still waiting when the service stops is refused the same way.
  void submit(std::function<void()> run, std::function<void(Error)> refuse) {
    Error refused;
    {
      std::lock_guard<std::mutex> lock(mutex);
      if (!stopping && waiting.size() < options.max_waiting) {
        waiting.push_back({std::move(run), std::move(refuse)});
        wake.notify_one();
        return;
      }
      refused = stopping ? shutting_down() : busy();
    }
    refuse(std::move(refused));
  }

  void run() {
    for (;;) {
      Job job;
      {
        std::unique_lock<std::mutex> lock(mutex);
        wake.wait(lock, [this] { return stopping || !waiting.empty(); });
        if (waiting.empty()) return;
        job = std::move(waiting.front());
        waiting.pop_front();
      }
      job.run();
    }
  }

  static Error busy() {
    return make_error(ErrorCode::unavailable, "too many sign-ins and password changes at once; retry shortly",
                      "SIGN_IN_BUSY");
  }

  /// Hashes `password` on the hashing thread, then `then(hash)`.
  void hash_then(std::string password, std::function<void(Result<std::string>)> then) {
    auto shared_then = std::make_shared<std::function<void(Result<std::string>)>>(std::move(then));
    submit([this, password = std::move(password),
            shared_then] { (*shared_then)(hash_password(password, options.cost)); },
           [shared_then](Error refused) { (*shared_then)(std::move(refused)); });
  }

  /// Sends `command` to `username`'s actor; `done` gets the position once the read models hold it.
  void send_then_fold(const std::string& username, UserCommand command, const RequestContext& context,
                      std::function<void(Result<runtime::Outcome<User>>)> done) {
    host.send(username, std::move(command), context,
              [this, done = std::move(done)](Result<runtime::Outcome<User>> outcome) mutable {
                if (!outcome) return done(outcome.error());
                auto shared = std::make_shared<runtime::Outcome<User>>(std::move(*outcome));
                once_folded(when_folded, shared->position,
                            [shared, done = std::move(done)] { done(*shared); });
              });
  }

  /// send_then_fold for a change whose answer is its position alone.
  void send_for_position(const std::string& username, UserCommand command, const RequestContext& context,
                         std::function<void(Result<std::uint64_t>)> done) {
    send_then_fold(username, std::move(command), context,
                   [done = std::move(done)](Result<runtime::Outcome<User>> outcome) {
                     if (!outcome) return done(outcome.error());
                     done(outcome->position);
                   });
  }

  /// A user `caller` may see, or USER_NOT_FOUND (another organization's is not there for a scoped caller).
  Status visible(const Principal& caller, const std::string& username) const {
    const auto user = access ? access->user(username) : std::nullopt;
    if (!is_valid_username(username) ||
        (caller.org != kAllOrgs && !(user && org_visible(caller.org, user->org)))) {
      return make_error(ErrorCode::not_found, "no user with this name", "USER_NOT_FOUND");
    }
    return Status::success();
  }

  /// Issues a session of `kind` for `user`, expiring from `now_ms`.
  SessionGrant new_grant(const User& user, const std::string& session_id, SessionKind kind) const {
    SessionGrant grant;
    grant.user = user;
    grant.session_id = session_id;
    grant.kind = kind;
    const TimeMs now_ms = timers.now_ms();
    grant.expires_at_ms =
        now_ms + (kind == SessionKind::cookie ? options.cookie_lifetime_ms : options.access_lifetime_ms);
    if (kind == SessionKind::token) grant.refresh_expires_at_ms = now_ms + options.refresh_lifetime_ms;
    return grant;
  }

  const AccessProjection* access;
  TimerService& timers;
  const WhenFolded when_folded;
  const UserServiceOptions options;
  runtime::FoldRepository<UserAggregate> repository;
  runtime::AggregateHost<UserAggregate> host;
  /// Checked against when the user named does not exist, so that costs the same.
  std::string decoy_hash;

  std::mutex mutex;
  std::condition_variable wake;
  struct Job {
    std::function<void()> run;
    std::function<void(Error)> refuse;
  };
  std::deque<Job> waiting;
  bool stopping = false;
  std::thread worker;
};

UserService::UserService(runtime::Runtime& runtime, EventStore& store, const AccessProjection* access,
                         TimerService& timers, WhenFolded when_folded, UserServiceOptions options)
    : impl_(std::make_unique<Impl>(runtime, store, access, timers, std::move(when_folded), options)) {}

UserService::~UserService() {
  stop();
}

Status UserService::start() {
  auto decoy = random_token(24);
  if (!decoy) return decoy.error();
  auto hashed = hash_password(*decoy, impl_->options.cost);
  if (!hashed) return hashed.error();
  impl_->decoy_hash = std::move(*hashed);
  impl_->worker = std::thread([impl = impl_.get()] { impl->run(); });
  return Status::success();
}

void UserService::stop() {
  std::deque<Impl::Job> dropped;
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    impl_->stopping = true;
    dropped.swap(impl_->waiting);
    impl_->wake.notify_all();
  }
  // Answered now rather than left to their callers' deadlines.
  for (Impl::Job& job : dropped) job.refuse(shutting_down());
  if (impl_->worker.joinable()) impl_->worker.join();
  impl_->host.stop();
}

void UserService::create(const Principal& creator, const UserRequest& request, const RequestContext& context,
                         std::function<void(Result<User>)> done) {
  if (Status valid = check_username(request.username); !valid) return done(valid.error());
  if (Status valid = check_password(request.password); !valid) return done(valid.error());
  auto org = creation_org(creator, request.org);
  if (!org) return done(org.error());
  Impl* impl = impl_.get();
  impl->hash_then(request.password,
                  [impl, request_username = request.username, role = request.role, org = std::move(*org),
                   context, done = std::move(done)](Result<std::string> hash) mutable {
                    if (!hash) return done(hash.error());
                    impl->send_then_fold(request_username, CreateUser{role, org, std::move(*hash)}, context,
                                         [done = std::move(done)](Result<runtime::Outcome<User>> outcome) {
                                           if (!outcome) return done(outcome.error());
                                           done(outcome->state);
                                         });
                  });
}

void UserService::set_password(const Principal& caller, const std::string& username,
                               const std::string& password, const RequestContext& context,
                               std::function<void(Result<std::uint64_t>)> done) {
  if (Status seen = impl_->visible(caller, username); !seen) return done(seen.error());
  if (Status valid = check_password(password); !valid) return done(valid.error());
  Impl* impl = impl_.get();
  impl->hash_then(
      password, [impl, username, context, done = std::move(done)](Result<std::string> hash) mutable {
        if (!hash) return done(hash.error());
        impl->send_for_position(username, SetUserPassword{std::move(*hash)}, context, std::move(done));
      });
}

void UserService::remove(const Principal& caller, const std::string& username, const RequestContext& context,
                         std::function<void(Result<std::uint64_t>)> done) {
  if (Status seen = impl_->visible(caller, username); !seen) return done(seen.error());
  impl_->send_for_position(username, DeleteUser{}, context, std::move(done));
}

void UserService::end_sessions(const Principal& caller, const std::string& username,
                               const RequestContext& context,
                               std::function<void(Result<std::uint64_t>)> done) {
  if (Status seen = impl_->visible(caller, username); !seen) return done(seen.error());
  impl_->send_for_position(username, EndSessions{}, context, std::move(done));
}

std::vector<User> UserService::list(const Principal& caller) const {
  std::vector<User> visible;
  if (!impl_->access) return visible;
  for (User& user : impl_->access->users()) {
    if (org_visible(caller.org, user.org)) visible.push_back(std::move(user));
  }
  return visible;
}

std::optional<User> UserService::find(const Principal& caller, const std::string& username) const {
  auto user = impl_->access ? impl_->access->user(username) : std::nullopt;
  if (!user || !org_visible(caller.org, user->org)) return std::nullopt;
  return user;
}

void UserService::sign_in(const std::string& username, const std::string& password, SessionKind kind,
                          const RequestContext& context, std::function<void(Result<SessionGrant>)> done) {
  // Too long a password is not hashed (its cost would be the caller's to choose); it is wrong all the same.
  if (password.size() > kMaxPasswordBytes) return done(wrong_credentials());
  const auto user =
      is_valid_username(username) && impl_->access ? impl_->access->user(username) : std::nullopt;
  std::string encoded = user ? user->password_argon2id : impl_->decoy_hash;
  Impl* impl = impl_.get();
  auto shared_done = std::make_shared<std::function<void(Result<SessionGrant>)>>(std::move(done));
  // The session's events name the user who signed in.
  RequestContext session_context = context;
  session_context.principal = "user:" + username;
  impl->submit(
      [impl, user, encoded = std::move(encoded), password, kind, context = std::move(session_context),
       shared_done] {
        if (!verify_password(encoded, password) || !user) return (*shared_done)(wrong_credentials());
        auto made = new_credential(kSessionPrefix);
        auto refresh_secret = random_token(32);
        if (!made) return (*shared_done)(made.error());
        if (!refresh_secret) return (*shared_done)(refresh_secret.error());
        SessionGrant grant = impl->new_grant(*user, made->id, kind);
        grant.secret = std::move(made->plaintext);
        StartSession start{encoded, UserSessionStarted{made->id, kind, made->secret_sha256, std::nullopt,
                                                       grant.expires_at_ms, grant.refresh_expires_at_ms}};
        if (kind == SessionKind::token) {
          grant.refresh = fmt::format("{}_{}_{}", kRefreshPrefix, made->id, *refresh_secret);
          start.session.refresh_sha256 = sha256(*refresh_secret);
        }
        auto shared_grant = std::make_shared<SessionGrant>(std::move(grant));
        impl->send_then_fold(user->username, std::move(start), context,
                             [shared_grant, shared_done](Result<runtime::Outcome<User>> outcome) {
                               if (!outcome) return (*shared_done)(outcome.error());
                               shared_grant->user = outcome->state;
                               shared_grant->position = outcome->position;
                               (*shared_done)(std::move(*shared_grant));
                             });
      },
      [shared_done](Error refused) { (*shared_done)(std::move(refused)); });
}

void UserService::refresh(const std::string& refresh_token, const RequestContext& context,
                          std::function<void(Result<SessionGrant>)> done) {
  const Error refused =
      make_error(ErrorCode::unauthenticated, "the refresh token is malformed, unknown, expired or used",
                 "INVALID_REFRESH_TOKEN");
  const auto presented = read_credential(refresh_token, kRefreshPrefix);
  const auto owner = presented && impl_->access ? impl_->access->session_owner(presented->id) : std::nullopt;
  if (!owner) return done(refused);
  auto secret = random_token(32);
  auto refresh_secret = random_token(32);
  if (!secret) return done(secret.error());
  if (!refresh_secret) return done(refresh_secret.error());
  SessionGrant grant = impl_->new_grant(*owner, presented->id, SessionKind::token);
  // The session keeps its id: the new secrets replace the old under it.
  grant.secret = fmt::format("{}_{}_{}", kSessionPrefix, presented->id, *secret);
  grant.refresh = fmt::format("{}_{}_{}", kRefreshPrefix, presented->id, *refresh_secret);
  RefreshSession command{presented->secret_sha256,
                         UserSessionRefreshed{presented->id, sha256(*secret), sha256(*refresh_secret),
                                              grant.expires_at_ms, grant.refresh_expires_at_ms}};
  auto shared_grant = std::make_shared<SessionGrant>(std::move(grant));
  RequestContext session_context = context;
  session_context.principal = "user:" + owner->username;
  impl_->send_then_fold(owner->username, std::move(command), session_context,
                        [shared_grant, done = std::move(done)](Result<runtime::Outcome<User>> outcome) {
                          if (!outcome) return done(outcome.error());
                          shared_grant->user = outcome->state;
                          shared_grant->position = outcome->position;
                          done(std::move(*shared_grant));
                        });
}

void UserService::sign_out(const SessionCaller& caller, const RequestContext& context,
                           std::function<void(Result<std::uint64_t>)> done) {
  impl_->send_for_position(caller.principal.username, EndSession{caller.session_id, "logout"}, context,
                           std::move(done));
}

std::optional<SessionCaller> UserService::authenticate(std::string_view plaintext) const {
  return impl_->access ? impl_->access->authenticate_session(plaintext, impl_->timers.now_ms())
                       : std::nullopt;
}

}  // namespace muster
