#include "actors/agent_credentials.hpp"

#include <fmt/format.h>

#include "common/secrets.hpp"

namespace muster {
namespace {

constexpr std::size_t kAgentIdLength = 36;  // a canonical UUID

}  // namespace

bool accepts(const AgentCredentials& credentials, std::string_view token_sha256, TimeMs now_ms) {
  if (token_sha256.empty()) return false;
  // Both compares always run, so the time taken does not tell which token matched.
  const bool current = constant_time_equal(token_sha256, credentials.token_sha256);
  const bool previous = constant_time_equal(token_sha256, credentials.previous_token_sha256);
  return current || (previous && now_ms < credentials.previous_valid_until_ms);
}

Result<IssuedAgentToken> issue_agent_token(const std::string& agent_id) {
  auto secret = random_token(32);
  if (!secret) return secret.error();
  return IssuedAgentToken{fmt::format("{}_{}_{}", kAgentTokenPrefix, agent_id, *secret), sha256_hex(*secret)};
}

std::optional<PresentedAgentToken> read_agent_token(std::string_view plaintext) {
  auto parts = split_credential(plaintext, kAgentTokenPrefix, kAgentIdLength);
  if (!parts) return std::nullopt;
  return PresentedAgentToken{std::move(parts->id), sha256_hex(parts->secret)};
}

}  // namespace muster
