#pragma once
/// Turning outside input into typed commands and queries, or into a precise
/// refusal. Every function here is total: any bytes in give a value or an
/// `invalid_argument` error whose `details` name each bad field, never a crash.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include <nlohmann/json.hpp>

#include "actors/agent/agent_decider.hpp"
#include "actors/config/config_files.hpp"
#include "actors/config/desired_config.hpp"
#include "actors/api_key/api_key_service.hpp"
#include "actors/user/user_service.hpp"
#include "actors/enrollment/enrollment_service.hpp"
#include "common/result.hpp"
#include "projections/agent_registry.hpp"

namespace muster::http {

/// A refusal of a request: the error plus per-field problems (field → why).
struct Invalid {
  std::string message;
  std::string code;  ///< e.g. "INVALID_JSON", "VALIDATION_FAILED".
  nlohmann::json details = nlohmann::json::object();
};

template <class T>
using Parsed = std::variant<T, Invalid>;

/// Query parameters as received (repeated keys keep every value, in order).
using QueryParams = std::multimap<std::string, std::string>;

/// Elements (commas outside strings) a request body may hold, at most.
inline constexpr std::size_t kMaxJsonElements = 10'000;

/// Parses a JSON object body. An empty body gives an empty object when
/// `allow_empty`; otherwise it is refused. Bodies nested deeper than 32 or
/// with more than `max_elements` elements are refused before parsing (a
/// restore's backup document carries more than a request).
/// The member `key` of `object`; nullptr when it is absent or null.
const nlohmann::json* present_member(const nlohmann::json& object, const char* key);

Parsed<nlohmann::json> parse_json_object(std::string_view body, bool allow_empty,
                                         std::size_t max_elements = kMaxJsonElements);

Parsed<Registration> parse_registration(const nlohmann::json& body);
Parsed<HeartbeatReport> parse_heartbeat(const nlohmann::json& body);

/// Bytes an agent's report's `data` may take, serialized, at most.
inline constexpr std::size_t kMaxReportDataBytes = 64 * 1024;
/// The code of a report whose `data` is larger (the route answers it 413).
inline constexpr const char* kReportTooLarge = "PAYLOAD_TOO_LARGE";

/// An agent's report: {type (is_valid_type_name), time? (RFC 3339, when the
/// agent observed it; default `now_ms`), data? (an object, default {}, of at
/// most kMaxReportDataBytes serialized: larger is refused with
/// kReportTooLarge)}. Refused with details naming each bad field.
Parsed<AgentReported> parse_agent_report(const nlohmann::json& body, TimeMs now_ms);

/// {name (1 to 128 characters), role ("viewer" | "operator" | "admin"), org?}.
Parsed<ApiKeyRequest> parse_api_key_request(const nlohmann::json& body);

/// {username, password, role, org?}. The username's and password's rules
/// are the user service's (it answers them); here, their types.
Parsed<UserRequest> parse_user_request(const nlohmann::json& body);
/// {password}, for setting a user's password.
Parsed<std::string> parse_password(const nlohmann::json& body);

struct SignInRequest {
  std::string username;
  std::string password;
  SessionKind kind = SessionKind::cookie;
};
/// {username, password, session?: "cookie" (default) | "token"}.
Parsed<SignInRequest> parse_sign_in(const nlohmann::json& body);

/// {name (1 to 128 characters), expires_in? (duration such as "30d", "12h";
/// 1 second to 10 years; default 30 days), max_uses? (1 to 10^9), labels?, org?}.
Parsed<EnrollmentTokenRequest> parse_enrollment_token_request(const nlohmann::json& body);

/// True for an organization name: 1 to 128 characters of [A-Za-z0-9._-].
bool is_valid_org(std::string_view text);

/// True for 1 to 128 characters of [A-Za-z0-9._:-].
bool is_valid_instance_id(std::string_view text);
/// True for the type of a command or of an agent's report:
/// `[a-z][a-z0-9_.-]{0,63}` (1 to 64 characters).
bool is_valid_type_name(std::string_view text);
/// True for a canonical lowercase UUID (8-4-4-4-12 hex digits).
bool is_valid_agent_id(std::string_view text);

/// Labels as agents carry them (registration, enrollment tokens) and group
/// selectors match them: an object of at most 64 members, keys 1 to 128
/// characters of [A-Za-z0-9._/-], values strings of at most 256 characters
/// without control characters. Refused with details {field: why}.
Parsed<std::map<std::string, std::string>> parse_labels(const nlohmann::json& value,
                                                       const std::string& field);

/// True if `text` holds a control character (U+0000 to U+001F, U+007F to
/// U+009F, NUL included): nothing a name or a description may carry.
bool has_control_character(std::string_view text);

/// A file map ({"<file name>": {"content_type", "body"}}) in the member
/// `field` of a body: an object of 1 to kMaxConfigFiles valid file names,
/// each with a string content_type (at most kMaxContentTypeLength) and
/// body, the bodies at most `max_bytes` together. Details name the field
/// ("files", "files.<name>").
Parsed<ConfigFiles> parse_config_files(const nlohmann::json& value, std::size_t max_bytes,
                                      const std::string& field = "files");

struct ListQuery {
  AgentFilter filter;
  /// Filters the config model answers (the route turns them into `filter.also`).
  std::optional<std::string> group;
  std::optional<ConfigStatus> config_status;
  std::size_t limit = 100;
  std::optional<AgentId> after;  ///< Decoded from `cursor`; nullopt for the first page.
};

/// org, status, version, type, label=k=v (repeatable), q, group, config_status,
/// limit (1..1000), cursor.
Parsed<ListQuery> parse_list_query(const QueryParams& params);

/// The query of a request target ("/path?a=1&b=x%3Dy" gives a=1, b=x=y):
/// split at the first '=', '+' and %XX decoded, malformed escapes kept as-is.
QueryParams parse_query_string(std::string_view target);

/// An optional non-negative integer parameter; `fallback` when absent.
Parsed<std::uint64_t> parse_uint_param(const QueryParams& params, const std::string& name,
                                       std::uint64_t fallback, std::uint64_t max_value);

/// The opaque cursor clients pass back for the next page.
std::string encode_cursor(const AgentId& after);
std::optional<AgentId> decode_cursor(std::string_view cursor);

}  // namespace muster::http
