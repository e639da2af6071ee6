#pragma once
/// Enrollment tokens: what an agent presents to register. An operator makes
/// one per rollout; each lives in a stream "enrollment:<token_id>", so
/// `muster replay` shows who made or revoked which token.
///
///   EnrollmentTokenCreated  {token_id, name, org, labels, expires_at, max_uses?, secret_sha256}
///   EnrollmentTokenRevoked  {}
///
/// Each registration a token admits records the token's id in the agent's
/// AgentTokenIssued event; counting those gives the token's uses.
/// A token reads "me_<token_id>_<secret>" (see credential_records.hpp).

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "actors/organization.hpp"
#include "common/clock.hpp"
#include "common/result.hpp"
#include "eventstore/event_store.hpp"

namespace muster {

inline constexpr std::string_view kEnrollmentStreamPrefix = "enrollment:";
inline constexpr std::string_view kEnrollmentTokenPrefix = "me";

struct EnrollmentToken {
  std::string token_id;
  std::string name;
  std::string org{kDefaultOrg};
  std::map<std::string, std::string> labels;  ///< Stamped onto every agent it enrolls.
  TimeMs expires_at_ms = 0;
  std::optional<std::uint64_t> max_uses;  ///< nullopt: unlimited.
  std::uint64_t uses = 0;                 ///< Registrations admitted (folded from agent streams).
  std::string secret_sha256;
  bool revoked = false;
  TimeMs created_at_ms = 0;
  std::uint64_t version = 0;
};

/// Folds one event of an "enrollment:" stream. Errors: `corruption`.
Status apply(EnrollmentToken& token, const Event& event);

/// Why a token admits no registration now; nullopt if it admits one.
/// `in_flight` counts admitted registrations not yet folded into `uses`.
std::optional<std::string_view> why_closed(const EnrollmentToken& token, TimeMs now_ms,
                                           std::uint64_t in_flight);

struct EnrollmentTokenRequest {
  std::string name;
  std::string org{kDefaultOrg};
  TimeMs expires_in_ms = 30LL * 24 * 3600 * 1000;
  std::optional<std::uint64_t> max_uses;
  std::map<std::string, std::string> labels;
};

/// A token as issued: the plaintext exists only here.
struct IssuedEnrollmentToken {
  EnrollmentToken token;
  std::string plaintext;
  std::uint64_t position = 0;
};

/// Makes a token expiring `expires_in_ms` after `now_ms` and appends
/// EnrollmentTokenCreated. Errors: those of the store.
Result<IssuedEnrollmentToken> issue_enrollment_token(EventStore& store, const EnrollmentTokenRequest& request,
                                                     TimeMs now_ms, const std::string& meta);

/// Appends EnrollmentTokenRevoked; returns its position. Errors: `not_found`
/// (ENROLLMENT_TOKEN_NOT_FOUND), `conflict` (ENROLLMENT_TOKEN_REVOKED), those of the store.
Result<std::uint64_t> revoke_enrollment_token(EventStore& store, const std::string& token_id,
                                              const std::string& meta);

}  // namespace muster
