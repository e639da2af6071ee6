#include "actors/config/restore.hpp"

#include <algorithm>
#include <atomic>
#include <optional>
#include <set>
#include <utility>
#include <variant>

#include <fmt/format.h>

#include "common/time_format.hpp"

namespace muster {
namespace {

/// Agents read per page when an organization's agents are listed.
constexpr std::size_t kAgentsPerPage = 1000;
/// Members added per change, so that one group event stays bounded (the
/// members route takes as many per request).
constexpr std::size_t kMembersPerChange = 10'000;
/// Agents a detail names before it only counts the rest.
constexpr std::size_t kNamedInDetail = 10;

/// Calls `visit(state)` for each listed agent of `org`, in id order.
template <class Visit>
void for_each_listed_agent(const AgentRegistry& registry, std::string_view org, Visit&& visit) {
  AgentFilter filter;
  filter.org = std::string(org);
  std::optional<AgentId> after;
  do {
    const AgentPage page = registry.list(filter, kAgentsPerPage, after);
    for (const AgentView& view : page.agents) visit(view.state);
    after = page.next_after;
  } while (after);
}

// --- What the organization holds, as a restore sees it ---------------------------------

/// A config here: its versions' numbers and hashes, in number order.
struct TargetConfig {
  bool exists = false;
  ConfigKind kind = ConfigKind::config;
  /// Every version ever made, a deleted config's too (a re-created one continues their numbers).
  std::vector<std::pair<std::uint64_t, std::string>> versions;

  std::uint64_t next_number() const { return versions.empty() ? 1 : versions.back().first + 1; }
};

/// The configs a backup names, as they are here (absent: never made here).
using TargetConfigs = std::map<std::string, TargetConfig, std::less<>>;

TargetConfigs read_configs(const ConfigModel& model, const std::string& org, const Backup& backup) {
  TargetConfigs configs;
  for (const Config& wanted : backup.configs) {
    TargetConfig& target = configs[wanted.name];
    const auto found = model.config(org, wanted.name);
    if (!found) continue;
    target.exists = found->exists && found->latest() != nullptr;
    target.kind = found->kind;
    for (const ConfigVersion& version : found->versions) target.versions.emplace_back(version.number, version.hash);
  }
  return configs;
}

/// The listed agents of the organization, by id and by instance id.
struct TargetAgents {
  std::set<AgentId> listed;
  std::map<std::string, AgentId, std::less<>> by_instance;

  /// The agent here standing for the backup's `agent_id`: the same id, else
  /// the same instance id; nullopt if neither is here.
  std::optional<AgentId> find(const AgentId& agent_id, std::string_view instance_id) const {
    if (listed.count(agent_id) != 0) return agent_id;
    const auto found = by_instance.find(instance_id);
    if (found == by_instance.end()) return std::nullopt;
    return found->second;
  }
};

TargetAgents read_agents(const AgentRegistry& registry, const std::string& org) {
  TargetAgents agents;
  for_each_listed_agent(registry, org, [&](const AgentState& state) {
    agents.listed.insert(state.agent_id);
    agents.by_instance.emplace(state.instance_id, state.agent_id);
  });
  return agents;
}

/// The backup's instance id of `agent_id` ("" if it names none).
std::string instance_of(const Backup& backup, const AgentId& agent_id) {
  const auto found = backup.instances.find(agent_id);
  return found == backup.instances.end() ? std::string() : found->second;
}

const Config* backup_config(const Backup& backup, std::string_view name) {
  const auto found = std::find_if(backup.configs.begin(), backup.configs.end(),
                                  [&](const Config& config) { return config.name == name; });
  return found == backup.configs.end() ? nullptr : &*found;
}

// --- Mapping pinned versions ------------------------------------------------------------

/// The version here with the content of the backup's version `ref.version`
/// of `ref.name` (the same number when it has that content, else the latest
/// that does); 0 ("latest") stays 0. Errors say why there is none.
Result<std::uint64_t> map_version(const Backup& backup, const TargetConfigs& here, const ConfigRef& ref,
                                  ConfigKind kind) {
  const auto refuse = [](std::string why) { return make_error(ErrorCode::not_found, std::move(why)); };
  const Config* source = backup_config(backup, ref.name);
  if (source == nullptr) return refuse(fmt::format("'{}' is not in the backup", ref.name));
  const auto target = here.find(ref.name);
  if (target == here.end() || !target->second.exists) return refuse(fmt::format("'{}' does not exist here", ref.name));
  if (target->second.kind != kind) {
    return refuse(fmt::format("'{}' is a {} here, not a {}", ref.name, to_string(target->second.kind), to_string(kind)));
  }
  if (ref.version == 0) return std::uint64_t{0};
  const ConfigVersion* version = source->find_version(ref.version);
  if (version == nullptr) return refuse(fmt::format("version {} of '{}' is not in the backup", ref.version, ref.name));
  const auto& versions = target->second.versions;
  for (const auto& [number, hash] : versions) {
    if (number == ref.version && hash == version->hash) return number;
  }
  for (auto found = versions.rbegin(); found != versions.rend(); ++found) {
    if (found->second == version->hash) return found->first;
  }
  return refuse(fmt::format("no version of '{}' here has the content of the backup's version {}", ref.name,
                            ref.version));
}

/// `assignment` with every pinned version mapped to the one here (see map_version).
Result<Assignment> map_assignment(const Backup& backup, const TargetConfigs& here, const Assignment& assignment) {
  Assignment mapped = assignment;
  if (mapped.config) {
    auto version = map_version(backup, here, *mapped.config, ConfigKind::config);
    if (!version) return version.error();
    mapped.config->version = *version;
  }
  for (ConfigRef& policy : mapped.policies) {
    auto version = map_version(backup, here, policy, ConfigKind::policy);
    if (!version) return version.error();
    policy.version = *version;
  }
  return mapped;
}

/// An assignment as a detail shows it: its JSON, and each pinned version
/// whose number differs here.
std::string describe(const Assignment& original, const Assignment& mapped) {
  std::string text = assignment_to_json(mapped).dump();
  std::vector<std::pair<const ConfigRef*, const ConfigRef*>> refs;
  if (original.config && mapped.config) refs.emplace_back(&*original.config, &*mapped.config);
  for (std::size_t index = 0; index < original.policies.size() && index < mapped.policies.size(); ++index) {
    refs.emplace_back(&original.policies[index], &mapped.policies[index]);
  }
  for (const auto& [before, after] : refs) {
    if (before->version != after->version) {
      text += fmt::format("; the backup's version {} of '{}' is version {} here", before->version, before->name,
                          after->version);
    }
  }
  return text;
}

/// `ids` as a detail names them: the first few, then how many more.
std::string name_agents(const std::vector<std::string>& ids) {
  std::string text;
  for (std::size_t index = 0; index < ids.size() && index < kNamedInDetail; ++index) {
    text += (index == 0 ? "" : ", ") + ids[index];
  }
  if (ids.size() > kNamedInDetail) text += fmt::format(" and {} more", ids.size() - kNamedInDetail);
  return text;
}

bool same_assignment(const std::optional<Assignment>& left, const std::optional<Assignment>& right) {
  const bool left_none = !left || left->empty();
  const bool right_none = !right || right->empty();
  if (left_none || right_none) return left_none == right_none;
  return *left == *right;
}

// --- The plan -------------------------------------------------------------------------

/// Creates the backup's config `config` with its first version.
struct CreateConfigStep {
  std::size_t config = 0;
};
/// Adds the content of version `version` of the backup's config `config`,
/// if the latest here is still `expected`.
struct AddVersionStep {
  std::size_t config = 0;
  std::size_t version = 0;
  std::string message;
  std::uint64_t expected = 0;
};
/// Makes version `version` of a config being created a rollback to its
/// version `to` (indexes into the backup's versions).
struct RollbackStep {
  std::size_t config = 0;
  std::size_t version = 0;
  std::size_t to = 0;
};
struct CreateGroupStep {
  std::size_t group = 0;
};
struct UpdateGroupStep {
  std::size_t group = 0;
  GroupChanges changes;
};
struct AddMembersStep {
  std::size_t group = 0;
  std::vector<AgentId> agent_ids;
};
/// Sets the backup's group's assignment, its versions mapped when it runs.
struct GroupAssignmentStep {
  std::size_t group = 0;
};
struct AgentAssignmentStep {
  std::size_t agent = 0;
  AgentId target;
};
using Step = std::variant<CreateConfigStep, AddVersionStep, RollbackStep, CreateGroupStep, UpdateGroupStep,
                          AddMembersStep, GroupAssignmentStep, AgentAssignmentStep>;

struct Plan {
  std::vector<RestoreChange> changes;
  /// The service calls, in order, each with the index of the change it makes (part of).
  std::vector<std::pair<std::size_t, Step>> steps;
};

/// Plans a restore of `backup` into `org` against the read models as they
/// are: each change as the ones before it would leave the organization.
class Planner {
 public:
  Planner(const ConfigModel& model, const AgentRegistry& registry, const std::string& org, const Backup& backup)
      : model_(model), org_(org), backup_(backup), configs_(read_configs(model, org, backup)) {
    if (!backup.agents.empty() || !backup.instances.empty()) agents_ = read_agents(registry, org);
  }

  Plan make() {
    for (std::size_t index = 0; index < backup_.configs.size(); ++index) plan_config(index);
    for (std::size_t index = 0; index < backup_.groups.size(); ++index) plan_group(index);
    for (std::size_t index = 0; index < backup_.agents.size(); ++index) plan_agent(index);
    return std::move(plan_);
  }

 private:
  std::size_t change(RestoreKind kind, std::string name, RestoreAction action, std::string detail) {
    plan_.changes.push_back({kind, std::move(name), action, std::move(detail)});
    return plan_.changes.size() - 1;
  }
  void step(std::size_t change, Step step) { plan_.steps.emplace_back(change, std::move(step)); }

  void plan_config(std::size_t index) {
    const Config& config = backup_.configs[index];
    const ConfigVersion* latest = config.latest();
    if (latest == nullptr) return;
    TargetConfig& target = configs_[config.name];
    if (!target.exists) return plan_config_creation(index, target);
    if (target.kind != config.kind) {
      change(RestoreKind::config, config.name, RestoreAction::skip,
             fmt::format("a {} of this name exists here; the backup's is a {} (a config keeps its kind)",
                         to_string(target.kind), to_string(config.kind)));
      return;
    }
    if (target.versions.back().second == latest->hash) return;
    const std::uint64_t number = target.next_number();
    const std::size_t made =
        change(RestoreKind::config, config.name, RestoreAction::add_version,
               fmt::format("version {} with the content of the backup's version {} (hash {})", number,
                           latest->number, latest->hash.substr(0, 12)));
    step(made, AddVersionStep{index, config.versions.size() - 1,
                              fmt::format("restored from backup {}", format_rfc3339(backup_.created_at_ms)),
                              target.versions.back().first});
    target.versions.emplace_back(number, latest->hash);
  }

  // Every version in order: a rollback as a rollback when the version it
  // copies is in the backup with its content, else as a new version.
  void plan_config_creation(std::size_t index, TargetConfig& target) {
    const Config& config = backup_.configs[index];
    const std::uint64_t first = target.next_number();
    std::string detail = fmt::format("{} with versions {} to {}", to_string(config.kind), first,
                                     first + config.versions.size() - 1);
    if (first != config.versions.front().number) {
      detail += fmt::format(" (the backup's {} to {}; the numbers continue those of the config deleted here)",
                            config.versions.front().number, config.latest()->number);
    }
    const std::size_t made = change(RestoreKind::config, config.name, RestoreAction::create, std::move(detail));
    step(made, CreateConfigStep{index});
    target.versions.emplace_back(first, config.versions.front().hash);
    for (std::size_t version = 1; version < config.versions.size(); ++version) {
      const ConfigVersion& wanted = config.versions[version];
      const auto copied = std::find_if(config.versions.begin(), config.versions.begin() + version,
                                       [&](const ConfigVersion& earlier) {
                                         return wanted.rolled_back_from != 0 &&
                                                earlier.number == wanted.rolled_back_from &&
                                                earlier.hash == wanted.hash;
                                       });
      if (copied != config.versions.begin() + version) {
        step(made, RollbackStep{index, version, static_cast<std::size_t>(copied - config.versions.begin())});
      } else {
        step(made, AddVersionStep{index, version, wanted.message, target.versions.back().first});
      }
      target.versions.emplace_back(target.next_number(), wanted.hash);
    }
    target.exists = true;
    target.kind = config.kind;
  }

  void plan_group(std::size_t index) {
    const Group& wanted = backup_.groups[index];
    const auto found = model_.group(org_, wanted.name);
    Group current;
    if (found && found->exists) {
      current = *found;
      plan_group_update(index, current);
    } else {
      std::string selector;
      for (const auto& [key, value] : wanted.selector) selector += fmt::format("{}{}={}", selector.empty() ? "" : ",", key, value);
      step(change(RestoreKind::group, wanted.name, RestoreAction::create,
                  fmt::format("priority {}, selector {{{}}}", wanted.priority, selector)),
           CreateGroupStep{index});
    }
    plan_members(index, current);
    plan_group_assignment(index, current);
  }

  void plan_group_update(std::size_t index, const Group& current) {
    const Group& wanted = backup_.groups[index];
    GroupChanges changes;
    std::vector<std::string> changed;
    if (wanted.selector != current.selector) {
      changes.selector = wanted.selector;
      changed.emplace_back("selector");
    }
    if (wanted.priority != current.priority) {
      changes.priority = wanted.priority;
      changed.emplace_back(fmt::format("priority {} (was {})", wanted.priority, current.priority));
    }
    if (wanted.description != current.description) {
      changes.description = wanted.description;
      changed.emplace_back("description");
    }
    if (changed.empty()) return;
    step(change(RestoreKind::group, wanted.name, RestoreAction::update,
                fmt::format("{} as in the backup", fmt::join(changed, ", "))),
         UpdateGroupStep{index, std::move(changes)});
  }

  void plan_members(std::size_t index, const Group& current) {
    const Group& wanted = backup_.groups[index];
    std::vector<AgentId> added;
    std::size_t by_instance = 0;
    std::vector<std::string> missing;
    std::set<AgentId> seen = current.members;
    for (const AgentId& member : wanted.members) {
      const std::string instance_id = instance_of(backup_, member);
      const auto here = agents_.find(member, instance_id);
      if (!here) {
        missing.push_back(fmt::format("{} (instance '{}')", member.to_string(), instance_id));
        continue;
      }
      if (!seen.insert(*here).second) continue;
      added.push_back(*here);
      if (*here != member) ++by_instance;
    }
    if (!added.empty()) {
      std::string detail = fmt::format("{} members", added.size());
      if (by_instance > 0) detail += fmt::format(" ({} found by instance id)", by_instance);
      const std::size_t made = change(RestoreKind::group, wanted.name, RestoreAction::add_members, std::move(detail));
      for (std::size_t from = 0; from < added.size(); from += kMembersPerChange) {
        const auto begin = added.begin() + static_cast<std::ptrdiff_t>(from);
        const auto end = added.begin() + static_cast<std::ptrdiff_t>(std::min(added.size(), from + kMembersPerChange));
        step(made, AddMembersStep{index, std::vector<AgentId>(begin, end)});
      }
    }
    if (!missing.empty()) {
      change(RestoreKind::group, wanted.name, RestoreAction::skip,
             fmt::format("{} members have no agent here with their id or instance id: {}", missing.size(),
                         name_agents(missing)));
    }
  }

  void plan_group_assignment(std::size_t index, const Group& current) {
    const Group& wanted = backup_.groups[index];
    if (!wanted.assignment || wanted.assignment->empty()) {
      if (same_assignment(std::nullopt, current.assignment)) return;
      step(change(RestoreKind::group, wanted.name, RestoreAction::assign, "cleared, as in the backup"),
           GroupAssignmentStep{index});
      return;
    }
    auto mapped = map_assignment(backup_, configs_, *wanted.assignment);
    if (!mapped) {
      change(RestoreKind::group, wanted.name, RestoreAction::skip, "assignment: " + mapped.error().message);
      return;
    }
    if (same_assignment(*mapped, current.assignment)) return;
    step(change(RestoreKind::group, wanted.name, RestoreAction::assign, describe(*wanted.assignment, *mapped)),
         GroupAssignmentStep{index});
  }

  void plan_agent(std::size_t index) {
    const BackupAgent& wanted = backup_.agents[index];
    const auto here = agents_.find(wanted.agent_id, wanted.instance_id);
    if (!here) {
      change(RestoreKind::agent, wanted.agent_id.to_string(), RestoreAction::skip,
             fmt::format("no agent here with this id or instance id '{}'", wanted.instance_id));
      return;
    }
    auto mapped = map_assignment(backup_, configs_, wanted.assignment);
    if (!mapped) {
      change(RestoreKind::agent, here->to_string(), RestoreAction::skip, "assignment: " + mapped.error().message);
      return;
    }
    const auto view = model_.agent(*here);
    if (view && same_assignment(*mapped, view->assignment)) return;
    std::string detail = fmt::format("instance '{}': {}", wanted.instance_id, describe(wanted.assignment, *mapped));
    if (*here != wanted.agent_id) detail += fmt::format(" (the backup's agent {})", wanted.agent_id.to_string());
    step(change(RestoreKind::agent, here->to_string(), RestoreAction::assign, std::move(detail)),
         AgentAssignmentStep{index, *here});
  }

  const ConfigModel& model_;
  const std::string& org_;
  const Backup& backup_;
  TargetConfigs configs_;
  TargetAgents agents_;
  Plan plan_;
};

}  // namespace

Backup take_backup(const ConfigModel& configs, const AgentRegistry& registry, std::string_view org, TimeMs now_ms,
                   std::uint64_t log_position) {
  Backup backup;
  backup.org = std::string(org);
  backup.created_at_ms = now_ms;
  backup.log_position = log_position;
  for (Config& config : configs.configs(org)) {
    if (config.latest() != nullptr) backup.configs.push_back(std::move(config));
  }
  backup.groups = configs.groups(org);
  for (const Group& group : backup.groups) {
    for (const AgentId& member : group.members) {
      if (backup.instances.count(member) != 0) continue;
      if (const auto state = registry.state_of(member)) backup.instances.emplace(member, state->instance_id);
    }
  }
  for_each_listed_agent(registry, org, [&](const AgentState& state) {
    const auto view = configs.agent(state.agent_id);
    if (!view || !view->assignment || view->assignment->empty()) return;
    backup.agents.push_back({state.agent_id, state.instance_id, *view->assignment});
    backup.instances.emplace(state.agent_id, state.instance_id);
  });
  return backup;
}

const char* to_string(RestoreKind kind) {
  switch (kind) {
    case RestoreKind::config: return "config";
    case RestoreKind::group: return "group";
    case RestoreKind::agent: return "agent";
  }
  return "config";
}

const char* to_string(RestoreAction action) {
  switch (action) {
    case RestoreAction::create: return "create";
    case RestoreAction::add_version: return "add_version";
    case RestoreAction::update: return "update";
    case RestoreAction::add_members: return "add_members";
    case RestoreAction::assign: return "assign";
    case RestoreAction::skip: return "skip";
  }
  return "skip";
}

/// One restore under way: its plan and how far it got. Owned by whatever
/// will call it back (a service's continuation, its step's deadline), so it
/// lives as long as a step is in flight. Steps run one at a time: each
/// continuation records its result, then `advance` starts the next, looping
/// rather than recursing when a service answers on the calling thread.
struct ConfigRestore::Run : std::enable_shared_from_this<ConfigRestore::Run> {
  Run(const ConfigRestore& owner, std::string org_in, Backup backup_in, RequestContext context_in, Done done_in)
      : configs(owner.configs_),
        groups(owner.groups_),
        agents(owner.agents_),
        model(owner.model_),
        timers(owner.timers_),
        when_folded(owner.when_folded_),
        step_timeout_ms(owner.options_.step_timeout_ms),
        org(std::move(org_in)),
        backup(std::move(backup_in)),
        context(std::move(context_in)),
        done(std::move(done_in)) {}

  ConfigService& configs;
  GroupService& groups;
  AgentService& agents;
  const ConfigModel& model;
  TimerService& timers;
  const WhenFolded when_folded;
  const TimeMs step_timeout_ms;
  const std::string org;
  const Backup backup;
  const RequestContext context;
  const Done done;
  Plan plan;

  // Written by the continuation of step `next - 1`, read by whoever starts
  // step `next`: ordered by `pending_` (see `advance`).
  std::size_t next = 0;
  std::optional<Error> failure;
  std::uint64_t position = 0;
  /// Per backup config, the number each of its versions got here (0: not made by this restore).
  std::vector<std::vector<std::uint64_t>> numbers;
  /// The backup's configs as they are here once every config step ran.
  std::optional<TargetConfigs> configs_here;

  std::atomic<std::size_t> applied{0};
  std::atomic<std::size_t> completed{0};  ///< Steps that answered.
  std::atomic<TimerService::TimerId> deadline{0};
  std::atomic<int> pending{0};
  std::atomic<bool> finished{false};

  /// Runs the next step (or the end); called once to begin and once after each step.
  void advance() {
    if (pending.fetch_add(1) > 0) return;  // The thread in the loop below runs it.
    do {
      run_next();
    } while (pending.fetch_sub(1) > 1);
  }

  void run_next() {
    if (finished.load()) return;
    if (failure) return finish(*failure);
    if (next == plan.steps.size()) return complete();
    const std::size_t index = next;
    // Armed before the step starts, so its continuation always finds it to cancel.
    auto self = shared_from_this();
    deadline.store(timers.schedule_after(step_timeout_ms, [self, index] { self->timed_out(index); }));
    std::visit([&](const auto& step) { start(index, step); }, plan.steps[index].second);
  }

  /// Step `index` answered: `reached` is the position it left, or its refusal.
  void step_done(std::size_t index, Result<std::uint64_t> reached) {
    timers.cancel(deadline.exchange(0));
    completed.store(index + 1);
    if (!reached) {
      failure = describe_failure(index, reached.error());
    } else {
      position = std::max(position, *reached);
      const bool last_of_change =
          index + 1 == plan.steps.size() || plan.steps[index + 1].first != plan.steps[index].first;
      if (last_of_change) applied.fetch_add(1);
    }
    next = index + 1;
    advance();
  }

  void timed_out(std::size_t index) {
    if (completed.load() > index) return;
    const RestoreChange& change = plan.changes[plan.steps[index].first];
    finish(make_error(ErrorCode::unavailable,
                      fmt::format("restoring {} '{}' ({}) took longer than {} ms; {} changes were made before it "
                                  "and stay: restore again to go on",
                                  to_string(change.kind), change.name, to_string(change.action), step_timeout_ms,
                                  applied.load()),
                      "BUSY"));
  }

  Error describe_failure(std::size_t index, const Error& error) const {
    const RestoreChange& change = plan.changes[plan.steps[index].first];
    Error described = error;
    described.message = fmt::format("restoring {} '{}' ({}) failed: {}; {} changes were made before it and stay: "
                                    "restore again to go on",
                                    to_string(change.kind), change.name, to_string(change.action), error.message,
                                    applied.load());
    described.field.clear();  // The service's field is its request's, not the document's.
    return described;
  }

  void complete() {
    RestoreReport report;
    report.changes = plan.changes;
    report.applied = applied.load();
    report.position = std::max(position, model.position());
    if (!when_folded) return finish(std::move(report));
    auto self = shared_from_this();
    when_folded(report.position, [self, report = std::move(report)]() mutable { self->finish(std::move(report)); });
  }

  void finish(Result<RestoreReport> result) {
    if (finished.exchange(true)) return;
    done(std::move(result));
  }

  // --- Starting each kind of step ---

  /// The continuation of a config step: the version it made must have the
  /// backup version's content (else the config changed meanwhile).
  ConfigService::Done config_done(std::size_t index, std::size_t config, std::size_t version) {
    return [self = shared_from_this(), index, config, version](Result<ConfigWrite> write) {
      if (!write) return self->step_done(index, write.error());
      const ConfigVersion& wanted = self->backup.configs[config].versions[version];
      if (write->latest.hash != wanted.hash) {
        return self->step_done(index, make_error(ErrorCode::conflict,
                                                 "the config changed while it was being restored",
                                                 "CONFIG_CHANGED"));
      }
      self->numbers[config][version] = write->latest.number;
      self->step_done(index, write->position);
    };
  }

  GroupService::Done group_done(std::size_t index) {
    return [self = shared_from_this(), index](Result<GroupOutcome> outcome) {
      if (!outcome) return self->step_done(index, outcome.error());
      self->step_done(index, outcome->position);
    };
  }

  void start(std::size_t index, const CreateConfigStep& step) {
    const Config& config = backup.configs[step.config];
    const ConfigVersion& first = config.versions.front();
    CreateConfig command{org, config.name, config.kind, config.description, first.files, first.message, {}};
    configs.create(std::move(command), context, config_done(index, step.config, 0));
  }

  void start(std::size_t index, const AddVersionStep& step) {
    const Config& config = backup.configs[step.config];
    AddConfigVersion command{config.versions[step.version].files, step.message, {}, step.expected};
    configs.update(org, config.name, std::move(command), context, config_done(index, step.config, step.version));
  }

  void start(std::size_t index, const RollbackStep& step) {
    const Config& config = backup.configs[step.config];
    RollbackConfig command{numbers[step.config][step.to], config.versions[step.version].message, {}};
    configs.rollback(org, config.name, std::move(command), context, config_done(index, step.config, step.version));
  }

  void start(std::size_t index, const CreateGroupStep& step) {
    const Group& group = backup.groups[step.group];
    groups.create(org, GroupRequest{group.name, group.selector, group.priority, group.description}, context,
                  group_done(index));
  }

  void start(std::size_t index, const UpdateGroupStep& step) {
    groups.update(org, backup.groups[step.group].name, step.changes, context, group_done(index));
  }

  void start(std::size_t index, const AddMembersStep& step) {
    groups.add_members(org, backup.groups[step.group].name, step.agent_ids, context, group_done(index));
  }

  /// The assignment with its versions mapped to the configs as they are now.
  Result<std::optional<Assignment>> assignment_here(const Assignment* wanted) {
    if (wanted == nullptr || wanted->empty()) return std::optional<Assignment>();
    if (!configs_here) configs_here = read_configs(model, org, backup);
    auto mapped = map_assignment(backup, *configs_here, *wanted);
    if (!mapped) return mapped.error();
    return std::optional<Assignment>(std::move(*mapped));
  }

  void start(std::size_t index, const GroupAssignmentStep& step) {
    const Group& group = backup.groups[step.group];
    auto assignment = assignment_here(group.assignment ? &*group.assignment : nullptr);
    if (!assignment) return step_done(index, assignment.error());
    groups.set_assignment(org, group.name, std::move(*assignment), context, group_done(index));
  }

  void start(std::size_t index, const AgentAssignmentStep& step) {
    auto assignment = assignment_here(&backup.agents[step.agent].assignment);
    if (!assignment) return step_done(index, assignment.error());
    AgentAccess access;
    access.org_scope = org;
    agents.set_assignment(step.target, access, std::move(*assignment), context,
                          [self = shared_from_this(), index](Result<AgentOutcome> outcome) {
                            if (!outcome) return self->step_done(index, outcome.error());
                            self->step_done(index, outcome->position);
                          });
  }
};

ConfigRestore::ConfigRestore(ConfigService& configs, GroupService& groups, AgentService& agents,
                             const ConfigModel& model, const AgentRegistry& registry, TimerService& timers,
                             WhenFolded when_folded, RestoreOptions options)
    : configs_(configs),
      groups_(groups),
      agents_(agents),
      model_(model),
      registry_(registry),
      timers_(timers),
      when_folded_(std::move(when_folded)),
      options_(options) {}

RestoreReport ConfigRestore::plan(const std::string& org, const Backup& backup) const {
  RestoreReport report;
  report.dry_run = true;
  report.changes = Planner(model_, registry_, org, backup).make().changes;
  report.position = model_.position();
  return report;
}

void ConfigRestore::apply(const std::string& org, Backup backup, const RequestContext& context, Done done) {
  auto run = std::make_shared<Run>(*this, org, std::move(backup), context, std::move(done));
  run->plan = Planner(model_, registry_, run->org, run->backup).make();
  for (const Config& config : run->backup.configs) run->numbers.emplace_back(config.versions.size(), 0);
  run->advance();
}

}  // namespace muster
