#pragma once
/// The agent's decisions: given its state and a command, which events to
/// append (none, when nothing changed), or why the command is refused.
/// Pure functions: no I/O, no clock, no actors; the actor calls them, then
/// appends what they return and folds it with `apply`.

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "actors/agent_state.hpp"
#include "common/result.hpp"
#include "eventstore/event.hpp"

namespace muster {

/// A registration as the agent sent it. Absent profile fields keep their
/// current value on re-registration; present ones replace it.
struct Registration {
  std::string instance_id;
  std::optional<std::string> name;
  std::optional<std::string> hostname;
  std::optional<std::string> ip_address;
  std::optional<std::string> version;
  std::optional<std::string> type;
  std::optional<std::vector<std::string>> capabilities;
  std::optional<std::map<std::string, std::string>> labels;
};

/// A heartbeat's body. `status` is online or degraded when present.
struct HeartbeatReport {
  std::optional<AgentStatus> status;
  std::optional<std::string> version;
  std::map<std::string, double> metrics;
};

/// API codes for refusals (the `reason` of the returned `Error`).
inline constexpr const char* kAgentNotFound = "AGENT_NOT_FOUND";
inline constexpr const char* kAgentNotRegistered = "AGENT_NOT_REGISTERED";
inline constexpr const char* kAgentDecommissioned = "AGENT_DECOMMISSIONED";

/// A new instance: AgentRegistered. A known one: AgentRegistered again after a
/// deregistration; otherwise AgentUpdated for changed fields plus
/// AgentCameOnline / AgentStatusChanged to bring it back to ONLINE.
/// Refused with `conflict` / AGENT_DECOMMISSIONED for a retired instance.
Result<std::vector<NewEvent>> decide_register(const AgentState& state, const std::string& agent_id,
                                              const Registration& registration, const std::string& meta);

/// AgentCameOnline after OFFLINE; AgentStatusChanged and AgentUpdated (version)
/// for what changed; nothing otherwise. Refused: `not_found` / AGENT_NOT_FOUND
/// (never registered), `not_found` / AGENT_NOT_REGISTERED (deregistered),
/// `conflict` / AGENT_DECOMMISSIONED.
Result<std::vector<NewEvent>> decide_heartbeat(const AgentState& state, const HeartbeatReport& report,
                                               const std::string& meta);

/// AgentDeregistered; nothing if already deregistered. Refused for unknown or
/// decommissioned agents.
Result<std::vector<NewEvent>> decide_deregister(const AgentState& state, const std::string& meta);

/// AgentDecommissioned; nothing if already decommissioned. Refused for unknown agents.
Result<std::vector<NewEvent>> decide_decommission(const AgentState& state, const std::string& meta);

/// AgentWentOffline if the agent is live and `now_ms >= deadline_ms`; nothing otherwise.
std::vector<NewEvent> decide_timeout(const AgentState& state, TimeMs last_seen_ms, TimeMs deadline_ms,
                                     TimeMs timeout_ms, TimeMs now_ms, const std::string& meta);

}  // namespace muster
