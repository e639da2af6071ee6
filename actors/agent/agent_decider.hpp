#pragma once
/// The agent's decisions: given its state and a command, which events to
/// append (none, when nothing changed), or why the command is refused.
/// Pure functions: no I/O, no clock, no actors. The agent's actor calls them
/// and appends what they return; the heartbeat hot path calls the same
/// `decide_heartbeat` on the registry's record and answers alone only when
/// it returns nothing to append.

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "actors/agent/agent_events.hpp"
#include "actors/agent/agent_state.hpp"
#include "common/result.hpp"

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

/// What admitted a registration (an enrollment token), and the credential it issues.
struct Admission {
  std::string org{kDefaultOrg};               ///< The enrollment token's organization.
  std::string enrollment_token_id;            ///< Recorded with the token the registration issues.
  std::map<std::string, std::string> labels;  ///< Stamped over the agent's own labels.
  Sha256 agent_token{};                       ///< Digest of the agent token this registration hands out.
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
inline constexpr const char* kInvalidAgentToken = "INVALID_AGENT_TOKEN";

/// Who may act on an existing agent: checked against the agent's own state
/// by the same decision that acts, so check and act see the same state.
struct AgentAccess {
  /// Set for the agent itself: the digest of the token it presented.
  /// Refused with `unauthenticated` / INVALID_AGENT_TOKEN unless the agent accepts it.
  std::optional<Sha256> token;
  /// The organization the caller may act in ("*": any). Another
  /// organization's agent answers `not_found` / AGENT_NOT_FOUND.
  std::string org_scope{kAllOrgs};
};

/// The caller's organization first (`check_org_scope`), then the agent's
/// token if it presented one (`authenticate_agent`).
Status check_agent_access(const AgentState& state, const AgentAccess& access, TimeMs now_ms);

/// Refused with `unauthenticated` / INVALID_AGENT_TOKEN unless the agent
/// accepts `token` now (a deregistered agent accepts none).
Status authenticate_agent(const AgentState& state, const Sha256& token, TimeMs now_ms);

/// Refused with `not_found` / AGENT_NOT_FOUND unless a caller scoped to
/// `org_scope` may see the agent: another organization's agent does not exist for it.
Status check_org_scope(const AgentState& state, std::string_view org_scope);

/// A new instance: AgentRegistered. A known one: AgentRegistered again after a
/// deregistration; otherwise AgentUpdated for changed fields plus
/// AgentCameOnline / AgentStatusChanged to bring it back to ONLINE. Always
/// last: AgentTokenIssued, which replaces any earlier agent token at once.
/// Refused with `conflict` / AGENT_DECOMMISSIONED for a retired instance.
Result<std::vector<AgentEvent>> decide_register(const AgentState& state, const Registration& registration,
                                                const Admission& admission);

/// AgentTokenIssued with the new token; the current one stays valid until
/// `previous_valid_until_ms`. Refused like a heartbeat for unusable agents.
Result<std::vector<AgentEvent>> decide_rotate_token(const AgentState& state, const Sha256& token,
                                                    TimeMs previous_valid_until_ms);

/// AgentCameOnline after OFFLINE; AgentStatusChanged and AgentUpdated (version)
/// for what changed; nothing otherwise. Refused: `not_found` / AGENT_NOT_FOUND
/// (never registered), `not_found` / AGENT_NOT_REGISTERED (deregistered),
/// `conflict` / AGENT_DECOMMISSIONED.
Result<std::vector<AgentEvent>> decide_heartbeat(const AgentState& state, const HeartbeatReport& report);

/// AgentDeregistered; nothing if already deregistered. Refused for unknown or
/// decommissioned agents.
Result<std::vector<AgentEvent>> decide_deregister(const AgentState& state);

/// AgentDecommissioned; nothing if already decommissioned. Refused for unknown agents.
Result<std::vector<AgentEvent>> decide_decommission(const AgentState& state);

/// AgentWentOffline if the agent is live and `now_ms >= deadline_ms`; nothing otherwise.
std::vector<AgentEvent> decide_timeout(const AgentState& state, TimeMs last_seen_ms, TimeMs deadline_ms,
                                       TimeMs timeout_ms, TimeMs now_ms);

}  // namespace muster
