// AlertScope::covers: apart from the rest of the scope because it reads the
// config model (muster_projections), while parsing is the domain's.

#include "actors/agent/agent_state.hpp"
#include "actors/alert/alert_scope.hpp"
#include "actors/group/group_state.hpp"
#include "projections/config_model.hpp"

#include <algorithm>

namespace muster {

bool AlertScope::covers(const AgentId& agent_id, const std::map<std::string, std::string>& agent_labels,
                        const ConfigModel& config) const {
  switch (kind) {
    case Kind::group:
      return config.in_group(agent_id, group);
    case Kind::labels:
      return selector_matches(labels, agent_labels);
    case Kind::agents:
      return std::binary_search(agents.begin(), agents.end(), agent_id);
    case Kind::all:
      break;
  }
  return true;
}

bool AlertScope::covers(const AgentState& agent, const ConfigModel& config) const {
  return covers(agent.agent_id, agent.profile.labels.get(), config);
}

}  // namespace muster
