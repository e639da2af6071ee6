#pragma once
/// Operator API keys: who may call the operator API, with which role, in
/// which organization. Keys are event-sourced like agents, each in a stream
/// "apikey:<key_id>", so `muster replay` shows who made or revoked which key.
///
///   ApiKeyCreated  {key_id, name, role, org, secret_sha256}
///   ApiKeyRevoked  {}
///
/// A key reads "mk_<key_id>_<secret>" (see credential_records.hpp); only the
/// secret's SHA-256 is stored.

#include <optional>
#include <string>
#include <string_view>

#include "actors/organization.hpp"
#include "common/clock.hpp"
#include "common/result.hpp"
#include "eventstore/event_store.hpp"

namespace muster {

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

inline constexpr std::string_view kApiKeyStreamPrefix = "apikey:";
inline constexpr std::string_view kApiKeyPrefix = "mk";

/// Agent streams are bare agent ids; other aggregates use "<kind>:<id>".
inline bool is_agent_stream(std::string_view stream) {
  return stream.find(':') == std::string_view::npos;
}

struct ApiKey {
  std::string key_id;
  std::string name;
  Role role = Role::viewer;
  std::string org{kAllOrgs};  ///< An organization, or "*" for every one.
  std::string secret_sha256;
  bool revoked = false;
  TimeMs created_at_ms = 0;
  std::uint64_t version = 0;
};

/// Folds one event of an "apikey:" stream. Errors: `corruption`.
Status apply(ApiKey& key, const Event& event);

/// A key as issued: the plaintext exists only here.
struct IssuedApiKey {
  ApiKey key;
  std::string plaintext;
  std::uint64_t position = 0;
};

/// Makes a key and appends ApiKeyCreated. Errors: those of the store.
Result<IssuedApiKey> issue_api_key(EventStore& store, const std::string& name, Role role,
                                   const std::string& org, const std::string& meta);

/// Appends ApiKeyRevoked; returns its position. Errors: `not_found`
/// (API_KEY_NOT_FOUND), `conflict` (API_KEY_REVOKED), those of the store.
Result<std::uint64_t> revoke_api_key(EventStore& store, const std::string& key_id, const std::string& meta);

}  // namespace muster
