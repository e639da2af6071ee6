// Request targets and path parameters. Input: '0' a request target for
// parse_query_string then parse_list_query and the paging parameters,
// '1' "<max_value>\n<text>" for parse_uint_param, '2' a cursor, '3' a path
// parameter for the id and name rules, '4' "<METHOD> <path>" for the router.
//
// Each parser is compared with a second reading of what its header documents,
// so a wrong answer aborts as surely as a crash.

#include <algorithm>
#include <set>
#include <string>
#include <variant>

#include "http/request_parsing.hpp"
#include "http/router.hpp"
#include "tests/fuzz/fuzz_support.hpp"

namespace {

namespace http = muster::http;

bool is_alnum(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

bool is_name_of(std::string_view text, std::string_view extra) {
  if (text.empty() || text.size() > 128) return false;
  return std::all_of(text.begin(), text.end(),
                     [&](char c) { return is_alnum(c) || extra.find(c) != std::string_view::npos; });
}

bool is_lowercase_uuid(std::string_view text) {
  if (text.size() != 36) return false;
  for (std::size_t index = 0; index < text.size(); ++index) {
    const char c = text[index];
    const bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
    if ((index == 8 || index == 13 || index == 18 || index == 23) ? c != '-' : !hex) return false;
  }
  return true;
}

void require_parameter_refusal(const http::Invalid& invalid) {
  FUZZ_REQUIRE(!invalid.message.empty());
  FUZZ_REQUIRE(invalid.code == "INVALID_PARAMETER");
  FUZZ_REQUIRE(invalid.details.is_object() && invalid.details.size() == 1);
}

// The documented reading of a decimal parameter: 1 to 20 digits, at most `max_value`.
std::optional<std::uint64_t> expected_uint(std::string_view text, std::uint64_t max_value) {
  if (text.empty() || text.size() > 20) return std::nullopt;
  unsigned __int128 value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  if (value > max_value) return std::nullopt;
  return static_cast<std::uint64_t>(value);
}

void check_uint_param(const http::QueryParams& params, const std::string& name, std::uint64_t fallback,
                      std::uint64_t max_value) {
  const auto parsed = http::parse_uint_param(params, name, fallback, max_value);
  const auto given = params.find(name);
  if (given == params.end()) {
    FUZZ_REQUIRE(std::get<std::uint64_t>(parsed) == fallback);
    return;
  }
  const auto expected = expected_uint(given->second, max_value);
  if (const auto* invalid = std::get_if<http::Invalid>(&parsed)) {
    require_parameter_refusal(*invalid);
    FUZZ_REQUIRE(!expected);
  } else {
    FUZZ_REQUIRE(expected && std::get<std::uint64_t>(parsed) == *expected);
  }
}

std::string percent_decoded(std::string_view text) {
  const auto hex = [](char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  for (std::size_t index = 0; index < text.size(); ++index) {
    if (text[index] == '+') {
      out += ' ';
    } else if (text[index] == '%' && index + 2 < text.size() && hex(text[index + 1]) >= 0 &&
               hex(text[index + 2]) >= 0) {
      out += static_cast<char>(hex(text[index + 1]) * 16 + hex(text[index + 2]));
      index += 2;
    } else {
      out += text[index];
    }
  }
  return out;
}

// The documented split: after the first '?', up to '#', pairs at '&', key and value at the first '='.
http::QueryParams expected_query(std::string_view target) {
  http::QueryParams params;
  const auto question = target.find('?');
  if (question == std::string_view::npos) return params;
  std::string_view query = target.substr(question + 1);
  query = query.substr(0, query.find('#'));
  std::size_t start = 0;
  while (start <= query.size()) {
    const std::size_t end = std::min(query.find('&', start), query.size());
    const std::string_view pair = query.substr(start, end - start);
    const std::size_t equals = pair.find('=');
    if (!pair.empty()) {
      params.emplace(percent_decoded(pair.substr(0, equals)),
                     equals == std::string_view::npos ? "" : percent_decoded(pair.substr(equals + 1)));
    }
    start = end + 1;
  }
  return params;
}

std::optional<std::string> first_value(const http::QueryParams& params, const std::string& name) {
  const auto found = params.find(name);
  return found == params.end() ? std::nullopt : std::optional<std::string>(found->second);
}

void check_list_query(const http::QueryParams& params) {
  const auto parsed = http::parse_list_query(params);
  if (const auto* invalid = std::get_if<http::Invalid>(&parsed)) {
    require_parameter_refusal(*invalid);
    return;
  }
  const http::ListQuery& query = std::get<http::ListQuery>(parsed);
  FUZZ_REQUIRE(query.limit >= 1 && query.limit <= 1000);
  FUZZ_REQUIRE(query.filter.org == first_value(params, "org"));
  FUZZ_REQUIRE(!query.filter.org || is_name_of(*query.filter.org, "._-"));
  FUZZ_REQUIRE(!query.filter.status || muster::is_listed(*query.filter.status));
  FUZZ_REQUIRE(query.filter.version == first_value(params, "version"));
  FUZZ_REQUIRE(query.filter.type == first_value(params, "type"));
  FUZZ_REQUIRE(query.filter.text == first_value(params, "q"));
  FUZZ_REQUIRE(query.filter.labels.size() == params.count("label"));
  for (const auto& [key, value] : query.filter.labels) FUZZ_REQUIRE(!key.empty());
  const auto cursor = first_value(params, "cursor");
  FUZZ_REQUIRE(cursor ? query.after == http::decode_cursor(*cursor) : !query.after);
}

void check_query(std::string_view target) {
  const http::QueryParams params = http::parse_query_string(target);
  FUZZ_REQUIRE(params == expected_query(target));
  check_list_query(params);
  // The paging parameters of the event endpoints (api_server.cpp).
  check_uint_param(params, "from_version", 1, UINT64_MAX);
  check_uint_param(params, "limit", 100, 1000);
}

void check_uint_with_max(std::string_view text) {
  const std::size_t newline = text.find('\n');
  if (newline == std::string_view::npos) return;
  const auto max_value = expected_uint(text.substr(0, newline), UINT64_MAX);
  if (!max_value) return;
  http::QueryParams params;
  params.emplace("n", std::string(text.substr(newline + 1)));
  check_uint_param(params, "n", 7, *max_value);
}

void check_cursor(std::string_view text) {
  if (const auto after = http::decode_cursor(text)) {
    FUZZ_REQUIRE(is_lowercase_uuid(after->to_string()));
    FUZZ_REQUIRE(http::decode_cursor(http::encode_cursor(*after)) == after);
  }
  // Every agent id must survive the trip through a cursor, and read back as itself.
  if (is_lowercase_uuid(text)) {
    const auto agent_id = muster::AgentId::parse(text);
    FUZZ_REQUIRE(agent_id && agent_id->to_string() == text);
    FUZZ_REQUIRE(http::decode_cursor(http::encode_cursor(*agent_id)) == agent_id);
  }
}

void check_names(std::string_view text) {
  FUZZ_REQUIRE(http::is_valid_org(text) == is_name_of(text, "._-"));
  FUZZ_REQUIRE(http::is_valid_instance_id(text) == is_name_of(text, "._:-"));
  FUZZ_REQUIRE(http::is_valid_agent_id(text) == is_lowercase_uuid(text));
}

struct RouteSpec {
  const char* method;
  const char* pattern;
};

// The routes of api_server.cpp, the test hook included.
constexpr RouteSpec kRoutes[] = {
    {"GET", "/healthz"},
    {"GET", "/readyz"},
    {"POST", "/api/v1/agents/register"},
    {"POST", "/api/v1/agents/{agent_id}/heartbeat"},
    {"POST", "/api/v1/agents/{agent_id}/token/rotate"},
    {"GET", "/api/v1/agents"},
    {"GET", "/api/v1/agents/{agent_id}"},
    {"DELETE", "/api/v1/agents/{agent_id}"},
    {"POST", "/api/v1/agents/{agent_id}/decommission"},
    {"GET", "/api/v1/agents/{agent_id}/events"},
    {"GET", "/api/v1/events"},
    {"GET", "/api/v1/stats"},
    {"POST", "/api/v1/api-keys"},
    {"GET", "/api/v1/api-keys"},
    {"DELETE", "/api/v1/api-keys/{key_id}"},
    {"POST", "/api/v1/enrollment-tokens"},
    {"GET", "/api/v1/enrollment-tokens"},
    {"DELETE", "/api/v1/enrollment-tokens/{token_id}"},
    {"POST", "/_test/agents/{agent_id}/crash"},
};

const http::Router<std::size_t>& api_router() {
  static const http::Router<std::size_t> router = [] {
    http::Router<std::size_t> built;
    for (std::size_t index = 0; index < std::size(kRoutes); ++index)
      built.add(kRoutes[index].method, kRoutes[index].pattern, index);
    return built;
  }();
  return router;
}

// The pattern with each {name} replaced by params[name]; "" if a name was not captured.
std::string filled_in(std::string_view pattern, const http::PathParams& params, std::size_t& used) {
  std::string path;
  used = 0;
  while (!pattern.empty()) {
    const std::size_t open = pattern.find('{');
    path += pattern.substr(0, open);
    if (open == std::string_view::npos) break;
    const std::size_t close = pattern.find('}', open);
    const auto found = params.find(std::string(pattern.substr(open + 1, close - open - 1)));
    if (found == params.end()) return {};
    FUZZ_REQUIRE(!found->second.empty() && found->second.find('/') == std::string::npos);
    path += found->second;
    ++used;
    pattern.remove_prefix(close + 1);
  }
  return path;
}

void check_route(std::string_view text) {
  const std::size_t space = text.find(' ');
  if (space == std::string_view::npos) return;
  const std::string_view method = text.substr(0, space);
  std::string_view path = text.substr(space + 1);
  const auto match = api_router().find(method, path);
  if (match.handler == nullptr) {
    FUZZ_REQUIRE(match.params.empty());
    for (const std::string& allowed : match.allowed_methods)
      FUZZ_REQUIRE(allowed != method && !(method == "HEAD" && allowed == "GET"));
    return;
  }
  // allowed_methods may hold methods of routes tried before: the server reads it only without a handler.
  const RouteSpec& route = kRoutes[*match.handler];
  FUZZ_REQUIRE(route.method == method || (method == "HEAD" && std::string_view(route.method) == "GET"));
  // One leading and one trailing '/' are optional; nothing else differs from the pattern.
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  if (!path.empty() && path.back() == '/') path.remove_suffix(1);
  std::size_t used = 0;
  FUZZ_REQUIRE(filled_in(route.pattern, match.params, used) == "/" + std::string(path));
  FUZZ_REQUIRE(used == match.params.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto selected = muster::fuzz::select_parser(data, size, 5);
  if (!selected) return 0;
  switch (selected->parser) {
    case 0: check_query(selected->text); break;
    case 1: check_uint_with_max(selected->text); break;
    case 2: check_cursor(selected->text); break;
    case 3: check_names(selected->text); break;
    case 4: check_route(selected->text); break;
  }
  return 0;
}
