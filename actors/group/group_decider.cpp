#include "actors/group/group_decider.hpp"

#include <set>
#include <type_traits>

#include <fmt/format.h>

namespace muster {
namespace {

using nlohmann::json;
using payload::read;

Status check_priority(std::int64_t priority) {
  if (priority >= -kMaxGroupPriority && priority <= kMaxGroupPriority) return Status::success();
  return invalid_field(
      "priority", fmt::format("must be an integer from {} to {}", -kMaxGroupPriority, kMaxGroupPriority));
}

// The ids of `ids` for which `wanted(id)` holds, each once, in the order given.
template <class Wanted>
std::vector<AgentId> distinct_ids(const std::vector<AgentId>& ids, Wanted wanted) {
  std::set<AgentId> seen;
  std::vector<AgentId> chosen;
  for (const AgentId& id : ids) {
    if (wanted(id) && seen.insert(id).second) chosen.push_back(id);
  }
  return chosen;
}

}  // namespace

Error group_not_found() {
  return make_error(ErrorCode::not_found, "no group with this name", "GROUP_NOT_FOUND");
}

Result<std::vector<GroupEvent>> decide_create(const Group& group, const CreateGroup& command) {
  if (command.org != group.org || command.name != group.name) {
    return make_error(ErrorCode::internal, "a group's org and name must be its stream's");
  }
  if (group.exists)
    return make_error(ErrorCode::conflict, "a group with this name exists already", "GROUP_EXISTS");
  if (Status valid = check_priority(command.priority); !valid) return valid.error();
  return std::vector<GroupEvent>{
      GroupCreated{command.org, command.name, command.selector, command.priority, command.description}};
}

Result<std::vector<GroupEvent>> decide_update(const Group& group, const UpdateGroup& command) {
  if (!group.exists) return group_not_found();
  if (command.priority) {
    if (Status valid = check_priority(*command.priority); !valid) return valid.error();
  }
  GroupUpdated updated;
  if (command.selector && *command.selector != group.selector) updated.selector = command.selector;
  if (command.priority && *command.priority != group.priority) updated.priority = command.priority;
  if (command.description && *command.description != group.description)
    updated.description = command.description;
  if (!updated.selector && !updated.priority && !updated.description) return std::vector<GroupEvent>{};
  return std::vector<GroupEvent>{std::move(updated)};
}

Result<std::vector<GroupEvent>> decide_add_members(const Group& group, const AddGroupMembers& command) {
  if (!group.exists) return group_not_found();
  auto added =
      distinct_ids(command.agent_ids, [&](const AgentId& id) { return group.members.count(id) == 0; });
  if (added.empty()) return std::vector<GroupEvent>{};
  return std::vector<GroupEvent>{GroupMembersAdded{std::move(added)}};
}

Result<std::vector<GroupEvent>> decide_remove_members(const Group& group, const RemoveGroupMembers& command) {
  if (!group.exists) return group_not_found();
  auto removed =
      distinct_ids(command.agent_ids, [&](const AgentId& id) { return group.members.count(id) != 0; });
  if (removed.empty()) return std::vector<GroupEvent>{};
  return std::vector<GroupEvent>{GroupMembersRemoved{std::move(removed)}};
}

Result<std::vector<GroupEvent>> decide_set_assignment(const Group& group, const SetGroupAssignment& command) {
  if (!group.exists) return group_not_found();
  std::optional<Assignment> assignment = command.assignment;
  if (assignment && assignment->empty()) assignment.reset();
  if (assignment == group.assignment) return std::vector<GroupEvent>{};
  return std::vector<GroupEvent>{GroupAssignmentSet{std::move(assignment)}};
}

Result<std::vector<GroupEvent>> decide_delete(const Group& group) {
  if (!group.exists) return group_not_found();
  return std::vector<GroupEvent>{GroupDeleted{}};
}

json group_to_snapshot_json(const Group& group) {
  json members = json::array();
  for (const AgentId& id : group.members) members.push_back(id.to_string());
  return {{"org", group.org},
          {"name", group.name},
          {"selector", group.selector},
          {"priority", group.priority},
          {"description", group.description},
          {"members", std::move(members)},
          {"assignment", group.assignment ? assignment_to_json(*group.assignment) : json(nullptr)},
          {"exists", group.exists},
          {"created_position", group.created_position},
          {"created_at", group.created_at_ms},
          {"updated_at", group.updated_at_ms},
          {"version", group.version},
          {"last_position", group.last_position}};
}

std::string encode_group_snapshot(const Group& group) {
  return group_to_snapshot_json(group).dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<Group> group_from_snapshot_json(const json& data) {
  const auto bad = [] { return payload_error("bad group snapshot"); };
  if (!data.is_object()) return bad();
  Group group;
  std::vector<std::string> members;
  const auto exists = data.find("exists");
  const auto priority = data.find("priority");
  const auto assignment = data.find("assignment");
  if (!read(data, "org", group.org) || !read(data, "name", group.name) ||
      !read(data, "selector", group.selector) || priority == data.end() || !priority->is_number_integer() ||
      !read(data, "description", group.description) || !read(data, "members", members) ||
      assignment == data.end() || exists == data.end() || !exists->is_boolean() ||
      !read(data, "created_position", group.created_position) ||
      !read(data, "created_at", group.created_at_ms) || !read(data, "updated_at", group.updated_at_ms) ||
      !read(data, "version", group.version) || !read(data, "last_position", group.last_position)) {
    return bad();
  }
  group.priority = priority->get<std::int64_t>();
  group.exists = exists->get<bool>();
  for (const std::string& text : members) {
    const auto id = AgentId::parse(text);
    if (!id) return bad();
    group.members.insert(*id);
  }
  if (!assignment->is_null()) {
    auto decoded = assignment_from_json(*assignment);
    if (!decoded) return bad();
    group.assignment = std::move(*decoded);
  }
  return group;
}

Result<Group> decode_group_snapshot(std::string_view bytes) {
  return group_from_snapshot_json(json::parse(bytes, nullptr, /*allow_exceptions=*/false));
}

GroupAggregate::State GroupAggregate::initial_state(const std::string& id) {
  Group group;
  if (const auto scoped = split_org_scoped_id(id)) {
    group.org = std::string(scoped->org);
    group.name = std::string(scoped->name);
  }
  return group;
}

Result<std::vector<GroupEvent>> GroupAggregate::decide(const State& state, const Command& command,
                                                       Context& /*context*/) {
  return std::visit(
      [&state](const auto& typed) -> Result<std::vector<GroupEvent>> {
        using T = std::decay_t<decltype(typed)>;
        if constexpr (std::is_same_v<T, CreateGroup>) {
          return decide_create(state, typed);
        } else if constexpr (std::is_same_v<T, UpdateGroup>) {
          return decide_update(state, typed);
        } else if constexpr (std::is_same_v<T, AddGroupMembers>) {
          return decide_add_members(state, typed);
        } else if constexpr (std::is_same_v<T, RemoveGroupMembers>) {
          return decide_remove_members(state, typed);
        } else if constexpr (std::is_same_v<T, SetGroupAssignment>) {
          return decide_set_assignment(state, typed);
        } else {
          static_assert(std::is_same_v<T, DeleteGroup>);
          return decide_delete(state);
        }
      },
      command);
}

}  // namespace muster
