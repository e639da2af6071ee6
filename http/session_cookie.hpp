#pragma once
/// The dashboard's session cookie and its CSRF token. The cookie is
/// HttpOnly (no script reads it) and SameSite=Strict (no other site's page
/// sends it); on top, every write made with it must carry the CSRF token in
/// `X-CSRF-Token`. The token is derived from the cookie's secret (SHA-256 of
/// it under a fixed label), so the server keeps nothing more, a page that
/// reloads learns it again from GET /api/v1/auth/session, and a page of
/// another site, which can read neither the cookie nor that answer, cannot
/// forge it.

#include <optional>
#include <string>
#include <string_view>

#include "common/clock.hpp"
#include "http/exchange.hpp"

namespace muster::http {

inline constexpr std::string_view kSessionCookie = "muster_session";
inline constexpr std::string_view kCsrfHeader = "X-CSRF-Token";

/// The value of the session cookie among the request's Cookie headers.
std::optional<std::string> session_cookie(const Headers& headers);

/// The CSRF token that goes with the session secret `secret`.
std::string csrf_token_for(std::string_view secret);

/// True if the request carries the CSRF token of `secret` (constant time).
bool has_csrf_token(const Headers& headers, std::string_view secret);

/// A Set-Cookie value that stores `secret` for `max_age_ms`; Secure over TLS.
std::string set_session_cookie(std::string_view secret, TimeMs max_age_ms, bool secure);
/// A Set-Cookie value that removes the session cookie.
std::string clear_session_cookie(bool secure);

}  // namespace muster::http
