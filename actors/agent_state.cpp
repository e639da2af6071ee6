#include "actors/agent_state.hpp"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "actors/agent_events.hpp"
#include "common/time_format.hpp"

namespace muster {
namespace {

using nlohmann::json;

Error corrupt(const Event& event, std::string_view why) {
  return make_error(ErrorCode::corruption,
                    fmt::format("event at position {} ({} v{} of stream '{}'): {}", event.position,
                                event.type, event.version, event.stream, why));
}

// Payload readers that never throw: a missing or mistyped member is reported.
bool read_string(const json& object, const char* key, std::string& out) {
  const auto found = object.find(key);
  if (found == object.end() || !found->is_string()) return false;
  out = found->get_ref<const std::string&>();
  return true;
}

bool read_string_list(const json& object, const char* key, std::vector<std::string>& out) {
  const auto found = object.find(key);
  if (found == object.end() || !found->is_array()) return false;
  std::vector<std::string> values;
  for (const auto& item : *found) {
    if (!item.is_string()) return false;
    values.push_back(item.get_ref<const std::string&>());
  }
  out = std::move(values);
  return true;
}

bool read_string_map(const json& object, const char* key, std::map<std::string, std::string>& out) {
  const auto found = object.find(key);
  if (found == object.end() || !found->is_object()) return false;
  std::map<std::string, std::string> values;
  for (const auto& [name, value] : found->items()) {
    if (!value.is_string()) return false;
    values.emplace(name, value.get_ref<const std::string&>());
  }
  out = std::move(values);
  return true;
}

bool read_status(const json& object, const char* key, AgentStatus& out) {
  std::string text;
  if (!read_string(object, key, text)) return false;
  const auto status = parse_agent_status(text);
  if (!status) return false;
  out = *status;
  return true;
}

// Reads the profile members present in `object` into `profile`; false if one is mistyped.
bool read_profile_fields(const json& object, AgentProfile& profile) {
  struct Field {
    const char* key;
    std::string AgentProfile::*member;
  };
  static constexpr Field kStringFields[] = {{"name", &AgentProfile::name},
                                            {"hostname", &AgentProfile::hostname},
                                            {"ip_address", &AgentProfile::ip_address},
                                            {"version", &AgentProfile::version},
                                            {"type", &AgentProfile::type}};
  for (const Field& field : kStringFields) {
    if (object.contains(field.key) && !read_string(object, field.key, profile.*field.member)) {
      return false;
    }
  }
  if (object.contains("capabilities") && !read_string_list(object, "capabilities", profile.capabilities)) {
    return false;
  }
  return !object.contains("labels") || read_string_map(object, "labels", profile.labels);
}

void set_status(AgentState& state, AgentStatus status, TimeMs time_ms) {
  if (state.status != status) state.status_since_ms = time_ms;
  state.status = status;
}

// Folds the payload into `state`; returns the reason it cannot, or empty.
// Each branch reads everything it needs before it changes anything, so a
// bad payload leaves `state` untouched without folding into a copy (which
// cost a copy of the whole state per event at recovery).
std::string fold_payload(AgentState& state, const Event& event, const json& data) {
  const std::string& type = event.type;
  if (type == agent_events::kRegistered) {
    std::string agent_id;
    std::string instance_id;
    std::string org = state.org;
    AgentProfile profile;
    if (!read_string(data, "agent_id", agent_id) || !read_string(data, "instance_id", instance_id) ||
        !read_profile_fields(data, profile)) {
      return "bad AgentRegistered payload";
    }
    // Agents registered before organizations existed belong to the default one.
    if (data.contains("org") && !read_string(data, "org", org)) return "bad AgentRegistered org";
    if (agent_id != event.stream) return "agent_id differs from the stream id";
    state.agent_id = std::move(agent_id);
    state.instance_id = std::move(instance_id);
    state.org = std::move(org);
    state.profile = std::move(profile);
    state.registered_at_ms = event.time_ms;
    if (!is_live(state.status)) state.online_since_ms = event.time_ms;
    set_status(state, AgentStatus::online, event.time_ms);
  } else if (type == agent_events::kTokenIssued) {
    AgentCredentials credentials;
    if (!read_string(data, "token_sha256", credentials.token_sha256)) return "bad AgentTokenIssued payload";
    const auto grace = data.find("previous_valid_until");
    if (grace != data.end()) {
      if (!grace->is_number_integer()) return "bad AgentTokenIssued previous_valid_until";
      credentials.previous_token_sha256 = state.credentials.token_sha256;
      credentials.previous_valid_until_ms = grace->get<TimeMs>();
    }
    state.credentials = std::move(credentials);
  } else if (type == agent_events::kUpdated) {
    const auto changes = data.find("changes");
    AgentProfile profile = state.profile;
    if (changes == data.end() || !changes->is_object() || !read_profile_fields(*changes, profile)) {
      return "bad AgentUpdated payload";
    }
    state.profile = std::move(profile);
  } else if (type == agent_events::kStatusChanged) {
    AgentStatus to = AgentStatus::online;
    if (!read_status(data, "to", to) || !is_live(to)) return "bad AgentStatusChanged payload";
    set_status(state, to, event.time_ms);
  } else if (type == agent_events::kWentOffline) {
    set_status(state, AgentStatus::offline, event.time_ms);
  } else if (type == agent_events::kCameOnline) {
    AgentStatus status = AgentStatus::online;
    if (!read_status(data, "status", status) || !is_live(status)) return "bad AgentCameOnline payload";
    state.online_since_ms = event.time_ms;
    set_status(state, status, event.time_ms);
  } else if (type == agent_events::kDeregistered) {
    set_status(state, AgentStatus::deregistered, event.time_ms);
    state.credentials = {};
  } else if (type == agent_events::kDecommissioned) {
    set_status(state, AgentStatus::decommissioned, event.time_ms);
    state.credentials = {};
  } else {
    return "unknown event type (written by a newer muster?)";
  }
  return {};
}

}  // namespace

const char* to_string(AgentStatus status) {
  switch (status) {
    case AgentStatus::unregistered: return "UNREGISTERED";
    case AgentStatus::online: return "ONLINE";
    case AgentStatus::degraded: return "DEGRADED";
    case AgentStatus::offline: return "OFFLINE";
    case AgentStatus::deregistered: return "DEREGISTERED";
    case AgentStatus::decommissioned: return "DECOMMISSIONED";
  }
  return "UNREGISTERED";
}

std::optional<AgentStatus> parse_agent_status(std::string_view text) {
  for (AgentStatus status : {AgentStatus::unregistered, AgentStatus::online, AgentStatus::degraded,
                             AgentStatus::offline, AgentStatus::deregistered, AgentStatus::decommissioned}) {
    const std::string_view name = to_string(status);
    if (name.size() == text.size() &&
        std::equal(name.begin(), name.end(), text.begin(), [](char upper, char given) {
          return upper == std::toupper(static_cast<unsigned char>(given));
        })) {
      return status;
    }
  }
  return std::nullopt;
}

bool operator==(const AgentProfile& left, const AgentProfile& right) {
  return left.name == right.name && left.hostname == right.hostname && left.ip_address == right.ip_address &&
         left.version == right.version && left.type == right.type &&
         left.capabilities == right.capabilities && left.labels == right.labels;
}

Status apply(AgentState& state, const Event& event) {
  if (event.version != state.version + 1) {
    return corrupt(event, fmt::format("expected stream version {}", state.version + 1));
  }
  if (!state.agent_id.empty() && event.stream != state.agent_id) {
    return corrupt(event, fmt::format("belongs to another stream than '{}'", state.agent_id));
  }
  const json data = json::parse(event.data, nullptr, /*allow_exceptions=*/false);
  if (!data.is_object()) return corrupt(event, "payload is not a JSON object");
  if (event.type != agent_events::kRegistered && state.status == AgentStatus::unregistered) {
    return corrupt(event, "first event of a stream must be AgentRegistered");
  }
  // A registration names the agent in its payload (checked by fold_payload).
  if (event.type != agent_events::kRegistered && state.agent_id != event.stream) {
    return corrupt(event, "agent_id differs from the stream id");
  }
  const std::string problem = fold_payload(state, event, data);
  if (!problem.empty()) return corrupt(event, problem);
  state.version = event.version;
  state.last_position = event.position;
  state.updated_at_ms = event.time_ms;
  return Status::success();
}

json to_json(const AgentState& state) {
  json out = agent_events::profile_to_json(state.profile);
  out["agent_id"] = state.agent_id;
  out["instance_id"] = state.instance_id;
  out["org"] = state.org;
  out["status"] = to_string(state.status);
  out["status_since"] = format_rfc3339(state.status_since_ms);
  out["registered_at"] = format_rfc3339(state.registered_at_ms);
  out["updated_at"] = format_rfc3339(state.updated_at_ms);
  out["config_version"] = state.config_version;
  out["stream_version"] = state.version;
  out["position"] = state.last_position;
  return out;
}

}  // namespace muster
