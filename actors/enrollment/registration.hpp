#pragma once
/// Registering an agent with an enrollment token: a process across two
/// aggregates. The token's actor spends a use first (so `max_uses` holds
/// however many registrations race), then the agent's actor registers with
/// the token's organization and labels. A registration refused after its
/// use was spent (the instance was decommissioned meanwhile, or the store
/// failed) keeps the use spent: a token never admits more than it may.

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

  /// The token in `plaintext` if it may admit a registration now (a cheap
  /// check; nothing is spent).
  std::optional<EnrollmentGrant> admit(std::string_view plaintext) const { return enrollment_.check(plaintext); }

  /// Registers `registration` through the token of `grant`. Refused:
  /// `conflict` / AGENT_DECOMMISSIONED for a retired instance (before any
  /// use is spent), `unauthenticated` / INVALID_ENROLLMENT_TOKEN if the token
  /// closed meanwhile, and what the agent refuses.
  void register_agent(const EnrollmentGrant& grant, const Registration& registration,
                      const RequestContext& context, AgentService::Done done);

 private:
  EnrollmentService& enrollment_;
  AgentService& agents_;
  AgentRegistry& registry_;
};

}  // namespace muster
