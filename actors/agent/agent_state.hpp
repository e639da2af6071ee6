#pragma once
/// An agent's state and the one fold that builds it: `apply(state, event)`.
/// The agents' actors, the registry behind the hot path and the fleet read
/// model, recovery, snapshots and `muster replay --at` all call this same
/// function, so they cannot disagree.
///
/// The state is compact (a binary id, interned shared values, raw digests):
/// the registry keeps one per agent, a million of them.

#include <cstdint>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "actors/agent/agent_credentials.hpp"
#include "actors/agent/agent_events.hpp"
#include "actors/agent/agent_id.hpp"
#include "actors/agent/agent_profile.hpp"
#include "actors/organization.hpp"
#include "common/clock.hpp"
#include "common/result.hpp"
#include "eventstore/event.hpp"

namespace muster {

struct AgentState {
  AgentId agent_id;
  /// The stream is the bare agent id (agents of data dirs from before stream kinds).
  bool legacy_stream = false;
  AgentStatus status = AgentStatus::unregistered;
  std::string instance_id;
  InternedString org = default_org();
  AgentCredentials credentials;  ///< The agent token's digests; cleared by deregistration.
  AgentProfile profile;
  TimeMs registered_at_ms = 0;      ///< Time of the latest AgentRegistered.
  TimeMs status_since_ms = 0;       ///< When `status` last changed.
  TimeMs online_since_ms = 0;       ///< When the agent last came online (for uptime).
  TimeMs updated_at_ms = 0;         ///< Time of the latest event.
  std::uint64_t version = 0;        ///< Stream version: events folded so far.
  std::uint64_t last_position = 0;  ///< Log position of the latest event folded.
  std::uint64_t config_version = 0;

  /// The agent's stream id.
  std::string stream() const;
};

bool operator==(const AgentState& left, const AgentState& right);
inline bool operator!=(const AgentState& left, const AgentState& right) {
  return !(left == right);
}

/// A state with no events yet, for `agent_id`, whose stream will be "agent:<id>".
AgentState fresh_agent_state(const AgentId& agent_id);

/// Folds one event into `state`. Errors (`corruption`): an event of another
/// stream, out of version order, of an unknown type, with an undecodable
/// payload, or that cannot come first; `state` is unchanged then.
Status apply(AgentState& state, const Event& event);
Status apply(AgentState& state, const AgentEvent& event, const EventHeader& header);

/// The agent as the API and `muster replay --at` show it.
nlohmann::json to_json(const AgentState& state);

}  // namespace muster
