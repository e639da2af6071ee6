// /api/v1/groups: named sets of an organization's agents (a label selector
// plus explicit members), their priority and what they are assigned.
// Viewers read, operators write, admins delete; every request works in one
// organization (Call::require_org).

#include <fmt/format.h>

#include "actors/group/group_decider.hpp"
#include "http/assignment_parsing.hpp"
#include "http/call.hpp"

namespace muster::http::routes {
namespace {

using nlohmann::json;

constexpr std::size_t kMaxMembersPerRequest = 10'000;

// A group body's members, problems collected per field. `creating`:
// "name" is required; otherwise it is refused (a group keeps its name).
struct GroupBody {
  std::string name;
  GroupChanges changes;
};

Parsed<GroupBody> parse_group_body(const json& body, bool creating) {
  json problems = json::object();
  GroupBody parsed;
  for (const auto& [key, value] : body.items()) {
    const bool known =
        key == "selector" || key == "priority" || key == "description" || (creating && key == "name");
    if (!known) {
      problems[key] = creating ? "is not a member of a group (name, selector, priority, description)"
                               : "is not a member a group can change (selector, priority, description)";
    }
  }
  const auto member = [&body](const char* key) -> const json* {
    const auto found = body.find(key);
    return found == body.end() || found->is_null() ? nullptr : &*found;
  };
  if (creating) {
    // Whether the name is one a group can have is the service's to say.
    const json* name = member("name");
    if (name == nullptr || !name->is_string()) {
      problems["name"] = "is required: a string";
    } else {
      parsed.name = name->get<std::string>();
    }
  }
  if (const json* selector = member("selector")) {
    auto read = parse_selector(*selector);
    if (auto* invalid = std::get_if<Invalid>(&read)) {
      problems["selector"] = invalid->details.at("selector");
    } else {
      parsed.changes.selector = std::get<LabelSelector>(std::move(read));
    }
  }
  if (const json* priority = member("priority")) {
    const bool in_bounds =
        (priority->is_number_unsigned() && priority->get<std::uint64_t>() <= kMaxGroupPriority) ||
        (priority->is_number_integer() && !priority->is_number_unsigned() &&
         priority->get<std::int64_t>() >= -kMaxGroupPriority &&
         priority->get<std::int64_t>() <= kMaxGroupPriority);
    if (!in_bounds) {
      problems["priority"] =
          fmt::format("must be an integer from {} to {}", -kMaxGroupPriority, kMaxGroupPriority);
    } else {
      parsed.changes.priority = priority->get<std::int64_t>();
    }
  }
  if (const json* description = member("description")) {
    if (!description->is_string() ||
        description->get_ref<const std::string&>().size() > kMaxDescriptionLength ||
        has_control_character(description->get_ref<const std::string&>())) {
      problems["description"] = fmt::format(
          "must be a string of at most {} characters without control characters", kMaxDescriptionLength);
    } else {
      parsed.changes.description = description->get<std::string>();
    }
  }
  if (!problems.empty())
    return Invalid{"request body failed validation", "VALIDATION_FAILED", std::move(problems)};
  return parsed;
}

// {agent_ids: [UUID, ...]}: 1 to kMaxMembersPerRequest ids (repeats allowed).
Parsed<std::vector<AgentId>> parse_agent_ids(const json& body) {
  const auto refuse = [](const std::string& why) {
    return Invalid{"request body failed validation", "VALIDATION_FAILED", json{{"agent_ids", why}}};
  };
  const auto found = body.find("agent_ids");
  if (found == body.end() || !found->is_array() || found->empty() || found->size() > kMaxMembersPerRequest) {
    return refuse(fmt::format("is required: an array of 1 to {} agent ids", kMaxMembersPerRequest));
  }
  std::vector<AgentId> ids;
  ids.reserve(found->size());
  for (const json& item : *found) {
    const auto id = item.is_string() ? AgentId::parse(item.get_ref<const std::string&>()) : std::nullopt;
    if (!id) return refuse("each must be an agent id: a lowercase UUID");
    ids.push_back(*id);
  }
  return ids;
}

// The org and the path's {name}, or false once answered. The name itself
// is the service's to check.
bool require_group_target(Call& call, std::string& org, std::string& name) {
  if (!call.require_org(org)) return false;
  name = call.params["name"];
  return true;
}

json group_answer(const GroupOutcome& outcome) {
  json answer = group_to_json(outcome.group, false);
  answer["position"] = outcome.position;
  return answer;
}

// Runs a change of the group and answers `answer(outcome)` with `status`.
template <class Start, class Answer>
void change_group(const std::shared_ptr<Call>& call, Start start, int status, Answer answer) {
  call->await<GroupOutcome>("BUSY", std::move(start), [call, status, answer](Result<GroupOutcome> outcome) {
    if (!outcome) return call->reply_failure(outcome.error());
    call->reply_json(status, answer(*outcome));
  });
}

void create_group(const std::shared_ptr<Call>& call) {
  std::string org;
  json body;
  if (!call->require_org(org) || !call->parse_body(false, body)) return;
  auto parsed = parse_group_body(body, true);
  if (auto* invalid = std::get_if<Invalid>(&parsed)) return call->reply_invalid(*invalid);
  const GroupBody& group = std::get<GroupBody>(parsed);
  GroupRequest request{group.name, group.changes.selector.value_or(LabelSelector{}),
                       group.changes.priority.value_or(0), group.changes.description.value_or("")};
  change_group(
      call, [&](auto done) { call->services.groups->create(org, request, call->context, std::move(done)); },
      201, group_answer);
}

void list_groups(const std::shared_ptr<Call>& call) {
  std::string org;
  if (!call->require_org(org)) return;
  call->when_projected([call, org] {
    json groups = json::array();
    for (const Group& group : call->services.groups->list(org)) groups.push_back(group_to_json(group, false));
    call->reply_json(200, {{"groups", std::move(groups)}});
  });
}

void get_group(const std::shared_ptr<Call>& call) {
  std::string org;
  std::string name;
  if (!require_group_target(*call, org, name)) return;
  call->when_projected([call, org, name] {
    const auto group = call->services.groups->find(org, name);
    if (!group) return call->reply_failure(group.error());
    call->reply_json(200, group_to_json(*group, true));
  });
}

void update_group(const std::shared_ptr<Call>& call) {
  std::string org;
  std::string name;
  json body;
  if (!require_group_target(*call, org, name) || !call->parse_body(false, body)) return;
  auto parsed = parse_group_body(body, false);
  if (auto* invalid = std::get_if<Invalid>(&parsed)) return call->reply_invalid(*invalid);
  const GroupChanges& changes = std::get<GroupBody>(parsed).changes;
  change_group(
      call,
      [&](auto done) { call->services.groups->update(org, name, changes, call->context, std::move(done)); },
      200, group_answer);
}

void delete_group(const std::shared_ptr<Call>& call) {
  std::string org;
  std::string name;
  if (!require_group_target(*call, org, name)) return;
  change_group(
      call, [&](auto done) { call->services.groups->remove(org, name, call->context, std::move(done)); }, 200,
      [name](const GroupOutcome& outcome) {
        return json{{"name", name}, {"deleted", true}, {"position", outcome.position}};
      });
}

// The group's agents, paged and filtered like GET /api/v1/agents.
void list_group_agents(const std::shared_ptr<Call>& call) {
  std::string org;
  std::string name;
  if (!require_group_target(*call, org, name)) return;
  auto query = parse_list_query(call->head.query);
  if (auto* invalid = std::get_if<Invalid>(&query)) return call->reply_invalid(*invalid);
  call->when_projected([call, org, name, list = std::get<ListQuery>(std::move(query))]() mutable {
    if (const auto group = call->services.groups->find(org, name); !group) {
      return call->reply_failure(group.error());
    }
    const ConfigModel* model = call->services.config_model;
    list.filter.org = org;
    list.filter.also = [model, name](const AgentState& state) { return model->in_group(state.agent_id, name); };
    reply_agent_page(*call, std::move(list));
  });
}

// POST and DELETE /members: `change` is add_members or remove_members;
// the answer counts what changed under `counted` ("added", "removed").
using MemberChange = void (GroupService::*)(const std::string&, const std::string&,
                                            const std::vector<AgentId>&, const RequestContext&,
                                            GroupService::Done);

void change_members(const std::shared_ptr<Call>& call, MemberChange change, const char* counted) {
  std::string org;
  std::string name;
  json body;
  if (!require_group_target(*call, org, name) || !call->parse_body(false, body)) return;
  auto ids = parse_agent_ids(body);
  if (auto* invalid = std::get_if<Invalid>(&ids)) return call->reply_invalid(*invalid);
  const auto& agent_ids = std::get<std::vector<AgentId>>(ids);
  change_group(
      call,
      [&](auto done) {
        (call->services.groups->*change)(org, name, agent_ids, call->context, std::move(done));
      },
      200,
      [name, counted](const GroupOutcome& outcome) {
        return json{{"group", name}, {counted, outcome.changed}, {"position", outcome.position}};
      });
}

void add_members(const std::shared_ptr<Call>& call) {
  change_members(call, &GroupService::add_members, "added");
}

void remove_members(const std::shared_ptr<Call>& call) {
  change_members(call, &GroupService::remove_members, "removed");
}

void set_assignment(const std::shared_ptr<Call>& call) {
  std::string org;
  std::string name;
  json body;
  if (!require_group_target(*call, org, name) || !call->parse_body(true, body)) return;
  auto parsed = parse_assignment(body);
  if (auto* invalid = std::get_if<Invalid>(&parsed)) return call->reply_invalid(*invalid);
  auto& assignment = std::get<Assignment>(parsed);
  std::optional<Assignment> wanted;
  if (!assignment.empty()) wanted = std::move(assignment);
  change_group(
      call,
      [&](auto done) {
        call->services.groups->set_assignment(org, name, std::move(wanted), call->context, std::move(done));
      },
      200,
      [](const GroupOutcome& outcome) {
        const auto& assignment = outcome.group.assignment;
        return json{{"group", outcome.group.name},
                    {"assignment", assignment ? assignment_to_json(*assignment) : json(nullptr)},
                    {"position", outcome.position}};
      });
}

}  // namespace

void add_groups(RouteTable& table) {
  using C = Credential;
  table.add("POST", "/api/v1/groups", {create_group, C::api_key, Role::operator_, false, true});
  table.add("GET", "/api/v1/groups", any_node({list_groups, C::api_key, Role::viewer}));
  table.add("GET", "/api/v1/groups/{name}", any_node({get_group, C::api_key, Role::viewer}));
  table.add("PATCH", "/api/v1/groups/{name}", {update_group, C::api_key, Role::operator_, false, true});
  table.add("DELETE", "/api/v1/groups/{name}", {delete_group, C::api_key, Role::admin});
  table.add("GET", "/api/v1/groups/{name}/agents", any_node({list_group_agents, C::api_key, Role::viewer}));
  table.add("POST", "/api/v1/groups/{name}/members", {add_members, C::api_key, Role::operator_, false, true});
  table.add("DELETE", "/api/v1/groups/{name}/members",
            {remove_members, C::api_key, Role::operator_, false, true});
  table.add("PUT", "/api/v1/groups/{name}/assignment",
            {set_assignment, C::api_key, Role::operator_, false, true});
}

}  // namespace muster::http::routes
