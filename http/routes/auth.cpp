// /api/v1/auth: signing in as a user, refreshing a script's token, signing
// out, and who the caller is. The dashboard gets a cookie (http/session_cookie.hpp),
// a script a bearer access token and a refresh token.

#include "common/time_format.hpp"
#include "http/call.hpp"
#include "http/session_cookie.hpp"

namespace muster::http::routes {
namespace {

using nlohmann::json;

json user_json(const User& user) {
  return {{"username", user.username}, {"role", to_string(user.role)}, {"org", user.org}};
}

// A session's answer: a cookie for the dashboard, tokens for a script.
void reply_grant(Call& call, const SessionGrant& grant) {
  json answer{{"user", user_json(grant.user)}, {"expires_at", format_rfc3339(grant.expires_at_ms)}};
  if (grant.kind == SessionKind::cookie) {
    answer["csrf_token"] = csrf_token_for(grant.secret);
    Response response;
    response.status = 200;
    response.body = answer.dump();
    const TimeMs lifetime_ms = grant.expires_at_ms - call.services.timers->now_ms();
    response.headers.emplace_back("Set-Cookie",
                                  set_session_cookie(grant.secret, lifetime_ms, call.options.secure_cookies));
    response.headers.emplace_back("Cache-Control", "no-store");
    return call.reply(std::move(response));
  }
  answer["token_type"] = "Bearer";
  answer["access_token"] = grant.secret;
  answer["refresh_token"] = grant.refresh;
  answer["refresh_expires_at"] = format_rfc3339(grant.refresh_expires_at_ms);
  Response response;
  response.body = answer.dump();
  response.headers.emplace_back("Cache-Control", "no-store");
  call.reply(std::move(response));
}

void sign_in(const std::shared_ptr<Call>& call) {
  json body;
  if (!call->parse_body(false, body)) return;
  auto request = parse_sign_in(body);
  if (auto* invalid = std::get_if<Invalid>(&request)) return call->reply_invalid(*invalid);
  const SignInRequest& sign_in = std::get<SignInRequest>(request);
  call->await<SessionGrant>(
      "SIGN_IN_BUSY",
      [&](auto done) {
        call->services.users->sign_in(sign_in.username, sign_in.password, sign_in.kind, call->context,
                                      std::move(done));
      },
      [call](Result<SessionGrant> grant) {
        if (!grant) return call->reply_failure(grant.error());
        reply_grant(*call, *grant);
      });
}

void refresh(const std::shared_ptr<Call>& call) {
  json body;
  if (!call->parse_body(false, body)) return;
  const auto token = body.find("refresh_token");
  if (token == body.end() || !token->is_string()) {
    return call->reply_error(400, "refresh_token is required, as a string", "VALIDATION_FAILED",
                             {{"refresh_token", "is required, as a string"}});
  }
  call->await<SessionGrant>(
      "BUSY",
      [&](auto done) {
        call->services.users->refresh(token->get<std::string>(), call->context, std::move(done));
      },
      [call](Result<SessionGrant> grant) {
        if (!grant) return call->reply_failure(grant.error());
        reply_grant(*call, *grant);
      });
}

void sign_out(const std::shared_ptr<Call>& call) {
  if (!call->session) {
    return call->reply_error(400, "an API key has no session to end; revoke the key instead",
                             "NOT_A_SESSION");
  }
  call->await<std::uint64_t>(
      "BUSY",
      [&](auto done) { call->services.users->sign_out(*call->session, call->context, std::move(done)); },
      [call](Result<std::uint64_t> ended) {
        if (!ended) return call->reply_failure(ended.error());
        Response response;
        response.body = json{{"signed_out", true}, {"position", *ended}}.dump();
        response.headers.emplace_back("Set-Cookie", clear_session_cookie(call->options.secure_cookies));
        call->reply(std::move(response));
      });
}

void who_am_i(const std::shared_ptr<Call>& call) {
  const Principal& caller = call->principal;
  json answer{{"principal", caller.label()}, {"role", to_string(caller.role)}, {"org", caller.org}};
  if (call->session) {
    answer["username"] = caller.username;
    answer["session"] = {{"kind", to_string(call->session->kind)},
                         {"expires_at", format_rfc3339(call->session->expires_at_ms)}};
    // Only the cookie's holder learns its CSRF token: a page reloading asks here.
    const auto cookie = session_cookie(call->head.headers);
    const auto by_cookie = cookie ? call->services.users->authenticate(*cookie) : std::nullopt;
    if (by_cookie && by_cookie->session_id == call->session->session_id)
      answer["csrf_token"] = csrf_token_for(*cookie);
  } else {
    answer["key_id"] = caller.key_id;
  }
  call->reply_json(200, answer);
}

}  // namespace

void add_auth(RouteTable& table) {
  table.add("POST", "/api/v1/auth/login", {sign_in, Credential::sign_in, Role::viewer, false, true});
  table.add("POST", "/api/v1/auth/refresh", {refresh, Credential::sign_in, Role::viewer, false, true});
  table.add("POST", "/api/v1/auth/logout", {sign_out, Credential::api_key, Role::viewer});
  table.add("GET", "/api/v1/auth/session", any_node({who_am_i, Credential::api_key, Role::viewer}));
}

}  // namespace muster::http::routes
