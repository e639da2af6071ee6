#include "actors/agent/agent_credentials.hpp"

#include <fmt/format.h>

namespace muster {
namespace {

constexpr std::size_t kAgentIdLength = 36;  // a canonical UUID

}  // namespace

bool operator==(const AgentCredentials& left, const AgentCredentials& right) {
  return left.token == right.token && left.has_token == right.has_token &&
         left.previous_token == right.previous_token &&
         left.previous_valid_until_ms == right.previous_valid_until_ms;
}

TokenMatch match_token(const AgentCredentials& credentials, const Sha256& presented, TimeMs now_ms) {
  // Both compares always run, so the time taken does not tell which token matched.
  const bool current = constant_time_equal(presented, credentials.token) && credentials.has_token;
  const bool previous = constant_time_equal(presented, credentials.previous_token) &&
                        now_ms < credentials.previous_valid_until_ms;
  if (current) return TokenMatch::current;
  return previous ? TokenMatch::previous : TokenMatch::none;
}

bool accepts(const AgentCredentials& credentials, const Sha256& presented, TimeMs now_ms) {
  return match_token(credentials, presented, now_ms) != TokenMatch::none;
}

Result<IssuedAgentToken> issue_agent_token(const AgentId& agent_id) {
  auto secret = random_token(32);
  if (!secret) return secret.error();
  return IssuedAgentToken{fmt::format("{}_{}_{}", kAgentTokenPrefix, agent_id.to_string(), *secret),
                          sha256(*secret)};
}

std::optional<PresentedAgentToken> read_agent_token(std::string_view plaintext) {
  auto parts = split_credential(plaintext, kAgentTokenPrefix, kAgentIdLength);
  if (!parts) return std::nullopt;
  const auto agent_id = AgentId::parse(parts->id);
  if (!agent_id) return std::nullopt;
  return PresentedAgentToken{*agent_id, sha256(parts->secret)};
}

}  // namespace muster
