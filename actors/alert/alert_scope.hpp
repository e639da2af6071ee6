#pragma once
/// Which agents of an organization an alert rule (or a maintenance window)
/// is about. As JSON:
///
///   absent, null or {}           every agent of the org
///   {"group": "<group name>"}    the agents the group holds (ConfigModel::in_group)
///   {"labels": {"k": "v", ...}}  the agents whose labels hold every pair
///   {"agents": ["<agent id>", ...]}  those agents (1 to kMaxAlertScopeAgents ids)
///
/// Exactly one member. A scope holds no organization: whoever asks whether
/// it covers an agent has matched the agent's org first.

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "actors/agent/agent_id.hpp"
#include "common/result.hpp"

namespace muster {

struct AgentState;
class ConfigModel;

/// Agent ids one scope may list, at most.
inline constexpr std::size_t kMaxAlertScopeAgents = 1000;

struct AlertScope {
  enum class Kind { all, group, labels, agents };
  Kind kind = Kind::all;
  std::string group;                          ///< Kind group: the group's name.
  std::map<std::string, std::string> labels;  ///< Kind labels: every pair must match.
  std::vector<AgentId> agents;                ///< Kind agents: sorted, distinct.

  /// The JSON form above ({} for every agent); `parse_alert_scope` reads it back.
  nlohmann::json to_json() const;

  /// True if the scope covers the agent (of the scope's org, see above).
  /// Reads `config` for a group (its read lock): call it with no lock of the
  /// config model held.
  bool covers(const AgentState& agent, const ConfigModel& config) const;
  /// The same from the agent's id and labels.
  bool covers(const AgentId& agent_id, const std::map<std::string, std::string>& agent_labels,
              const ConfigModel& config) const;
  /// True if whether it covers an agent depends on its labels.
  bool depends_on_labels() const { return kind == Kind::labels; }
};

bool operator==(const AlertScope& left, const AlertScope& right);

/// The scope `value` describes (see above); null counts as absent (every
/// agent). Errors: `invalid_field` naming `field` (or "<field>.group",
/// "<field>.labels", "<field>.agents") for anything else: not an object,
/// more than one member or an unknown one, a group name that is not one
/// ([a-z0-9][a-z0-9._-]{0,62}), labels that are not an object of 1 to 64
/// string pairs (keys 1 to 128 of [A-Za-z0-9._/-], values at most 256
/// characters), agents that are not 1 to kMaxAlertScopeAgents agent ids.
/// Duplicated agent ids are kept once.
Result<AlertScope> parse_alert_scope(const nlohmann::json& value, std::string_view field);

}  // namespace muster
