#pragma once
/// Groups: named sets of an organization's agents, chosen by a label
/// selector (every pair must match; an empty selector matches every agent of
/// the org) plus explicitly added agents, with a priority and an assignment.
/// Each is a stream "group:<org>/<name>":
///
///   GroupCreated         {org, name, selector: {..}, priority, description}
///   GroupUpdated         {selector?, priority?, description?}
///   GroupMembersAdded    {agent_ids: [..]}   (only ids not members yet)
///   GroupMembersRemoved  {agent_ids: [..]}   (only ids that were members)
///   GroupAssignmentSet   {assignment: {config?, version?, policies, settings} | null}
///   GroupDeleted         {}
///
/// Precedence between groups of equal priority goes to the one created
/// first: `created_position`, the log position of its GroupCreated, orders
/// them, and a group created again after a deletion counts as new.

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "actors/agent/agent_id.hpp"
#include "actors/config/assignment.hpp"
#include "actors/runtime/payload_codec.hpp"
#include "common/clock.hpp"
#include "common/result.hpp"

namespace muster {

inline constexpr std::string_view kGroupKind = "group";

using LabelSelector = std::map<std::string, std::string>;


struct GroupCreated {
  static constexpr EventType kType{"GroupCreated", kGroupKind, 1};
  std::string org;
  std::string name;
  LabelSelector selector;
  std::int64_t priority = 0;
  std::string description;

  nlohmann::json to_json() const;
  static Result<GroupCreated> from_json(const nlohmann::json& data, std::uint32_t schema_version);
};

struct GroupUpdated {
  static constexpr EventType kType{"GroupUpdated", kGroupKind, 1};
  std::optional<LabelSelector> selector;
  std::optional<std::int64_t> priority;
  std::optional<std::string> description;

  nlohmann::json to_json() const;
  static Result<GroupUpdated> from_json(const nlohmann::json& data, std::uint32_t schema_version);
};

struct GroupMembersAdded {
  static constexpr EventType kType{"GroupMembersAdded", kGroupKind, 1};
  std::vector<AgentId> agent_ids;

  nlohmann::json to_json() const;
  static Result<GroupMembersAdded> from_json(const nlohmann::json& data, std::uint32_t schema_version);
};

struct GroupMembersRemoved {
  static constexpr EventType kType{"GroupMembersRemoved", kGroupKind, 1};
  std::vector<AgentId> agent_ids;

  nlohmann::json to_json() const;
  static Result<GroupMembersRemoved> from_json(const nlohmann::json& data, std::uint32_t schema_version);
};

struct GroupAssignmentSet {
  static constexpr EventType kType{"GroupAssignmentSet", kGroupKind, 1};
  std::optional<Assignment> assignment;  ///< nullopt: cleared.

  nlohmann::json to_json() const;
  static Result<GroupAssignmentSet> from_json(const nlohmann::json& data, std::uint32_t schema_version);
};

struct GroupDeleted {
  static constexpr EventType kType{"GroupDeleted", kGroupKind, 1};
  nlohmann::json to_json() const { return nlohmann::json::object(); }
  static Result<GroupDeleted> from_json(const nlohmann::json&, std::uint32_t) { return GroupDeleted{}; }
};

using GroupEvent = std::variant<GroupCreated, GroupUpdated, GroupMembersAdded, GroupMembersRemoved,
                                GroupAssignmentSet, GroupDeleted>;

struct Group {
  std::string org;
  std::string name;
  LabelSelector selector;
  std::int64_t priority = 0;
  std::string description;
  std::set<AgentId> members;  ///< Added explicitly.
  std::optional<Assignment> assignment;
  bool exists = false;
  std::uint64_t created_position = 0;  ///< Of its latest GroupCreated: precedence among equal priorities.
  TimeMs created_at_ms = 0;
  TimeMs updated_at_ms = 0;
  std::uint64_t version = 0;
  std::uint64_t last_position = 0;

  /// True if an agent with `labels` (or `agent_id` as an explicit member) is in the group.
  bool selects(const AgentId& agent_id, const std::map<std::string, std::string>& labels) const;
};

bool operator==(const Group& left, const Group& right);

/// True if every pair of `selector` is in `labels`.
bool selector_matches(const LabelSelector& selector, const std::map<std::string, std::string>& labels);

/// Folds one event of a "group:" stream. Errors: `corruption`, state unchanged.
Status apply(Group& group, const Event& event);
Status apply(Group& group, const GroupEvent& event, const EventHeader& header);

}  // namespace muster
