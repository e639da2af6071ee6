#pragma once
/// A group's commands and decisions, and the group as the runtime runs it.
///
/// Every change that would change nothing appends nothing: an update to the
/// values the group has, members already in (or, for removal, not in), the
/// assignment it carries. A bulk job run twice therefore applies nothing
/// twice, and the log records only real changes.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "actors/group/group_state.hpp"
#include "actors/runtime/aggregate_host.hpp"
#include "actors/runtime/stream_id.hpp"

namespace muster {

/// Bounds of a group's priority (either sign).
inline constexpr std::int64_t kMaxGroupPriority = 1'000'000;

/// `not_found` / GROUP_NOT_FOUND: what anything asked of a group that does
/// not exist (never made, or deleted) answers.
Error group_not_found();

struct CreateGroup {
  std::string org;
  std::string name;
  LabelSelector selector;  ///< Empty: every agent of the org.
  std::int64_t priority = 0;
  std::string description;
};
/// Each member set changes that value; nullopt leaves it.
struct UpdateGroup {
  std::optional<LabelSelector> selector;
  std::optional<std::int64_t> priority;
  std::optional<std::string> description;
};
struct AddGroupMembers {
  std::vector<AgentId> agent_ids;
};
struct RemoveGroupMembers {
  std::vector<AgentId> agent_ids;
};
/// nullopt (or an empty assignment) clears it.
struct SetGroupAssignment {
  std::optional<Assignment> assignment;
};
struct DeleteGroup {};
using GroupCommand = std::variant<CreateGroup, UpdateGroup, AddGroupMembers, RemoveGroupMembers,
                                  SetGroupAssignment, DeleteGroup>;

/// GroupCreated, for a group that does not exist (never made, or deleted).
/// Refused: `conflict` / GROUP_EXISTS; `invalid_argument` (field "priority")
/// beyond ±kMaxGroupPriority; `internal` if org and name are not the stream's.
Result<std::vector<GroupEvent>> decide_create(const Group& group, const CreateGroup& command);
/// GroupUpdated with only the values that differ; nothing if none does.
/// Refused: `not_found` / GROUP_NOT_FOUND; `invalid_argument` ("priority").
Result<std::vector<GroupEvent>> decide_update(const Group& group, const UpdateGroup& command);
/// GroupMembersAdded with the ids not members yet, each once, in the order
/// given; nothing if there is none. Refused: `not_found` / GROUP_NOT_FOUND.
Result<std::vector<GroupEvent>> decide_add_members(const Group& group, const AddGroupMembers& command);
/// GroupMembersRemoved with the ids that are members, each once, in the
/// order given; nothing if there is none. Refused: `not_found` / GROUP_NOT_FOUND.
Result<std::vector<GroupEvent>> decide_remove_members(const Group& group, const RemoveGroupMembers& command);
/// GroupAssignmentSet unless the group carries that assignment already (an
/// empty assignment counts as none). Refused: `not_found` / GROUP_NOT_FOUND.
Result<std::vector<GroupEvent>> decide_set_assignment(const Group& group, const SetGroupAssignment& command);
/// GroupDeleted. Refused: `not_found` / GROUP_NOT_FOUND.
Result<std::vector<GroupEvent>> decide_delete(const Group& group);

/// A group's whole state as JSON, for snapshots (the group's own, and any
/// read model that keeps groups).
nlohmann::json group_to_snapshot_json(const Group& group);
/// Reads what `group_to_snapshot_json` wrote. Errors: `corruption`.
Result<Group> group_from_snapshot_json(const nlohmann::json& data);

/// A group's snapshot: `group_to_snapshot_json` as text.
std::string encode_group_snapshot(const Group& group);
/// Reads what `encode_group_snapshot` wrote. Errors: `corruption`.
Result<Group> decode_group_snapshot(std::string_view bytes);

struct GroupAggregate {
  static constexpr std::string_view kKind = kGroupKind;
  using State = Group;
  using Payload = GroupEvent;
  using Command = GroupCommand;
  using Context = runtime::DecideContext;

  /// `id` is "<org>/<name>" (org_scoped_id); org names hold no '/'.
  static State initial_state(const std::string& id);
  static std::string stream_of(const State& state) {
    return stream_name(kKind, org_scoped_id(state.org, state.name));
  }
  static Result<std::vector<Payload>> decide(const State& state, const Command& command, Context& context);
  static Status apply(State& state, const Payload& event, const EventHeader& header) {
    return muster::apply(state, event, header);
  }
  static Status apply(State& state, const Event& event) { return muster::apply(state, event); }
  static std::string encode_state(const State& state) { return encode_group_snapshot(state); }
  static Result<State> decode_state(std::string_view bytes) { return decode_group_snapshot(bytes); }
};

}  // namespace muster
