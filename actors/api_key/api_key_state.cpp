#include "actors/api_key/api_key_state.hpp"

#include <fmt/format.h>

#include "actors/runtime/stream_id.hpp"

namespace muster {
namespace {

using nlohmann::json;
using payload::read;

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

json ApiKeyCreated::to_json() const {
  return {{"key_id", key_id},
          {"name", name},
          {"role", muster::to_string(role)},
          {"org", org},
          {"secret_sha256", to_hex(secret_sha256)}};
}

Result<ApiKeyCreated> ApiKeyCreated::from_json(const json& data, std::uint32_t /*schema_version*/) {
  ApiKeyCreated event;
  std::string role;
  std::string secret;
  std::string org;
  if (!read(data, "key_id", event.key_id) || !read(data, "name", event.name, payload::Presence::optional) ||
      !read(data, "role", role) || !read(data, "org", org, payload::Presence::optional) ||
      !read(data, "secret_sha256", secret)) {
    return payload_error("bad ApiKeyCreated payload");
  }
  const auto parsed_role = parse_role(role);
  const auto digest = sha256_from_hex(secret);
  if (!parsed_role || !digest) return payload_error("bad ApiKeyCreated payload");
  event.role = *parsed_role;
  event.secret_sha256 = *digest;
  // Keys made before organizations had an explicit scope covered every one.
  event.org = org.empty() ? std::string(kAllOrgs) : org;
  return event;
}

std::string encode_api_key(const ApiKey& key) {
  return json{{"key_id", key.key_id},
              {"name", key.name},
              {"role", to_string(key.role)},
              {"org", key.org},
              {"secret_sha256", to_hex(key.secret_sha256)},
              {"revoked", key.revoked},
              {"created_at", key.created_at_ms},
              {"version", key.version},
              {"last_position", key.last_position}}
      .dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<ApiKey> decode_api_key(std::string_view bytes) {
  const auto data = json::parse(bytes, nullptr, false);
  ApiKey key;
  std::string role;
  std::string secret;
  const auto revoked = data.is_object() ? data.find("revoked") : data.end();
  if (!data.is_object() || !read(data, "key_id", key.key_id) || !read(data, "name", key.name) ||
      !read(data, "role", role) || !read(data, "org", key.org) || !read(data, "secret_sha256", secret) ||
      revoked == data.end() || !revoked->is_boolean() || !read(data, "created_at", key.created_at_ms) ||
      !read(data, "version", key.version) || !read(data, "last_position", key.last_position)) {
    return payload_error("bad API key snapshot");
  }
  const auto parsed_role = parse_role(role);
  const auto digest = sha256_from_hex(secret);
  if (!parsed_role || !digest) return payload_error("bad API key snapshot");
  key.role = *parsed_role;
  key.secret_sha256 = *digest;
  key.revoked = revoked->get<bool>();
  return key;
}

bool operator==(const ApiKey& left, const ApiKey& right) {
  return left.key_id == right.key_id && left.name == right.name && left.role == right.role &&
         left.org == right.org && left.secret_sha256 == right.secret_sha256 && left.revoked == right.revoked &&
         left.created_at_ms == right.created_at_ms && left.version == right.version &&
         left.last_position == right.last_position;
}

Status apply(ApiKey& key, const ApiKeyEvent& event, const EventHeader& header) {
  const std::string_view type = type_of(event).name;
  if (header.version != key.version + 1) return corrupt_event(header, type, "out of version order");
  if (const auto* created = std::get_if<ApiKeyCreated>(&event)) {
    if (key.version != 0) return corrupt_event(header, type, "a key is created once");
    if (stream_id_of(header.stream, kApiKeyKind) != std::optional<std::string_view>(created->key_id)) {
      return corrupt_event(header, type, "key_id differs from the stream id");
    }
    key.key_id = created->key_id;
    key.name = created->name;
    key.role = created->role;
    key.org = created->org;
    key.secret_sha256 = created->secret_sha256;
    key.created_at_ms = header.time_ms;
  } else {
    if (key.version == 0) return corrupt_event(header, type, "revocation of a key never created");
    key.revoked = true;
  }
  key.version = header.version;
  key.last_position = header.position;
  return Status::success();
}

Status apply(ApiKey& key, const Event& event) { return apply_stored<ApiKeyEvent>(key, event); }

}  // namespace muster
