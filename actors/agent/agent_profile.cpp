#include "actors/agent/agent_profile.hpp"

#include <algorithm>
#include <cctype>

#include <nlohmann/json.hpp>

#include "actors/runtime/payload_codec.hpp"

namespace muster {

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
         left.version == right.version && left.type == right.type && left.capabilities == right.capabilities &&
         left.labels == right.labels;
}

bool AgentProfilePatch::empty() const {
  return !name && !hostname && !ip_address && !version && !type && !capabilities && !labels;
}

void AgentProfilePatch::apply_to(AgentProfile& profile) const {
  if (name) profile.name = *name;
  if (hostname) profile.hostname = *hostname;
  if (ip_address) profile.ip_address = *ip_address;
  if (version) profile.version = *version;
  if (type) profile.type = *type;
  if (capabilities) profile.capabilities = *capabilities;
  if (labels) profile.labels = *labels;
}

bool operator==(const AgentProfilePatch& left, const AgentProfilePatch& right) {
  return left.name == right.name && left.hostname == right.hostname && left.ip_address == right.ip_address &&
         left.version == right.version && left.type == right.type && left.capabilities == right.capabilities &&
         left.labels == right.labels;
}

nlohmann::json profile_to_json(const AgentProfile& profile) {
  return {{"name", profile.name},
          {"hostname", profile.hostname},
          {"ip_address", profile.ip_address},
          {"version", *profile.version},
          {"type", *profile.type},
          {"capabilities", *profile.capabilities},
          {"labels", *profile.labels}};
}

nlohmann::json patch_to_json(const AgentProfilePatch& patch) {
  nlohmann::json out = nlohmann::json::object();
  if (patch.name) out["name"] = *patch.name;
  if (patch.hostname) out["hostname"] = *patch.hostname;
  if (patch.ip_address) out["ip_address"] = *patch.ip_address;
  if (patch.version) out["version"] = **patch.version;
  if (patch.type) out["type"] = **patch.type;
  if (patch.capabilities) out["capabilities"] = **patch.capabilities;
  if (patch.labels) out["labels"] = **patch.labels;
  return out;
}

bool read_profile_patch(const nlohmann::json& object, AgentProfilePatch& patch) {
  using payload::read;
  std::optional<std::string> version;
  std::optional<std::string> type;
  if (!read(object, "name", patch.name) || !read(object, "hostname", patch.hostname) ||
      !read(object, "ip_address", patch.ip_address) || !read(object, "version", version) ||
      !read(object, "type", type)) {
    return false;
  }
  if (version) patch.version = InternedString::of(*version);
  if (type) patch.type = InternedString::of(*type);
  if (object.contains("capabilities")) {
    std::vector<std::string> capabilities;
    if (!read(object, "capabilities", capabilities)) return false;
    patch.capabilities = InternedStrings::of(capabilities);
  }
  if (object.contains("labels")) {
    std::map<std::string, std::string> labels;
    if (!read(object, "labels", labels)) return false;
    patch.labels = InternedLabels::of(labels);
  }
  return true;
}

}  // namespace muster
