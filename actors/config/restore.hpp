#pragma once
/// Backup and restore of an organization's configuration: its configs and
/// policies with every version, its groups (selector, priority,
/// description, explicit members, assignment), and the assignments agents
/// carry of their own. Secrets are never part of it: agents appear by id
/// and instance id only.
///
/// `take_backup` reads a backup from the read models. `ConfigRestore` is the
/// process that applies one to an organization through the config, group
/// and agent services, as new versions and changes: history is never
/// rewritten, and a change that would change nothing is not made, so
/// restoring the same backup twice changes nothing the second time.
///
/// What a restore does, in this order:
///   1. Configs. One that does not exist here is created with every version
///      of the backup, in order (rollbacks as rollbacks), so that on an
///      empty server its version numbers are the backup's. One that exists
///      and whose latest content differs from the backup's latest gets one
///      new version with that content ("restored from backup <created_at>").
///      One that exists with the other kind is skipped.
///   2. Groups. Created, or updated where selector, priority or description
///      differ; the backup's members added (members it does not name stay);
///      the assignment set to the backup's (none clears it).
///   3. Agents. Each assignment goes to the agent with the same id, else to
///      the one with the same instance id in the organization; else skipped.
///      Group members are found the same way.
/// A version pinned by an assignment is mapped to the version here with the
/// same content (the same number when that one has it, else the latest that
/// does); an assignment whose pinned content is nowhere here is skipped.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "actors/agent/agent_id.hpp"
#include "actors/agent/agent_service.hpp"
#include "actors/config/assignment.hpp"
#include "actors/config/config_service.hpp"
#include "actors/config/config_state.hpp"
#include "actors/group/group_service.hpp"
#include "actors/group/group_state.hpp"
#include "actors/runtime/request_context.hpp"
#include "actors/runtime/when_folded.hpp"
#include "common/clock.hpp"
#include "common/result.hpp"
#include "common/timers.hpp"
#include "projections/agent_registry.hpp"
#include "projections/config_model.hpp"

namespace muster {

/// An agent's own assignment, and how to find the agent again elsewhere.
struct BackupAgent {
  AgentId agent_id;
  std::string instance_id;
  Assignment assignment;
};

struct Backup {
  std::string org;  ///< The organization it was taken from (a restore may target another).
  TimeMs created_at_ms = 0;
  /// The log position the read models held when it was taken; changes made
  /// while it was being read may be in it too.
  std::uint64_t log_position = 0;
  /// Configs and policies that exist, by name, each with every version
  /// (`org`, `name`, `kind`, `description`, `versions` are what a backup keeps).
  std::vector<Config> configs;
  /// Groups that exist, highest precedence first (the order a restore
  /// creates them in, so equal priorities keep their precedence).
  std::vector<Group> groups;
  /// Listed agents with an assignment of their own, by id.
  std::vector<BackupAgent> agents;
  /// The instance id of every agent the backup names (group members and `agents`).
  std::map<AgentId, std::string> instances;
};

/// Reads the backup of `org` from the read models, stamped `now_ms` and
/// `log_position`. Thread-safe (each read model locks for itself).
Backup take_backup(const ConfigModel& configs, const AgentRegistry& registry, std::string_view org, TimeMs now_ms,
                   std::uint64_t log_position);

enum class RestoreKind : std::uint8_t { config, group, agent };
enum class RestoreAction : std::uint8_t { create, add_version, update, add_members, assign, skip };
/// "config", "group", "agent".
const char* to_string(RestoreKind kind);
/// "create", "add_version", "update", "add_members", "assign", "skip".
const char* to_string(RestoreAction action);

/// One change a restore makes (or, `skip`, cannot make), for people to read.
struct RestoreChange {
  RestoreKind kind = RestoreKind::config;
  std::string name;  ///< The config's or group's name; the agent's id here.
  RestoreAction action = RestoreAction::skip;
  std::string detail;
};

struct RestoreReport {
  bool dry_run = false;
  /// Every change, in the order made; nothing that is already as the backup says.
  std::vector<RestoreChange> changes;
  /// Changes made (those not skipped); 0 for a dry run.
  std::size_t applied = 0;
  /// A read at this log position sees every change made.
  std::uint64_t position = 0;
};

struct RestoreOptions {
  /// One change (one service call) may take this long; then the restore
  /// stops with `unavailable` / BUSY (what it changed stays; restoring
  /// again goes on from there). The whole restore has no bound: it takes
  /// as long as it has changes. Default: 10 s.
  TimeMs step_timeout_ms = 10'000;
};

class ConfigRestore {
 public:
  using Done = std::function<void(Result<RestoreReport>)>;

  /// Every reference must outlive every restore started (they go on after
  /// this object is gone). `when_folded` empty: answer without waiting for
  /// the read models.
  ConfigRestore(ConfigService& configs, GroupService& groups, AgentService& agents, const ConfigModel& model,
                const AgentRegistry& registry, TimerService& timers, WhenFolded when_folded,
                RestoreOptions options = {});

  /// What `apply` would change in `org` now, changing nothing (`dry_run` set).
  /// REQUIRES: `backup` passed the document's checks (a reference to a
  /// config or version it does not hold is skipped, never trusted).
  RestoreReport plan(const std::string& org, const Backup& backup) const;

  /// Applies `backup` to `org`, one change at a time, each made by its
  /// service as the principal of `context`. `done` gets the report once a
  /// read sees every change, or the first failure (its code kept, its
  /// message saying which change and how many came before; those stay, and
  /// restoring again goes on from there). `done` runs on a service's
  /// thread, the timer service's, or (a refusal before anything ran) the
  /// caller's; it must not block.
  void apply(const std::string& org, Backup backup, const RequestContext& context, Done done);

 private:
  struct Run;
  ConfigService& configs_;
  GroupService& groups_;
  AgentService& agents_;
  const ConfigModel& model_;
  const AgentRegistry& registry_;
  TimerService& timers_;
  WhenFolded when_folded_;
  RestoreOptions options_;
};

}  // namespace muster
