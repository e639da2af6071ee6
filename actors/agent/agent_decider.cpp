#include "actors/agent/agent_decider.hpp"

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

// Sets `field` of `patch` and `merged` when `given` differs from `current`.
template <class Value>
void merge_field(const std::optional<Value>& given, const Value& current, Value& merged,
                 std::optional<Value>& patch_field) {
  if (given && *given != current) {
    merged = *given;
    patch_field = *given;
  }
}

template <class Plain, class Shared>
std::optional<Shared> interned(const std::optional<Plain>& given) {
  return given ? std::optional<Shared>(Shared::of(*given)) : std::nullopt;
}

// The profile after `registration`; `changes` gets the fields that differ from `current`.
AgentProfile merge_profile(const AgentProfile& current, const Registration& registration,
                           AgentProfilePatch& changes) {
  AgentProfile merged = current;
  merge_field(registration.name, current.name, merged.name, changes.name);
  merge_field(registration.hostname, current.hostname, merged.hostname, changes.hostname);
  merge_field(registration.ip_address, current.ip_address, merged.ip_address, changes.ip_address);
  merge_field(interned<std::string, InternedString>(registration.version), current.version, merged.version,
              changes.version);
  merge_field(interned<std::string, InternedString>(registration.type), current.type, merged.type,
              changes.type);
  merge_field(interned<std::vector<std::string>, InternedStrings>(registration.capabilities),
              current.capabilities, merged.capabilities, changes.capabilities);
  merge_field(interned<std::map<std::string, std::string>, InternedLabels>(registration.labels), current.labels,
              merged.labels, changes.labels);
  return merged;
}

}  // namespace

Error invalid_agent_token() {
  return make_error(ErrorCode::unauthenticated, "the agent token is unknown, revoked or expired",
                    kInvalidAgentToken);
}

Status authenticate_agent(const AgentState& state, const Sha256& token, TimeMs now_ms, PreviousToken previous) {
  const TokenMatch match = match_token(state.credentials, token, now_ms);
  if (match == TokenMatch::none) return invalid_agent_token();
  if (state.status == AgentStatus::deregistered || state.status == AgentStatus::decommissioned) {
    return *refuse_unusable(state);
  }
  if (match == TokenMatch::previous && previous == PreviousToken::refused) return invalid_agent_token();
  return Status::success();
}

Status check_agent_access(const AgentState& state, const AgentAccess& access, TimeMs now_ms,
                          PreviousToken previous) {
  if (access.token) {
    if (Status authenticated = authenticate_agent(state, *access.token, now_ms, previous); !authenticated) {
      return authenticated;
    }
  }
  return check_org_scope(state, access.org_scope);
}

Status check_org_scope(const AgentState& state, std::string_view org_scope) {
  if (state.status != AgentStatus::unregistered && org_visible(org_scope, *state.org)) {
    return Status::success();
  }
  return make_error(ErrorCode::not_found, "no agent with this id", kAgentNotFound);
}

Status check_agent_usable(const AgentState& state) {
  if (auto refused = refuse_unusable(state)) return std::move(*refused);
  return Status::success();
}

Result<std::vector<AgentEvent>> decide_register(const AgentState& state, const Registration& registration,
                                                const Admission& admission) {
  if (state.status == AgentStatus::decommissioned) {
    return make_error(ErrorCode::conflict, "this instance_id was decommissioned and cannot register again",
                      kAgentDecommissioned);
  }
  Registration stamped = registration;
  if (!admission.labels.empty()) {
    auto labels = registration.labels.value_or(*state.profile.labels);
    for (const auto& [key, value] : admission.labels) labels[key] = value;
    stamped.labels = std::move(labels);
  }
  AgentProfilePatch changes;
  AgentProfile merged = merge_profile(state.profile, stamped, changes);
  std::vector<AgentEvent> events;
  if (state.status == AgentStatus::unregistered || state.status == AgentStatus::deregistered) {
    events.push_back(AgentRegistered{state.agent_id, registration.instance_id,
                                     InternedString::of(admission.org), std::move(merged)});
  } else {
    if (!changes.empty()) events.push_back(AgentUpdated{std::move(changes)});
    if (state.status == AgentStatus::offline) {
      events.push_back(AgentCameOnline{AgentStatus::online});
    } else if (state.status == AgentStatus::degraded) {
      events.push_back(AgentStatusChanged{state.status, AgentStatus::online});
    }
  }
  AgentTokenIssued token;
  token.token_sha256 = admission.agent_token;
  token.enrollment_token_id = admission.enrollment_token_id;
  events.push_back(std::move(token));
  return events;
}

Result<std::vector<AgentEvent>> decide_rotate_token(const AgentState& state, RotatedBy by, const Sha256& token,
                                                    TimeMs grace_until_ms, TimeMs now_ms) {
  if (auto refusal = refuse_unusable(state)) return *refusal;
  AgentTokenIssued issued;
  issued.token_sha256 = token;
  // Still a rotation (a previous token with its end), ending now for an operator.
  issued.previous_valid_until_ms = by == RotatedBy::agent ? grace_until_ms : now_ms;
  return std::vector<AgentEvent>{std::move(issued)};
}

Result<std::vector<AgentEvent>> decide_heartbeat(const AgentState& state, const HeartbeatReport& report,
                                                 TimeMs now_ms) {
  if (auto refusal = refuse_unusable(state)) return *refusal;
  const bool version_changed = report.version && *report.version != *state.profile.version;
  const bool status_changed =
      state.status != AgentStatus::offline && report.status && *report.status != state.status;
  const std::uint16_t wanted = (version_changed ? 1 : 0) + (status_changed ? 1 : 0);
  const bool window_over = now_ms >= state.change_window_start_ms + kChangeWindowMs;
  const bool within_limit = window_over || state.changes_in_window + wanted <= kMaxChangesPerWindow;
  std::vector<AgentEvent> events;
  if (version_changed && within_limit) {
    AgentProfilePatch changes;
    changes.version = InternedString::of(*report.version);
    events.push_back(AgentUpdated{std::move(changes)});
  }
  if (state.status == AgentStatus::offline) {
    events.push_back(AgentCameOnline{report.status.value_or(AgentStatus::online)});
  } else if (status_changed && within_limit) {
    events.push_back(AgentStatusChanged{state.status, *report.status});
  }
  return events;
}

Result<std::vector<AgentEvent>> decide_config_event(const AgentState& state, AgentEvent event) {
  if (auto refused = refuse_unusable(state)) return *refused;
  return std::vector<AgentEvent>{std::move(event)};
}

Result<std::vector<AgentEvent>> decide_set_labels(const AgentState& state,
                                                  const std::map<std::string, std::string>& labels) {
  if (auto refused = refuse_unusable(state)) return *refused;
  const InternedLabels interned = InternedLabels::of(labels);
  if (interned == state.profile.labels) return std::vector<AgentEvent>{};
  AgentProfilePatch changes;
  changes.labels = interned;
  return std::vector<AgentEvent>{AgentUpdated{changes}};
}

Result<std::vector<AgentEvent>> decide_report(const AgentState& state, AgentReported report, TimeMs now_ms) {
  if (auto refused = refuse_unusable(state)) return *refused;
  const bool terminating = report.type == kTerminationReport;
  const bool going_offline = (terminating || report.type == kDisconnectReport) && is_live(state.status);
  std::vector<AgentEvent> events{std::move(report)};
  if (going_offline) {
    AgentWentOffline offline;
    offline.last_seen_ms = now_ms;
    offline.reason = terminating ? OfflineReason::termination_notice : OfflineReason::agent_disconnect;
    events.push_back(offline);
  }
  return events;
}

Result<std::vector<AgentEvent>> decide_deregister(const AgentState& state) {
  if (state.status == AgentStatus::deregistered) return std::vector<AgentEvent>{};
  if (auto refusal = refuse_unusable(state)) return *refusal;
  return std::vector<AgentEvent>{AgentDeregistered{}};
}

Result<std::vector<AgentEvent>> decide_decommission(const AgentState& state) {
  if (state.status == AgentStatus::decommissioned) return std::vector<AgentEvent>{};
  if (state.status == AgentStatus::unregistered) {
    return make_error(ErrorCode::not_found, "no agent with this id", kAgentNotFound);
  }
  return std::vector<AgentEvent>{AgentDecommissioned{}};
}

std::vector<AgentEvent> decide_timeout(const AgentState& state, TimeMs last_seen_ms, TimeMs deadline_ms,
                                       TimeMs timeout_ms, TimeMs now_ms) {
  if (!is_live(state.status) || now_ms < deadline_ms) return {};
  return {AgentWentOffline{last_seen_ms, timeout_ms, OfflineReason::heartbeat_timeout}};
}

}  // namespace muster
