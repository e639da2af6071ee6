#include "actors/enrollment/registration.hpp"

namespace muster {

void Registrations::register_agent(const EnrollmentGrant& grant, const Registration& registration,
                                   const RequestContext& context, AgentService::Done done) {
  const auto instance = registry_.agent_for_instance(grant.org, registration.instance_id);
  if (instance.status == AgentStatus::decommissioned) {
    return done(make_error(ErrorCode::conflict, "this instance_id was decommissioned and cannot register again",
                           kAgentDecommissioned));
  }
  enrollment_.use(grant, instance.agent_id, registration.instance_id, context,
                  [this, agent_id = instance.agent_id, registration, context, token_id = grant.token_id,
                   done = std::move(done)](Result<EnrollmentToken> token) mutable {
                    if (!token) return done(token.error());
                    agents_.register_agent(agent_id, registration,
                                           Admission{token->org, token_id, token->labels, {}}, context,
                                           std::move(done));
                  });
}

}  // namespace muster
