#include "http/session_cookie.hpp"

#include <fmt/format.h>

#include "common/base64url.hpp"
#include "common/secrets.hpp"

namespace muster::http {
namespace {

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

std::string attributes(bool secure) {
  return secure ? "; Path=/; HttpOnly; SameSite=Strict; Secure" : "; Path=/; HttpOnly; SameSite=Strict";
}

}  // namespace

std::optional<std::string> session_cookie(const Headers& headers) {
  // RFC 6265 5.4: "name=value" pairs separated by "; ", in one header or several.
  for (const auto& [name, value] : headers.fields()) {
    if (!equals_ignoring_case(name, "Cookie")) continue;
    std::string_view rest = value;
    while (!rest.empty()) {
      const auto end = rest.find(';');
      const std::string_view pair = trim(rest.substr(0, end));
      rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
      const auto equals = pair.find('=');
      if (equals != std::string_view::npos && pair.substr(0, equals) == kSessionCookie) {
        return std::string(pair.substr(equals + 1));
      }
    }
  }
  return std::nullopt;
}

std::string csrf_token_for(std::string_view secret) {
  const Sha256 digest = sha256(fmt::format("muster-csrf:{}", secret));
  return base64url_encode(std::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()));
}

bool has_csrf_token(const Headers& headers, std::string_view secret) {
  const auto presented = headers.find(kCsrfHeader);
  return presented && constant_time_equal(*presented, csrf_token_for(secret));
}

std::string set_session_cookie(std::string_view secret, TimeMs max_age_ms, bool secure) {
  return fmt::format("{}={}; Max-Age={}{}", kSessionCookie, secret, max_age_ms / 1000, attributes(secure));
}

std::string clear_session_cookie(bool secure) {
  return fmt::format("{}=; Max-Age=0{}", kSessionCookie, attributes(secure));
}

}  // namespace muster::http
