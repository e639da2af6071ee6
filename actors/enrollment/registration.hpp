#pragma once
/// Registering an agent with an enrollment token: a process across two
/// aggregates. The token's actor spends a use first (so `max_uses` holds
/// however many registrations race), then the agent's actor registers with
/// the token's organization and labels. The use is spent once its
/// EnrollmentTokenUsed is durable; until then the token's actor decides
/// nothing else, so a write slower than the caller's patience holds the use
/// rather than freeing it. A registration refused after its use was spent
/// (the instance was decommissioned meanwhile, or the store failed) keeps
/// the use spent: a token never admits more than it may.
///
/// A known instance (registered or deregistered in the token's
/// organization) registering again spends no use: a used-up token still
/// lets the agents it enrolled back in, as long as it is live (unrevoked,
/// unexpired), which the token's actor confirms.

#include <optional>
#include <string_view>

#include "actors/agent/agent_service.hpp"
#include "actors/enrollment/enrollment_service.hpp"
#include "projections/agent_registry.hpp"

namespace muster {

class Registrations {
 public:
  /// References must outlive this.
  Registrations(EnrollmentService& enrollment, AgentService& agents, AgentRegistry& registry)
      : enrollment_(enrollment), agents_(agents), registry_(registry) {}

  /// The token in `plaintext` if it is live now, used up or not: it may
  /// admit a known instance (a cheap check; nothing is spent).
  std::optional<EnrollmentGrant> admit(std::string_view plaintext) const { return enrollment_.check(plaintext); }

  /// Registers `registration` through the token of `grant`. Refused:
  /// `conflict` / AGENT_DECOMMISSIONED for a retired instance (before any
  /// use is spent), `unauthenticated` / INVALID_ENROLLMENT_TOKEN if the token
  /// is used up and the instance new, or the token closed meanwhile, and
  /// what the agent refuses.
  void register_agent(const EnrollmentGrant& grant, const Registration& registration,
                      const RequestContext& context, AgentService::Done done);

 private:
  EnrollmentService& enrollment_;
  AgentService& agents_;
  AgentRegistry& registry_;
};

}  // namespace muster
