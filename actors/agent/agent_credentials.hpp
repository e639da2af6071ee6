#pragma once
/// Agent tokens: the credential an agent presents on its own routes.
///
/// A token reads "ma_<agent_id>_<secret>", the secret 32 random bytes. The
/// agent's stream keeps only the secret's SHA-256 (in AgentTokenIssued), so
/// tokens survive restarts, and the agent's record holds the digests in
/// memory: checking a heartbeat's token costs one SHA-256 on the request's
/// thread and a constant-time compare, never a store read.
///
/// Random secrets stored as digests rather than signed tokens: rotation and
/// revocation must be events in the log anyway, and a signing key in the data
/// dir would be one more secret whose theft forges every agent.

#include <optional>
#include <string>
#include <string_view>

#include "actors/agent/agent_id.hpp"
#include "common/clock.hpp"
#include "common/result.hpp"
#include "common/secrets.hpp"

namespace muster {

inline constexpr std::string_view kAgentTokenPrefix = "ma";

/// The token digests an agent accepts.
struct AgentCredentials {
  Sha256 token{};          ///< The current token's digest, if `has_token`.
  bool has_token = false;  ///< False: none (never issued, or revoked).
  Sha256 previous_token{};             ///< After a rotation: the token it replaced...
  TimeMs previous_valid_until_ms = 0;  ///< ...accepted until this time (0: none).
};

bool operator==(const AgentCredentials& left, const AgentCredentials& right);

/// Which of an agent's tokens `presented` is: its current one, its previous
/// one within the grace period, or neither. Constant time in which matched.
enum class TokenMatch { none, current, previous };
TokenMatch match_token(const AgentCredentials& credentials, const Sha256& presented, TimeMs now_ms);

/// True if `presented` is the current token, or the previous one within its grace period.
bool accepts(const AgentCredentials& credentials, const Sha256& presented, TimeMs now_ms);

/// A new token for `agent_id`. Errors: `internal` if the OS has no randomness.
struct IssuedAgentToken {
  std::string plaintext;  ///< Exists only here: hand it to the agent once.
  Sha256 digest;
};
Result<IssuedAgentToken> issue_agent_token(const AgentId& agent_id);

/// A token as presented: the agent it names and its secret's digest.
struct PresentedAgentToken {
  AgentId agent_id;
  Sha256 digest;
};
/// Reads "ma_<agent_id>_<secret>"; nullopt if `plaintext` has another shape.
std::optional<PresentedAgentToken> read_agent_token(std::string_view plaintext);

}  // namespace muster
