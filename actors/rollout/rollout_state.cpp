#include "actors/rollout/rollout_state.hpp"

#include <algorithm>
#include <cmath>

#include "actors/runtime/stream_id.hpp"
#include "common/enum_names.hpp"

namespace muster {
namespace {

using nlohmann::json;
using payload::read;

constexpr std::pair<RolloutStatus, const char*> kStatusNames[] = {
    {RolloutStatus::running, "running"},         {RolloutStatus::paused, "paused"},
    {RolloutStatus::completed, "completed"},     {RolloutStatus::aborted, "aborted"},
    {RolloutStatus::rolled_back, "rolled_back"},
};

bool read_number(const json& data, const char* key, double& out) {
  const auto found = data.find(key);
  if (found == data.end() || !found->is_number()) return false;
  out = found->get<double>();
  return std::isfinite(out);
}

bool read_optional_threshold(const json& data, std::optional<std::uint64_t>& out) {
  const auto found = data.find("threshold");
  if (found == data.end()) return false;
  if (found->is_null()) {
    out.reset();
    return true;
  }
  if (!found->is_number_unsigned()) return false;
  out = found->get<std::uint64_t>();
  return true;
}

Result<RolloutTarget> target_from_json(const json& data) {
  RolloutTarget target;
  if (!data.is_object()) return payload_error("bad rollout target");
  const auto group = data.find("group");
  if (group != data.end()) {
    if (!group->is_string()) return payload_error("bad rollout target group");
    target.group = group->get<std::string>();
  } else if (!read(data, "selector", target.selector)) {
    return payload_error("bad rollout target selector");
  }
  return target;
}

Result<RolloutChange> change_from_json(const json& data) {
  RolloutChange change;
  if (!data.is_object()) return payload_error("bad rollout change");
  if (const auto settings = data.find("settings"); settings != data.end()) {
    if (!settings->is_object()) return payload_error("bad rollout change settings");
    change.kind = RolloutChangeKind::settings;
    change.assignment.settings = *settings;
    return change;
  }
  const auto assignment = data.find("assignment");
  if (assignment == data.end()) return payload_error("bad rollout change");
  auto parsed = assignment_from_json(*assignment);
  if (!parsed) return parsed.error();
  change.assignment = std::move(*parsed);
  return change;
}

Result<RolloutStageSpec> stage_from_json(const json& data) {
  RolloutStageSpec stage;
  double percent = 0;
  std::uint64_t count = 0;
  if (!data.is_object() || !read(data, "bake_time_ms", stage.bake_time_ms))
    return payload_error("bad rollout stage");
  if (data.contains("percent")) {
    if (!read_number(data, "percent", percent)) return payload_error("bad rollout stage percent");
    stage.percent = percent;
  } else if (read(data, "count", count)) {
    stage.count = count;
  } else {
    return payload_error("bad rollout stage");
  }
  return stage;
}

Result<RolloutGate> gate_from_json(const json& data) {
  RolloutGate gate;
  if (!data.is_object() || !read_number(data, "max_failed_percent", gate.max_failed_percent) ||
      !read_number(data, "max_unhealthy_percent", gate.max_unhealthy_percent) ||
      !read_number(data, "max_offline_percent", gate.max_offline_percent)) {
    return payload_error("bad rollout gate");
  }
  return gate;
}

bool read_counts(const json& data, RolloutCounts& counts) {
  const auto found = data.find("counts");
  if (found == data.end() || !found->is_object()) return false;
  return read(*found, "agents", counts.agents) && read(*found, "applied", counts.applied) &&
         read(*found, "failed", counts.failed) && read(*found, "unhealthy", counts.unhealthy) &&
         read(*found, "offline", counts.offline);
}

json progress_to_json(const RolloutStageProgress& stage) {
  return {{"started", stage.started},
          {"baking", stage.baking},
          {"finished", stage.finished},
          {"threshold", stage.threshold ? json(*stage.threshold) : json(nullptr)},
          {"agents", stage.agents},
          {"started_at", stage.started_at_ms},
          {"baking_at", stage.baking_at_ms},
          {"finished_at", stage.finished_at_ms},
          {"counts", counts_to_json(stage.counts)}};
}

Result<RolloutStageProgress> progress_from_json(const json& data) {
  RolloutStageProgress stage;
  if (!data.is_object()) return payload_error("bad rollout stage progress");
  try {
    stage.started = data.at("started").get<bool>();
    stage.baking = data.at("baking").get<bool>();
    stage.finished = data.at("finished").get<bool>();
  } catch (const std::exception&) {
    return payload_error("bad rollout stage progress");
  }
  if (!read_optional_threshold(data, stage.threshold) || !read(data, "agents", stage.agents) ||
      !read(data, "started_at", stage.started_at_ms) || !read(data, "baking_at", stage.baking_at_ms) ||
      !read(data, "finished_at", stage.finished_at_ms) || !read_counts(data, stage.counts)) {
    return payload_error("bad rollout stage progress");
  }
  return stage;
}

}  // namespace

std::uint64_t rollout_slice_hash(std::string_view rollout_id, const AgentId& agent_id) {
  constexpr std::uint64_t kFnvOffset = 14695981039346656037ULL;
  constexpr std::uint64_t kFnvPrime = 1099511628211ULL;
  std::uint64_t hash = kFnvOffset;
  const auto mix = [&hash](std::uint8_t byte) {
    hash ^= byte;
    hash *= kFnvPrime;
  };
  for (const char c : rollout_id) mix(static_cast<std::uint8_t>(c));
  mix(0);
  for (const std::uint8_t byte : agent_id.bytes()) mix(byte);
  // splitmix64's finalizer: FNV's low bits are weak, thresholds compare all 64.
  hash ^= hash >> 30;
  hash *= 0xbf58476d1ce4e5b9ULL;
  hash ^= hash >> 27;
  hash *= 0x94d049bb133111ebULL;
  hash ^= hash >> 31;
  return hash;
}

bool operator==(const RolloutTarget& left, const RolloutTarget& right) {
  return left.group == right.group && left.selector == right.selector;
}

bool operator==(const RolloutChange& left, const RolloutChange& right) {
  return left.kind == right.kind && left.assignment == right.assignment;
}

bool operator==(const RolloutStageSpec& left, const RolloutStageSpec& right) {
  return left.percent == right.percent && left.count == right.count &&
         left.bake_time_ms == right.bake_time_ms;
}

Assignment fold_change_into(const std::optional<Assignment>& base, const RolloutChange& change) {
  Assignment folded = base.value_or(Assignment{});
  const Assignment& layer = change.assignment;
  if (layer.config) folded.config = layer.config;
  for (const ConfigRef& policy : layer.policies) {
    const auto same = std::find_if(folded.policies.begin(), folded.policies.end(),
                                   [&](const ConfigRef& existing) { return existing.name == policy.name; });
    if (same == folded.policies.end()) {
      folded.policies.push_back(policy);
    } else {
      same->version = policy.version;
    }
  }
  merge_settings(folded.settings, layer.settings);
  return folded;
}

std::vector<RolloutStageSpec> default_rollout_stages() {
  constexpr TimeMs kBake = 5 * 60'000;
  return {{1.0, std::nullopt, kBake},
          {10.0, std::nullopt, kBake},
          {50.0, std::nullopt, kBake},
          {100.0, std::nullopt, kBake}};
}

std::uint64_t stage_agents(const RolloutStageSpec& stage, std::uint64_t target_size) {
  if (target_size == 0) return 0;
  if (stage.count) return std::min(*stage.count, target_size);
  const double share = stage.percent.value_or(100.0) * static_cast<double>(target_size) / 100.0;
  // A hair below a whole number is that number (10% of 30 must be 3, not 4).
  const auto covered = static_cast<std::uint64_t>(std::ceil(share - 1e-9));
  return std::clamp<std::uint64_t>(covered, 1, target_size);
}

bool operator==(const RolloutGate& left, const RolloutGate& right) {
  return left.max_failed_percent == right.max_failed_percent &&
         left.max_unhealthy_percent == right.max_unhealthy_percent &&
         left.max_offline_percent == right.max_offline_percent;
}

const char* to_string(RolloutOnFailure on_failure) {
  return on_failure == RolloutOnFailure::rollback ? "rollback" : "pause";
}

std::optional<RolloutOnFailure> parse_rollout_on_failure(std::string_view text) {
  if (text == "pause") return RolloutOnFailure::pause;
  if (text == "rollback") return RolloutOnFailure::rollback;
  return std::nullopt;
}

bool operator==(const RolloutCounts& left, const RolloutCounts& right) {
  return left.agents == right.agents && left.applied == right.applied && left.failed == right.failed &&
         left.unhealthy == right.unhealthy && left.offline == right.offline;
}

json counts_to_json(const RolloutCounts& counts) {
  return {{"agents", counts.agents},
          {"applied", counts.applied},
          {"failed", counts.failed},
          {"unhealthy", counts.unhealthy},
          {"offline", counts.offline}};
}

json rollout_target_to_json(const RolloutTarget& target) {
  if (target.group) return {{"group", *target.group}};
  return {{"selector", target.selector}};
}

json rollout_change_to_json(const RolloutChange& change) {
  if (change.kind == RolloutChangeKind::settings) return {{"settings", change.assignment.settings}};
  return {{"assignment", assignment_to_json(change.assignment)}};
}

json rollout_stage_to_json(const RolloutStageSpec& stage) {
  json out = {{"bake_time_ms", stage.bake_time_ms}};
  if (stage.percent) out["percent"] = *stage.percent;
  if (stage.count) out["count"] = *stage.count;
  return out;
}

json rollout_gate_to_json(const RolloutGate& gate) {
  return {{"max_failed_percent", gate.max_failed_percent},
          {"max_unhealthy_percent", gate.max_unhealthy_percent},
          {"max_offline_percent", gate.max_offline_percent}};
}

json RolloutCreated::to_json() const {
  json stage_list = json::array();
  for (const RolloutStageSpec& stage : stages) stage_list.push_back(rollout_stage_to_json(stage));
  return {{"rollout_id", rollout_id},
          {"org", org},
          {"name", name},
          {"target", rollout_target_to_json(target)},
          {"change", rollout_change_to_json(change)},
          {"stages", std::move(stage_list)},
          {"gate", rollout_gate_to_json(gate)},
          {"on_failure", muster::to_string(on_failure)},
          {"principal", principal}};
}

Result<RolloutCreated> RolloutCreated::from_json(const json& data, std::uint32_t /*schema_version*/) {
  RolloutCreated event;
  std::string on_failure;
  if (!read(data, "rollout_id", event.rollout_id) || !read(data, "org", event.org) ||
      !read(data, "name", event.name) || !read(data, "on_failure", on_failure) ||
      !read(data, "principal", event.principal) || !data.contains("target") || !data.contains("change") ||
      !data.contains("gate") || !data.contains("stages") || !data.at("stages").is_array()) {
    return payload_error("bad RolloutCreated payload");
  }
  const auto parsed_on_failure = parse_rollout_on_failure(on_failure);
  auto target = target_from_json(data.at("target"));
  auto change = change_from_json(data.at("change"));
  auto gate = gate_from_json(data.at("gate"));
  if (!parsed_on_failure || !target || !change || !gate) return payload_error("bad RolloutCreated payload");
  for (const json& item : data.at("stages")) {
    auto stage = stage_from_json(item);
    if (!stage) return stage.error();
    event.stages.push_back(*stage);
  }
  event.on_failure = *parsed_on_failure;
  event.target = std::move(*target);
  event.change = std::move(*change);
  event.gate = *gate;
  return event;
}

json RolloutStageStarted::to_json() const {
  return {{"stage", stage}, {"threshold", threshold ? json(*threshold) : json(nullptr)}, {"agents", agents}};
}

Result<RolloutStageStarted> RolloutStageStarted::from_json(const json& data,
                                                           std::uint32_t /*schema_version*/) {
  RolloutStageStarted event;
  if (!read(data, "stage", event.stage) || !read_optional_threshold(data, event.threshold) ||
      !read(data, "agents", event.agents)) {
    return payload_error("bad RolloutStageStarted payload");
  }
  return event;
}

json RolloutStageBaking::to_json() const {
  return {{"stage", stage}, {"at", at_ms}};
}

Result<RolloutStageBaking> RolloutStageBaking::from_json(const json& data, std::uint32_t /*schema_version*/) {
  RolloutStageBaking event;
  if (!read(data, "stage", event.stage) || !read(data, "at", event.at_ms)) {
    return payload_error("bad RolloutStageBaking payload");
  }
  return event;
}

json RolloutStageFinished::to_json() const {
  return {{"stage", stage}, {"counts", counts_to_json(counts)}};
}

Result<RolloutStageFinished> RolloutStageFinished::from_json(const json& data,
                                                             std::uint32_t /*schema_version*/) {
  RolloutStageFinished event;
  if (!read(data, "stage", event.stage) || !read_counts(data, event.counts)) {
    return payload_error("bad RolloutStageFinished payload");
  }
  return event;
}

json RolloutPaused::to_json() const {
  return {{"reason", reason}, {"measure", measure}, {"counts", counts_to_json(counts)}};
}

Result<RolloutPaused> RolloutPaused::from_json(const json& data, std::uint32_t /*schema_version*/) {
  RolloutPaused event;
  if (!read(data, "reason", event.reason) || !read(data, "measure", event.measure) ||
      !read_counts(data, event.counts)) {
    return payload_error("bad RolloutPaused payload");
  }
  return event;
}

json RolloutAborted::to_json() const {
  return {{"reason", reason}};
}

Result<RolloutAborted> RolloutAborted::from_json(const json& data, std::uint32_t /*schema_version*/) {
  RolloutAborted event;
  if (!read(data, "reason", event.reason)) return payload_error("bad RolloutAborted payload");
  return event;
}

json RolloutRolledBack::to_json() const {
  return {{"reason", reason}, {"measure", measure}, {"counts", counts_to_json(counts)}};
}

Result<RolloutRolledBack> RolloutRolledBack::from_json(const json& data, std::uint32_t /*schema_version*/) {
  RolloutRolledBack event;
  if (!read(data, "reason", event.reason) || !read(data, "measure", event.measure) ||
      !read_counts(data, event.counts)) {
    return payload_error("bad RolloutRolledBack payload");
  }
  return event;
}

const char* to_string(RolloutStatus status) {
  return name_in(kStatusNames, status);
}

bool operator==(const RolloutStageProgress& left, const RolloutStageProgress& right) {
  return progress_to_json(left) == progress_to_json(right);
}

bool operator==(const RolloutHistoryEntry& left, const RolloutHistoryEntry& right) {
  return left.type == right.type && left.at_ms == right.at_ms && left.position == right.position &&
         left.data == right.data;
}

bool Rollout::has_layer() const {
  if (!exists()) return false;
  switch (status) {
    case RolloutStatus::running:
    case RolloutStatus::paused:
    case RolloutStatus::aborted: return true;
    case RolloutStatus::completed: return !target.group.has_value();
    case RolloutStatus::rolled_back: return false;
  }
  return false;
}

std::optional<std::uint64_t> Rollout::layer_threshold() const {
  if (current_stage >= progress.size() || !progress[current_stage].started) return std::nullopt;
  return progress[current_stage].threshold;
}

bool operator==(const Rollout& left, const Rollout& right) {
  return rollout_to_snapshot_json(left) == rollout_to_snapshot_json(right);
}

json rollout_to_snapshot_json(const Rollout& rollout) {
  RolloutCreated created{rollout.rollout_id, rollout.org,        rollout.name,
                         rollout.target,     rollout.change,     rollout.stages,
                         rollout.gate,       rollout.on_failure, rollout.principal};
  json progress = json::array();
  for (const RolloutStageProgress& stage : rollout.progress) progress.push_back(progress_to_json(stage));
  json history = json::array();
  for (const RolloutHistoryEntry& entry : rollout.history) {
    history.push_back(
        {{"type", entry.type}, {"at", entry.at_ms}, {"position", entry.position}, {"data", entry.data}});
  }
  return {{"created", created.to_json()},
          {"status", to_string(rollout.status)},
          {"reason", rollout.reason},
          {"measure", rollout.measure},
          {"current_stage", rollout.current_stage},
          {"progress", std::move(progress)},
          {"resumed_at", rollout.resumed_at_ms},
          {"created_at", rollout.created_at_ms},
          {"updated_at", rollout.updated_at_ms},
          {"ended_at", rollout.ended_at_ms},
          {"created_position", rollout.created_position},
          {"version", rollout.version},
          {"last_position", rollout.last_position},
          {"history", std::move(history)}};
}

Result<Rollout> rollout_from_snapshot_json(const json& data) {
  const auto bad = [] { return payload_error("bad rollout snapshot"); };
  if (!data.is_object() || !data.contains("created") || !data.contains("progress") ||
      !data.contains("history") || !data.at("progress").is_array() || !data.at("history").is_array()) {
    return bad();
  }
  auto created = RolloutCreated::from_json(data.at("created"), RolloutCreated::kType.schema_version);
  if (!created) return created.error();
  Rollout rollout;
  rollout.rollout_id = created->rollout_id;
  rollout.org = created->org;
  rollout.name = created->name;
  rollout.target = created->target;
  rollout.change = created->change;
  rollout.stages = created->stages;
  rollout.gate = created->gate;
  rollout.on_failure = created->on_failure;
  rollout.principal = created->principal;
  std::string status;
  std::uint64_t current_stage = 0;
  if (!read(data, "status", status) || !read(data, "reason", rollout.reason) ||
      !read(data, "measure", rollout.measure) || !read(data, "current_stage", current_stage) ||
      !read(data, "resumed_at", rollout.resumed_at_ms) || !read(data, "created_at", rollout.created_at_ms) ||
      !read(data, "updated_at", rollout.updated_at_ms) || !read(data, "ended_at", rollout.ended_at_ms) ||
      !read(data, "created_position", rollout.created_position) || !read(data, "version", rollout.version) ||
      !read(data, "last_position", rollout.last_position)) {
    return bad();
  }
  const auto known = value_in(kStatusNames, status);
  if (!known) return bad();
  rollout.status = *known;
  rollout.current_stage = static_cast<std::size_t>(current_stage);
  for (const json& item : data.at("progress")) {
    auto stage = progress_from_json(item);
    if (!stage) return stage.error();
    rollout.progress.push_back(*stage);
  }
  for (const json& item : data.at("history")) {
    RolloutHistoryEntry entry;
    if (!item.is_object() || !read(item, "type", entry.type) || !read(item, "at", entry.at_ms) ||
        !read(item, "position", entry.position) || !item.contains("data")) {
      return bad();
    }
    entry.data = item.at("data");
    rollout.history.push_back(std::move(entry));
  }
  if (rollout.progress.size() != rollout.stages.size() || rollout.current_stage >= rollout.stages.size()) {
    return bad();
  }
  return rollout;
}

Status apply(Rollout& rollout, const RolloutEvent& event, const EventHeader& header) {
  const std::string_view type = type_of(event).name;
  if (header.version != rollout.version + 1) return corrupt_event(header, type, "out of version order");
  Rollout next = rollout;
  const auto refuse = [&](const char* why) { return corrupt_event(header, type, why); };
  const bool running = next.exists() && next.status == RolloutStatus::running;
  const auto current = [&](std::uint64_t stage) { return running && stage == next.current_stage; };
  if (const auto* created = std::get_if<RolloutCreated>(&event)) {
    if (next.exists()) return refuse("a rollout is created once");
    if (stream_id_of(header.stream, kRolloutKind) !=
        std::optional<std::string_view>(org_scoped_id(created->org, created->rollout_id))) {
      return refuse("org and rollout_id differ from the stream id");
    }
    if (created->stages.empty() || created->stages.size() > kMaxRolloutStages)
      return refuse("bad stage count");
    next.rollout_id = created->rollout_id;
    next.org = created->org;
    next.name = created->name;
    next.target = created->target;
    next.change = created->change;
    next.stages = created->stages;
    next.gate = created->gate;
    next.on_failure = created->on_failure;
    next.principal = created->principal;
    next.status = RolloutStatus::running;
    next.progress.assign(created->stages.size(), RolloutStageProgress{});
    next.created_at_ms = header.time_ms;
    next.created_position = header.position;
  } else if (const auto* started = std::get_if<RolloutStageStarted>(&event)) {
    const bool first = started->stage == 0 && !next.progress.empty() && !next.progress[0].started;
    const bool following = started->stage == next.current_stage + 1 &&
                           started->stage < next.progress.size() &&
                           next.progress[next.current_stage].finished;
    if (!running || !(first || following)) return refuse("a stage started out of order");
    RolloutStageProgress& stage = next.progress[started->stage];
    stage.started = true;
    stage.threshold = started->threshold;
    stage.agents = started->agents;
    stage.started_at_ms = header.time_ms;
    next.current_stage = static_cast<std::size_t>(started->stage);
  } else if (const auto* baking = std::get_if<RolloutStageBaking>(&event)) {
    if (!current(baking->stage) || !next.progress[baking->stage].started ||
        next.progress[baking->stage].baking) {
      return refuse("a stage baking out of order");
    }
    next.progress[baking->stage].baking = true;
    next.progress[baking->stage].baking_at_ms = baking->at_ms;
  } else if (const auto* finished = std::get_if<RolloutStageFinished>(&event)) {
    if (!current(finished->stage) || !next.progress[finished->stage].baking ||
        next.progress[finished->stage].finished) {
      return refuse("a stage finished out of order");
    }
    next.progress[finished->stage].finished = true;
    next.progress[finished->stage].finished_at_ms = header.time_ms;
    next.progress[finished->stage].counts = finished->counts;
  } else if (const auto* paused = std::get_if<RolloutPaused>(&event)) {
    if (!running) return refuse("pausing a rollout that is not running");
    next.status = RolloutStatus::paused;
    next.reason = paused->reason;
    next.measure = paused->measure;
  } else if (std::holds_alternative<RolloutResumed>(event)) {
    if (!next.exists() || next.status != RolloutStatus::paused)
      return refuse("resuming a rollout not paused");
    next.status = RolloutStatus::running;
    next.reason.clear();
    next.measure.clear();
    next.resumed_at_ms = header.time_ms;
  } else if (const auto* aborted = std::get_if<RolloutAborted>(&event)) {
    if (!next.active()) return refuse("aborting a rollout that is not running or paused");
    next.status = RolloutStatus::aborted;
    next.reason = aborted->reason;
    next.measure.clear();
    next.ended_at_ms = header.time_ms;
  } else if (const auto* rolled_back = std::get_if<RolloutRolledBack>(&event)) {
    if (!next.exists() || !next.has_layer()) return refuse("rolling back a rollout without a layer");
    next.status = RolloutStatus::rolled_back;
    next.reason = rolled_back->reason;
    next.measure = rolled_back->measure;
    next.ended_at_ms = header.time_ms;
  } else {
    if (!running || !next.stages_done()) return refuse("completing a rollout with stages to go");
    next.status = RolloutStatus::completed;
    next.ended_at_ms = header.time_ms;
  }
  next.history.push_back(
      RolloutHistoryEntry{std::string(type), header.time_ms, header.position,
                          std::visit([](const auto& payload) { return payload.to_json(); }, event)});
  next.version = header.version;
  next.last_position = header.position;
  next.updated_at_ms = header.time_ms;
  rollout = std::move(next);
  return Status::success();
}

Status apply(Rollout& rollout, const Event& event) {
  return apply_stored<RolloutEvent>(rollout, event);
}

}  // namespace muster
