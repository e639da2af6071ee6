#pragma once
/// Enrollment tokens: what an agent presents to register. An operator makes
/// one per rollout; each lives in a stream "enrollment:<token_id>", so
/// `muster replay` shows who made or revoked which token and which
/// registrations it admitted:
///
///   EnrollmentTokenCreated  {token_id, name, org, labels, expires_at, max_uses?, secret_sha256}
///   EnrollmentTokenUsed     {agent_id, instance_id}   (one per new instance it admits;
///                           a known one registering again spends none)
///   EnrollmentTokenRevoked  {}
///
/// The token's own aggregate counts its uses, so `max_uses` holds however
/// many registrations race (and on several nodes). Registrations of data
/// directories from before EnrollmentTokenUsed were counted from the agents'
/// v1 AgentTokenIssued events instead: `legacy_uses` carries that count.
/// A token reads "me_<token_id>_<secret>" (see actors/access/credentials.hpp).

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include <nlohmann/json.hpp>

#include "actors/agent/agent_id.hpp"
#include "actors/organization.hpp"
#include "actors/runtime/payload_codec.hpp"
#include "common/clock.hpp"
#include "common/result.hpp"
#include "common/secrets.hpp"

namespace muster {

inline constexpr std::string_view kEnrollmentKind = "enrollment";
inline constexpr std::string_view kEnrollmentTokenPrefix = "me";

struct EnrollmentTokenCreated {
  static constexpr EventType kType{"EnrollmentTokenCreated", kEnrollmentKind, 1};
  std::string token_id;
  std::string name;
  std::string org{kDefaultOrg};
  std::map<std::string, std::string> labels;
  TimeMs expires_at_ms = 0;
  std::optional<std::uint64_t> max_uses;
  Sha256 secret_sha256{};

  nlohmann::json to_json() const;
  static Result<EnrollmentTokenCreated> from_json(const nlohmann::json& data, std::uint32_t schema_version);
};

struct EnrollmentTokenUsed {
  static constexpr EventType kType{"EnrollmentTokenUsed", kEnrollmentKind, 1};
  AgentId agent_id;
  std::string instance_id;

  nlohmann::json to_json() const;
  static Result<EnrollmentTokenUsed> from_json(const nlohmann::json& data, std::uint32_t schema_version);
};

struct EnrollmentTokenRevoked {
  static constexpr EventType kType{"EnrollmentTokenRevoked", kEnrollmentKind, 1};
  nlohmann::json to_json() const { return nlohmann::json::object(); }
  static Result<EnrollmentTokenRevoked> from_json(const nlohmann::json&, std::uint32_t) {
    return EnrollmentTokenRevoked{};
  }
};

using EnrollmentEvent = std::variant<EnrollmentTokenCreated, EnrollmentTokenUsed, EnrollmentTokenRevoked>;

struct EnrollmentToken {
  std::string token_id;
  std::string name;
  std::string org{kDefaultOrg};
  std::map<std::string, std::string> labels;  ///< Stamped onto every agent it enrolls.
  TimeMs expires_at_ms = 0;
  std::optional<std::uint64_t> max_uses;  ///< nullopt: unlimited.
  std::uint64_t uses = 0;                 ///< EnrollmentTokenUsed events folded.
  std::uint64_t legacy_uses = 0;          ///< Uses recorded the old way (see above).
  Sha256 secret_sha256{};
  bool revoked = false;
  TimeMs created_at_ms = 0;
  std::uint64_t version = 0;
  std::uint64_t last_position = 0;

  /// Every registration it ever admitted.
  std::uint64_t total_uses() const { return uses + legacy_uses; }
};

bool operator==(const EnrollmentToken& left, const EnrollmentToken& right);

/// A token's state in a snapshot, and back. Total: damage gives `corruption`.
std::string encode_enrollment_token(const EnrollmentToken& token);
Result<EnrollmentToken> decode_enrollment_token(std::string_view bytes);

/// Folds one event of an "enrollment:" stream. Errors: `corruption`, state unchanged.
Status apply(EnrollmentToken& token, const Event& event);
Status apply(EnrollmentToken& token, const EnrollmentEvent& event, const EventHeader& header);

/// Why a token admits no registration of a new instance at `now_ms`
/// (revoked, expired or used up); nullopt if it admits one.
std::optional<std::string_view> why_closed(const EnrollmentToken& token, TimeMs now_ms);

/// Why a token is dead at `now_ms` (revoked or expired); nullopt if it is
/// live, used up or not. A live token re-registers known instances.
std::optional<std::string_view> why_dead(const EnrollmentToken& token, TimeMs now_ms);

}  // namespace muster
