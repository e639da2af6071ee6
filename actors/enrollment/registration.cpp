#include "actors/enrollment/registration.hpp"

#include "actors/enrollment/enrollment_token_decider.hpp"

namespace muster {

void Registrations::register_agent(const EnrollmentGrant& grant, const Registration& registration,
                                   const RequestContext& context, AgentService::Done done) {
  const auto instance = registry_.agent_for_instance(grant.org, registration.instance_id);
  if (instance.status == AgentStatus::decommissioned) {
    return done(make_error(ErrorCode::conflict, "this instance_id was decommissioned and cannot register again",
                           kAgentDecommissioned));
  }
  auto then_register = [this, agent_id = instance.agent_id, registration, context, token_id = grant.token_id,
                        done = std::move(done)](Result<EnrollmentToken> token) mutable {
    if (!token) return done(token.error());
    agents_.register_agent(agent_id, registration, Admission{token->org, token_id, token->labels, {}}, context,
                           std::move(done));
  };
  // Known in the token's organization (the registry is keyed by it): no use.
  if (instance.status != AgentStatus::unregistered) {
    return enrollment_.reuse(grant, context, std::move(then_register));
  }
  if (grant.used_up) {
    return then_register(make_error(ErrorCode::unauthenticated, "the enrollment token is used up",
                                    kInvalidEnrollmentToken));
  }
  enrollment_.use(grant, instance.agent_id, registration.instance_id, context, std::move(then_register));
}

}  // namespace muster
