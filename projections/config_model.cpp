#include "projections/config_model.hpp"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <set>

#include <fmt/format.h>

#include "actors/agent/agent_events.hpp"
#include "actors/group/group_decider.hpp"
#include "actors/organization.hpp"
#include "actors/rollout/rollout_state.hpp"
#include "actors/runtime/stream_id.hpp"
#include "common/bytes.hpp"
#include "common/log.hpp"
#include "common/secrets.hpp"

namespace muster {
namespace {

using nlohmann::json;

/// What an agent last said it runs; shared by the agents that run the same.
struct Effective {
  SharedConfigFiles files;
  std::string hash;
};

struct AgentEntry {
  InternedString org;
  InternedLabels labels;
  bool listed = false;  ///< Registered, not deregistered or decommissioned: counted.
  bool dirty = false;   ///< Changed since the last snapshot (listed in `dirty_agents`).
  std::shared_ptr<const Assignment> own;
  std::shared_ptr<const DesiredConfig> desired;
  std::uint64_t config_version = 0;
  std::shared_ptr<const ConfigReport> report;
  TimeMs reported_at_ms = 0;
  std::shared_ptr<const Effective> effective;
  TimeMs effective_at_ms = 0;
  ConfigStatus status = ConfigStatus::none;
};

struct OrgState {
  std::map<std::string, Config, std::less<>> configs;
  std::map<std::string, Group, std::less<>> groups;
  /// Existing groups, highest precedence first.
  std::vector<const Group*> precedence;
  /// Every hash ever desired of an agent of the org (a report of another is drift).
  std::set<std::string, std::less<>> desired_hashes;
  /// Agents that are explicit members of a group: they resolve on their own.
  std::map<AgentId, std::size_t> explicit_memberships;
  /// Agents with an assignment of their own.
  std::set<AgentId> own_assigned;
  ConfigStatusCounts counts{};
  /// Every rollout of the org, by id (each small: its stages and events).
  std::map<std::string, Rollout, std::less<>> rollouts;
  /// Rollouts holding a layer, newest first: the precedence among layers
  /// (one running rollout per agent, but aborted and standing ones remain).
  std::vector<const Rollout*> layers;
};

bool in_rollout_target(const RolloutTarget& target, const OrgState& state, const AgentId& id,
                       const std::map<std::string, std::string>& labels) {
  if (!target.group) return selector_matches(target.selector, labels);
  const auto group = state.groups.find(*target.group);
  return group != state.groups.end() && group->second.selects(id, labels);
}

/// True if the layer of `rollout` (one of `layers`) holds the agent.
bool in_layer(const Rollout& rollout, const OrgState& state, const AgentId& id,
              const std::map<std::string, std::string>& labels) {
  const auto threshold = rollout.layer_threshold();
  return threshold && in_rollout_target(rollout.target, state, id, labels) &&
         rollout_slice_hash(rollout.rollout_id, id) <= *threshold;
}

// Snapshot entry kinds: "c:<org>/<name>" a config without its versions,
// "v:<org>/<name>/<number>" one version, "g:<org>/<name>" a group, "a:<16
// bytes>" an agent, "f:<hash>" an effective file map, "o:<org>" the org's
// desired hashes, "r:<org>/<id>" a rollout (its layer).
constexpr std::string_view kConfigEntry = "c:";
constexpr std::string_view kVersionEntry = "v:";
constexpr std::string_view kGroupEntry = "g:";
constexpr std::string_view kAgentEntry = "a:";
constexpr std::string_view kFilesEntry = "f:";
constexpr std::string_view kOrgEntry = "o:";
constexpr std::string_view kRolloutEntry = "r:";
constexpr std::uint8_t kAgentEncoding = 1;

std::string dump(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

bool references(const Assignment& assignment, std::string_view name) {
  if (assignment.config && assignment.config->name == name) return true;
  return std::any_of(assignment.policies.begin(), assignment.policies.end(),
                     [&](const ConfigRef& policy) { return policy.name == name; });
}

bool desires(const DesiredConfig& desired, std::string_view name) {
  if (desired.config && desired.config->name == name) return true;
  return std::any_of(desired.policies.begin(), desired.policies.end(),
                     [&](const ResolvedRef& policy) { return policy.name == name; });
}

/// "<org>/<name>" as two strings.
std::optional<std::pair<std::string, std::string>> split_scoped(std::string_view id) {
  const auto scoped = split_org_scoped_id(id);
  if (!scoped) return std::nullopt;
  return std::make_pair(std::string(scoped->org), std::string(scoped->name));
}

}  // namespace

struct ConfigModel::Impl {
  mutable std::shared_mutex mutex;
  std::uint64_t position = 0;
  /// Agents whose desired hash changed in the batch being folded; kept only
  /// while a hook listens (a group change may move a million agents).
  std::vector<AgentId> desired_changed;
  std::atomic<bool> collect_desired_changed{false};
  std::mutex hook_mutex;
  ConfigModel::DesiredChangedHook on_desired_changed;  ///< Guarded by hook_mutex.
  std::map<std::string, OrgState, std::less<>> orgs;
  std::unordered_map<AgentId, AgentEntry, AgentIdHash> agents;
  /// Equal resolutions and effective configs share one copy.
  std::unordered_map<std::string, std::weak_ptr<const DesiredConfig>> desired_pool;
  std::unordered_map<std::string, std::shared_ptr<const Effective>> effective_pool;

  // What changed since the last snapshot.
  bool changed = false;
  std::set<std::pair<std::string, std::string>> dirty_configs;
  std::set<std::pair<std::string, std::string>> dirty_groups;
  std::set<std::pair<std::string, std::string>> dirty_rollouts;
  /// Each agent once (its entry's `dirty` says it is here): a group's change
  /// marks a million, so no tree of them.
  std::vector<AgentId> dirty_agents;
  std::set<std::string> dirty_orgs;
  std::set<std::string> dirty_files;
  std::uint64_t snapshot_position = 0;

  OrgState& org(std::string_view name) {
    auto found = orgs.find(name);
    if (found == orgs.end()) found = orgs.emplace(std::string(name), OrgState{}).first;
    return found->second;
  }
  const OrgState* find_org(std::string_view name) const {
    const auto found = orgs.find(name);
    return found == orgs.end() ? nullptr : &found->second;
  }

  // --- Resolution ------------------------------------------------------------------

  static void sort_precedence(OrgState& state) {
    state.precedence.clear();
    for (const auto& [name, group] : state.groups) {
      if (group.exists) state.precedence.push_back(&group);
    }
    std::sort(state.precedence.begin(), state.precedence.end(), [](const Group* left, const Group* right) {
      if (left->priority != right->priority) return left->priority > right->priority;
      return left->created_position < right->created_position;
    });
  }

  static FindConfigVersion finder(const OrgState& state) {
    return [&state](std::string_view name, std::uint64_t version,
                    bool policy) -> std::optional<ConfigVersionRef> {
      const auto found = state.configs.find(name);
      if (found == state.configs.end() || !found->second.exists) return std::nullopt;
      const Config& config = found->second;
      if ((config.kind == ConfigKind::policy) != policy) return std::nullopt;
      const ConfigVersion* chosen = version == 0 ? config.latest() : config.find_version(version);
      if (chosen == nullptr) return std::nullopt;
      return ConfigVersionRef{chosen->number, chosen->files, chosen->hash};
    };
  }

  static void sort_layers(OrgState& state) {
    state.layers.clear();
    for (const auto& [id, rollout] : state.rollouts) {
      if (rollout.has_layer()) state.layers.push_back(&rollout);
    }
    std::sort(state.layers.begin(), state.layers.end(), [](const Rollout* left, const Rollout* right) {
      return left->created_position > right->created_position;
    });
  }

  std::shared_ptr<const DesiredConfig> resolve(const AgentId& id, const AgentEntry& entry,
                                               const OrgState& state) {
    std::vector<AssignmentSource> sources;
    if (entry.own) sources.push_back({"agent", entry.own.get()});
    for (const Rollout* layer : state.layers) {
      if (in_layer(*layer, state, id, *entry.labels)) {
        sources.push_back({"rollout:" + layer->rollout_id, &layer->change.assignment});
      }
    }
    for (const Group* group : state.precedence) {
      if (group->assignment && group->selects(id, *entry.labels)) {
        sources.push_back({"group:" + group->name, &*group->assignment});
      }
    }
    return share(resolve_desired(sources, finder(state)));
  }

  /// Where each part of a resolution came from (the hash leaves it out).
  static bool same_sources(const DesiredConfig& left, const DesiredConfig& right) {
    const auto source = [](const std::optional<ResolvedRef>& ref) {
      return ref ? ref->source : std::string();
    };
    if (source(left.config) != source(right.config) || left.settings_sources != right.settings_sources ||
        left.policies.size() != right.policies.size()) {
      return false;
    }
    for (std::size_t index = 0; index < left.policies.size(); ++index) {
      if (left.policies[index].source != right.policies[index].source) return false;
    }
    return true;
  }

  std::shared_ptr<const DesiredConfig> share(std::shared_ptr<const DesiredConfig> desired) {
    if (!desired) return desired;
    auto& pooled = desired_pool[desired->hash];
    if (auto existing = pooled.lock(); existing && same_sources(*existing, *desired)) return existing;
    pooled = desired;
    return desired;
  }

  /// Moves the agent to `desired`; a different hash is a new config_version.
  void set_desired(const AgentId& id, AgentEntry& entry, OrgState& state,
                   std::shared_ptr<const DesiredConfig> desired, std::uint64_t at_position) {
    const std::string_view before = entry.desired ? std::string_view(entry.desired->hash) : std::string_view();
    const std::string_view after = desired ? std::string_view(desired->hash) : std::string_view();
    if (before != after) {
      entry.config_version = at_position;
      if (collect_desired_changed.load(std::memory_order_relaxed)) desired_changed.push_back(id);
      if (desired && state.desired_hashes.insert(desired->hash).second) dirty_orgs.insert(*entry.org);
      entry.desired = std::move(desired);
      mark_dirty(id, entry);
    } else if (desired != entry.desired) {
      // The same files and settings from other sources (a rollout folded
      // into its group): no new version, but the sources shown follow.
      entry.desired = std::move(desired);
    }
    update_status(entry, state);
  }

  void mark_dirty(const AgentId& id, AgentEntry& entry) {
    if (entry.dirty) return;
    entry.dirty = true;
    dirty_agents.push_back(id);
  }

  void update_status(AgentEntry& entry, OrgState& state) {
    const ConfigStatus status = derive_config_status(entry.desired.get(), entry.report.get(),
                                                     entry.effective ? std::string_view(entry.effective->hash) : std::string_view());
    if (entry.listed) --state.counts[static_cast<std::size_t>(entry.status)];
    entry.status = status;
    if (entry.listed) ++state.counts[static_cast<std::size_t>(entry.status)];
  }

  void set_listed(AgentEntry& entry, OrgState& state, bool listed) {
    if (entry.listed == listed) return;
    if (entry.listed) --state.counts[static_cast<std::size_t>(entry.status)];
    entry.listed = listed;
    if (entry.listed) ++state.counts[static_cast<std::size_t>(entry.status)];
  }

  void recompute_agent(const AgentId& id, AgentEntry& entry, std::uint64_t at_position) {
    OrgState& state = org(*entry.org);
    set_desired(id, entry, state, resolve(id, entry, state), at_position);
  }

  /// Resolutions of one org's agents in one pass: agents with the same
  /// labels, in the same rollouts' layers, and nothing of their own
  /// (assignment, explicit membership) share one. The layers an agent is in
  /// are a bit mask in layer order: an org with no layer costs nothing more.
  using LabelsAndLayers = std::pair<const std::map<std::string, std::string>*, std::uint64_t>;
  struct LabelsAndLayersHash {
    std::size_t operator()(const LabelsAndLayers& key) const {
      return std::hash<const void*>()(key.first) ^
             std::hash<std::uint64_t>()(key.second * 0x9e3779b97f4a7c15ULL);
    }
  };
  using ResolutionsByLabels =
      std::unordered_map<LabelsAndLayers, std::shared_ptr<const DesiredConfig>, LabelsAndLayersHash>;
  std::shared_ptr<const DesiredConfig> resolve_shared(const AgentId& id, const AgentEntry& entry,
                                                      const OrgState& state, ResolutionsByLabels& by_labels) {
    if (entry.own || state.explicit_memberships.count(id) != 0 || state.layers.size() > 64) {
      return resolve(id, entry, state);
    }
    std::uint64_t layers = 0;
    for (std::size_t index = 0; index < state.layers.size(); ++index) {
      if (in_layer(*state.layers[index], state, id, *entry.labels)) layers |= std::uint64_t{1} << index;
    }
    const LabelsAndLayers key{&*entry.labels, layers};
    auto cached = by_labels.find(key);
    if (cached == by_labels.end()) cached = by_labels.emplace(key, resolve(id, entry, state)).first;
    return cached->second;
  }

  /// Re-resolves every agent of `org_name`.
  void recompute_org(const std::string& org_name, std::uint64_t at_position) {
    OrgState& state = org(org_name);
    const InternedString org_handle = InternedString::of(org_name);
    ResolutionsByLabels by_labels;
    for (auto& [id, entry] : agents) {
      if (entry.org != org_handle) continue;
      set_desired(id, entry, state, resolve_shared(id, entry, state, by_labels), at_position);
    }
  }

  // --- Folding -----------------------------------------------------------------------

  Status fold_config(const Event& event, std::string_view id) {
    const auto scoped = split_scoped(id);
    if (!scoped) return corrupt_event(header_of(event), event.type, "not a config stream id");
    OrgState& state = org(scoped->first);
    auto found = state.configs.find(scoped->second);
    Config config = found == state.configs.end() ? Config{} : found->second;
    if (Status folded = muster::apply(config, event); !folded) return folded;
    state.configs[scoped->second] = std::move(config);
    dirty_configs.insert(*scoped);
    recompute_org(scoped->first, event.position);
    return Status::success();
  }

  Status fold_group(const Event& event, std::string_view id) {
    const auto scoped = split_scoped(id);
    if (!scoped) return corrupt_event(header_of(event), event.type, "not a group stream id");
    OrgState& state = org(scoped->first);
    auto found = state.groups.find(scoped->second);
    Group group = found == state.groups.end() ? Group{} : found->second;
    const std::set<AgentId> members_before = group.exists ? group.members : std::set<AgentId>{};
    if (Status folded = muster::apply(group, event); !folded) return folded;
    const std::set<AgentId>& members_after = group.exists ? group.members : std::set<AgentId>{};
    state.groups[scoped->second] = std::move(group);
    sort_precedence(state);
    dirty_groups.insert(*scoped);

    std::vector<AgentId> changed;
    std::set_symmetric_difference(members_before.begin(), members_before.end(), members_after.begin(),
                                  members_after.end(), std::back_inserter(changed));
    for (const AgentId& member : members_before) {
      if (--state.explicit_memberships[member] == 0) state.explicit_memberships.erase(member);
    }
    for (const AgentId& member : members_after) ++state.explicit_memberships[member];
    // Adding or removing members changes only them: the rest of the org need not be resolved again.
    const bool only_members =
        event.type == GroupMembersAdded::kType.name || event.type == GroupMembersRemoved::kType.name;
    if (!only_members) {
      recompute_org(scoped->first, event.position);
      return Status::success();
    }
    for (const AgentId& member : changed) {
      auto agent = agents.find(member);
      if (agent != agents.end() && *agent->second.org == scoped->first) {
        recompute_agent(member, agent->second, event.position);
      }
    }
    return Status::success();
  }

  Status fold_agent(const Event& event, std::string_view id) {
    // Only the events that touch configuration are decoded: heartbeats'
    // status changes pass by without a parse.
    static const std::set<std::string_view> kRelevant{
        AgentRegistered::kType.name,     AgentUpdated::kType.name,        AgentDeregistered::kType.name,
        AgentDecommissioned::kType.name, AgentAssignmentSet::kType.name, AgentConfigReported::kType.name,
        AgentEffectiveConfigReported::kType.name};
    if (kRelevant.count(event.type) == 0) return Status::success();
    const auto agent_id = AgentId::parse(id);
    if (!agent_id) return corrupt_event(header_of(event), event.type, "not an agent stream id");
    auto payload = decode_payload<AgentEvent>(event.type, event.schema_version, event.data);
    if (!payload) return corrupt_event(header_of(event), event.type, payload.error().message);

    if (const auto* registered = std::get_if<AgentRegistered>(&*payload)) {
      AgentEntry& entry = agents[*agent_id];
      if (entry.org != registered->org && entry.listed) set_listed(entry, org(*entry.org), false);
      entry.org = registered->org;
      entry.labels = registered->profile.labels;
      set_listed(entry, org(*entry.org), true);
      mark_dirty(*agent_id, entry);
      recompute_agent(*agent_id, entry, event.position);
      return Status::success();
    }
    auto found = agents.find(*agent_id);
    if (found == agents.end()) return corrupt_event(header_of(event), event.type, "an agent never registered");
    AgentEntry& entry = found->second;
    OrgState& state = org(*entry.org);
    mark_dirty(*agent_id, entry);
    if (const auto* updated = std::get_if<AgentUpdated>(&*payload)) {
      if (!updated->changes.labels) return Status::success();
      entry.labels = *updated->changes.labels;
      recompute_agent(*agent_id, entry, event.position);
    } else if (std::holds_alternative<AgentDeregistered>(*payload) ||
               std::holds_alternative<AgentDecommissioned>(*payload)) {
      set_listed(entry, state, false);
    } else if (const auto* assigned = std::get_if<AgentAssignmentSet>(&*payload)) {
      entry.own = assigned->assignment ? std::make_shared<const Assignment>(*assigned->assignment) : nullptr;
      if (entry.own) {
        state.own_assigned.insert(*agent_id);
      } else {
        state.own_assigned.erase(*agent_id);
      }
      recompute_agent(*agent_id, entry, event.position);
    } else if (const auto* reported = std::get_if<AgentConfigReported>(&*payload)) {
      const bool desired_now = entry.desired && entry.desired->hash == reported->config_hash;
      entry.report = std::make_shared<const ConfigReport>(
          ConfigReport{reported->config_hash, reported->status, reported->error,
                       desired_now || state.desired_hashes.count(reported->config_hash) != 0});
      entry.reported_at_ms = event.time_ms;
      update_status(entry, state);
    } else if (const auto* effective = std::get_if<AgentEffectiveConfigReported>(&*payload)) {
      auto& pooled = effective_pool[effective->hash];
      if (!pooled) {
        pooled = std::make_shared<const Effective>(Effective{effective->files, effective->hash});
        dirty_files.insert(effective->hash);
      }
      entry.effective = pooled;
      entry.effective_at_ms = event.time_ms;
      update_status(entry, state);
    }
    return Status::success();
  }

  Status fold(const Event& event) {
    const auto stream = parse_stream(event.stream);
    if (!stream) return Status::success();
    if (stream->kind == kConfigKind) return fold_config(event, stream->id);
    if (stream->kind == kGroupKind) return fold_group(event, stream->id);
    if (stream->kind == kAgentKind) return fold_agent(event, stream->id);
    if (stream->kind == kRolloutKind) return fold_rollout(event, stream->id);
    return Status::success();
  }

  /// A rollout's event moves its layer (a stage's threshold, a rollback, a
  /// completion): one re-resolution of the org, as for a group's change.
  Status fold_rollout(const Event& event, std::string_view id) {
    const auto scoped = split_scoped(id);
    if (!scoped) return corrupt_event(header_of(event), event.type, "not a rollout stream id");
    OrgState& state = org(scoped->first);
    auto found = state.rollouts.find(scoped->second);
    Rollout rollout = found == state.rollouts.end() ? Rollout{} : found->second;
    const bool layer_before = rollout.has_layer();
    const auto threshold_before = rollout.layer_threshold();
    if (Status folded = muster::apply(rollout, event); !folded) return folded;
    const bool moved = layer_before != rollout.has_layer() || threshold_before != rollout.layer_threshold();
    state.rollouts[scoped->second] = std::move(rollout);
    dirty_rollouts.insert(*scoped);
    sort_layers(state);
    if (moved) recompute_org(scoped->first, event.position);
    return Status::success();
  }

  // --- Views -------------------------------------------------------------------------

  AgentConfigView view_of(const AgentId& id, const AgentEntry& entry) const {
    AgentConfigView view;
    view.agent_id = id;
    view.org = *entry.org;
    view.desired = entry.desired;
    view.config_version = entry.config_version;
    if (entry.own) view.assignment = *entry.own;
    if (const OrgState* state = find_org(*entry.org)) {
      for (const Group* group : state->precedence) {
        if (group->selects(id, *entry.labels)) view.groups.push_back(group->name);
      }
      for (const Rollout* layer : state->layers) {
        if (in_layer(*layer, *state, id, *entry.labels)) view.rollouts.push_back(layer->rollout_id);
      }
    }
    if (entry.report) view.report = *entry.report;
    view.reported_at_ms = entry.reported_at_ms;
    if (entry.effective) {
      view.effective_files = entry.effective->files;
      view.effective_hash = entry.effective->hash;
    }
    view.effective_at_ms = entry.effective_at_ms;
    view.status = entry.status;
    return view;
  }

  // --- Snapshots ---------------------------------------------------------------------

  static json encode_config(const Config& config) {
    return {{"kind", to_string(config.kind)},     {"description", config.description},
            {"exists", config.exists},            {"created_at", config.created_at_ms},
            {"updated_at", config.updated_at_ms}, {"version", config.version},
            {"last_position", config.last_position}, {"versions", config.versions.size()}};
  }

  static json encode_version(const ConfigVersion& version) {
    return {{"number", version.number},   {"files", files_to_json(*version.files)},
            {"hash", version.hash},       {"message", version.message},
            {"author", version.author},   {"rolled_back_from", version.rolled_back_from},
            {"created_at", version.created_at_ms}, {"position", version.position}};
  }

  static std::string encode_agent(const AgentEntry& entry) {
    std::string out;
    out.push_back(static_cast<char>(kAgentEncoding));
    bytes::put_string(out, *entry.org);
    bytes::put_varint(out, entry.labels->size());
    for (const auto& [key, value] : *entry.labels) {
      bytes::put_string(out, key);
      bytes::put_string(out, value);
    }
    out.push_back(entry.listed ? 1 : 0);
    bytes::put_string(out, entry.own ? dump(assignment_to_json(*entry.own)) : std::string());
    bytes::put_varint(out, entry.config_version);
    bytes::put_string(out, entry.desired ? entry.desired->hash : std::string());
    out.push_back(entry.report ? 1 : 0);
    if (entry.report) {
      bytes::put_string(out, entry.report->config_hash);
      out.push_back(static_cast<char>(entry.report->status));
      bytes::put_string(out, entry.report->error);
      out.push_back(entry.report->hash_was_desired ? 1 : 0);
      bytes::put_signed(out, entry.reported_at_ms);
    }
    bytes::put_string(out, entry.effective ? std::string_view(entry.effective->hash) : std::string_view());
    bytes::put_signed(out, entry.effective_at_ms);
    return out;
  }
};

ConfigModel::ConfigModel() : impl_(std::make_unique<Impl>()) {}
ConfigModel::~ConfigModel() = default;

Status ConfigModel::apply(const std::vector<Event>& batch) {
  std::unique_lock<std::shared_mutex> lock(impl_->mutex);
  Status first = Status::success();
  for (const Event& event : batch) {
    if (event.position <= impl_->position) continue;
    Status folded = impl_->fold(event);
    if (!folded) {
      log::error("config model skipped an event", {{"error", folded.error().message}});
      if (first) first = folded;
    }
    impl_->position = event.position;
  }
  std::vector<AgentId> changed;
  changed.swap(impl_->desired_changed);
  lock.unlock();
  if (!changed.empty()) {
    DesiredChangedHook hook;
    {
      std::lock_guard<std::mutex> hook_lock(impl_->hook_mutex);
      hook = impl_->on_desired_changed;
    }
    if (hook) hook(changed);
  }
  return first;
}

void ConfigModel::set_on_desired_changed(DesiredChangedHook hook) {
  std::lock_guard<std::mutex> lock(impl_->hook_mutex);
  impl_->collect_desired_changed = hook != nullptr;
  impl_->on_desired_changed = std::move(hook);
}

std::uint64_t ConfigModel::position() const {
  std::shared_lock<std::shared_mutex> lock(impl_->mutex);
  return impl_->position;
}

std::vector<Config> ConfigModel::configs(std::string_view org) const {
  std::shared_lock<std::shared_mutex> lock(impl_->mutex);
  std::vector<Config> out;
  if (const OrgState* state = impl_->find_org(org)) {
    for (const auto& [name, config] : state->configs) {
      if (config.exists) out.push_back(config);
    }
  }
  return out;
}

std::optional<Config> ConfigModel::config(std::string_view org, std::string_view name) const {
  std::shared_lock<std::shared_mutex> lock(impl_->mutex);
  const OrgState* state = impl_->find_org(org);
  if (state == nullptr) return std::nullopt;
  const auto found = state->configs.find(name);
  if (found == state->configs.end()) return std::nullopt;
  return found->second;
}

bool ConfigModel::config_in_use(std::string_view org, std::string_view name) const {
  std::shared_lock<std::shared_mutex> lock(impl_->mutex);
  const OrgState* state = impl_->find_org(org);
  if (state == nullptr) return false;
  for (const Group* group : state->precedence) {
    if (group->assignment && references(*group->assignment, name)) return true;
  }
  for (const Rollout* layer : state->layers) {
    if (references(layer->change.assignment, name)) return true;
  }
  for (const AgentId& id : state->own_assigned) {
    const auto found = impl_->agents.find(id);
    if (found != impl_->agents.end() && found->second.listed && found->second.own &&
        references(*found->second.own, name)) {
      return true;
    }
  }
  return false;
}

ConfigStatusCounts ConfigModel::config_status_counts(std::string_view org, std::string_view name) const {
  std::shared_lock<std::shared_mutex> lock(impl_->mutex);
  ConfigStatusCounts counts{};
  for (const auto& [id, entry] : impl_->agents) {
    if (entry.listed && *entry.org == org && entry.desired && desires(*entry.desired, name)) {
      ++counts[static_cast<std::size_t>(entry.status)];
    }
  }
  return counts;
}

Status ConfigModel::check_assignment(std::string_view org, const Assignment& assignment) const {
  std::shared_lock<std::shared_mutex> lock(impl_->mutex);
  const OrgState* state = impl_->find_org(org);
  const auto check = [&](const ConfigRef& ref, bool policy, const std::string& field) -> Status {
    const Config* config = nullptr;
    if (state != nullptr) {
      const auto found = state->configs.find(ref.name);
      if (found != state->configs.end() && found->second.exists) config = &found->second;
    }
    const char* kind = policy ? "policy" : "config";
    if (config == nullptr || (config->kind == ConfigKind::policy) != policy) {
      Error error = make_error(ErrorCode::not_found, fmt::format("no {} named '{}'", kind, ref.name),
                               "CONFIG_NOT_FOUND");
      error.field = field;
      return error;
    }
    if (ref.version != 0 && config->find_version(ref.version) == nullptr) {
      return invalid_field(field == "config" ? "version" : field,
                           fmt::format("{} '{}' has no version {}", kind, ref.name, ref.version),
                           "VERSION_NOT_FOUND");
    }
    return Status::success();
  };
  if (assignment.config) {
    if (Status checked = check(*assignment.config, false, "config"); !checked) return checked;
  }
  for (std::size_t index = 0; index < assignment.policies.size(); ++index) {
    if (Status checked = check(assignment.policies[index], true, fmt::format("policies[{}]", index)); !checked) {
      return checked;
    }
  }
  return Status::success();
}

std::vector<RolloutTargetAgent> ConfigModel::rollout_target(std::string_view org, const RolloutTarget& target,
                                                            std::string_view rollout_id) const {
  std::shared_lock<std::shared_mutex> lock(impl_->mutex);
  std::vector<RolloutTargetAgent> out;
  const OrgState* state = impl_->find_org(org);
  if (state == nullptr) return out;
  for (const auto& [id, entry] : impl_->agents) {
    if (!entry.listed || *entry.org != org || !in_rollout_target(target, *state, id, *entry.labels)) continue;
    out.push_back({id, rollout_slice_hash(rollout_id, id), entry.status});
  }
  return out;
}

std::vector<Group> ConfigModel::groups(std::string_view org) const {
  std::shared_lock<std::shared_mutex> lock(impl_->mutex);
  std::vector<Group> out;
  if (const OrgState* state = impl_->find_org(org)) {
    for (const Group* group : state->precedence) out.push_back(*group);
  }
  return out;
}

std::optional<Group> ConfigModel::group(std::string_view org, std::string_view name) const {
  std::shared_lock<std::shared_mutex> lock(impl_->mutex);
  const OrgState* state = impl_->find_org(org);
  if (state == nullptr) return std::nullopt;
  const auto found = state->groups.find(name);
  if (found == state->groups.end()) return std::nullopt;
  return found->second;
}

bool ConfigModel::in_group(const AgentId& agent_id, std::string_view group_name) const {
  std::shared_lock<std::shared_mutex> lock(impl_->mutex);
  const auto agent = impl_->agents.find(agent_id);
  if (agent == impl_->agents.end()) return false;
  const OrgState* state = impl_->find_org(*agent->second.org);
  if (state == nullptr) return false;
  const auto group = state->groups.find(group_name);
  return group != state->groups.end() && group->second.selects(agent_id, *agent->second.labels);
}

DesiredSummary ConfigModel::desired_of(const AgentId& agent_id) const {
  std::shared_lock<std::shared_mutex> lock(impl_->mutex);
  const auto found = impl_->agents.find(agent_id);
  if (found == impl_->agents.end()) return {};
  return {found->second.desired, found->second.config_version};
}

std::optional<AgentConfigView> ConfigModel::agent(const AgentId& agent_id) const {
  std::shared_lock<std::shared_mutex> lock(impl_->mutex);
  const auto found = impl_->agents.find(agent_id);
  if (found == impl_->agents.end()) return std::nullopt;
  return impl_->view_of(agent_id, found->second);
}

ConfigStatus ConfigModel::config_status_of(const AgentId& agent_id) const {
  std::shared_lock<std::shared_mutex> lock(impl_->mutex);
  const auto found = impl_->agents.find(agent_id);
  return found == impl_->agents.end() ? ConfigStatus::none : found->second.status;
}

bool ConfigModel::was_desired(std::string_view org, std::string_view hash) const {
  std::shared_lock<std::shared_mutex> lock(impl_->mutex);
  const OrgState* state = impl_->find_org(org);
  return state != nullptr && state->desired_hashes.count(hash) != 0;
}

ConfigStatusCounts ConfigModel::status_counts(std::string_view org_scope) const {
  std::shared_lock<std::shared_mutex> lock(impl_->mutex);
  ConfigStatusCounts counts{};
  for (const auto& [name, state] : impl_->orgs) {
    if (!org_visible(org_scope, name)) continue;
    for (std::size_t index = 0; index < kConfigStatusCount; ++index) counts[index] += state.counts[index];
  }
  return counts;
}

Status ConfigModel::save_snapshot(SnapshotStore& store) {
  std::vector<SnapshotEntry> entries;
  std::uint64_t position = 0;
  Impl& impl = *impl_;
  {
    // Shared: heartbeats and reads go on while a million changed agents are
    // encoded; only the fold waits (it alone changes the model, and the
    // dirty lists, which no reader touches).
    std::shared_lock<std::shared_mutex> lock(impl.mutex);
    if (impl.position == impl.snapshot_position) return Status::success();
    for (const auto& [org, name] : impl.dirty_configs) {
      const Config& config = impl.orgs.at(org).configs.at(name);
      const std::string key = org + "/" + name;
      entries.push_back({std::string(kConfigEntry) + key, dump(Impl::encode_config(config))});
      // Versions never change once made: a fresh snapshot writes each once more at most.
      for (const ConfigVersion& version : config.versions) {
        entries.push_back({fmt::format("{}{}/{:016}", kVersionEntry, key, version.number),
                           dump(Impl::encode_version(version))});
      }
    }
    for (const auto& [org, name] : impl.dirty_groups) {
      entries.push_back({std::string(kGroupEntry) + org + "/" + name,
                         encode_group_snapshot(impl.orgs.at(org).groups.at(name))});
    }
    for (const auto& [org, id] : impl.dirty_rollouts) {
      entries.push_back({std::string(kRolloutEntry) + org + "/" + id,
                         dump(rollout_to_snapshot_json(impl.orgs.at(org).rollouts.at(id)))});
    }
    for (const AgentId& id : impl.dirty_agents) {
      AgentEntry& entry = impl.agents.at(id);
      entry.dirty = false;
      const auto& raw = id.bytes();
      entries.push_back({std::string(kAgentEntry) + std::string(raw.begin(), raw.end()), Impl::encode_agent(entry)});
    }
    for (const std::string& org : impl.dirty_orgs) {
      const auto& hashes = impl.orgs.at(org).desired_hashes;
      entries.push_back({std::string(kOrgEntry) + org, dump(json(std::vector<std::string>(hashes.begin(), hashes.end())))});
    }
    for (const std::string& hash : impl.dirty_files) {
      entries.push_back({std::string(kFilesEntry) + hash, dump(files_to_json(*impl.effective_pool.at(hash)->files))});
    }
    impl.dirty_configs.clear();
    impl.dirty_groups.clear();
    impl.dirty_rollouts.clear();
    impl.dirty_agents.clear();
    impl.dirty_orgs.clear();
    impl.dirty_files.clear();
    position = impl.position;
  }
  Status written = store.write(kSnapshotScope, entries, position);
  std::unique_lock<std::shared_mutex> lock(impl.mutex);
  if (written) {
    impl.snapshot_position = position;
  } else {
    // Everything is written again next time: a failed write leaves no gap.
    for (auto& [org, state] : impl.orgs) {
      for (const auto& [name, config] : state.configs) impl.dirty_configs.insert({org, name});
      for (const auto& [name, group] : state.groups) impl.dirty_groups.insert({org, name});
      for (const auto& [id, rollout] : state.rollouts) impl.dirty_rollouts.insert({org, id});
      impl.dirty_orgs.insert(org);
    }
    for (auto& [id, entry] : impl.agents) impl.mark_dirty(id, entry);
    for (const auto& [hash, effective] : impl.effective_pool) impl.dirty_files.insert(hash);
  }
  return written;
}

Result<std::uint64_t> ConfigModel::load_snapshot(SnapshotStore& store, std::uint64_t head_position) {
  auto position = store.position(kSnapshotScope);
  if (!position) return position.error();
  if (!*position) return std::uint64_t{0};
  Impl loaded;
  std::string damage;
  // Each agent's saved desired hash, as an index into the distinct hashes
  // (a fleet shares a few): a million strings would cost seconds at start.
  std::vector<std::pair<AgentId, std::uint32_t>> desired_hashes;
  std::vector<std::string> distinct_hashes;
  std::unordered_map<std::string, std::uint32_t> hash_index;
  std::vector<std::pair<AgentId, AgentEntry>> read_agents;
  if (**position > head_position) {
    damage = fmt::format("it reflects position {}, past the log's head {}", **position, head_position);
  }
  // One pass in key order: agents ("a:") come before the effective configs
  // ("f:") they name, so those links are made after it.
  std::map<AgentId, std::string> effective_hashes;
  const auto read_entries = [&]() {
    return store.for_each(kSnapshotScope, [&](std::string_view key, std::string_view value) {
      if (!damage.empty()) return false;
      const std::string_view kind = key.substr(0, 2);
      const std::string_view rest = key.substr(2);
      if (kind == kFilesEntry) {
        auto files = files_from_json(json::parse(value, nullptr, false));
        if (!files) {
          damage = files.error().message;
          return false;
        }
        loaded.effective_pool[std::string(rest)] = std::make_shared<const Effective>(
            Effective{std::make_shared<const ConfigFiles>(std::move(*files)), std::string(rest)});
      } else if (kind == kOrgEntry) {
        const auto hashes = json::parse(value, nullptr, false);
        if (!hashes.is_array()) damage = "bad desired hashes";
        for (const auto& hash : hashes) {
          if (hash.is_string()) loaded.org(rest).desired_hashes.insert(hash.get<std::string>());
        }
      } else if (kind == kRolloutEntry) {
        const auto scoped = split_scoped(rest);
        auto rollout = rollout_from_snapshot_json(json::parse(value, nullptr, false));
        if (!scoped || !rollout || rollout->org != scoped->first || rollout->rollout_id != scoped->second) {
          damage = "bad rollout entry";
          return false;
        }
        loaded.org(scoped->first).rollouts[scoped->second] = std::move(*rollout);
      } else if (kind == kConfigEntry || kind == kGroupEntry) {
        const auto scoped = split_scoped(rest);
        const auto data = json::parse(value, nullptr, false);
        if (!scoped || !data.is_object()) {
          damage = "bad config or group entry";
          return false;
        }
        try {
          if (kind == kConfigEntry) {
            Config& config = loaded.org(scoped->first).configs[scoped->second];
            config.org = scoped->first;
            config.name = scoped->second;
            config.kind = parse_config_kind(data.at("kind").get<std::string>()).value_or(ConfigKind::config);
            config.description = data.at("description").get<std::string>();
            config.exists = data.at("exists").get<bool>();
            config.created_at_ms = data.at("created_at").get<TimeMs>();
            config.updated_at_ms = data.at("updated_at").get<TimeMs>();
            config.version = data.at("version").get<std::uint64_t>();
            config.last_position = data.at("last_position").get<std::uint64_t>();
            config.versions.resize(data.at("versions").get<std::size_t>());
          } else {
            auto group = group_from_snapshot_json(data);
            if (!group) throw std::runtime_error(group.error().message);
            if (group->org != scoped->first || group->name != scoped->second) throw std::runtime_error("misfiled");
            loaded.org(scoped->first).groups[scoped->second] = std::move(*group);
          }
        } catch (const std::exception& error) {
          damage = std::string("bad config or group entry: ") + error.what();
        }
      } else if (kind == kVersionEntry) {
        const auto slash = rest.rfind('/');
        const auto scoped = slash == std::string_view::npos ? std::nullopt : split_scoped(rest.substr(0, slash));
        const auto data = json::parse(value, nullptr, false);
        if (!scoped || !data.is_object() || loaded.org(scoped->first).configs.count(scoped->second) == 0) {
          damage = "bad config version entry";
          return false;
        }
        const auto config = loaded.org(scoped->first).configs.find(scoped->second);
        try {
          ConfigVersion version;
          version.number = data.at("number").get<std::uint64_t>();
          auto files = files_from_json(data.at("files"));
          if (!files) throw std::runtime_error(files.error().message);
          version.files = std::make_shared<const ConfigFiles>(std::move(*files));
          version.hash = data.at("hash").get<std::string>();
          version.message = data.at("message").get<std::string>();
          version.author = data.at("author").get<std::string>();
          version.rolled_back_from = data.at("rolled_back_from").get<std::uint64_t>();
          version.created_at_ms = data.at("created_at").get<TimeMs>();
          version.position = data.at("position").get<std::uint64_t>();
          if (version.number == 0 || version.number > config->second.versions.size()) {
            throw std::runtime_error("version out of range");
          }
          config->second.versions[version.number - 1] = std::move(version);
        } catch (const std::exception& error) {
          damage = std::string("bad config version entry: ") + error.what();
        }
      } else if (kind == kAgentEntry) {
        if (rest.size() != 16) {
          damage = "bad agent key";
          return false;
        }
        std::array<std::uint8_t, 16> raw{};
        std::copy(rest.begin(), rest.end(), raw.begin());
        const AgentId id = AgentId::from_bytes(raw);
        AgentEntry entry;
        bytes::Reader reader(value);
        const auto encoding = reader.read_byte();
        const auto org = reader.read_string();
        const auto label_count = reader.read_varint();
        if (encoding != kAgentEncoding || !org || !label_count || *label_count > value.size()) {
          damage = "bad agent entry";
          return false;
        }
        std::map<std::string, std::string> labels;
        for (std::uint64_t index = 0; index < *label_count; ++index) {
          const auto key_text = reader.read_string();
          const auto value_text = reader.read_string();
          if (!key_text || !value_text) {
            damage = "bad agent labels";
            return false;
          }
          labels.emplace(std::string(*key_text), std::string(*value_text));
        }
        const auto listed = reader.read_byte();
        const auto own = reader.read_string();
        const auto version = reader.read_varint();
        const auto desired_hash = reader.read_string();
        const auto has_report = reader.read_byte();
        if (!listed || !own || !version || !desired_hash || !has_report) {
          damage = "bad agent entry";
          return false;
        }
        if (*has_report == 1) {
          const auto hash = reader.read_string();
          const auto status = reader.read_byte();
          const auto error = reader.read_string();
          const auto was_desired = reader.read_byte();
          const auto at = reader.read_signed();
          if (!hash || !status || *status > 2 || !error || !was_desired || !at) {
            damage = "bad agent report";
            return false;
          }
          entry.report = std::make_shared<const ConfigReport>(ConfigReport{
              std::string(*hash), static_cast<ConfigReportStatus>(*status), std::string(*error), *was_desired == 1});
          entry.reported_at_ms = *at;
        }
        const auto effective = reader.read_string();
        const auto effective_at = reader.read_signed();
        if (!effective || !effective_at || !reader.at_end()) {
          damage = "bad agent entry";
          return false;
        }
        if (!effective->empty()) effective_hashes[id] = std::string(*effective);
        entry.effective_at_ms = *effective_at;
        if (!own->empty()) {
          auto assignment = assignment_from_json(json::parse(*own, nullptr, false));
          if (!assignment) {
            damage = assignment.error().message;
            return false;
          }
          entry.own = std::make_shared<const Assignment>(std::move(*assignment));
        }
        entry.org = InternedString::of(std::string(*org));
        entry.labels = InternedLabels::of(labels);
        entry.listed = *listed == 1;
        entry.config_version = *version;
        auto indexed = hash_index.find(std::string(*desired_hash));
        if (indexed == hash_index.end()) {
          indexed = hash_index.emplace(std::string(*desired_hash), static_cast<std::uint32_t>(distinct_hashes.size()))
                        .first;
          distinct_hashes.emplace_back(*desired_hash);
        }
        desired_hashes.emplace_back(id, indexed->second);
        read_agents.emplace_back(id, std::move(entry));
      } else {
        damage = "an entry of unknown kind";
      }
      return damage.empty();
    });
  };
  if (damage.empty()) {
    if (Status read = read_entries(); !read) return read.error();
  }
  loaded.agents.reserve(read_agents.size());
  for (auto& [id, entry] : read_agents) loaded.agents.emplace(id, std::move(entry));
  read_agents = {};
  for (const auto& [id, hash] : effective_hashes) {
    const auto pooled = loaded.effective_pool.find(hash);
    if (pooled == loaded.effective_pool.end()) {
      damage = "an agent's effective config is missing";
      break;
    }
    loaded.agents.at(id).effective = pooled->second;
  }
  // Derived state: precedence, memberships, each agent's desired config,
  // which must come out as it was saved.
  if (damage.empty()) {
    for (auto& [org, state] : loaded.orgs) {
      for (const auto& [name, config] : state.configs) {
        for (const auto& version : config.versions) {
          if (!version.files) damage = fmt::format("config {}/{} lacks a version", org, name);
        }
      }
      Impl::sort_precedence(state);
      Impl::sort_layers(state);
      for (const Group* group : state.precedence) {
        for (const AgentId& member : group->members) ++state.explicit_memberships[member];
      }
    }
  }
  if (damage.empty()) {
    std::map<std::string, Impl::ResolutionsByLabels, std::less<>> by_org;
    for (auto& [id, entry] : loaded.agents) {
      OrgState& state = loaded.org(*entry.org);
      if (entry.own) state.own_assigned.insert(id);
    }
    for (const auto& [id, saved] : desired_hashes) {
      AgentEntry& entry = loaded.agents.at(id);
      OrgState& state = loaded.org(*entry.org);
      entry.desired = loaded.resolve_shared(id, entry, state, by_org[*entry.org]);
      const std::string_view now = entry.desired ? std::string_view(entry.desired->hash) : std::string_view();
      if (now != distinct_hashes[saved]) {
        damage = fmt::format("agent {} resolves to another desired config than saved", id.to_string());
        break;
      }
      entry.status = derive_config_status(entry.desired.get(), entry.report.get(),
                                          entry.effective ? std::string_view(entry.effective->hash) : std::string_view());
      if (entry.listed) ++state.counts[static_cast<std::size_t>(entry.status)];
    }
  }
  if (!damage.empty()) {
    log::warn("config snapshot dropped; folding the log from the start", {{"reason", damage}});
    if (Status cleared = store.clear(kSnapshotScope); !cleared) return cleared.error();
    return std::uint64_t{0};
  }
  std::unique_lock<std::shared_mutex> lock(impl_->mutex);
  impl_->orgs = std::move(loaded.orgs);
  // Precedence points into the org maps: sort again where they now live.
  for (auto& [org, state] : impl_->orgs) {
    Impl::sort_precedence(state);
    Impl::sort_layers(state);
  }
  impl_->agents = std::move(loaded.agents);
  impl_->effective_pool = std::move(loaded.effective_pool);
  impl_->desired_pool = std::move(loaded.desired_pool);
  impl_->position = **position;
  impl_->snapshot_position = **position;
  return **position;
}

}  // namespace muster
