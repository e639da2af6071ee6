#include "actors/group/group_state.hpp"

#include "actors/runtime/stream_id.hpp"

namespace muster {
namespace {

using nlohmann::json;
using payload::read;

json ids_to_json(const std::vector<AgentId>& ids) {
  json out = json::array();
  for (const auto& id : ids) out.push_back(id.to_string());
  return out;
}

bool read_ids(const json& data, std::vector<AgentId>& out) {
  std::vector<std::string> texts;
  if (!read(data, "agent_ids", texts)) return false;
  for (const auto& text : texts) {
    const auto id = AgentId::parse(text);
    if (!id) return false;
    out.push_back(*id);
  }
  return true;
}

bool read_priority(const json& data, std::optional<std::int64_t>& out) {
  const auto member = data.find("priority");
  if (member == data.end()) return true;
  if (!member->is_number_integer()) return false;
  out = member->get<std::int64_t>();
  return true;
}

}  // namespace

json GroupCreated::to_json() const {
  return {{"org", org}, {"name", name}, {"selector", selector}, {"priority", priority}, {"description", description}};
}

Result<GroupCreated> GroupCreated::from_json(const json& data, std::uint32_t /*schema_version*/) {
  GroupCreated event;
  std::optional<std::int64_t> priority;
  if (!read(data, "org", event.org) || !read(data, "name", event.name) || !read(data, "selector", event.selector) ||
      !read_priority(data, priority) || !read(data, "description", event.description, payload::Presence::optional)) {
    return payload_error("bad GroupCreated payload");
  }
  event.priority = priority.value_or(0);
  return event;
}

json GroupUpdated::to_json() const {
  json out = json::object();
  if (selector) out["selector"] = *selector;
  if (priority) out["priority"] = *priority;
  if (description) out["description"] = *description;
  return out;
}

Result<GroupUpdated> GroupUpdated::from_json(const json& data, std::uint32_t /*schema_version*/) {
  GroupUpdated event;
  if (data.contains("selector")) {
    LabelSelector selector;
    if (!read(data, "selector", selector)) return payload_error("bad GroupUpdated selector");
    event.selector = std::move(selector);
  }
  if (!read_priority(data, event.priority) || !read(data, "description", event.description)) {
    return payload_error("bad GroupUpdated payload");
  }
  return event;
}

json GroupMembersAdded::to_json() const {
  return {{"agent_ids", ids_to_json(agent_ids)}};
}

Result<GroupMembersAdded> GroupMembersAdded::from_json(const json& data, std::uint32_t /*schema_version*/) {
  GroupMembersAdded event;
  if (!read_ids(data, event.agent_ids)) return payload_error("bad GroupMembersAdded payload");
  return event;
}

json GroupMembersRemoved::to_json() const {
  return {{"agent_ids", ids_to_json(agent_ids)}};
}

Result<GroupMembersRemoved> GroupMembersRemoved::from_json(const json& data, std::uint32_t /*schema_version*/) {
  GroupMembersRemoved event;
  if (!read_ids(data, event.agent_ids)) return payload_error("bad GroupMembersRemoved payload");
  return event;
}

json GroupAssignmentSet::to_json() const {
  return {{"assignment", assignment ? assignment_to_json(*assignment) : json(nullptr)}};
}

Result<GroupAssignmentSet> GroupAssignmentSet::from_json(const json& data, std::uint32_t /*schema_version*/) {
  GroupAssignmentSet event;
  const auto member = data.find("assignment");
  if (member == data.end()) return payload_error("bad GroupAssignmentSet payload");
  if (member->is_null()) return event;
  auto assignment = assignment_from_json(*member);
  if (!assignment) return payload_error(assignment.error().message);
  event.assignment = std::move(*assignment);
  return event;
}

bool selector_matches(const LabelSelector& selector, const std::map<std::string, std::string>& labels) {
  for (const auto& [key, value] : selector) {
    const auto found = labels.find(key);
    if (found == labels.end() || found->second != value) return false;
  }
  return true;
}

bool Group::selects(const AgentId& agent_id, const std::map<std::string, std::string>& labels) const {
  return exists && (selector_matches(selector, labels) || members.count(agent_id) != 0);
}

bool operator==(const Group& left, const Group& right) {
  return left.org == right.org && left.name == right.name && left.selector == right.selector &&
         left.priority == right.priority && left.description == right.description &&
         left.members == right.members && left.assignment == right.assignment && left.exists == right.exists &&
         left.created_position == right.created_position && left.created_at_ms == right.created_at_ms &&
         left.updated_at_ms == right.updated_at_ms && left.version == right.version &&
         left.last_position == right.last_position;
}

Status apply(Group& group, const GroupEvent& event, const EventHeader& header) {
  const std::string_view type = type_of(event).name;
  if (header.version != group.version + 1) return corrupt_event(header, type, "out of version order");
  if (const auto* created = std::get_if<GroupCreated>(&event)) {
    if (group.exists) return corrupt_event(header, type, "the group exists already");
    if (stream_id_of(header.stream, kGroupKind) !=
        std::optional<std::string_view>(org_scoped_id(created->org, created->name))) {
      return corrupt_event(header, type, "org and name differ from the stream id");
    }
    // A group made again after a deletion starts afresh.
    group = Group{};
    group.org = created->org;
    group.name = created->name;
    group.selector = created->selector;
    group.priority = created->priority;
    group.description = created->description;
    group.exists = true;
    group.created_position = header.position;
    group.created_at_ms = header.time_ms;
  } else {
    if (!group.exists) return corrupt_event(header, type, "a change to a group that does not exist");
    if (const auto* updated = std::get_if<GroupUpdated>(&event)) {
      if (updated->selector) group.selector = *updated->selector;
      if (updated->priority) group.priority = *updated->priority;
      if (updated->description) group.description = *updated->description;
    } else if (const auto* added = std::get_if<GroupMembersAdded>(&event)) {
      group.members.insert(added->agent_ids.begin(), added->agent_ids.end());
    } else if (const auto* removed = std::get_if<GroupMembersRemoved>(&event)) {
      for (const auto& id : removed->agent_ids) group.members.erase(id);
    } else if (const auto* assigned = std::get_if<GroupAssignmentSet>(&event)) {
      group.assignment = assigned->assignment;
    } else {
      group.exists = false;
    }
  }
  group.updated_at_ms = header.time_ms;
  group.version = header.version;
  group.last_position = header.position;
  return Status::success();
}

Status apply(Group& group, const Event& event) {
  return apply_stored<GroupEvent>(group, event);
}

}  // namespace muster
