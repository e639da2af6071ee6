#include "actors/access.hpp"

#include <nlohmann/json.hpp>

#include <fmt/format.h>

#include "actors/credential_records.hpp"

namespace muster {
namespace {

constexpr const char* kApiKeyCreated = "ApiKeyCreated";
constexpr const char* kApiKeyRevoked = "ApiKeyRevoked";

std::string stream_of(const std::string& key_id) {
  return std::string(kApiKeyStreamPrefix) + key_id;
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
  if (event.version != key.version + 1) return record_corruption(event, "out of version order");
  const auto data = nlohmann::json::parse(event.data, nullptr, false);
  if (!data.is_object()) return record_corruption(event, "payload is not a JSON object");
  ApiKey next = key;
  if (event.type == kApiKeyCreated) {
    const auto role_name = payload_text(data, "role", true);
    const auto role = role_name ? parse_role(*role_name) : std::nullopt;
    const auto key_id = payload_text(data, "key_id", true);
    const auto secret_sha256 = payload_text(data, "secret_sha256", true);
    const auto name = payload_text(data, "name", false);
    const auto org = payload_text(data, "org", false);
    if (!role || !key_id || !secret_sha256 || !name || !org) {
      return record_corruption(event, "bad ApiKeyCreated payload");
    }
    next.key_id = *key_id;
    next.name = *name;
    // Keys made before organizations had an explicit scope covered every one.
    next.org = org->empty() ? std::string(kAllOrgs) : *org;
    next.role = *role;
    next.secret_sha256 = *secret_sha256;
    next.created_at_ms = event.time_ms;
  } else if (event.type == kApiKeyRevoked) {
    if (key.version == 0) return record_corruption(event, "revocation of a key never created");
    next.revoked = true;
  } else {
    return record_corruption(event, "unknown event type");
  }
  next.version = event.version;
  key = std::move(next);
  return Status::success();
}

Result<IssuedApiKey> issue_api_key(EventStore& store, const std::string& name, Role role,
                                   const std::string& org, const std::string& meta) {
  auto made = new_credential(kApiKeyPrefix);
  if (!made) return made.error();
  IssuedApiKey issued;
  issued.key.key_id = made->id;
  issued.key.name = name;
  issued.key.role = role;
  issued.key.org = org;
  issued.key.secret_sha256 = made->secret_sha256;
  issued.plaintext = std::move(made->plaintext);
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
  return revoke_credential(store, stream_of(key_id), kApiKeyRevoked, {"API key", "API_KEY"}, meta);
}

}  // namespace muster
