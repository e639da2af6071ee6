#pragma once
/// The agent's event types and their JSON payloads (schema version 1).
///
///   AgentRegistered      {agent_id, instance_id, name, hostname, ip_address,
///                         version, type, capabilities: [..], labels: {..}}
///   AgentUpdated         {changes: {<profile field>: <new value>, ...}}
///   AgentStatusChanged   {from: "ONLINE", to: "DEGRADED"}
///   AgentWentOffline     {last_seen: <ms>, timeout_ms: <ms>}
///   AgentCameOnline      {status: "ONLINE" | "DEGRADED"}
///   AgentDeregistered    {}
///   AgentDecommissioned  {}

#include <string>

#include <nlohmann/json_fwd.hpp>

#include "actors/agent_state.hpp"
#include "eventstore/event.hpp"

namespace muster::agent_events {

inline constexpr const char* kRegistered = "AgentRegistered";
inline constexpr const char* kUpdated = "AgentUpdated";
inline constexpr const char* kStatusChanged = "AgentStatusChanged";
inline constexpr const char* kWentOffline = "AgentWentOffline";
inline constexpr const char* kCameOnline = "AgentCameOnline";
inline constexpr const char* kDeregistered = "AgentDeregistered";
inline constexpr const char* kDecommissioned = "AgentDecommissioned";

/// Profile fields as JSON members (name, hostname, ..., labels).
nlohmann::json profile_to_json(const AgentProfile& profile);

NewEvent registered(const std::string& agent_id, const std::string& instance_id, const AgentProfile& profile,
                    const std::string& meta);
/// `changes` holds only the profile fields that changed, with their new values.
NewEvent updated(const nlohmann::json& changes, const std::string& meta);
NewEvent status_changed(AgentStatus from, AgentStatus to, const std::string& meta);
NewEvent went_offline(TimeMs last_seen_ms, TimeMs timeout_ms, const std::string& meta);
NewEvent came_online(AgentStatus status, const std::string& meta);
NewEvent deregistered(const std::string& meta);
NewEvent decommissioned(const std::string& meta);

}  // namespace muster::agent_events
