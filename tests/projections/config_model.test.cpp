// The config model: desired configurations resolved from groups and
// assignments (precedence, table by table), config_version growing exactly
// when an agent's desired configuration changes, drift, and a snapshot that
// gives back what the fold built.

#include "projections/config_model.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <map>

#include "actors/agent/agent_events.hpp"
#include "eventstore/memory_storage.hpp"

using namespace muster;

namespace {

std::shared_ptr<const ConfigFiles> files_of(const std::string& name, const std::string& body) {
  return std::make_shared<const ConfigFiles>(ConfigFiles{{name, {"text/plain", body}}});
}

/// Writes events as the log would hold them, stream versions and positions counted.
class Log {
 public:
  template <class Variant>
  Event append(const std::string& stream, const Variant& payload) {
    const NewEvent encoded = encode_payload(payload);
    ++position_;
    Event event{position_,    stream, ++versions_[stream], encoded.type, static_cast<TimeMs>(1000 + position_),
                encoded.schema_version, encoded.data, "{}"};
    events_.push_back(event);
    return event;
  }
  Event config(const std::string& name, const std::string& body, ConfigKind kind = ConfigKind::config) {
    const std::string stream = "config:acme/" + name;
    if (versions_[stream] == 0) append(stream, ConfigEvent{ConfigCreated{"acme", name, kind, ""}});
    const auto files = files_of(name + ".yaml", body);
    return append(stream, ConfigEvent{ConfigVersionAdded{++config_versions_[name], files, hash_files(*files), "",
                                                         "key:k", 0}});
  }
  Event group(const std::string& name, LabelSelector selector, std::int64_t priority) {
    return append("group:acme/" + name, GroupEvent{GroupCreated{"acme", name, std::move(selector), priority, ""}});
  }
  Event assign_group(const std::string& name, std::optional<Assignment> assignment) {
    return append("group:acme/" + name, GroupEvent{GroupAssignmentSet{std::move(assignment)}});
  }
  Event agent(const AgentId& id, std::map<std::string, std::string> labels) {
    AgentProfile profile;
    profile.labels = InternedLabels::of(labels);
    return append("agent:" + id.to_string(),
                  AgentEvent{AgentRegistered{id, id.to_string(), InternedString::of("acme"), profile}});
  }
  template <class Payload>
  Event agent_event(const AgentId& id, Payload payload) {
    return append("agent:" + id.to_string(), AgentEvent{std::move(payload)});
  }

  /// Folds everything written since the last call into `model`.
  void fold_into(ConfigModel& model) {
    REQUIRE(model.apply(std::vector<Event>(events_.begin() + folded_, events_.end())).ok());
    folded_ = events_.size();
  }
  const std::vector<Event>& events() const { return events_; }

 private:
  std::uint64_t position_ = 0;
  std::map<std::string, std::uint64_t> versions_;
  std::map<std::string, std::uint64_t> config_versions_;
  std::vector<Event> events_;
  std::size_t folded_ = 0;
};

Assignment config_assignment(const std::string& name, std::uint64_t version = 0) {
  Assignment assignment;
  assignment.config = ConfigRef{name, version};
  return assignment;
}

Assignment settings_assignment(nlohmann::json settings) {
  Assignment assignment;
  assignment.settings = std::move(settings);
  return assignment;
}

// A finder over fixed versions: name -> files, every version the same.
FindConfigVersion finder(std::map<std::string, std::pair<bool, std::string>> configs) {
  return [configs](std::string_view name, std::uint64_t version, bool policy) -> std::optional<ConfigVersionRef> {
    const auto found = configs.find(std::string(name));
    if (found == configs.end() || found->second.first != policy) return std::nullopt;
    const auto files = files_of("f", found->second.second);
    return ConfigVersionRef{version == 0 ? 7 : version, files, hash_files(*files)};
  };
}

}  // namespace

TEST_CASE("precedence: the first source naming a config wins - policies join - settings merge, first wins") {
  const auto find = finder({{"base", {false, "base"}},
                            {"edge", {false, "edge"}},
                            {"pci", {true, "pci"}},
                            {"soc2", {true, "soc2"}}});
  struct Case {
    const char* name;
    std::vector<std::pair<std::string, Assignment>> sources;  // highest precedence first
    std::optional<std::string> config;                        // which config, from which source
    std::optional<std::string> config_source;
    std::vector<std::string> policies;  // "name@source"
    nlohmann::json settings;
  };
  Assignment with_policies = settings_assignment({{"log_level", "warn"}, {"limits", {{"cpu", 1}}}});
  with_policies.policies = {{"pci", 2}, {"soc2", 0}};
  Assignment own_policy;
  own_policy.policies = {{"pci", 5}};
  Assignment agent_config = config_assignment("edge");
  agent_config.settings = {{"limits", {{"memory", 512}}}};
  const std::vector<Case> cases{
      {"no source assigns anything", {{"group:a", Assignment{}}}, std::nullopt, std::nullopt, {}, nullptr},
      {"one group's config", {{"group:a", config_assignment("base")}}, "base", "group:a", {}, nlohmann::json::object()},
      {"the higher group's config",
       {{"group:high", config_assignment("edge")}, {"group:low", config_assignment("base")}},
       "edge",
       "group:high",
       {},
       nlohmann::json::object()},
      {"a group without a config leaves it to the next",
       {{"group:high", settings_assignment({{"x", 1}})}, {"group:low", config_assignment("base")}},
       "base",
       "group:low",
       {},
       {{"x", 1}}},
      {"the agent's own config wins over every group, settings merge deeply",
       {{"agent", agent_config}, {"group:a", with_policies}, {"group:b", config_assignment("base")}},
       "edge",
       "agent",
       {"pci@group:a", "soc2@group:a"},
       {{"log_level", "warn"}, {"limits", {{"cpu", 1}, {"memory", 512}}}}},
      {"a policy named twice takes the first source's version",
       {{"agent", own_policy}, {"group:a", with_policies}},
       std::nullopt,
       std::nullopt,
       {"pci@agent", "soc2@group:a"},
       {{"log_level", "warn"}, {"limits", {{"cpu", 1}}}}},
      {"a config that cannot be found is left out", {{"group:a", config_assignment("gone")}}, std::nullopt,
       std::nullopt, {}, nlohmann::json::object()},
      {"a higher group's settings win over a lower one's",
       {{"group:high", settings_assignment({{"log_level", "debug"}})},
        {"group:low", settings_assignment({{"log_level", "info"}, {"interval", "30s"}})}},
       std::nullopt,
       std::nullopt,
       {},
       {{"log_level", "debug"}, {"interval", "30s"}}},
  };
  for (const Case& test : cases) {
    CAPTURE(test.name);
    std::vector<AssignmentSource> sources;
    for (const auto& [source, assignment] : test.sources) sources.push_back({source, &assignment});
    const auto desired = resolve_desired(sources, find);
    if (test.settings.is_null()) {
      CHECK(desired == nullptr);
      continue;
    }
    REQUIRE(desired != nullptr);
    CHECK(desired->settings == test.settings);
    CHECK(desired->config.has_value() == test.config.has_value());
    if (test.config && desired->config) {
      CHECK(desired->config->name == *test.config);
      CHECK(desired->config->source == *test.config_source);
      CHECK(desired->files->count("f") == 1);
    }
    std::vector<std::string> policies;
    for (const auto& policy : desired->policies) {
      policies.push_back(policy.name + "@" + policy.source);
      CHECK(desired->files->count(policy.name + "/f") == 1);
    }
    CHECK(policies == test.policies);
    CHECK(desired->files_hash == hash_files(*desired->files));
    CHECK(desired->hash == desired_hash(desired->files_hash, desired->settings));
  }
}

TEST_CASE("drift: the status follows the desired hash, the agent's report and what it runs") {
  DesiredConfig desired;
  desired.files_hash = "f1";
  desired.hash = "h1";
  const auto report = [](std::string hash, ConfigReportStatus status, bool was_desired = true) {
    return ConfigReport{std::move(hash), status, "", was_desired};
  };
  const ConfigReport applied = report("h1", ConfigReportStatus::applied);
  const ConfigReport applying = report("h1", ConfigReportStatus::applying);
  const ConfigReport failed = report("h1", ConfigReportStatus::failed);
  const ConfigReport old = report("h0", ConfigReportStatus::applied);
  const ConfigReport foreign = report("hx", ConfigReportStatus::applied, false);
  struct Case {
    const DesiredConfig* desired;
    const ConfigReport* report;
    std::string effective;
    ConfigStatus expected;
  };
  for (const Case& test : std::vector<Case>{{nullptr, &applied, "", ConfigStatus::none},
                                            {&desired, nullptr, "", ConfigStatus::pending},
                                            {&desired, &old, "", ConfigStatus::pending},
                                            {&desired, &applying, "", ConfigStatus::applying},
                                            {&desired, &failed, "", ConfigStatus::failed},
                                            {&desired, &applied, "", ConfigStatus::applied},
                                            {&desired, &applied, "f1", ConfigStatus::applied},
                                            {&desired, &applied, "f2", ConfigStatus::drifted},
                                            {&desired, &foreign, "", ConfigStatus::drifted}}) {
    CAPTURE(to_string(test.expected));
    CHECK(derive_config_status(test.desired, test.report, test.effective) == test.expected);
  }
}

TEST_CASE("config_version is the position of the event that last changed an agent's desired config") {
  Log log;
  ConfigModel model;
  const AgentId prod = AgentId::random();
  const AgentId dev = AgentId::random();
  log.agent(prod, {{"env", "prod"}});
  log.agent(dev, {{"env", "dev"}});
  log.config("collector", "v1");
  log.group("prod", {{"env", "prod"}}, 0);
  log.fold_into(model);
  CHECK(model.desired_of(prod).config_version == 0);
  CHECK(model.config_status_of(prod) == ConfigStatus::none);

  const Event assigned = log.assign_group("prod", config_assignment("collector"));
  log.fold_into(model);
  CHECK(model.desired_of(prod).config_version == assigned.position);
  CHECK(model.desired_of(dev).config_version == 0);
  CHECK(model.config_status_of(prod) == ConfigStatus::pending);

  // A group that changes nothing for the agent leaves its version alone.
  log.group("all", {}, -5);
  log.assign_group("all", config_assignment("collector"));
  const Event dev_only = log.events().back();
  log.fold_into(model);
  CHECK(model.desired_of(prod).config_version == assigned.position);
  CHECK(model.desired_of(dev).config_version == dev_only.position);

  // A new version of a config on "latest" is a change for everyone using it.
  const Event v2 = log.config("collector", "v2");
  log.fold_into(model);
  CHECK(model.desired_of(prod).config_version == v2.position);
  CHECK(model.desired_of(dev).config_version == v2.position);

  // Labels moving an agent out of a group change its desired config.
  AgentProfilePatch patch;
  patch.labels = InternedLabels::of({{"env", "staging"}});
  const Event relabelled = log.agent_event(prod, AgentUpdated{patch});
  log.fold_into(model);
  CHECK(model.desired_of(prod).config_version == v2.position);  // "all" gives the same config
  CHECK(model.agent(prod)->groups == std::vector<std::string>{"all"});
  CHECK_FALSE(model.in_group(prod, "prod"));

  // An agent's own assignment wins over its groups.
  Assignment own = config_assignment("collector", 1);
  const Event pinned = log.agent_event(prod, AgentAssignmentSet{own});
  log.fold_into(model);
  CHECK(model.desired_of(prod).config_version == pinned.position);
  CHECK(model.desired_of(prod).desired->config->version == 1);
  CHECK(model.desired_of(prod).desired->config->source == "agent");
  CHECK(model.config_in_use("acme", "collector"));
  (void)relabelled;
}

TEST_CASE("equal priorities: the group created first wins") {
  for (bool reverse : {false, true}) {
    Log log;
    ConfigModel model;
    const AgentId agent = AgentId::random();
    log.agent(agent, {{"env", "prod"}});
    log.config("a", "a");
    log.config("b", "b");
    const std::string first = reverse ? "zeta" : "alpha";
    const std::string second = reverse ? "alpha" : "zeta";
    log.group(first, {{"env", "prod"}}, 3);
    log.group(second, {}, 3);
    log.assign_group(second, config_assignment("b"));
    log.assign_group(first, config_assignment("a"));
    log.fold_into(model);
    CAPTURE(first);
    CHECK(model.desired_of(agent).desired->config->name == "a");
    CHECK(model.agent(agent)->groups == std::vector<std::string>{first, second});
  }
}

TEST_CASE("one group change re-resolves a thousand agents with one event, and they share one desired config") {
  Log log;
  ConfigModel model;
  std::vector<AgentId> agents;
  for (int index = 0; index < 1000; ++index) {
    agents.push_back(AgentId::random());
    log.agent(agents.back(), {{"env", "prod"}});
  }
  log.config("collector", "v1");
  log.group("prod", {{"env", "prod"}}, 0);
  const Event assigned = log.assign_group("prod", config_assignment("collector"));
  log.fold_into(model);
  const auto shared = model.desired_of(agents.front()).desired;
  for (const AgentId& agent : agents) {
    CHECK(model.desired_of(agent).config_version == assigned.position);
    CHECK(model.desired_of(agent).desired.get() == shared.get());
  }
  CHECK(model.status_counts("*")[static_cast<std::size_t>(ConfigStatus::pending)] == 1000);
  CHECK(model.config_status_counts("acme", "collector")[static_cast<std::size_t>(ConfigStatus::pending)] == 1000);
}

TEST_CASE("a snapshot loads back into the model the fold built, and the tail folds on top") {
  Log log;
  ConfigModel live;
  std::vector<AgentId> agents;
  for (int index = 0; index < 20; ++index) {
    agents.push_back(AgentId::random());
    log.agent(agents.back(), {{"env", index % 2 ? "prod" : "dev"}});
  }
  log.config("collector", "v1");
  log.config("pci", "p", ConfigKind::policy);
  log.group("prod", {{"env", "prod"}}, 1);
  Assignment assignment = config_assignment("collector");
  assignment.policies = {{"pci", 0}};
  assignment.settings = {{"log_level", "debug"}};
  log.assign_group("prod", assignment);
  log.append("group:acme/prod", GroupEvent{GroupMembersAdded{{agents[0]}}});
  log.agent_event(agents[2], AgentAssignmentSet{config_assignment("collector", 1)});
  log.fold_into(live);
  const std::string hash = live.desired_of(agents[1]).desired->hash;
  log.agent_event(agents[1], AgentConfigReported{hash, ConfigReportStatus::applied, ""});
  const auto effective = files_of("other.yaml", "x");
  log.agent_event(agents[1], AgentEffectiveConfigReported{effective, hash_files(*effective)});
  log.agent_event(agents[3], AgentConfigReported{hash, ConfigReportStatus::failed, "bad yaml"});
  log.agent_event(agents[4], AgentDeregistered{});
  log.fold_into(live);

  auto storage = std::move(*open_memory_storage(StoreOptions{}));
  REQUIRE(live.save_snapshot(storage->snapshots()).ok());
  ConfigModel loaded;
  const auto position = loaded.load_snapshot(storage->snapshots(), log.events().back().position);
  REQUIRE(position.ok());
  CHECK(*position == log.events().back().position);

  // More history after the snapshot, folded into both.
  log.config("collector", "v2");
  log.agent_event(agents[3], AgentConfigReported{hash, ConfigReportStatus::applying, ""});
  log.fold_into(live);
  std::vector<Event> tail(log.events().end() - 3, log.events().end());
  REQUIRE(loaded.apply(tail).ok());

  CHECK(loaded.status_counts("*") == live.status_counts("*"));
  for (const AgentId& agent : agents) {
    const auto left = live.agent(agent);
    const auto right = loaded.agent(agent);
    REQUIRE(left.has_value());
    REQUIRE(right.has_value());
    CHECK(left->config_version == right->config_version);
    CHECK((left->desired ? left->desired->hash : "") == (right->desired ? right->desired->hash : ""));
    CHECK(left->status == right->status);
    CHECK(left->groups == right->groups);
    CHECK(left->assignment == right->assignment);
    CHECK(left->effective_hash == right->effective_hash);
  }
  CHECK(live.config_status_of(agents[1]) == ConfigStatus::pending);  // v2 not reported yet
  CHECK(live.was_desired("acme", hash));
  REQUIRE(loaded.config("acme", "collector").has_value());
  CHECK(*loaded.config("acme", "collector") == *live.config("acme", "collector"));
  CHECK(*loaded.group("acme", "prod") == *live.group("acme", "prod"));
}

TEST_CASE("a snapshot past the log's head is dropped, never trusted") {
  Log log;
  ConfigModel live;
  log.config("collector", "v1");
  log.fold_into(live);
  auto storage = std::move(*open_memory_storage(StoreOptions{}));
  REQUIRE(live.save_snapshot(storage->snapshots()).ok());
  ConfigModel loaded;
  const auto position = loaded.load_snapshot(storage->snapshots(), 0);
  REQUIRE(position.ok());
  CHECK(*position == 0);
  CHECK_FALSE(loaded.config("acme", "collector").has_value());
}

namespace {

const std::string kRolloutId = "0123456789abcdef";

RolloutCreated rollout_of_prod(RolloutChange change) {
  RolloutCreated created;
  created.rollout_id = kRolloutId;
  created.org = "acme";
  created.name = "collector v2";
  created.target.group = "prod";
  created.change = std::move(change);
  created.stages = {{50.0, std::nullopt, 1000}, {100.0, std::nullopt, 1000}};
  created.principal = "key:k";
  return created;
}

Event append_rollout(Log& log, RolloutEvent event) {
  return log.append("rollout:acme/" + kRolloutId, event);
}

// The threshold covering the `n` smallest slice hashes of `agents`.
std::uint64_t nth_hash(const std::vector<AgentId>& agents, std::size_t n) {
  std::vector<std::uint64_t> hashes;
  for (const AgentId& agent : agents) hashes.push_back(rollout_slice_hash(kRolloutId, agent));
  std::sort(hashes.begin(), hashes.end());
  return hashes[n - 1];
}

std::string hash_of(const ConfigModel& model, const AgentId& agent) {
  const auto desired = model.desired_of(agent).desired;
  return desired ? desired->hash : std::string();
}

}  // namespace

TEST_CASE(
    "a rollout's layer holds its target's agents at or below the stage's threshold - rollback restores them") {
  Log log;
  ConfigModel model;
  std::vector<AgentId> prod;
  std::vector<AgentId> dev;
  for (int index = 0; index < 20; ++index) {
    prod.push_back(AgentId::random());
    log.agent(prod.back(), {{"env", "prod"}});
  }
  for (int index = 0; index < 5; ++index) {
    dev.push_back(AgentId::random());
    log.agent(dev.back(), {{"env", "dev"}});
  }
  log.config("collector", "v1");
  log.config("collector", "v2");
  log.group("prod", {{"env", "prod"}}, 0);
  log.group("all", {}, -1);
  log.assign_group("all", settings_assignment({{"log_level", "info"}}));
  log.assign_group("prod", config_assignment("collector", 1));
  log.fold_into(model);
  std::map<AgentId, std::string> before;
  std::map<AgentId, std::uint64_t> versions_before;
  for (const auto* agents : {&prod, &dev}) {
    for (const AgentId& agent : *agents) {
      before[agent] = hash_of(model, agent);
      versions_before[agent] = model.desired_of(agent).config_version;
    }
  }

  RolloutChange change;
  change.assignment = config_assignment("collector", 2);
  const std::uint64_t threshold = nth_hash(prod, 10);
  append_rollout(log, rollout_of_prod(change));
  const Event started = append_rollout(log, RolloutStageStarted{0, threshold, 10});
  log.fold_into(model);

  std::size_t moved = 0;
  std::shared_ptr<const DesiredConfig> shared;
  for (const AgentId& agent : prod) {
    const bool in_slice = rollout_slice_hash(kRolloutId, agent) <= threshold;
    const auto view = model.agent(agent);
    REQUIRE(view.has_value());
    CHECK((hash_of(model, agent) != before[agent]) == in_slice);
    if (!in_slice) {
      CHECK(view->config_version == versions_before[agent]);
      CHECK(view->rollouts.empty());
      continue;
    }
    ++moved;
    CHECK(view->config_version == started.position);
    CHECK(view->rollouts == std::vector<std::string>{kRolloutId});
    CHECK(view->desired->config->version == 2);
    CHECK(view->desired->config->source == "rollout:" + kRolloutId);
    CHECK(view->desired->settings_sources.at("log_level") == "group:all");
    // Agents of one label set in the same layers share one resolution.
    if (!shared) shared = view->desired;
    CHECK(view->desired.get() == shared.get());
  }
  CHECK(moved == 10);
  for (const AgentId& agent : dev) CHECK(hash_of(model, agent) == before[agent]);
  CHECK(model.config_in_use("acme", "collector"));
  const auto target = model.rollout_target("acme", rollout_of_prod(change).target, kRolloutId);
  CHECK(target.size() == 20);

  SUBCASE("the same log folded again picks the same slice") {
    ConfigModel replayed;
    REQUIRE(replayed.apply(log.events()).ok());
    for (const AgentId& agent : prod) {
      CHECK(hash_of(replayed, agent) == hash_of(model, agent));
      CHECK(replayed.desired_of(agent).config_version == model.desired_of(agent).config_version);
    }
  }
  SUBCASE("a snapshot holds the layer: a load resolves the same hashes") {
    auto storage = std::move(*open_memory_storage(StoreOptions{}));
    REQUIRE(model.save_snapshot(storage->snapshots()).ok());
    ConfigModel loaded;
    const auto position = loaded.load_snapshot(storage->snapshots(), log.events().back().position);
    REQUIRE(position.ok());
    CHECK(*position == log.events().back().position);
    for (const AgentId& agent : prod) {
      CHECK(hash_of(loaded, agent) == hash_of(model, agent));
      CHECK(loaded.agent(agent)->rollouts == model.agent(agent)->rollouts);
    }
    // The tail folds on top of it as on the live model.
    append_rollout(log, RolloutRolledBack{"rolled back by key:k", "", {}});
    log.fold_into(model);
    REQUIRE(loaded.apply({log.events().back()}).ok());
    for (const AgentId& agent : prod) CHECK(hash_of(loaded, agent) == before[agent]);
  }
  SUBCASE("a rollback removes the layer: every agent resolves to what its groups give") {
    const Event rolled_back = append_rollout(log, RolloutRolledBack{"gate: failed", "failed", {}});
    log.fold_into(model);
    for (const AgentId& agent : prod) {
      CHECK(hash_of(model, agent) == before[agent]);
      const bool was_in = rollout_slice_hash(kRolloutId, agent) <= threshold;
      CHECK((model.desired_of(agent).config_version == rolled_back.position) == was_in);
      CHECK(model.agent(agent)->rollouts.empty());
    }
    CHECK(model.rollout_target("acme", rollout_of_prod(change).target, kRolloutId).size() == 20);
  }
}

TEST_CASE("completing into the group: the group takes the change, the layer goes, no agent's hash changes") {
  Log log;
  ConfigModel model;
  std::vector<AgentId> prod;
  for (int index = 0; index < 8; ++index) {
    prod.push_back(AgentId::random());
    log.agent(prod.back(), {{"env", "prod"}, {"zone", index % 2 ? "a" : "b"}});
  }
  log.config("collector", "v1");
  log.config("pci", "p", ConfigKind::policy);
  log.group("prod", {{"env", "prod"}}, 0);
  Assignment group_assignment = config_assignment("collector", 1);
  group_assignment.settings = {{"log", {{"level", "info"}, {"format", "json"}}}};
  log.assign_group("prod", group_assignment);
  RolloutChange change;
  change.kind = RolloutChangeKind::settings;
  change.assignment.settings = {{"log", {{"level", "debug"}}}, {"batch", 512}};
  append_rollout(log, rollout_of_prod(change));
  append_rollout(log, RolloutStageStarted{0, nth_hash(prod, 4), 4});
  append_rollout(log, RolloutStageBaking{0, 5});
  append_rollout(log, RolloutStageFinished{0, {}});
  append_rollout(log, RolloutStageStarted{1, kWholeTarget, 8});
  append_rollout(log, RolloutStageBaking{1, 6});
  append_rollout(log, RolloutStageFinished{1, {}});
  log.fold_into(model);
  std::map<AgentId, std::string> changed;
  std::map<AgentId, std::uint64_t> versions;
  for (const AgentId& agent : prod) {
    changed[agent] = hash_of(model, agent);
    versions[agent] = model.desired_of(agent).config_version;
    CHECK(model.desired_of(agent).desired->settings ==
          nlohmann::json{{"log", {{"level", "debug"}, {"format", "json"}}}, {"batch", 512}});
  }
  // An agent joining the target after the last stage started gets the change too.
  const AgentId late = AgentId::random();
  log.agent(late, {{"env", "prod"}});
  log.fold_into(model);
  CHECK(model.agent(late)->rollouts == std::vector<std::string>{kRolloutId});

  log.assign_group("prod", fold_change_into(group_assignment, change));
  append_rollout(log, RolloutCompleted{});
  log.fold_into(model);
  for (const AgentId& agent : prod) {
    CHECK(hash_of(model, agent) == changed[agent]);
    CHECK(model.desired_of(agent).config_version == versions[agent]);
    CHECK(model.agent(agent)->rollouts.empty());
    CHECK(model.desired_of(agent).desired->settings_sources.at("log") == "group:prod");
  }
}
