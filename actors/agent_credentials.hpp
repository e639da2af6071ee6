#pragma once
/// Agent tokens: the credential an agent presents on its own routes.
///
/// A token reads "ma_<agent_id>_<secret>", the secret 32 random bytes. The
/// agent's stream keeps only the secret's SHA-256 (in AgentTokenIssued), so
/// tokens survive restarts, and the agent's actor holds the digests in
/// memory: checking a heartbeat's token costs one SHA-256 on the HTTP thread
/// and a constant-time compare in the actor, never a store read.
///
/// Random secrets stored as digests rather than signed tokens: rotation and
/// revocation must be events in the log anyway, and a signing key in the data
/// dir would be one more secret whose theft forges every agent.

#include <optional>
#include <string>
#include <string_view>

#include "common/clock.hpp"
#include "common/result.hpp"

namespace muster {

inline constexpr std::string_view kAgentTokenPrefix = "ma";

/// The token digests an agent accepts.
struct AgentCredentials {
  std::string token_sha256;            ///< The current token; empty: none (never issued, or revoked).
  std::string previous_token_sha256;   ///< After a rotation: the token it replaced...
  TimeMs previous_valid_until_ms = 0;  ///< ...accepted until this time.
};

/// True if `token_sha256` is the current token, or the previous one within its grace period.
bool accepts(const AgentCredentials& credentials, std::string_view token_sha256, TimeMs now_ms);

/// A new token for `agent_id`. Errors: `internal` if the OS has no randomness.
struct IssuedAgentToken {
  std::string plaintext;  ///< Exists only here: hand it to the agent once.
  std::string sha256;
};
Result<IssuedAgentToken> issue_agent_token(const std::string& agent_id);

/// A token as presented: the agent it names and its secret's digest.
struct PresentedAgentToken {
  std::string agent_id;
  std::string sha256;
};
/// Reads "ma_<agent_id>_<secret>"; nullopt if `plaintext` has another shape.
std::optional<PresentedAgentToken> read_agent_token(std::string_view plaintext);

}  // namespace muster
