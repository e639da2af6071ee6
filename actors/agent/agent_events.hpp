#pragma once
/// The agent's events, as typed payloads (see actors/runtime/payload_codec.hpp).
/// Their JSON, in streams "agent:<agent_id>" (a bare agent id in data
/// directories from before stream kinds):
///
///   AgentRegistered      {agent_id, instance_id, org, name, hostname, ip_address,
///                         version, type, capabilities: [..], labels: {..}}
///                        (v1 without org: the default organization)
///   AgentTokenIssued     {token_sha256, enrollment_token_id?, previous_valid_until?}
///                        with enrollment_token_id: issued by a registration, the
///                        old token dies now; with previous_valid_until: a
///                        rotation, the old token works until then. v2: the
///                        registration's use of the enrollment token is an
///                        EnrollmentTokenUsed in the token's stream; a v1 event
///                        naming a token was itself that use (see legacy_use).
///   AgentUpdated         {changes: {<profile field>: <new value>, ...}}
///   AgentStatusChanged   {from: "ONLINE", to: "DEGRADED"}
///   AgentWentOffline     {last_seen: <ms>, timeout_ms: <ms>, reason: "heartbeat timeout" |
///                        "termination notice" | "agent disconnect"} (v1 without reason: a heartbeat timeout,
///                        the only way an agent went offline then)
///   AgentCameOnline      {status: "ONLINE" | "DEGRADED"}
///   AgentDeregistered    {}
///   AgentDecommissioned  {}
///   AgentAssignmentSet   {assignment: {config?, version?, policies, settings} | null}
///                        (an operator's assignment to this agent alone)
///   AgentConfigReported  {config_hash, status: "applying" | "applied" | "failed", error?}
///   AgentEffectiveConfigReported {hash, files: {...}}  (what the agent says it runs)
///   AgentReported        {type, reported_at_ms, data: {..}}  (the agent's own report:
///                        a termination notice, a rebalance recommendation, a crash...)
///
/// AgentAssignmentSet and the two config reports are read by the config model
/// (projections/config_model.hpp), AgentReported by the report counts
/// (projections/report_counts.hpp), not by the agent's own state: they change
/// only its version.

#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include <nlohmann/json.hpp>

#include "actors/agent/agent_id.hpp"
#include "actors/agent/agent_profile.hpp"
#include "actors/config/assignment.hpp"
#include "actors/config/config_files.hpp"
#include "actors/config/desired_config.hpp"
#include "actors/runtime/payload_codec.hpp"
#include "actors/runtime/stream_id.hpp"
#include "common/clock.hpp"
#include "common/interned.hpp"
#include "common/result.hpp"
#include "common/secrets.hpp"

namespace muster {

struct AgentRegistered {
  static constexpr EventType kType{"AgentRegistered", kAgentKind, 1};
  AgentId agent_id;
  std::string instance_id;
  InternedString org;
  AgentProfile profile;

  nlohmann::json to_json() const;
  static Result<AgentRegistered> from_json(const nlohmann::json& data, std::uint32_t schema_version);
};

struct AgentTokenIssued {
  static constexpr EventType kType{"AgentTokenIssued", kAgentKind, 2};
  Sha256 token_sha256{};
  /// Set by a registration: the enrollment token that admitted it.
  std::optional<std::string> enrollment_token_id;
  /// Set by a rotation: the replaced token works until then.
  std::optional<TimeMs> previous_valid_until_ms;
  /// Read from a v1 event naming an enrollment token: the event itself was
  /// the token's use (no EnrollmentTokenUsed exists for it). Never written.
  bool legacy_use = false;

  nlohmann::json to_json() const;
  static Result<AgentTokenIssued> from_json(const nlohmann::json& data, std::uint32_t schema_version);
};

struct AgentUpdated {
  static constexpr EventType kType{"AgentUpdated", kAgentKind, 1};
  AgentProfilePatch changes;

  nlohmann::json to_json() const;
  static Result<AgentUpdated> from_json(const nlohmann::json& data, std::uint32_t schema_version);
};

struct AgentStatusChanged {
  static constexpr EventType kType{"AgentStatusChanged", kAgentKind, 1};
  AgentStatus from = AgentStatus::online;
  AgentStatus to = AgentStatus::online;  ///< Online or degraded.

  nlohmann::json to_json() const;
  static Result<AgentStatusChanged> from_json(const nlohmann::json& data, std::uint32_t schema_version);
};

/// Why an agent went OFFLINE.
enum class OfflineReason : std::uint8_t {
  heartbeat_timeout,   ///< Silent past its heartbeat timeout.
  termination_notice,  ///< It reported its own termination (a `termination` report).
  agent_disconnect,    ///< It said it disconnects (OpAMP's AgentDisconnect: a `disconnect` report).
};

/// "heartbeat timeout", "termination notice" (as events and the API write them).
const char* to_string(OfflineReason reason);
std::optional<OfflineReason> parse_offline_reason(std::string_view text);

struct AgentWentOffline {
  static constexpr EventType kType{"AgentWentOffline", kAgentKind, 2};
  TimeMs last_seen_ms = 0;
  TimeMs timeout_ms = 0;  ///< The heartbeat timeout that passed; 0 for a termination notice.
  OfflineReason reason = OfflineReason::heartbeat_timeout;

  nlohmann::json to_json() const;
  static Result<AgentWentOffline> from_json(const nlohmann::json& data, std::uint32_t schema_version);
};

struct AgentCameOnline {
  static constexpr EventType kType{"AgentCameOnline", kAgentKind, 1};
  AgentStatus status = AgentStatus::online;  ///< Online or degraded.

  nlohmann::json to_json() const;
  static Result<AgentCameOnline> from_json(const nlohmann::json& data, std::uint32_t schema_version);
};

struct AgentDeregistered {
  static constexpr EventType kType{"AgentDeregistered", kAgentKind, 1};
  nlohmann::json to_json() const { return nlohmann::json::object(); }
  static Result<AgentDeregistered> from_json(const nlohmann::json&, std::uint32_t) { return AgentDeregistered{}; }
};

struct AgentDecommissioned {
  static constexpr EventType kType{"AgentDecommissioned", kAgentKind, 1};
  nlohmann::json to_json() const { return nlohmann::json::object(); }
  static Result<AgentDecommissioned> from_json(const nlohmann::json&, std::uint32_t) {
    return AgentDecommissioned{};
  }
};

struct AgentAssignmentSet {
  static constexpr EventType kType{"AgentAssignmentSet", kAgentKind, 1};
  std::optional<Assignment> assignment;  ///< nullopt: cleared.

  nlohmann::json to_json() const;
  static Result<AgentAssignmentSet> from_json(const nlohmann::json& data, std::uint32_t schema_version);
};

struct AgentConfigReported {
  static constexpr EventType kType{"AgentConfigReported", kAgentKind, 1};
  std::string config_hash;
  ConfigReportStatus status = ConfigReportStatus::applying;
  std::string error;  ///< The agent's words when `failed` (capped by the API).

  nlohmann::json to_json() const;
  static Result<AgentConfigReported> from_json(const nlohmann::json& data, std::uint32_t schema_version);
};

struct AgentEffectiveConfigReported {
  static constexpr EventType kType{"AgentEffectiveConfigReported", kAgentKind, 1};
  SharedConfigFiles files;
  std::string hash;  ///< hash_files(*files).

  nlohmann::json to_json() const;
  static Result<AgentEffectiveConfigReported> from_json(const nlohmann::json& data, std::uint32_t schema_version);
};

/// The report type a spot instance's termination notice comes as: it takes
/// the agent OFFLINE at once (see decide_report).
inline constexpr std::string_view kTerminationReport = "termination";
/// The report an agent that says it disconnects makes (OpAMP's
/// AgentDisconnect): OFFLINE at once too.
inline constexpr std::string_view kDisconnectReport = "disconnect";

struct AgentReported {
  static constexpr EventType kType{"AgentReported", kAgentKind, 1};
  /// `[a-z][a-z0-9_.-]{0,63}` (checked by the API).
  std::string type;
  /// When the agent observed what it reports (its own clock; the event's
  /// time is when muster recorded it).
  TimeMs reported_at_ms = 0;
  /// The agent's details: a JSON object (bounded by the API).
  nlohmann::json data = nlohmann::json::object();

  nlohmann::json to_json() const;
  static Result<AgentReported> from_json(const nlohmann::json& data, std::uint32_t schema_version);
};

using AgentEvent = std::variant<AgentRegistered, AgentTokenIssued, AgentUpdated, AgentStatusChanged,
                                AgentWentOffline, AgentCameOnline, AgentDeregistered, AgentDecommissioned,
                                AgentAssignmentSet, AgentConfigReported, AgentEffectiveConfigReported,
                                AgentReported>;

}  // namespace muster
