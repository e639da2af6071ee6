#pragma once
/// Operator API keys: who may call the operator API, with which role, in
/// which organization. Each key is a stream "apikey:<key_id>", so `muster
/// replay` shows who made or revoked which key:
///
///   ApiKeyCreated  {key_id, name, role, org, secret_sha256}
///                  (without org, or with an empty one: a key made before
///                  organizations, which covered every one: "*")
///   ApiKeyRevoked  {}
///
/// A key reads "mk_<key_id>_<secret>" (see actors/access/credentials.hpp).

#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include <nlohmann/json.hpp>

#include "actors/organization.hpp"
#include "actors/runtime/payload_codec.hpp"
#include "common/clock.hpp"
#include "common/result.hpp"
#include "common/secrets.hpp"

namespace muster {

inline constexpr std::string_view kApiKeyKind = "apikey";
inline constexpr std::string_view kApiKeyPrefix = "mk";

/// Each role may do what the ones before it may.
enum class Role {
  viewer,     ///< Read-only.
  operator_,  ///< Agents (later configuration and commands). "operator" is a C++ keyword.
  admin,      ///< Everything, including keys and tokens.
};

const char* to_string(Role role);
std::optional<Role> parse_role(std::string_view text);
inline bool role_allows(Role held, Role needed) {
  return static_cast<int>(held) >= static_cast<int>(needed);
}

struct ApiKeyCreated {
  static constexpr EventType kType{"ApiKeyCreated", kApiKeyKind, 1};
  std::string key_id;
  std::string name;
  Role role = Role::viewer;
  std::string org{kAllOrgs};
  Sha256 secret_sha256{};

  nlohmann::json to_json() const;
  static Result<ApiKeyCreated> from_json(const nlohmann::json& data, std::uint32_t schema_version);
};

struct ApiKeyRevoked {
  static constexpr EventType kType{"ApiKeyRevoked", kApiKeyKind, 1};
  nlohmann::json to_json() const { return nlohmann::json::object(); }
  static Result<ApiKeyRevoked> from_json(const nlohmann::json&, std::uint32_t) { return ApiKeyRevoked{}; }
};

using ApiKeyEvent = std::variant<ApiKeyCreated, ApiKeyRevoked>;

struct ApiKey {
  std::string key_id;
  std::string name;
  Role role = Role::viewer;
  std::string org{kAllOrgs};  ///< An organization, or "*" for every one.
  Sha256 secret_sha256{};
  bool revoked = false;
  TimeMs created_at_ms = 0;
  std::uint64_t version = 0;
  std::uint64_t last_position = 0;
};

bool operator==(const ApiKey& left, const ApiKey& right);

/// A key's state in a snapshot, and back. Total: damage gives `corruption`.
std::string encode_api_key(const ApiKey& key);
Result<ApiKey> decode_api_key(std::string_view bytes);

/// Folds one event of an "apikey:" stream. Errors: `corruption`, state unchanged.
Status apply(ApiKey& key, const Event& event);
Status apply(ApiKey& key, const ApiKeyEvent& event, const EventHeader& header);

}  // namespace muster
