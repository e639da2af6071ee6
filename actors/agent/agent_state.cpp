#include "actors/agent/agent_state.hpp"

#include <limits>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/time_format.hpp"

namespace muster {
namespace {

void set_status(AgentState& state, AgentStatus status, TimeMs time_ms) {
  if (state.status != status) state.status_since_ms = time_ms;
  state.status = status;
}

// Counts a change of status or version into its window, starting a new
// window when the current one has ended.
void count_change(AgentState& state, TimeMs time_ms) {
  if (state.changes_in_window == 0 || time_ms >= state.change_window_start_ms + kChangeWindowMs) {
    state.change_window_start_ms = time_ms;
    state.changes_in_window = 0;
  }
  if (state.changes_in_window < std::numeric_limits<std::uint16_t>::max()) ++state.changes_in_window;
}

// Folds a payload whose header and naming were checked: it cannot fail, so
// the state is folded in place (a copy per event cost recovery dearly).
struct Folder {
  AgentState& state;
  const EventHeader& header;

  void operator()(const AgentRegistered& event) const {
    state.instance_id = event.instance_id;
    state.org = event.org;
    state.profile = event.profile;
    state.registered_at_ms = header.time_ms;
    if (!is_live(state.status)) state.online_since_ms = header.time_ms;
    set_status(state, AgentStatus::online, header.time_ms);
  }
  void operator()(const AgentTokenIssued& event) const {
    AgentCredentials credentials;
    credentials.token = event.token_sha256;
    credentials.has_token = true;
    if (event.previous_valid_until_ms) {
      credentials.previous_token = state.credentials.token;
      credentials.previous_valid_until_ms = state.credentials.has_token ? *event.previous_valid_until_ms : 0;
    }
    state.credentials = credentials;
  }
  void operator()(const AgentUpdated& event) const {
    event.changes.apply_to(state.profile);
    count_change(state, header.time_ms);
  }
  void operator()(const AgentStatusChanged& event) const {
    set_status(state, event.to, header.time_ms);
    count_change(state, header.time_ms);
  }
  void operator()(const AgentWentOffline& event) const {
    state.offline_reason = event.reason;
    set_status(state, AgentStatus::offline, header.time_ms);
  }
  void operator()(const AgentCameOnline& event) const {
    state.online_since_ms = header.time_ms;
    set_status(state, event.status, header.time_ms);
  }
  // Both keep the credentials: the agent accepts no token now, but one that
  // matches is told "deregistered" or "decommissioned" rather than "wrong".
  void operator()(const AgentDeregistered&) const { set_status(state, AgentStatus::deregistered, header.time_ms); }
  void operator()(const AgentDecommissioned&) const {
    set_status(state, AgentStatus::decommissioned, header.time_ms);
  }
  // What the agent was told and says it runs: the config model's to fold.
  void operator()(const AgentAssignmentSet&) const {}
  void operator()(const AgentConfigReported&) const {}
  void operator()(const AgentEffectiveConfigReported&) const {}
  // Counted by the report counts; a termination notice's effect is its own
  // AgentWentOffline, decided with it.
  void operator()(const AgentReported&) const {}
};

}  // namespace

std::string AgentState::stream() const {
  return legacy_stream ? agent_id.to_string() : stream_name(kAgentKind, agent_id.to_string());
}

bool operator==(const AgentState& left, const AgentState& right) {
  return left.agent_id == right.agent_id && left.legacy_stream == right.legacy_stream &&
         left.status == right.status && left.instance_id == right.instance_id && left.org == right.org &&
         left.credentials == right.credentials && left.profile == right.profile &&
         left.registered_at_ms == right.registered_at_ms && left.status_since_ms == right.status_since_ms &&
         left.online_since_ms == right.online_since_ms && left.updated_at_ms == right.updated_at_ms &&
         left.version == right.version && left.last_position == right.last_position &&
         left.changes_in_window == right.changes_in_window &&
         left.change_window_start_ms == right.change_window_start_ms &&
         left.offline_reason == right.offline_reason;
}

AgentState fresh_agent_state(const AgentId& agent_id) {
  AgentState state;
  state.agent_id = agent_id;
  return state;
}

Status apply(AgentState& state, const AgentEvent& event, const EventHeader& header) {
  const std::string_view type = type_of(event).name;
  if (header.version != state.version + 1) {
    return corrupt_event(header, type, fmt::format("expected stream version {}", state.version + 1));
  }
  const auto stream = parse_stream(header.stream);
  const auto stream_agent = stream && stream->kind == kAgentKind ? AgentId::parse(stream->id) : std::nullopt;
  if (!stream_agent) return corrupt_event(header, type, "not an agent stream");
  const bool bare_stream = header.stream.find(':') == std::string_view::npos;
  if (state.version > 0 || !state.agent_id.is_nil()) {
    if (*stream_agent != state.agent_id) return corrupt_event(header, type, "belongs to another agent's stream");
  }
  if (state.version > 0 && bare_stream != state.legacy_stream) {
    return corrupt_event(header, type, "belongs to another stream of the same agent");
  }
  const auto* registered = std::get_if<AgentRegistered>(&event);
  if (registered == nullptr && state.status == AgentStatus::unregistered) {
    return corrupt_event(header, type, "first event of a stream must be AgentRegistered");
  }
  if (registered != nullptr && registered->agent_id != *stream_agent) {
    return corrupt_event(header, type, "agent_id differs from the stream id");
  }
  if (state.version == 0) {
    // The first event names the stream: a bare id is a stream of an older data dir.
    state.agent_id = *stream_agent;
    state.legacy_stream = bare_stream;
  }
  std::visit(Folder{state, header}, event);
  state.version = header.version;
  state.last_position = header.position;
  state.updated_at_ms = header.time_ms;
  return Status::success();
}

Status apply(AgentState& state, const Event& event) { return apply_stored<AgentEvent>(state, event); }

nlohmann::json to_json(const AgentState& state) {
  nlohmann::json out = profile_to_json(state.profile);
  out["agent_id"] = state.agent_id.to_string();
  out["instance_id"] = state.instance_id;
  out["org"] = *state.org;
  out["status"] = to_string(state.status);
  if (state.status == AgentStatus::offline) out["status_reason"] = to_string(state.offline_reason);
  out["status_since"] = format_rfc3339(state.status_since_ms);
  out["registered_at"] = format_rfc3339(state.registered_at_ms);
  out["updated_at"] = format_rfc3339(state.updated_at_ms);
  out["stream_version"] = state.version;
  out["position"] = state.last_position;
  return out;
}

}  // namespace muster
