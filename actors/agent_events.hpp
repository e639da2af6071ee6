#pragma once
/// The agent's event types and their JSON payloads (schema version 1).
///
///   AgentRegistered      {agent_id, instance_id, org, name, hostname, ip_address,
///                         version, type, capabilities: [..], labels: {..}}
///   AgentTokenIssued     {token_sha256, enrollment_token_id?, previous_valid_until?}
///                        (with enrollment_token_id: issued by a registration, the
///                        old token dies now; with previous_valid_until: a
///                        rotation, the old token works until then)
///   AgentUpdated         {changes: {<profile field>: <new value>, ...}}
///   AgentStatusChanged   {from: "ONLINE", to: "DEGRADED"}
///   AgentWentOffline     {last_seen: <ms>, timeout_ms: <ms>}
///   AgentCameOnline      {status: "ONLINE" | "DEGRADED"}
///   AgentDeregistered    {}
///   AgentDecommissioned  {}

#include <optional>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "actors/agent_state.hpp"
#include "eventstore/event.hpp"

namespace muster::agent_events {

inline constexpr const char* kRegistered = "AgentRegistered";
inline constexpr const char* kTokenIssued = "AgentTokenIssued";
inline constexpr const char* kUpdated = "AgentUpdated";
inline constexpr const char* kStatusChanged = "AgentStatusChanged";
inline constexpr const char* kWentOffline = "AgentWentOffline";
inline constexpr const char* kCameOnline = "AgentCameOnline";
inline constexpr const char* kDeregistered = "AgentDeregistered";
inline constexpr const char* kDecommissioned = "AgentDecommissioned";

/// Profile fields as JSON members (name, hostname, ..., labels).
nlohmann::json profile_to_json(const AgentProfile& profile);

NewEvent registered(const std::string& agent_id, const std::string& instance_id, const std::string& org,
                    const AgentProfile& profile, const std::string& meta);
/// A token issued by a registration through `enrollment_token_id`.
NewEvent token_issued_at_registration(const std::string& token_sha256, const std::string& enrollment_token_id,
                                      const std::string& meta);
/// A rotated token; the previous one stays valid until `previous_valid_until_ms`.
NewEvent token_rotated(const std::string& token_sha256, TimeMs previous_valid_until_ms,
                       const std::string& meta);
/// The enrollment token an AgentTokenIssued event records, if `event` is one that does.
std::optional<std::string> enrollment_token_of(const Event& event);
/// `changes` holds only the profile fields that changed, with their new values.
NewEvent updated(const nlohmann::json& changes, const std::string& meta);
NewEvent status_changed(AgentStatus from, AgentStatus to, const std::string& meta);
NewEvent went_offline(TimeMs last_seen_ms, TimeMs timeout_ms, const std::string& meta);
NewEvent came_online(AgentStatus status, const std::string& meta);
NewEvent deregistered(const std::string& meta);
NewEvent decommissioned(const std::string& meta);

}  // namespace muster::agent_events
