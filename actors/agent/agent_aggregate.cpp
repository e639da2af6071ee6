#include "actors/agent/agent_aggregate.hpp"

namespace muster {
namespace {

using Decision = Result<std::vector<AgentEvent>>;

struct Decide {
  const AgentState& state;
  AgentDecideContext& context;

  // A command that heard from the agent moves its last-seen time, for the
  // decisions after it and for the registry.
  Decision heard(Decision decision, const std::map<std::string, double>* metrics = nullptr) const {
    if (decision) {
      context.heard = true;
      context.last_seen_ms = context.now_ms;
      if (metrics != nullptr) context.metrics = *metrics;
    }
    return decision;
  }

  Decision operator()(const RegisterAgent& command) const {
    return heard(decide_register(state, command.registration, command.admission));
  }
  Decision operator()(const AgentHeartbeat& command) const {
    if (Status allowed = check_agent_access(state, command.access, context.now_ms, PreviousToken::accepted);
        !allowed) {
      return allowed.error();
    }
    return heard(decide_heartbeat(state, command.report, context.now_ms), &command.report.metrics);
  }
  Decision operator()(const DeregisterAgent& command) const {
    if (Status allowed = check_agent_access(state, command.access, context.now_ms); !allowed) return allowed.error();
    return decide_deregister(state);
  }
  Decision operator()(const DecommissionAgent& command) const {
    if (Status allowed = check_agent_access(state, command.access, context.now_ms); !allowed) return allowed.error();
    return decide_decommission(state);
  }
  Decision operator()(const RotateAgentToken& command) const {
    if (Status allowed = check_agent_access(state, command.access, context.now_ms); !allowed) return allowed.error();
    const RotatedBy by = command.access.token ? RotatedBy::agent : RotatedBy::operator_;
    return decide_rotate_token(state, by, command.token, command.previous_valid_until_ms, context.now_ms);
  }
  Decision operator()(const VerifyAgentAccess& command) const {
    if (Status allowed = check_agent_access(state, command.access, context.now_ms); !allowed) return allowed.error();
    return std::vector<AgentEvent>{};
  }
  Decision operator()(const SetAgentAssignment& command) const {
    if (Status allowed = check_agent_access(state, command.access, context.now_ms); !allowed) return allowed.error();
    return decide_config_event(state, AgentAssignmentSet{command.assignment});
  }
  Decision operator()(const ReportAgentConfig& command) const {
    if (Status allowed = check_agent_access(state, command.access, context.now_ms); !allowed) return allowed.error();
    return decide_config_event(state, command.report);
  }
  Decision operator()(const ReportEffectiveConfig& command) const {
    if (Status allowed = check_agent_access(state, command.access, context.now_ms); !allowed) return allowed.error();
    return decide_config_event(state, command.effective);
  }
  // A report is the agent heard from: it moves its last seen (not its
  // status: only a heartbeat brings an OFFLINE agent back).
  Decision operator()(const RecordAgentReport& command) const {
    if (Status allowed = check_agent_access(state, command.access, context.now_ms); !allowed) {
      return allowed.error();
    }
    return heard(decide_report(state, command.report, context.now_ms));
  }
  Decision operator()(const SetAgentLabels& command) const {
    if (Status allowed = check_agent_access(state, command.access, context.now_ms); !allowed) return allowed.error();
    return decide_set_labels(state, command.labels);
  }
  Decision operator()(const CheckAgentTimeout& command) const {
    const TimeMs deadline_ms = std::max(context.last_seen_ms, command.not_before_ms) + command.timeout_ms;
    return decide_timeout(state, context.last_seen_ms, deadline_ms, command.timeout_ms, context.now_ms);
  }
};

}  // namespace

AgentState AgentAggregate::initial_state(const std::string& id) {
  return fresh_agent_state(AgentId::parse(id).value_or(AgentId()));
}

Result<std::vector<AgentEvent>> AgentAggregate::decide(const State& state, const Command& command,
                                                       Context& context) {
  return std::visit(Decide{state, context}, command);
}

}  // namespace muster
