#include "actors/agent/agent_events.hpp"

#include "actors/organization.hpp"

namespace muster {
namespace {

using nlohmann::json;
using payload::read;

bool read_status(const json& data, const char* key, AgentStatus& out) {
  std::string text;
  if (!read(data, key, text)) return false;
  const auto status = parse_agent_status(text);
  if (!status) return false;
  out = *status;
  return true;
}

}  // namespace

json AgentRegistered::to_json() const {
  json data = profile_to_json(profile);
  data["agent_id"] = agent_id.to_string();
  data["instance_id"] = instance_id;
  data["org"] = *org;
  return data;
}

Result<AgentRegistered> AgentRegistered::from_json(const json& data, std::uint32_t /*schema_version*/) {
  AgentRegistered event;
  std::string agent_id;
  // Agents registered before organizations existed belong to the default one.
  std::string org(kDefaultOrg);
  AgentProfilePatch profile;
  if (!read(data, "agent_id", agent_id) || !read(data, "instance_id", event.instance_id) ||
      !read(data, "org", org, payload::Presence::optional) || !read_profile_patch(data, profile)) {
    return payload_error("bad AgentRegistered payload");
  }
  const auto id = AgentId::parse(agent_id);
  if (!id) return payload_error("AgentRegistered agent_id is not a UUID");
  event.agent_id = *id;
  event.org = InternedString::of(org);
  profile.apply_to(event.profile);
  return event;
}

json AgentTokenIssued::to_json() const {
  json data = {{"token_sha256", to_hex(token_sha256)}};
  if (enrollment_token_id) data["enrollment_token_id"] = *enrollment_token_id;
  if (previous_valid_until_ms) data["previous_valid_until"] = *previous_valid_until_ms;
  return data;
}

Result<AgentTokenIssued> AgentTokenIssued::from_json(const json& data, std::uint32_t schema_version) {
  AgentTokenIssued event;
  std::string token;
  if (!read(data, "token_sha256", token) || !read(data, "enrollment_token_id", event.enrollment_token_id) ||
      !read(data, "previous_valid_until", event.previous_valid_until_ms)) {
    return payload_error("bad AgentTokenIssued payload");
  }
  const auto digest = sha256_from_hex(token);
  if (!digest) return payload_error("AgentTokenIssued token_sha256 is not a SHA-256");
  event.token_sha256 = *digest;
  event.legacy_use = schema_version == 1 && event.enrollment_token_id.has_value();
  return event;
}

json AgentUpdated::to_json() const {
  return {{"changes", patch_to_json(changes)}};
}

Result<AgentUpdated> AgentUpdated::from_json(const json& data, std::uint32_t /*schema_version*/) {
  AgentUpdated event;
  const auto changes = data.find("changes");
  if (changes == data.end() || !changes->is_object() || !read_profile_patch(*changes, event.changes)) {
    return payload_error("bad AgentUpdated payload");
  }
  return event;
}

json AgentStatusChanged::to_json() const {
  return {{"from", to_string(from)}, {"to", to_string(to)}};
}

Result<AgentStatusChanged> AgentStatusChanged::from_json(const json& data, std::uint32_t /*schema_version*/) {
  AgentStatusChanged event;
  // `from` is informative only (the fold trusts its own state), and was never
  // checked: a missing or odd one is read as online rather than refused.
  (void)read_status(data, "from", event.from);
  if (!read_status(data, "to", event.to) || !is_live(event.to)) {
    return payload_error("bad AgentStatusChanged payload");
  }
  return event;
}

const char* to_string(OfflineReason reason) {
  switch (reason) {
    case OfflineReason::heartbeat_timeout: return "heartbeat timeout";
    case OfflineReason::termination_notice: return "termination notice";
    case OfflineReason::agent_disconnect: return "agent disconnect";
  }
  return "heartbeat timeout";
}

std::optional<OfflineReason> parse_offline_reason(std::string_view text) {
  for (const OfflineReason reason :
       {OfflineReason::heartbeat_timeout, OfflineReason::termination_notice, OfflineReason::agent_disconnect}) {
    if (text == to_string(reason)) return reason;
  }
  return std::nullopt;
}

json AgentWentOffline::to_json() const {
  return {{"last_seen", last_seen_ms}, {"timeout_ms", timeout_ms}, {"reason", to_string(reason)}};
}

Result<AgentWentOffline> AgentWentOffline::from_json(const json& data, std::uint32_t schema_version) {
  AgentWentOffline event;
  // Informative only (when the agent was last heard from), never checked
  // by earlier versions: an odd value reads as 0 rather than being refused.
  if (!read(data, "last_seen", event.last_seen_ms, payload::Presence::optional)) event.last_seen_ms = 0;
  if (!read(data, "timeout_ms", event.timeout_ms, payload::Presence::optional)) event.timeout_ms = 0;
  // v1 has no reason: a heartbeat timeout was the only way offline then.
  if (schema_version >= 2) {
    std::string reason;
    const auto parsed = read(data, "reason", reason) ? parse_offline_reason(reason) : std::nullopt;
    if (!parsed) return payload_error("bad AgentWentOffline reason");
    event.reason = *parsed;
  }
  return event;
}

json AgentCameOnline::to_json() const {
  return {{"status", to_string(status)}};
}

Result<AgentCameOnline> AgentCameOnline::from_json(const json& data, std::uint32_t /*schema_version*/) {
  AgentCameOnline event;
  if (!read_status(data, "status", event.status) || !is_live(event.status)) {
    return payload_error("bad AgentCameOnline payload");
  }
  return event;
}

json AgentAssignmentSet::to_json() const {
  return {{"assignment", assignment ? assignment_to_json(*assignment) : json(nullptr)}};
}

Result<AgentAssignmentSet> AgentAssignmentSet::from_json(const json& data, std::uint32_t /*schema_version*/) {
  AgentAssignmentSet event;
  const auto member = data.find("assignment");
  if (member == data.end()) return payload_error("bad AgentAssignmentSet payload");
  if (member->is_null()) return event;
  auto assignment = assignment_from_json(*member);
  if (!assignment) return payload_error(assignment.error().message);
  event.assignment = std::move(*assignment);
  return event;
}

json AgentConfigReported::to_json() const {
  json out{{"config_hash", config_hash}, {"status", to_string(status)}};
  if (!error.empty()) out["error"] = error;
  return out;
}

Result<AgentConfigReported> AgentConfigReported::from_json(const json& data, std::uint32_t /*schema_version*/) {
  AgentConfigReported event;
  std::string status;
  if (!read(data, "config_hash", event.config_hash) || !read(data, "status", status) ||
      !read(data, "error", event.error, payload::Presence::optional)) {
    return payload_error("bad AgentConfigReported payload");
  }
  const auto parsed = parse_config_report_status(status);
  if (!parsed) return payload_error("bad AgentConfigReported status");
  event.status = *parsed;
  return event;
}

json AgentEffectiveConfigReported::to_json() const {
  return {{"hash", hash}, {"files", files ? files_to_json(*files) : json::object()}};
}

Result<AgentEffectiveConfigReported> AgentEffectiveConfigReported::from_json(const json& data,
                                                                             std::uint32_t /*schema_version*/) {
  AgentEffectiveConfigReported event;
  const auto files = data.find("files");
  if (!read(data, "hash", event.hash) || files == data.end()) {
    return payload_error("bad AgentEffectiveConfigReported payload");
  }
  auto parsed = files_from_json(*files);
  if (!parsed) return payload_error(parsed.error().message);
  event.files = std::make_shared<const ConfigFiles>(std::move(*parsed));
  return event;
}

json AgentReported::to_json() const {
  return {{"type", type}, {"reported_at_ms", reported_at_ms}, {"data", data}};
}

Result<AgentReported> AgentReported::from_json(const json& data, std::uint32_t /*schema_version*/) {
  AgentReported event;
  const auto details = data.find("data");
  if (!read(data, "type", event.type) || event.type.empty() ||
      !read(data, "reported_at_ms", event.reported_at_ms) || details == data.end() || !details->is_object()) {
    return payload_error("bad AgentReported payload");
  }
  event.data = *details;
  return event;
}

}  // namespace muster
