#include "actors/group/group_service.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "actors/access/record_revocation.hpp"
#include "actors/config/config_files.hpp"
#include "actors/group/group_decider.hpp"
#include "actors/runtime/snapshot_repository.hpp"

namespace muster {
namespace {

// The ids a member change named: the event the decision appended (one per
// command, at the group's version after it). The outcome holds only the
// state after the change, so this count is read back from the log: one
// point read of an event just written.
Result<std::size_t> members_changed(const EventStore& store, const Group& group) {
  auto events = store.read_stream(GroupAggregate::stream_of(group), group.version, 1);
  if (!events) return events.error();
  if (events->empty()) return make_error(ErrorCode::internal, "a group's own event is not in its stream");
  const Event& event = events->front();
  auto decoded = decode_payload<GroupEvent>(event.type, event.schema_version, event.data);
  if (!decoded) return decoded.error();
  if (const auto* added = std::get_if<GroupMembersAdded>(&*decoded)) return added->agent_ids.size();
  if (const auto* removed = std::get_if<GroupMembersRemoved>(&*decoded)) return removed->agent_ids.size();
  return make_error(ErrorCode::internal, "a member change appended " + event.type);
}

}  // namespace

struct GroupService::Impl {
  Impl(runtime::Runtime& runtime, EventStore& store_in, SnapshotStore& snapshots,
       const ConfigModel& configs_in, const AgentRegistry& registry_in, WhenFolded when_folded_in)
      : store(store_in),
        configs(configs_in),
        registry(registry_in),
        when_folded(std::move(when_folded_in)),
        repository(snapshots, kSnapshotEvery),
        host(runtime, store_in, repository, options()) {}

  static runtime::AggregateHostOptions options() {
    runtime::AggregateHostOptions options;
    options.core.kind = "group";
    return options;
  }

  // Sends `command` to the group `name` of `org`; answers once the read
  // models hold its outcome. `counts_members`: a member change, whose
  // outcome says how many ids it changed.
  void send(const std::string& org, const std::string& name, GroupCommand command,
            const RequestContext& context, bool counts_members, Done done) {
    if (Status valid = check_config_name(name); !valid) return done(valid.error());
    host.send(
        org_scoped_id(org, name), std::move(command), context,
        [this, counts_members, done = std::move(done)](Result<runtime::Outcome<Group>> outcome) mutable {
          if (!outcome) return done(outcome.error());
          auto result =
              std::make_shared<GroupOutcome>(GroupOutcome{std::move(outcome->state), outcome->position, 0});
          if (counts_members && outcome->appended > 0) {
            auto changed = members_changed(store, result->group);
            if (!changed) return done(changed.error());
            result->changed = *changed;
          }
          once_folded(when_folded, result->position,
                      [result, done = std::move(done)] { done(std::move(*result)); });
        });
  }

  EventStore& store;
  const ConfigModel& configs;
  const AgentRegistry& registry;
  const WhenFolded when_folded;
  runtime::SnapshotRepository<GroupAggregate> repository;
  runtime::AggregateHost<GroupAggregate> host;
};

GroupService::GroupService(runtime::Runtime& runtime, EventStore& store, SnapshotStore& snapshots,
                           const ConfigModel& configs, const AgentRegistry& registry, WhenFolded when_folded)
    : impl_(std::make_unique<Impl>(runtime, store, snapshots, configs, registry, std::move(when_folded))) {}

GroupService::~GroupService() {
  stop();
}

void GroupService::stop() {
  impl_->host.stop();
}

void GroupService::create(const std::string& org, const GroupRequest& request, const RequestContext& context,
                          Done done) {
  impl_->send(org, request.name,
              CreateGroup{org, request.name, request.selector, request.priority, request.description},
              context, false, std::move(done));
}

void GroupService::update(const std::string& org, const std::string& name, const GroupChanges& changes,
                          const RequestContext& context, Done done) {
  impl_->send(org, name, changes, context, false, std::move(done));
}

void GroupService::remove(const std::string& org, const std::string& name, const RequestContext& context,
                          Done done) {
  impl_->send(org, name, DeleteGroup{}, context, false, std::move(done));
}

void GroupService::add_members(const std::string& org, const std::string& name,
                               const std::vector<AgentId>& agent_ids, const RequestContext& context,
                               Done done) {
  // An unknown group answers as such before its would-be members are looked at.
  if (auto group = find(org, name); !group) return done(group.error());
  if (Status known = require_agents_of(impl_->registry, org, agent_ids, "agent_ids"); !known) {
    return done(known.error());
  }
  impl_->send(org, name, AddGroupMembers{agent_ids}, context, true, std::move(done));
}

void GroupService::remove_members(const std::string& org, const std::string& name,
                                  const std::vector<AgentId>& agent_ids, const RequestContext& context,
                                  Done done) {
  impl_->send(org, name, RemoveGroupMembers{agent_ids}, context, true, std::move(done));
}

void GroupService::set_assignment(const std::string& org, const std::string& name,
                                  std::optional<Assignment> assignment, const RequestContext& context,
                                  Done done) {
  if (assignment && assignment->empty()) assignment.reset();
  // An unknown group answers as such before its configs are looked at.
  if (auto group = find(org, name); !group) return done(group.error());
  if (assignment) {
    if (Status checked = impl_->configs.check_assignment(org, *assignment); !checked) {
      return done(checked.error());
    }
  }
  impl_->send(org, name, SetGroupAssignment{std::move(assignment)}, context, false, std::move(done));
}

std::vector<Group> GroupService::list(const std::string& org) const {
  return impl_->configs.groups(org);
}

Result<Group> GroupService::find(const std::string& org, const std::string& name) const {
  if (Status valid = check_config_name(name); !valid) return valid.error();
  auto group = impl_->configs.group(org, name);
  if (!group || !group->exists) return group_not_found();
  return std::move(*group);
}

}  // namespace muster
