#include "actors/access.hpp"

#include <nlohmann/json.hpp>

#include <fmt/format.h>

#include "common/secrets.hpp"

namespace muster {
namespace {

constexpr const char* kApiKeyCreated = "ApiKeyCreated";
constexpr const char* kApiKeyRevoked = "ApiKeyRevoked";
constexpr std::size_t kKeyIdLength = 16;

std::string stream_of(const std::string& key_id) {
  return std::string(kApiKeyStreamPrefix) + key_id;
}

Error corrupt(const Event& event, std::string_view why) {
  return make_error(ErrorCode::corruption, fmt::format("event at position {} ({} of '{}'): {}",
                                                       event.position, event.type, event.stream, why));
}

}  // namespace

const char* to_string(Role role) {
  switch (role) {
    case Role::viewer: return "viewer";
    case Role::operator_: return "operator";
    case Role::admin: return "admin";
  }
  return "viewer";
}

std::optional<Role> parse_role(std::string_view text) {
  for (Role role : {Role::viewer, Role::operator_, Role::admin}) {
    if (text == to_string(role)) return role;
  }
  return std::nullopt;
}

Status apply(ApiKey& key, const Event& event) {
  if (event.version != key.version + 1) return corrupt(event, "out of version order");
  const auto data = nlohmann::json::parse(event.data, nullptr, false);
  if (!data.is_object()) return corrupt(event, "payload is not a JSON object");
  ApiKey next = key;
  if (event.type == kApiKeyCreated) {
    const auto role = parse_role(data.value("role", ""));
    if (!role || !data.value("key_id", nlohmann::json()).is_string() ||
        !data.value("secret_sha256", nlohmann::json()).is_string()) {
      return corrupt(event, "bad ApiKeyCreated payload");
    }
    next.key_id = data["key_id"];
    next.name = data.value("name", "");
    next.org = data.value("org", "");
    next.role = *role;
    next.secret_sha256 = data["secret_sha256"];
    next.created_at_ms = event.time_ms;
  } else if (event.type == kApiKeyRevoked) {
    if (key.version == 0) return corrupt(event, "revocation of a key never created");
    next.revoked = true;
  } else {
    return corrupt(event, "unknown event type");
  }
  next.version = event.version;
  key = std::move(next);
  return Status::success();
}

Result<IssuedApiKey> issue_api_key(EventStore& store, const std::string& name, Role role,
                                   const std::string& org, const std::string& meta) {
  auto id_bytes = random_token(12);
  auto secret = random_token(32);
  if (!id_bytes) return id_bytes.error();
  if (!secret) return secret.error();
  IssuedApiKey issued;
  issued.key.key_id = sha256_hex(*id_bytes).substr(0, kKeyIdLength);
  issued.key.name = name;
  issued.key.role = role;
  issued.key.org = org;
  issued.key.secret_sha256 = sha256_hex(*secret);
  issued.plaintext = fmt::format("mk_{}_{}", issued.key.key_id, *secret);
  const nlohmann::json data = {{"key_id", issued.key.key_id},
                               {"name", name},
                               {"role", to_string(role)},
                               {"org", org},
                               {"secret_sha256", issued.key.secret_sha256}};
  auto appended =
      store.append(stream_of(issued.key.key_id), kNewStream, {NewEvent{kApiKeyCreated, data.dump(), meta}});
  if (!appended) return appended.error();
  issued.key.created_at_ms = appended->time_ms;
  issued.key.version = 1;
  issued.position = appended->last_position;
  return issued;
}

Result<std::uint64_t> revoke_api_key(EventStore& store, const std::string& key_id, const std::string& meta) {
  const std::uint64_t version = store.stream_version(stream_of(key_id));
  if (version == 0) return make_error(ErrorCode::not_found, "no API key with this id", "API_KEY_NOT_FOUND");
  if (version > 1)
    return make_error(ErrorCode::conflict, "this API key is already revoked", "API_KEY_REVOKED");
  auto appended = store.append(stream_of(key_id), version, {NewEvent{kApiKeyRevoked, "{}", meta}});
  if (!appended) return appended.error();
  return appended->last_position;
}

bool is_valid_key_id(std::string_view text) {
  return text.size() == kKeyIdLength && text.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

std::optional<KeyParts> split_api_key(std::string_view plaintext) {
  if (plaintext.size() < 3 + kKeyIdLength + 2 || plaintext.substr(0, 3) != "mk_" ||
      plaintext[3 + kKeyIdLength] != '_') {
    return std::nullopt;
  }
  const std::string_view key_id = plaintext.substr(3, kKeyIdLength);
  if (!is_valid_key_id(key_id)) return std::nullopt;
  return KeyParts{std::string(key_id), std::string(plaintext.substr(4 + kKeyIdLength))};
}

}  // namespace muster
