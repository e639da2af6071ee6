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
  /// AgentUpdated and AgentStatusChanged events folded since
  /// `change_window_start_ms`: what the heartbeats' rate limit reads
  /// (see decide_heartbeat). Beside `status` to fill its padding.
  std::uint16_t changes_in_window = 0;
  /// Why it went OFFLINE (meaningful while `status` is offline): the last
  /// AgentWentOffline's reason. Beside them, in the same padding.
  OfflineReason offline_reason = OfflineReason::heartbeat_timeout;
  std::string instance_id;
  InternedString org = default_org();
  /// The agent token's digests. A deregistration or decommission keeps them,
  /// though the agent then accepts no token: so that its holder can be told
  /// why (see authenticate_agent). A registration replaces them.
  AgentCredentials credentials;
  AgentProfile profile;
  TimeMs registered_at_ms = 0;      ///< Time of the latest AgentRegistered.
  TimeMs status_since_ms = 0;       ///< When `status` last changed.
  TimeMs online_since_ms = 0;       ///< When the agent last came online (for uptime).
  TimeMs updated_at_ms = 0;         ///< Time of the latest event.
  std::uint64_t version = 0;        ///< Stream version: events folded so far.
  std::uint64_t last_position = 0;  ///< Log position of the latest event folded.
  /// When the current change window began: the time of the first change
  /// event at least `kChangeWindowMs` after the previous window began.
  TimeMs change_window_start_ms = 0;

  /// The agent's stream id.
  std::string stream() const;
};

bool operator==(const AgentState& left, const AgentState& right);
inline bool operator!=(const AgentState& left, const AgentState& right) {
  return !(left == right);
}

/// The length of the window in which heartbeats may change an agent's status
/// or version a limited number of times (see decide_heartbeat).
inline constexpr TimeMs kChangeWindowMs = 60'000;

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
