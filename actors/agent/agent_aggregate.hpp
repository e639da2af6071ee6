#pragma once
/// The agent as the runtime runs it (actors/runtime/aggregate_host.hpp):
/// its commands, what a decision reads besides state and command, and the
/// dispatch from a command to its pure decider (agent_decider.hpp).

#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "actors/agent/agent_decider.hpp"
#include "actors/agent/agent_state.hpp"
#include "actors/runtime/stream_id.hpp"

namespace muster {

struct RegisterAgent {
  Registration registration;
  Admission admission;
};
struct AgentHeartbeat {
  AgentAccess access;
  HeartbeatReport report;
};
struct DeregisterAgent {
  AgentAccess access;
};
struct DecommissionAgent {
  AgentAccess access;
};
struct RotateAgentToken {
  AgentAccess access;
  Sha256 token{};                      ///< Digest of the new token.
  /// The replaced token works until then after the agent's own rotation
  /// (`access.token` set); an operator's ends it at once (decide_rotate_token).
  TimeMs previous_valid_until_ms = 0;
};
/// Appends nothing: succeeds if the access is allowed (to tell a valid token
/// used on another agent's route from a bad one).
struct VerifyAgentAccess {
  AgentAccess access;
};
/// An operator's assignment to this agent alone (nullopt clears it).
struct SetAgentAssignment {
  AgentAccess access;
  std::optional<Assignment> assignment;
};
/// The agent says what it did with its config, or what it runs.
struct ReportAgentConfig {
  AgentAccess access;
  AgentConfigReported report;
};
struct ReportEffectiveConfig {
  AgentAccess access;
  AgentEffectiveConfigReported effective;
};
/// The agent's own report (decide_report).
struct RecordAgentReport {
  AgentAccess access;
  AgentReported report;
};
/// An operator replaces the agent's labels.
struct SetAgentLabels {
  AgentAccess access;
  std::map<std::string, std::string> labels;
};
/// From the agent's heartbeat deadline: AgentWentOffline if it is silent past
/// max(last seen, `not_before_ms`) + `timeout_ms`.
struct CheckAgentTimeout {
  TimeMs timeout_ms = 0;
  TimeMs not_before_ms = 0;
};

using AgentCommand = std::variant<RegisterAgent, AgentHeartbeat, DeregisterAgent, DecommissionAgent,
                                  RotateAgentToken, VerifyAgentAccess, CheckAgentTimeout, SetAgentAssignment,
                                  ReportAgentConfig, ReportEffectiveConfig, SetAgentLabels,
                                  RecordAgentReport>;

/// What an agent's decision reads and learns beyond its stream: when the
/// agent was last heard from. Decisions of one batch share it, so a
/// heartbeat decided before a timeout check moves that check's deadline.
struct AgentDecideContext {
  TimeMs now_ms = 0;
  /// When the agent was last heard from (its registry record's last seen).
  TimeMs last_seen_ms = 0;
  /// Set when a decision heard from the agent (a registration or
  /// heartbeat): the registry records `last_seen_ms` and these metrics.
  bool heard = false;
  std::optional<std::map<std::string, double>> metrics;
};

struct AgentAggregate {
  static constexpr std::string_view kKind = kAgentKind;
  using State = AgentState;
  using Payload = AgentEvent;
  using Command = AgentCommand;
  using Context = AgentDecideContext;

  /// `id` is a canonical agent id (the host is only ever given those).
  static State initial_state(const std::string& id);
  static std::string stream_of(const State& state) { return state.stream(); }
  static Result<std::vector<Payload>> decide(const State& state, const Command& command, Context& context);
  static Status apply(State& state, const Payload& event, const EventHeader& header) {
    return muster::apply(state, event, header);
  }
  static Status apply(State& state, const Event& event) { return muster::apply(state, event); }
};

}  // namespace muster
