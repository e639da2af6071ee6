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
  /// Set for the agent itself: the digest of the token it presented
  /// (see authenticate_agent). Unset: an operator, with an API key.
  std::optional<Sha256> token;
  /// The organization the caller may act in ("*": any). Another
  /// organization's agent answers `not_found` / AGENT_NOT_FOUND.
  std::string org_scope{kAllOrgs};
};

/// Whether a command takes the agent's previous token during its grace
/// period. Only a heartbeat does: a replaced token can keep an agent that
/// missed the rotation's answer alive, but cannot rotate again or do
/// anything else, so rotating does lock a leaked token out.
enum class PreviousToken { refused, accepted };

/// The agent's token if it presented one (`authenticate_agent`), then the
/// caller's organization (`check_org_scope`). An agent token is checked
/// first so that a made-up one answers the same on every agent id, known or not.
Status check_agent_access(const AgentState& state, const AgentAccess& access, TimeMs now_ms,
                          PreviousToken previous = PreviousToken::refused);

/// Success if `token` is the agent's current token (or its previous one
/// within the grace period, when `previous` is accepted) and the agent is
/// live. Refused:
/// - a token that matches neither (any agent, never registered included),
///   or the previous one where refused: `unauthenticated` / INVALID_AGENT_TOKEN;
/// - a token that matches a deregistered agent: `not_found` / AGENT_NOT_REGISTERED,
///   a decommissioned one: `conflict` / AGENT_DECOMMISSIONED. Its holder is
///   told to register again (or to stop), and is no wrong guess.
Status authenticate_agent(const AgentState& state, const Sha256& token, TimeMs now_ms,
                          PreviousToken previous = PreviousToken::refused);

/// The refusal for an agent token presented on an agent id with no agent:
/// the same as for a wrong token, so that ids' existence does not leak.
Error invalid_agent_token();

/// Refused with `not_found` / AGENT_NOT_FOUND unless a caller scoped to
/// `org_scope` may see the agent: another organization's agent does not exist for it.
Status check_org_scope(const AgentState& state, std::string_view org_scope);

/// Refused like a heartbeat when the agent cannot take commands: `not_found`
/// / AGENT_NOT_FOUND (never registered), `not_found` / AGENT_NOT_REGISTERED
/// (deregistered), `conflict` / AGENT_DECOMMISSIONED. What other aggregates
/// ask of an agent before they act for it (commands).
Status check_agent_usable(const AgentState& state);

/// A new instance: AgentRegistered. A known one: AgentRegistered again after a
/// deregistration; otherwise AgentUpdated for changed fields plus
/// AgentCameOnline / AgentStatusChanged to bring it back to ONLINE. Always
/// last: AgentTokenIssued, which replaces any earlier agent token at once.
/// Refused with `conflict` / AGENT_DECOMMISSIONED for a retired instance.
Result<std::vector<AgentEvent>> decide_register(const AgentState& state, const Registration& registration,
                                                const Admission& admission);

/// Who asked for a token rotation.
enum class RotatedBy {
  agent,     ///< The agent, with its current token: the replaced one keeps a grace period.
  operator_  ///< An operator (API key): a leak is why operators rotate, so no grace.
};

/// AgentTokenIssued with the new token. The current one stays valid until
/// `grace_until_ms` after the agent's own rotation, and dies at `now_ms`
/// after an operator's; any earlier previous token dies either way.
/// Refused like a heartbeat for unusable agents.
Result<std::vector<AgentEvent>> decide_rotate_token(const AgentState& state, RotatedBy by, const Sha256& token,
                                                    TimeMs grace_until_ms, TimeMs now_ms);

/// Heartbeats may change an agent's status or version (AgentStatusChanged,
/// AgentUpdated events, registrations' included) at most this many times per
/// change window (kChangeWindowMs, from the first change after the previous
/// window), so a flapping agent cannot grow the log without bound.
inline constexpr std::uint16_t kMaxChangesPerWindow = 10;

/// AgentCameOnline after OFFLINE; AgentStatusChanged and AgentUpdated (version)
/// for what changed; nothing otherwise. Changes past `kMaxChangesPerWindow`
/// in the window open at `now_ms` are left out (the agent reports its status
/// and version with each heartbeat, so the first heartbeat after the window
/// records them); coming back online never is. Refused: `not_found` /
/// AGENT_NOT_FOUND (never registered), `not_found` / AGENT_NOT_REGISTERED
/// (deregistered), `conflict` / AGENT_DECOMMISSIONED.
Result<std::vector<AgentEvent>> decide_heartbeat(const AgentState& state, const HeartbeatReport& report,
                                                 TimeMs now_ms);

/// The config commands: AgentAssignmentSet (an operator's, `nullopt`
/// clears), AgentConfigReported and AgentEffectiveConfigReported (the
/// agent's), AgentUpdated with the labels (an operator's; nothing if they are
/// the agent's labels already). Whether an assignment or report repeats the
/// last one is the config model's to know: the service asks it first.
/// Refused like a heartbeat for unusable agents.
Result<std::vector<AgentEvent>> decide_config_event(const AgentState& state, AgentEvent event);
Result<std::vector<AgentEvent>> decide_set_labels(const AgentState& state,
                                                  const std::map<std::string, std::string>& labels);

/// The agent's own report: AgentReported; for a `termination` report
/// (kTerminationReport) of a live agent, then AgentWentOffline with reason
/// `termination_notice` and `now_ms` as last seen, so it is OFFLINE at once
/// rather than after its heartbeat timeout (its next heartbeat brings it
/// back, as after a timeout); likewise for a `disconnect` report
/// (kDisconnectReport), with reason `agent_disconnect`. Refused like a
/// heartbeat for unusable agents.
Result<std::vector<AgentEvent>> decide_report(const AgentState& state, AgentReported report, TimeMs now_ms);

/// AgentDeregistered; nothing if already deregistered. Refused for unknown or
/// decommissioned agents.
Result<std::vector<AgentEvent>> decide_deregister(const AgentState& state);

/// AgentDecommissioned; nothing if already decommissioned. Refused for unknown agents.
Result<std::vector<AgentEvent>> decide_decommission(const AgentState& state);

/// AgentWentOffline (a heartbeat timeout) if the agent is live and
/// `now_ms >= deadline_ms`; nothing otherwise.
std::vector<AgentEvent> decide_timeout(const AgentState& state, TimeMs last_seen_ms, TimeMs deadline_ms,
                                       TimeMs timeout_ms, TimeMs now_ms);

}  // namespace muster
