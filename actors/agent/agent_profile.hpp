#pragma once
/// What an agent is and says about itself: its status and its profile.
/// Values a fleet shares (version, type, capability lists, label sets) are
/// interned, so a million agents hold them once.

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "common/interned.hpp"

namespace muster {

enum class AgentStatus : std::uint8_t {
  unregistered,    ///< No events yet.
  online,          ///< Registered and heard from within the heartbeat timeout.
  degraded,        ///< Online, but the agent reported a problem.
  offline,         ///< Silent for longer than the heartbeat timeout.
  deregistered,    ///< Removed by an operator; may register again.
  decommissioned,  ///< Retired for good; its instance id can never register again.
};

/// "ONLINE", "DEGRADED", ... (upper case, as the API shows it).
const char* to_string(AgentStatus status);
/// Parses the API's upper-case names (case-insensitively).
std::optional<AgentStatus> parse_agent_status(std::string_view text);

/// True for online and degraded: the states a heartbeat timeout watches.
inline bool is_live(AgentStatus status) {
  return status == AgentStatus::online || status == AgentStatus::degraded;
}
/// True while the agent is in lists and counts.
inline bool is_listed(AgentStatus status) {
  return is_live(status) || status == AgentStatus::offline;
}

struct AgentProfile {
  std::string name;
  std::string hostname;
  std::string ip_address;
  InternedString version;
  InternedString type;
  InternedStrings capabilities;
  InternedLabels labels;
};

bool operator==(const AgentProfile& left, const AgentProfile& right);
inline bool operator!=(const AgentProfile& left, const AgentProfile& right) {
  return !(left == right);
}

/// Some profile fields with new values (an AgentUpdated's changes).
struct AgentProfilePatch {
  std::optional<std::string> name;
  std::optional<std::string> hostname;
  std::optional<std::string> ip_address;
  std::optional<InternedString> version;
  std::optional<InternedString> type;
  std::optional<InternedStrings> capabilities;
  std::optional<InternedLabels> labels;

  bool empty() const;
  void apply_to(AgentProfile& profile) const;
};

bool operator==(const AgentProfilePatch& left, const AgentProfilePatch& right);

/// Profile fields as JSON members (name, hostname, ..., labels).
nlohmann::json profile_to_json(const AgentProfile& profile);
/// Only the fields the patch sets.
nlohmann::json patch_to_json(const AgentProfilePatch& patch);

/// Reads the profile members present in `object` into `patch`; false if one
/// is mistyped. Never throws.
bool read_profile_patch(const nlohmann::json& object, AgentProfilePatch& patch);

}  // namespace muster
