#include "actors/agent_decider.hpp"

#include <nlohmann/json.hpp>

#include "actors/agent_events.hpp"

namespace muster {
namespace {

// Refusals shared by every command on an existing agent; nullopt if none applies.
std::optional<Error> refuse_unusable(const AgentState& state) {
  switch (state.status) {
    case AgentStatus::unregistered:
      return make_error(ErrorCode::not_found, "no agent with this id", kAgentNotFound);
    case AgentStatus::deregistered:
      return make_error(ErrorCode::not_found, "agent is deregistered; register again", kAgentNotRegistered);
    case AgentStatus::decommissioned:
      return make_error(ErrorCode::conflict, "agent is decommissioned and cannot be used again",
                        kAgentDecommissioned);
    default: return std::nullopt;
  }
}

template <class T>
void merge_field(const std::optional<T>& given, const char* key, const T& current, T& merged,
                 nlohmann::json& changes) {
  if (given && *given != current) {
    merged = *given;
    changes[key] = *given;
  }
}

// The profile after `registration`, and the fields that differ from `current`.
AgentProfile merge_profile(const AgentProfile& current, const Registration& registration,
                           nlohmann::json& changes) {
  AgentProfile merged = current;
  merge_field(registration.name, "name", current.name, merged.name, changes);
  merge_field(registration.hostname, "hostname", current.hostname, merged.hostname, changes);
  merge_field(registration.ip_address, "ip_address", current.ip_address, merged.ip_address, changes);
  merge_field(registration.version, "version", current.version, merged.version, changes);
  merge_field(registration.type, "type", current.type, merged.type, changes);
  merge_field(registration.capabilities, "capabilities", current.capabilities, merged.capabilities, changes);
  merge_field(registration.labels, "labels", current.labels, merged.labels, changes);
  return merged;
}

}  // namespace

Status authenticate_agent(const AgentState& state, std::string_view token_sha256, TimeMs now_ms) {
  if (accepts(state.credentials, token_sha256, now_ms)) return Status::success();
  return make_error(ErrorCode::unauthenticated, "the agent token is unknown, revoked or expired",
                    kInvalidAgentToken);
}

Status check_org_scope(const AgentState& state, std::string_view org_scope) {
  if (state.status != AgentStatus::unregistered && org_visible(org_scope, state.org))
    return Status::success();
  return make_error(ErrorCode::not_found, "no agent with this id", kAgentNotFound);
}

Result<std::vector<NewEvent>> decide_register(const AgentState& state, const std::string& agent_id,
                                              const Registration& registration, const Admission& admission,
                                              const std::string& meta) {
  if (state.status == AgentStatus::decommissioned) {
    return make_error(ErrorCode::conflict, "this instance_id was decommissioned and cannot register again",
                      kAgentDecommissioned);
  }
  Registration stamped = registration;
  if (!admission.labels.empty()) {
    auto labels = registration.labels.value_or(state.profile.labels);
    for (const auto& [key, value] : admission.labels) labels[key] = value;
    stamped.labels = std::move(labels);
  }
  nlohmann::json changes = nlohmann::json::object();
  const AgentProfile merged = merge_profile(state.profile, stamped, changes);
  std::vector<NewEvent> events;
  if (state.status == AgentStatus::unregistered || state.status == AgentStatus::deregistered) {
    events.push_back(
        agent_events::registered(agent_id, registration.instance_id, admission.org, merged, meta));
  } else {
    if (!changes.empty()) events.push_back(agent_events::updated(changes, meta));
    if (state.status == AgentStatus::offline) {
      events.push_back(agent_events::came_online(AgentStatus::online, meta));
    } else if (state.status == AgentStatus::degraded) {
      events.push_back(agent_events::status_changed(state.status, AgentStatus::online, meta));
    }
  }
  events.push_back(agent_events::token_issued_at_registration(admission.agent_token_sha256,
                                                              admission.enrollment_token_id, meta));
  return events;
}

Result<std::vector<NewEvent>> decide_rotate_token(const AgentState& state, const std::string& token_sha256,
                                                  TimeMs previous_valid_until_ms, const std::string& meta) {
  if (auto refusal = refuse_unusable(state)) return *refusal;
  return std::vector<NewEvent>{agent_events::token_rotated(token_sha256, previous_valid_until_ms, meta)};
}

Result<std::vector<NewEvent>> decide_heartbeat(const AgentState& state, const HeartbeatReport& report,
                                               const std::string& meta) {
  if (auto refusal = refuse_unusable(state)) return *refusal;
  std::vector<NewEvent> events;
  if (report.version && *report.version != state.profile.version) {
    events.push_back(agent_events::updated({{"version", *report.version}}, meta));
  }
  if (state.status == AgentStatus::offline) {
    events.push_back(agent_events::came_online(report.status.value_or(AgentStatus::online), meta));
  } else if (report.status && *report.status != state.status) {
    events.push_back(agent_events::status_changed(state.status, *report.status, meta));
  }
  return events;
}

Result<std::vector<NewEvent>> decide_deregister(const AgentState& state, const std::string& meta) {
  if (state.status == AgentStatus::deregistered) return std::vector<NewEvent>{};
  if (auto refusal = refuse_unusable(state)) return *refusal;
  return std::vector<NewEvent>{agent_events::deregistered(meta)};
}

Result<std::vector<NewEvent>> decide_decommission(const AgentState& state, const std::string& meta) {
  if (state.status == AgentStatus::decommissioned) return std::vector<NewEvent>{};
  if (state.status == AgentStatus::unregistered) {
    return make_error(ErrorCode::not_found, "no agent with this id", kAgentNotFound);
  }
  return std::vector<NewEvent>{agent_events::decommissioned(meta)};
}

std::vector<NewEvent> decide_timeout(const AgentState& state, TimeMs last_seen_ms, TimeMs deadline_ms,
                                     TimeMs timeout_ms, TimeMs now_ms, const std::string& meta) {
  if (!is_live(state.status) || now_ms < deadline_ms) return {};
  return {agent_events::went_offline(last_seen_ms, timeout_ms, meta)};
}

}  // namespace muster
