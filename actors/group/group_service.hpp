#pragma once
/// Groups: what the API asks of them. Each group is an aggregate on the
/// runtime (group_decider.hpp) with snapshots, since member changes make its
/// stream grow; reads come from the config model (projections/config_model.hpp).
///
/// Every method takes the organization the caller acts in, already settled
/// by the caller (`creation_org`): a group is found by org and name.
///
/// Thread safety: every method may be called from any thread; `done` runs
/// on the group's actor, the projection runner's thread or the caller's
/// (refusals before any decision), never blocking.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "actors/config/assignment.hpp"
#include "actors/group/group_decider.hpp"
#include "actors/group/group_state.hpp"
#include "actors/runtime/request_context.hpp"
#include "actors/runtime/runtime.hpp"
#include "actors/runtime/when_folded.hpp"
#include "common/lifecycle.hpp"
#include "eventstore/event_store.hpp"
#include "eventstore/snapshot_store.hpp"
#include "projections/agent_registry.hpp"
#include "projections/config_model.hpp"

namespace muster {

struct GroupRequest {
  std::string name;
  LabelSelector selector;  ///< Empty: every agent of the org.
  std::int64_t priority = 0;
  std::string description;
};

/// What changes: each member set sets that value (the decider's command).
using GroupChanges = UpdateGroup;

/// What a change left behind.
struct GroupOutcome {
  Group group;                 ///< The group after it.
  std::uint64_t position = 0;  ///< The log position the group reflects; reads at it see the change.
  std::size_t changed = 0;     ///< Members added or removed (member changes only).
};

class GroupService : public Service {
 public:
  /// A group's snapshot is saved every this many events.
  static constexpr std::uint64_t kSnapshotEvery = 100;

  /// References must outlive the service.
  GroupService(runtime::Runtime& runtime, EventStore& store, SnapshotStore& snapshots,
               const ConfigModel& configs, const AgentRegistry& registry, WhenFolded when_folded);
  ~GroupService() override;

  std::string_view name() const override { return "groups"; }
  Status start() override { return Status::success(); }
  void stop() override;

  using Done = std::function<void(Result<GroupOutcome>)>;

  /// Makes the group `request.name` in `org`. Refused: `invalid_argument`
  /// (field "name": not a valid name; "priority": out of bounds), `conflict` /
  /// GROUP_EXISTS. Every change below answers once the read models hold it.
  void create(const std::string& org, const GroupRequest& request, const RequestContext& context, Done done);
  /// Changes selector, priority or description; the same values change nothing.
  void update(const std::string& org, const std::string& name, const GroupChanges& changes,
              const RequestContext& context, Done done);
  /// Deletes the group (its name may be used again).
  void remove(const std::string& org, const std::string& name, const RequestContext& context, Done done);
  /// Adds agents as explicit members; `changed` says how many were not
  /// members yet. Refused: `invalid_argument` / UNKNOWN_AGENTS (field
  /// "agent_ids") if any is not an agent of `org`, naming them.
  void add_members(const std::string& org, const std::string& name, const std::vector<AgentId>& agent_ids,
                   const RequestContext& context, Done done);
  /// Removes explicit members; `changed` says how many were members.
  void remove_members(const std::string& org, const std::string& name, const std::vector<AgentId>& agent_ids,
                      const RequestContext& context, Done done);
  /// Sets (nullopt or an empty assignment: clears) the group's assignment,
  /// once `ConfigModel::check_assignment` accepts it: refused with its
  /// errors (404 CONFIG_NOT_FOUND, 400 VERSION_NOT_FOUND, with the field).
  void set_assignment(const std::string& org, const std::string& name, std::optional<Assignment> assignment,
                      const RequestContext& context, Done done);
  /// Every change above except `create` is refused with `not_found` /
  /// GROUP_NOT_FOUND for a group that does not exist, and with
  /// `invalid_argument` (field "name") for a name no group can have.
  /// `add_members` and `set_assignment` look the group up in the read model
  /// first, so that an unknown group answers as such rather than with what
  /// is wrong with its would-be members or configs; the group's actor still
  /// decides.

  /// Groups of `org`, highest precedence first.
  std::vector<Group> list(const std::string& org) const;
  /// The existing group `name` of `org`. Refused: `invalid_argument` ("name"),
  /// `not_found` / GROUP_NOT_FOUND.
  Result<Group> find(const std::string& org, const std::string& name) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace muster
