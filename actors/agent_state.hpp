#pragma once
/// An agent's state and the one fold that builds it: `apply(state, event)`.
/// The live actors, recovery, the projections and `muster replay --at` all
/// call this same function, so they cannot disagree.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "actors/agent_credentials.hpp"
#include "actors/organization.hpp"
#include "common/clock.hpp"
#include "common/result.hpp"
#include "eventstore/event.hpp"

namespace muster {

enum class AgentStatus {
  unregistered,    ///< No events yet.
  online,          ///< Registered and heard from within the heartbeat timeout.
  degraded,        ///< Online, but the agent reported a problem.
  offline,         ///< Silent for longer than the heartbeat timeout.
  deregistered,    ///< Removed by an operator; may register again.
  decommissioned,  ///< Retired for good; its instance id can never register again.
};

/// "ONLINE", "DEGRADED", ... (upper case, as the API shows it).
const char* to_string(AgentStatus status);
/// Parses the API's upper-case names (case-insensitively).
std::optional<AgentStatus> parse_agent_status(std::string_view text);

/// True for online and degraded: the states a heartbeat timeout watches.
inline bool is_live(AgentStatus status) {
  return status == AgentStatus::online || status == AgentStatus::degraded;
}
/// True while the agent is in lists and counts.
inline bool is_listed(AgentStatus status) {
  return is_live(status) || status == AgentStatus::offline;
}

/// What an agent says about itself.
struct AgentProfile {
  std::string name;
  std::string hostname;
  std::string ip_address;
  std::string version;
  std::string type;
  std::vector<std::string> capabilities;
  std::map<std::string, std::string> labels;
};

bool operator==(const AgentProfile& left, const AgentProfile& right);

struct AgentState {
  std::string agent_id;
  std::string instance_id;
  std::string org{kDefaultOrg};
  AgentCredentials credentials;  ///< The agent token's digests; cleared by deregistration.
  AgentProfile profile;
  AgentStatus status = AgentStatus::unregistered;
  TimeMs registered_at_ms = 0;      ///< Time of the latest AgentRegistered.
  TimeMs status_since_ms = 0;       ///< When `status` last changed.
  TimeMs online_since_ms = 0;       ///< When the agent last came online (for uptime).
  TimeMs updated_at_ms = 0;         ///< Time of the latest event.
  std::uint64_t version = 0;        ///< Stream version: events folded so far.
  std::uint64_t last_position = 0;  ///< Log position of the latest event folded.
  std::uint64_t config_version = 0;
};

/// Folds `event` into `state`. Errors (`corruption`): an event of another
/// stream, out of version order, of an unknown type or with an undecodable
/// payload; `state` is unchanged then.
Status apply(AgentState& state, const Event& event);

/// The agent as the API and `muster replay --at` show it.
nlohmann::json to_json(const AgentState& state);

}  // namespace muster
