// The web dashboard (README "Dashboard"): GET / is its page, GET
// /assets/{name} its scripts and styles, all embedded in the binary
// (http/dashboard_assets.hpp). No credential, like the OpenAPI document:
// the files hold nothing from the store, and the page signs in through the
// API itself. Only on the operators' listener.
//
// Every answer carries a Content-Security-Policy that admits only this
// origin's own files (no inline script or style, no other host), so a value
// an agent reports can never run as script in an operator's browser.

#include <cstdint>

#include <fmt/format.h>

#include "http/call.hpp"
#include "http/dashboard_assets.hpp"

namespace muster::http::routes {
namespace {

constexpr const char* kContentSecurityPolicy =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

std::string_view content_type_of(std::string_view name) {
  const auto ends_with = [name](std::string_view suffix) {
    return name.size() >= suffix.size() && name.substr(name.size() - suffix.size()) == suffix;
  };
  if (ends_with(".html")) return "text/html; charset=utf-8";
  if (ends_with(".css")) return "text/css; charset=utf-8";
  if (ends_with(".js")) return "text/javascript; charset=utf-8";
  if (ends_with(".svg")) return "image/svg+xml";
  return "application/octet-stream";
}

// FNV-1a over the bytes: the ETag changes whenever a file does, and a
// browser revalidates each file in one cheap round trip (304).
std::string entity_tag(std::string_view text) {
  std::uint64_t hash = 14695981039346656037ull;
  for (const char byte : text) {
    hash ^= static_cast<unsigned char>(byte);
    hash *= 1099511628211ull;
  }
  return fmt::format("\"{:016x}\"", hash);
}

void reply_asset(const std::shared_ptr<Call>& call, const DashboardAsset& asset) {
  const std::string_view text = asset.text();
  const std::string tag = entity_tag(text);
  Response response;
  const auto if_none_match = call->head.headers.find("If-None-Match");
  if (if_none_match && trim_whitespace(*if_none_match) == tag) {
    response.status = 304;
  } else {
    response.body = std::string(text);
  }
  response.content_type = std::string(content_type_of(asset.name));
  // The names are not versioned: "no-cache" stores the file but asks first,
  // so a new binary's dashboard is never mixed with an old one's files.
  response.headers = {{"ETag", tag},
                      {"Cache-Control", "no-cache"},
                      {"Content-Security-Policy", kContentSecurityPolicy},
                      {"X-Content-Type-Options", "nosniff"},
                      {"X-Frame-Options", "DENY"},
                      {"Referrer-Policy", "no-referrer"}};
  call->reply(std::move(response));
}

void index_page(const std::shared_ptr<Call>& call) {
  reply_asset(call, *find_dashboard_asset("index.html"));
}

void asset(const std::shared_ptr<Call>& call) {
  const std::string& name = call->params["name"];
  const DashboardAsset* found = find_dashboard_asset(name);
  if (found == nullptr) {
    return call->reply_error(404, fmt::format("no route for {}", call->head.path), "ROUTE_NOT_FOUND");
  }
  reply_asset(call, *found);
}

}  // namespace

void add_dashboard(RouteTable& table) {
  table.add("GET", "/", any_node({index_page, Credential::none, Role::viewer}));
  table.add("GET", "/assets/{name}", any_node({asset, Credential::none, Role::viewer}));
}

}  // namespace muster::http::routes
