#include "http/request_parsing.hpp"

#include "common/base64url.hpp"
#include "common/time_format.hpp"
#include "eventstore/metrics/metric_name.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <cmath>

#include <fmt/format.h>

namespace muster::http {
namespace {

using nlohmann::json;

constexpr std::size_t kMaxTextLength = 256;
constexpr std::size_t kMaxNameLength = 128;
constexpr std::size_t kMaxListItems = 64;
constexpr std::size_t kMaxListLimit = 1000;
constexpr const char* kOrgRule = "must be 1 to 128 characters of [A-Za-z0-9._-]";
constexpr TimeMs kMinTokenLifetimeMs = 1000;
constexpr TimeMs kMaxTokenLifetimeMs = 10LL * 366 * 24 * 3600 * 1000;
constexpr std::uint64_t kMaxTokenUses = 1'000'000'000;
constexpr std::size_t kMaxJsonDepth = 32;

bool is_name_char(char c, std::string_view extra) {
  return std::isalnum(static_cast<unsigned char>(c)) || extra.find(c) != std::string_view::npos;
}

bool is_name(std::string_view text, std::string_view extra) {
  if (text.empty() || text.size() > kMaxNameLength) return false;
  for (char c : text) {
    if (!is_name_char(c, extra)) return false;
  }
  return true;
}

}  // namespace

// True if `text` holds a C0 control (U+0000 to U+001F, NUL included), DEL
// or a C1 control (U+0080 to U+009F, UTF-8 C2 80 to C2 9F): characters that
// have no place in a name, a version or an address and that move the cursor,
// end lines or cut strings in whatever later prints or passes them on.
bool has_control_character(std::string_view text) {
  for (std::size_t index = 0; index < text.size(); ++index) {
    const auto byte = static_cast<unsigned char>(text[index]);
    if (byte < 0x20 || byte == 0x7f) return true;
    if (byte == 0xc2 && index + 1 < text.size()) {
      const auto next = static_cast<unsigned char>(text[index + 1]);
      if (next >= 0x80 && next <= 0x9f) return true;
    }
  }
  return false;
}

namespace {

constexpr const char* kNoControls = "must not contain control characters (U+0000 to U+001F, U+007F to U+009F)";

// An IPv4 or IPv6 literal; inet_pton reads a C string, so an embedded NUL
// would hide whatever follows it.
bool is_ip_address(const std::string& text) {
  if (text.find('\0') != std::string::npos) return false;
  unsigned char buffer[16];
  return inet_pton(AF_INET, text.c_str(), buffer) == 1 || inet_pton(AF_INET6, text.c_str(), buffer) == 1;
}

// Collects problems per field while reading a body.
class FieldReader {
 public:
  explicit FieldReader(const json& body) : body_(body) {}

  // A present, non-null member, or null.
  const json* member(const char* key) const {
    const auto found = body_.find(key);
    return found == body_.end() || found->is_null() ? nullptr : &*found;
  }

  std::optional<std::string> text(const char* key, std::size_t max_length = kMaxTextLength) {
    const json* value = member(key);
    if (value == nullptr) return std::nullopt;
    if (!value->is_string()) return fail(key, "must be a string");
    const auto& text = value->get_ref<const std::string&>();
    if (text.size() > max_length) return fail(key, fmt::format("must be at most {} characters", max_length));
    if (has_control_character(text)) return fail(key, kNoControls);
    return text;
  }

  std::optional<std::vector<std::string>> text_list(const char* key) {
    const json* value = member(key);
    if (value == nullptr) return std::nullopt;
    if (!value->is_array()) return fail(key, "must be an array of strings");
    if (value->size() > kMaxListItems)
      return fail(key, fmt::format("must have at most {} items", kMaxListItems));
    std::vector<std::string> items;
    for (const json& item : *value) {
      if (!item.is_string() || item.get_ref<const std::string&>().empty() ||
          item.get_ref<const std::string&>().size() > kMaxNameLength) {
        return fail(key, fmt::format("items must be strings of 1 to {} characters", kMaxNameLength));
      }
      if (has_control_character(item.get_ref<const std::string&>())) {
        return fail(key, std::string("items ") + kNoControls);
      }
      items.push_back(item.get<std::string>());
    }
    return items;
  }

  std::optional<std::map<std::string, std::string>> labels(const char* key) {
    const json* value = member(key);
    if (value == nullptr) return std::nullopt;
    auto labels = parse_labels(*value, key);
    if (auto* invalid = std::get_if<Invalid>(&labels)) {
      return fail(key, invalid->details.at(key).get<std::string>());
    }
    return std::get<std::map<std::string, std::string>>(std::move(labels));
  }

  // A required name of 1 to 128 characters.
  std::string name(const char* key) {
    const auto text = this->text(key, kMaxNameLength);
    if (!text || text->empty()) {
      if (problems_.find(key) == problems_.end()) fail(key, "is required");
      return {};
    }
    return *text;
  }

  // A required role: "viewer", "operator" or "admin".
  std::optional<Role> role(const char* key) {
    const auto text = this->text(key);
    const auto role = text ? parse_role(*text) : std::nullopt;
    if (!role) return fail(key, "must be \"viewer\", \"operator\" or \"admin\"");
    return role;
  }

  // A required password: any string of at most kMaxPasswordBytes (its other
  // rules are the user service's); text() would refuse what a password may hold.
  std::string password(const char* key) {
    const auto found = body_.find(key);
    if (found == body_.end() || !found->is_string()) {
      fail(key, "is required, as a string");
      return {};
    }
    if (found->get_ref<const std::string&>().size() > kMaxPasswordBytes) {
      fail(key, fmt::format("must be at most {} bytes", kMaxPasswordBytes));
      return {};
    }
    return found->get<std::string>();
  }

  // An organization name; with `allow_all`, "*" too.
  std::optional<std::string> org(const char* key, bool allow_all) {
    const auto text = this->text(key);
    if (!text) return std::nullopt;
    if ((allow_all && *text == kAllOrgs) || is_valid_org(*text)) return text;
    return fail(key, allow_all ? std::string(kOrgRule) + ", or \"*\" for every organization" : kOrgRule);
  }

  std::nullopt_t fail(const char* key, const std::string& why) {
    problems_[key] = why;
    return std::nullopt;
  }

  bool ok() const { return problems_.empty(); }
  Invalid invalid() const {
    return Invalid{"request body failed validation", "VALIDATION_FAILED", problems_};
  }

 private:
  const json& body_;
  json problems_ = json::object();
};

Invalid invalid_param(const std::string& name, const std::string& why) {
  return Invalid{fmt::format("invalid query parameter '{}'", name), "INVALID_PARAMETER", json{{name, why}}};
}

std::optional<std::string> single_param(const QueryParams& params, const std::string& name) {
  const auto found = params.find(name);
  if (found == params.end()) return std::nullopt;
  return found->second;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percent_decode(std::string_view text) {
  std::string decoded;
  decoded.reserve(text.size());
  for (std::size_t index = 0; index < text.size(); ++index) {
    const char c = text[index];
    if (c == '+') {
      decoded += ' ';
    } else if (c == '%' && index + 2 < text.size() && hex_value(text[index + 1]) >= 0 &&
               hex_value(text[index + 2]) >= 0) {
      decoded += static_cast<char>(hex_value(text[index + 1]) * 16 + hex_value(text[index + 2]));
      index += 2;
    } else {
      decoded += c;
    }
  }
  return decoded;
}

// Why `text` is too deep or too big to parse (nlohmann's parser recurses per
// level and allocates per element), from a scan that ignores strings' contents.
std::optional<std::string> too_complex(std::string_view text, std::size_t max_elements) {
  std::size_t depth = 0;
  std::size_t elements = 0;
  bool in_string = false;
  bool escaped = false;
  for (const char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > kMaxJsonDepth) return fmt::format("nested deeper than {} levels", kMaxJsonDepth);
    } else if (c == '}' || c == ']') {
      depth -= depth > 0 ? 1 : 0;
    } else if (c == ',' && ++elements > max_elements) {
      return fmt::format("more than {} elements", max_elements);
    }
  }
  return std::nullopt;
}

}  // namespace

const json* present_member(const json& object, const char* key) {
  const auto found = object.find(key);
  return found == object.end() || found->is_null() ? nullptr : &*found;
}

Parsed<json> parse_json_object(std::string_view body, bool allow_empty, std::size_t max_elements) {
  const bool blank = body.find_first_not_of(" \t\r\n") == std::string_view::npos;
  if (blank) {
    if (allow_empty) return json::object();
    return Invalid{"request body is required", "INVALID_JSON", json{{"body", "must be a JSON object"}}};
  }
  if (auto why = too_complex(body, max_elements)) {
    return Invalid{"request body is too complex to parse", "INVALID_JSON", json{{"body", *why}}};
  }
  json parsed = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    return Invalid{"request body is not valid JSON", "INVALID_JSON", json{{"body", "malformed JSON"}}};
  }
  if (!parsed.is_object()) {
    return Invalid{"request body must be a JSON object", "INVALID_JSON",
                   json{{"body", "must be a JSON object"}}};
  }
  return parsed;
}

bool is_valid_org(std::string_view text) {
  return is_name(text, "._-");
}

bool is_valid_instance_id(std::string_view text) {
  return is_name(text, "._:-");
}

bool is_valid_type_name(std::string_view text) {
  const auto allowed = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
  };
  return !text.empty() && text.size() <= 64 && text.front() >= 'a' && text.front() <= 'z' &&
         std::all_of(text.begin(), text.end(), allowed);
}

bool is_valid_agent_id(std::string_view text) {
  if (text.size() != 36) return false;
  for (std::size_t index = 0; index < text.size(); ++index) {
    const bool dash_position = index == 8 || index == 13 || index == 18 || index == 23;
    const char c = text[index];
    if (dash_position ? c != '-' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

Parsed<std::map<std::string, std::string>> parse_labels(const json& value, const std::string& field) {
  const auto refuse = [&](const std::string& why) {
    return Invalid{"request body failed validation", "VALIDATION_FAILED", json{{field, why}}};
  };
  if (!value.is_object()) return refuse("must be an object of string to string");
  if (value.size() > kMaxListItems) return refuse(fmt::format("must have at most {} labels", kMaxListItems));
  std::map<std::string, std::string> labels;
  for (const auto& [name, label] : value.items()) {
    if (!is_name(name, "._/-")) {
      return refuse(fmt::format("label keys must be 1 to {} characters of [A-Za-z0-9._/-]", kMaxNameLength));
    }
    if (!label.is_string() || label.get_ref<const std::string&>().size() > kMaxTextLength) {
      return refuse(fmt::format("label values must be strings of at most {} characters", kMaxTextLength));
    }
    if (has_control_character(label.get_ref<const std::string&>())) {
      return refuse(std::string("label values ") + kNoControls);
    }
    labels.emplace(name, label.get<std::string>());
  }
  return labels;
}

Parsed<Registration> parse_registration(const json& body) {
  FieldReader reader(body);
  Registration registration;
  const json* instance_id = reader.member("instance_id");
  if (instance_id == nullptr) {
    reader.fail("instance_id", "is required");
  } else if (!instance_id->is_string() || !is_valid_instance_id(instance_id->get_ref<const std::string&>())) {
    reader.fail("instance_id", "must be 1 to 128 characters of [A-Za-z0-9._:-]");
  } else {
    registration.instance_id = instance_id->get<std::string>();
  }
  registration.name = reader.text("name");
  registration.hostname = reader.text("hostname");
  registration.ip_address = reader.text("ip_address", 45);
  if (registration.ip_address && !registration.ip_address->empty() &&
      !is_ip_address(*registration.ip_address)) {
    reader.fail("ip_address", "must be an IPv4 or IPv6 address");
  }
  registration.version = reader.text("version");
  registration.type = reader.text("type");
  registration.capabilities = reader.text_list("capabilities");
  registration.labels = reader.labels("labels");
  if (!reader.ok()) return reader.invalid();
  return registration;
}

Parsed<ApiKeyRequest> parse_api_key_request(const json& body) {
  FieldReader reader(body);
  ApiKeyRequest request;
  request.name = reader.name("name");
  if (const auto role = reader.role("role")) request.role = *role;
  request.org = reader.org("org", true);
  if (!reader.ok()) return reader.invalid();
  return request;
}

Parsed<UserRequest> parse_user_request(const json& body) {
  FieldReader reader(body);
  UserRequest request;
  request.username = reader.name("username");
  request.password = reader.password("password");
  if (const auto role = reader.role("role")) request.role = *role;
  request.org = reader.org("org", true);
  if (!reader.ok()) return reader.invalid();
  return request;
}

Parsed<std::string> parse_password(const json& body) {
  FieldReader reader(body);
  std::string password = reader.password("password");
  if (!reader.ok()) return reader.invalid();
  return password;
}

Parsed<SignInRequest> parse_sign_in(const json& body) {
  FieldReader reader(body);
  SignInRequest request;
  request.username = reader.name("username");
  request.password = reader.password("password");
  if (const auto kind_text = reader.text("session")) {
    const auto kind = parse_session_kind(*kind_text);
    if (!kind) {
      reader.fail("session", "must be \"cookie\" or \"token\"");
    } else {
      request.kind = *kind;
    }
  }
  if (!reader.ok()) return reader.invalid();
  return request;
}

Parsed<EnrollmentTokenRequest> parse_enrollment_token_request(const json& body) {
  FieldReader reader(body);
  EnrollmentTokenRequest request;
  request.name = reader.name("name");
  if (const auto expires_in = reader.text("expires_in")) {
    const auto duration = parse_duration_ms(*expires_in);
    if (!duration || *duration < kMinTokenLifetimeMs || *duration > kMaxTokenLifetimeMs) {
      reader.fail("expires_in", "must be a duration from 1s to 3650d, such as \"30d\" or \"12h\"");
    } else {
      request.expires_in_ms = *duration;
    }
  }
  if (const json* max_uses = reader.member("max_uses")) {
    if (!max_uses->is_number_integer() || max_uses->get<std::int64_t>() < 1 ||
        max_uses->get<std::int64_t>() > static_cast<std::int64_t>(kMaxTokenUses)) {
      reader.fail("max_uses", fmt::format("must be an integer from 1 to {}", kMaxTokenUses));
    } else {
      request.max_uses = max_uses->get<std::uint64_t>();
    }
  }
  if (auto labels = reader.labels("labels")) request.labels = std::move(*labels);
  request.org = reader.org("org", false);
  if (!reader.ok()) return reader.invalid();
  return request;
}

Parsed<HeartbeatReport> parse_heartbeat(const json& body) {
  FieldReader reader(body);
  HeartbeatReport report;
  if (const auto status = reader.text("status")) {
    const auto parsed = parse_agent_status(*status);
    if (parsed && is_live(*parsed)) {
      report.status = parsed;
    } else {
      reader.fail("status", "must be \"online\" or \"degraded\"");
    }
  }
  report.version = reader.text("version");
  if (const json* metrics = reader.member("metrics")) {
    if (!metrics->is_object() || metrics->size() > kMaxMetricsPerHeartbeat) {
      reader.fail("metrics",
                  fmt::format("must be an object of at most {} name: number pairs", kMaxMetricsPerHeartbeat));
    } else {
      for (const auto& [name, value] : metrics->items()) {
        if (!is_valid_metric_name(name) || !value.is_number() || !std::isfinite(value.get<double>())) {
          reader.fail("metrics", fmt::format("names must match {}, values be finite numbers", kMetricNameRule));
          break;
        }
        report.metrics.emplace(name, value.get<double>());
      }
    }
  }
  if (!reader.ok()) return reader.invalid();
  return report;
}

Parsed<AgentReported> parse_agent_report(const json& body, TimeMs now_ms) {
  FieldReader reader(body);
  AgentReported report;
  report.reported_at_ms = now_ms;
  const json* type = reader.member("type");
  if (type == nullptr || !type->is_string() || !is_valid_type_name(type->get_ref<const std::string&>())) {
    reader.fail("type", "must be 1 to 64 characters of [a-z0-9_.-], starting with a letter");
  } else {
    report.type = type->get<std::string>();
  }
  if (const json* time = reader.member("time")) {
    const auto parsed = time->is_string()
                            ? parse_rfc3339(time->get_ref<const std::string&>())
                            : Result<TimeMs>(make_error(ErrorCode::invalid_argument, "not text"));
    if (!parsed) {
      reader.fail("time", "must be an RFC 3339 time such as 2026-11-22T05:51:00Z");
    } else {
      report.reported_at_ms = *parsed;
    }
  }
  if (const json* data = reader.member("data")) {
    if (!data->is_object()) {
      reader.fail("data", "must be a JSON object");
    } else if (data->dump(-1, ' ', false, json::error_handler_t::replace).size() > kMaxReportDataBytes) {
      Invalid too_large{"the report's data is too large", kReportTooLarge};
      too_large.details["data"] = fmt::format("must take at most {} bytes as JSON", kMaxReportDataBytes);
      return too_large;
    } else {
      report.data = *data;
    }
  }
  if (!reader.ok()) return reader.invalid();
  return report;
}

QueryParams parse_query_string(std::string_view target) {
  QueryParams params;
  const auto question = target.find('?');
  if (question == std::string_view::npos) return params;
  std::string_view query = target.substr(question + 1);
  query = query.substr(0, query.find('#'));
  while (!query.empty()) {
    const auto ampersand = query.find('&');
    const std::string_view pair = query.substr(0, ampersand);
    if (!pair.empty()) {
      const auto equals = pair.find('=');
      const std::string_view key = pair.substr(0, equals);
      const std::string_view value = equals == std::string_view::npos ? "" : pair.substr(equals + 1);
      params.emplace(percent_decode(key), percent_decode(value));
    }
    if (ampersand == std::string_view::npos) break;
    query.remove_prefix(ampersand + 1);
  }
  return params;
}

Parsed<std::uint64_t> parse_uint_param(const QueryParams& params, const std::string& name,
                                       std::uint64_t fallback, std::uint64_t max_value) {
  const auto text = single_param(params, name);
  if (!text) return fallback;
  if (text->empty() || text->size() > 20) return invalid_param(name, "must be a non-negative integer");
  std::uint64_t value = 0;
  for (char c : *text) {
    if (c < '0' || c > '9') return invalid_param(name, "must be a non-negative integer");
    const std::uint64_t digit = static_cast<std::uint64_t>(c - '0');
    // digit > max_value first: max_value - digit would wrap around.
    if (digit > max_value || value > (max_value - digit) / 10) {
      return invalid_param(name, fmt::format("must be at most {}", max_value));
    }
    value = value * 10 + digit;
  }
  return value;
}

Parsed<ConfigFiles> parse_config_files(const json& value, std::size_t max_bytes, const std::string& field) {
  const auto refuse = [&](const std::string& where, const std::string& why) {
    Invalid invalid{"request validation failed", "VALIDATION_FAILED"};
    invalid.details[where] = why;
    return invalid;
  };
  if (!value.is_object()) return refuse(field, "must be an object of files");
  if (value.empty()) return refuse(field, "must hold at least one file");
  if (value.size() > kMaxConfigFiles) return refuse(field, fmt::format("must hold at most {} files", kMaxConfigFiles));
  ConfigFiles files;
  std::size_t total = 0;
  for (const auto& [name, file] : value.items()) {
    const std::string where = field + "." + name;
    if (!is_valid_file_name(name)) {
      return refuse(where, "file names are 1 to 255 characters of [A-Za-z0-9._/-], not starting with '/' or '.'");
    }
    const auto type = file.is_object() ? file.find("content_type") : file.end();
    const auto body = file.is_object() ? file.find("body") : file.end();
    if (!file.is_object() || type == file.end() || !type->is_string() || body == file.end() || !body->is_string()) {
      return refuse(where, "must be {\"content_type\": string, \"body\": string}");
    }
    const auto& content_type = type->get_ref<const std::string&>();
    if (content_type.empty() || content_type.size() > kMaxContentTypeLength || has_control_character(content_type)) {
      return refuse(where + ".content_type", fmt::format("must be 1 to {} characters without control characters",
                                                         kMaxContentTypeLength));
    }
    total += body->get_ref<const std::string&>().size();
    if (total > max_bytes) {
      return refuse(field, fmt::format("file bodies must be at most {} bytes together (--max-config-bytes)", max_bytes));
    }
    files.emplace(name, ConfigFile{content_type, body->get<std::string>()});
  }
  return files;
}

Parsed<ListQuery> parse_list_query(const QueryParams& params) {
  ListQuery query;
  query.filter.org = single_param(params, "org");
  if (query.filter.org && !is_valid_org(*query.filter.org)) return invalid_param("org", kOrgRule);
  if (const auto status = single_param(params, "status")) {
    const auto parsed = parse_agent_status(*status);
    if (!parsed || !is_listed(*parsed)) return invalid_param("status", "must be ONLINE, DEGRADED or OFFLINE");
    query.filter.status = parsed;
  }
  query.filter.version = single_param(params, "version");
  query.filter.type = single_param(params, "type");
  query.filter.text = single_param(params, "q");
  const auto labels = params.equal_range("label");
  for (auto label = labels.first; label != labels.second; ++label) {
    const auto equals = label->second.find('=');
    if (equals == std::string::npos || equals == 0) return invalid_param("label", "must be key=value");
    query.filter.labels.emplace_back(label->second.substr(0, equals), label->second.substr(equals + 1));
  }
  query.group = single_param(params, "group");
  if (query.group && !is_valid_config_name(*query.group)) {
    return invalid_param("group", "must be a group name: [a-z0-9][a-z0-9._-]{0,62}");
  }
  if (const auto config_status = single_param(params, "config_status")) {
    query.config_status = parse_config_status(*config_status);
    if (!query.config_status) {
      return invalid_param("config_status", "must be none, pending, applying, applied, failed or drifted");
    }
  }
  auto limit = parse_uint_param(params, "limit", 100, kMaxListLimit);
  if (auto* invalid = std::get_if<Invalid>(&limit)) return *invalid;
  query.limit = std::get<std::uint64_t>(limit);
  if (query.limit == 0) return invalid_param("limit", fmt::format("must be 1 to {}", kMaxListLimit));
  if (const auto cursor = single_param(params, "cursor")) {
    const auto after = decode_cursor(*cursor);
    if (!after) return invalid_param("cursor", "is not a cursor this server issued");
    query.after = *after;
  }
  return query;
}

std::string encode_cursor(const AgentId& after) {
  return base64url_encode(after.to_string());
}

std::optional<AgentId> decode_cursor(std::string_view cursor) {
  auto decoded = base64url_decode(cursor);
  if (!decoded) return std::nullopt;
  return AgentId::parse(*decoded);
}

}  // namespace muster::http
