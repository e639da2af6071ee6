// /api/v1/rollouts: a change of configuration given to a group's or a
// selector's agents stage by stage, through a health gate (README
// "Rollouts"). Operators create and steer rollouts (in the organization
// Call::require_org gives); viewers read them.

#include <algorithm>

#include <fmt/format.h>

#include "common/time_format.hpp"
#include "http/assignment_parsing.hpp"
#include "http/call.hpp"

namespace muster::http::routes {
namespace {

using nlohmann::json;

constexpr std::size_t kMaxRolloutNameLength = 128;
constexpr std::uint64_t kDefaultRolloutPage = 20;
constexpr std::uint64_t kMaxRolloutPage = 100;
constexpr const char* kDefaultBakeTime = "5m";

// Moves every detail of `invalid` into `problems`, each field under `prefix`.
void add_details(json& problems, const Invalid& invalid, const std::string& prefix) {
  for (const auto& [field, why] : invalid.details.items()) problems[prefix + field] = why;
}

void refuse_unknown(const json& object, std::initializer_list<const char*> known, const std::string& prefix,
                    const char* what, json& problems) {
  for (auto item = object.begin(); item != object.end(); ++item) {
    const std::string& key = item.key();
    if (std::none_of(known.begin(), known.end(), [&key](const char* name) { return key == name; })) {
      problems[prefix + key] = fmt::format("is not a member of {}", what);
    }
  }
}

// {group} | {selector: {label: value}}.
RolloutTarget parse_target(const json* value, json& problems) {
  RolloutTarget target;
  const char* shape = "is required: {\"group\": name} or {\"selector\": {label: value, ...}}";
  if (value == nullptr || !value->is_object()) {
    problems["target"] = shape;
    return target;
  }
  refuse_unknown(*value, {"group", "selector"}, "target.", "a target (group, selector)", problems);
  const json* group = present_member(*value, "group");
  const json* selector = present_member(*value, "selector");
  if ((group == nullptr) == (selector == nullptr)) {
    problems["target"] = std::string("must name exactly one of group and selector: ") + shape;
    return target;
  }
  if (group != nullptr) {
    if (!group->is_string() || !is_valid_config_name(group->get_ref<const std::string&>())) {
      problems["target.group"] = "must be a group name: [a-z0-9][a-z0-9._-]{0,62}";
    } else {
      target.group = group->get<std::string>();
    }
    return target;
  }
  auto parsed = parse_selector(*selector);
  if (auto* invalid = std::get_if<Invalid>(&parsed)) {
    add_details(problems, *invalid, "target.");
  } else {
    target.selector = std::get<LabelSelector>(std::move(parsed));
  }
  return target;
}

// {assignment: {config, version, policies}} | {settings: {...}}.
RolloutChange parse_change(const json* value, json& problems) {
  RolloutChange change;
  const char* shape = "is required: {\"assignment\": {config, version, policies}} or {\"settings\": {...}}";
  if (value == nullptr || !value->is_object()) {
    problems["change"] = shape;
    return change;
  }
  refuse_unknown(*value, {"assignment", "settings"}, "change.", "a change (assignment, settings)", problems);
  const json* assignment = present_member(*value, "assignment");
  const json* settings = present_member(*value, "settings");
  if ((assignment == nullptr) == (settings == nullptr)) {
    problems["change"] = std::string("must name exactly one of assignment and settings: ") + shape;
    return change;
  }
  if (assignment != nullptr) {
    if (assignment->is_object() && present_member(*assignment, "settings") != nullptr) {
      problems["change.assignment.settings"] =
          "is not part of an assignment change: roll settings out as change.settings";
      return change;
    }
    auto parsed = parse_assignment(*assignment);
    if (auto* invalid = std::get_if<Invalid>(&parsed)) {
      add_details(problems, *invalid, "change.assignment.");
    } else if (std::get<Assignment>(parsed).empty()) {
      problems["change.assignment"] = "must name a config or policies";
    } else {
      change.assignment = std::get<Assignment>(std::move(parsed));
    }
    return change;
  }
  // The rules of an assignment's settings (an object, its depth and size).
  auto parsed = parse_assignment(json{{"settings", *settings}});
  if (auto* invalid = std::get_if<Invalid>(&parsed)) {
    add_details(problems, *invalid, "change.");
  } else if (settings->empty()) {
    problems["change.settings"] = "must set at least one setting";
  } else {
    change.kind = RolloutChangeKind::settings;
    change.assignment.settings = *settings;
  }
  return change;
}

// [{percent | count, bake_time}], cumulative: each rises above the last of
// its kind; the last is percent 100. Absent: the default stages.
std::vector<RolloutStageSpec> parse_stages(const json* value, json& problems) {
  if (value == nullptr) return default_rollout_stages();
  if (!value->is_array() || value->empty() || value->size() > kMaxRolloutStages) {
    problems["stages"] = fmt::format("must be an array of 1 to {} stages", kMaxRolloutStages);
    return {};
  }
  std::vector<RolloutStageSpec> stages;
  const std::size_t problems_before = problems.size();
  std::optional<double> last_percent;
  std::optional<std::uint64_t> last_count;
  for (std::size_t index = 0; index < value->size(); ++index) {
    const json& item = (*value)[index];
    const std::string at = fmt::format("stages[{}]", index);
    if (!item.is_object()) {
      problems[at] = "must be an object: {percent | count, bake_time}";
      continue;
    }
    refuse_unknown(item, {"percent", "count", "bake_time"}, at + ".", "a stage (percent, count, bake_time)",
                   problems);
    RolloutStageSpec stage;
    const json* percent = present_member(item, "percent");
    const json* count = present_member(item, "count");
    if ((percent == nullptr) == (count == nullptr)) {
      problems[at] = "must give exactly one of percent and count";
    } else if (percent != nullptr) {
      if (!percent->is_number() || !(percent->get<double>() > 0) || percent->get<double>() > 100) {
        problems[at + ".percent"] = "must be a number above 0 and at most 100";
      } else if (last_percent && percent->get<double>() <= *last_percent) {
        problems[at + ".percent"] = fmt::format("must rise above the previous stage's {}", *last_percent);
      } else {
        stage.percent = percent->get<double>();
        last_percent = stage.percent;
      }
    } else if (!count->is_number_unsigned() || count->get<std::uint64_t>() == 0) {
      problems[at + ".count"] = "must be a whole number of agents from 1";
    } else if (last_count && count->get<std::uint64_t>() <= *last_count) {
      problems[at + ".count"] = fmt::format("must rise above the previous stage's {}", *last_count);
    } else if (last_percent) {
      problems[at + ".count"] = "cannot follow a percent stage (stages are cumulative: counts first)";
    } else {
      stage.count = count->get<std::uint64_t>();
      last_count = stage.count;
    }
    const json* bake = present_member(item, "bake_time");
    const std::string bake_text = bake == nullptr     ? std::string(kDefaultBakeTime)
                                  : bake->is_string() ? bake->get<std::string>()
                                                      : std::string();
    auto bake_time = parse_duration_ms(bake_text);
    if (!bake_time) {
      problems[at + ".bake_time"] = "must be a duration such as \"30s\", \"5m\", \"1h\"";
    } else {
      stage.bake_time_ms = *bake_time;
    }
    stages.push_back(stage);
  }
  if (problems.size() == problems_before && stages.back().percent != std::optional<double>(100.0)) {
    problems[fmt::format("stages[{}]", stages.size() - 1)] =
        "the last stage must be percent 100: a rollout ends with its whole target";
  }
  return stages;
}

RolloutGate parse_gate(const json* value, json& problems) {
  RolloutGate gate;
  if (value == nullptr) return gate;
  if (!value->is_object()) {
    problems["gate"] = "must be an object: {max_failed_percent, max_unhealthy_percent, max_offline_percent}";
    return gate;
  }
  refuse_unknown(*value, {"max_failed_percent", "max_unhealthy_percent", "max_offline_percent"}, "gate.",
                 "a gate (max_failed_percent, max_unhealthy_percent, max_offline_percent)", problems);
  const std::pair<const char*, double*> fields[] = {{"max_failed_percent", &gate.max_failed_percent},
                                                    {"max_unhealthy_percent", &gate.max_unhealthy_percent},
                                                    {"max_offline_percent", &gate.max_offline_percent}};
  for (const auto& [name, out] : fields) {
    const json* given = present_member(*value, name);
    if (given == nullptr) continue;
    if (!given->is_number() || given->get<double>() < 0 || given->get<double>() > 100) {
      problems[std::string("gate.") + name] =
          "must be a number from 0 to 100 (percent of the slice's agents)";
    } else {
      *out = given->get<double>();
    }
  }
  return gate;
}

Parsed<RolloutRequest> parse_rollout_request(const json& body) {
  json problems = json::object();
  RolloutRequest request;
  refuse_unknown(body, {"name", "target", "change", "stages", "gate", "on_failure"}, "",
                 "a rollout (name, target, change, stages, gate, on_failure)", problems);
  const json* name = present_member(body, "name");
  if (name == nullptr || !name->is_string() || name->get_ref<const std::string&>().empty() ||
      name->get_ref<const std::string&>().size() > kMaxRolloutNameLength ||
      has_control_character(name->get_ref<const std::string&>())) {
    problems["name"] = fmt::format("is required: a string of 1 to {} characters without control characters",
                                   kMaxRolloutNameLength);
  } else {
    request.name = name->get<std::string>();
  }
  request.target = parse_target(present_member(body, "target"), problems);
  request.change = parse_change(present_member(body, "change"), problems);
  request.stages = parse_stages(present_member(body, "stages"), problems);
  request.gate = parse_gate(present_member(body, "gate"), problems);
  if (const json* on_failure = present_member(body, "on_failure")) {
    const auto parsed =
        on_failure->is_string() ? parse_rollout_on_failure(on_failure->get<std::string>()) : std::nullopt;
    if (!parsed) {
      problems["on_failure"] = "must be \"pause\" or \"rollback\"";
    } else {
      request.on_failure = *parsed;
    }
  }
  if (!problems.empty())
    return Invalid{"request body failed validation", "VALIDATION_FAILED", std::move(problems)};
  return request;
}

json time_or_null(bool known, TimeMs time_ms) {
  return known ? json(format_rfc3339(time_ms)) : json(nullptr);
}

const char* stage_state(const RolloutStageProgress& stage) {
  if (stage.finished) return "finished";
  if (stage.baking) return "baking";
  if (stage.started) return "applying";
  return "pending";
}

json rollout_to_json(const Rollout& rollout, const std::optional<RolloutCounts>& live, bool with_events) {
  json stages = json::array();
  for (std::size_t index = 0; index < rollout.stages.size(); ++index) {
    const RolloutStageSpec& spec = rollout.stages[index];
    const RolloutStageProgress& progress = rollout.progress[index];
    json stage = rollout_stage_to_json(spec);
    const bool current = index == rollout.current_stage && progress.started && !progress.finished;
    const RolloutCounts counts = current && live ? *live : progress.counts;
    stage.update(counts_to_json(counts));
    if (!progress.finished && !current) stage["agents"] = progress.agents;
    stage["state"] = stage_state(progress);
    stage["started_at"] = time_or_null(progress.started, progress.started_at_ms);
    stage["baking_at"] = time_or_null(progress.baking, progress.baking_at_ms);
    stage["finished_at"] = time_or_null(progress.finished, progress.finished_at_ms);
    stages.push_back(std::move(stage));
  }
  json answer = {{"rollout_id", rollout.rollout_id},
                 {"org", rollout.org},
                 {"name", rollout.name},
                 {"target", rollout_target_to_json(rollout.target)},
                 {"change", rollout_change_to_json(rollout.change)},
                 {"stages", std::move(stages)},
                 {"current_stage", rollout.current_stage},
                 {"gate", rollout_gate_to_json(rollout.gate)},
                 {"on_failure", to_string(rollout.on_failure)},
                 {"state", to_string(rollout.status)},
                 {"reason", rollout.reason.empty() ? json(nullptr) : json(rollout.reason)},
                 {"measure", rollout.measure.empty() ? json(nullptr) : json(rollout.measure)},
                 {"layer", rollout.has_layer()},
                 {"created_by", rollout.principal},
                 {"created_at", format_rfc3339(rollout.created_at_ms)},
                 {"updated_at", format_rfc3339(rollout.updated_at_ms)},
                 {"ended_at", time_or_null(rollout.ended_at_ms != 0, rollout.ended_at_ms)},
                 {"position", rollout.last_position}};
  if (with_events) {
    json events = json::array();
    for (const RolloutHistoryEntry& entry : rollout.history) {
      events.push_back({{"type", entry.type},
                        {"time", format_rfc3339(entry.at_ms)},
                        {"position", entry.position},
                        {"data", entry.data}});
    }
    answer["events"] = std::move(events);
  }
  return answer;
}

void reply_rollout(const std::shared_ptr<Call>& call, int status, const Rollout& rollout) {
  // The answer shows the live numbers a GET would.
  auto view = call->services.rollouts->find(call->principal, rollout.rollout_id);
  call->reply_json(
      status, view ? rollout_to_json(view->rollout, view->live, true) : rollout_to_json(rollout, {}, true));
}

void create_rollout(const std::shared_ptr<Call>& call) {
  std::string org;
  json body;
  if (!call->require_org(org) || !call->parse_body(false, body)) return;
  auto parsed = parse_rollout_request(body);
  if (auto* invalid = std::get_if<Invalid>(&parsed)) return call->reply_invalid(*invalid);
  call->when_projected([call, org, request = std::get<RolloutRequest>(std::move(parsed))] {
    call->await<Rollout>(
        "BUSY",
        [&](auto done) { call->services.rollouts->create(org, request, call->context, std::move(done)); },
        [call](Result<Rollout> rollout) {
          if (!rollout) return call->reply_failure(rollout.error());
          reply_rollout(call, 201, *rollout);
        });
  });
}

// POST /api/v1/rollouts/{rollout_id}/<action>.
template <void (RolloutService::*Action)(const Principal&, const std::string&, const RequestContext&,
                                         RolloutService::Done)>
void steer_rollout(const std::shared_ptr<Call>& call) {
  call->await<Rollout>(
      "BUSY",
      [&](auto done) {
        (call->services.rollouts->*Action)(call->principal, call->params["rollout_id"], call->context,
                                           std::move(done));
      },
      [call](Result<Rollout> rollout) {
        if (!rollout) return call->reply_failure(rollout.error());
        reply_rollout(call, 200, *rollout);
      });
}

void get_rollout(const std::shared_ptr<Call>& call) {
  call->when_projected([call] {
    const auto view = call->services.rollouts->find(call->principal, call->params["rollout_id"]);
    if (!view) return call->reply_failure(view.error());
    call->reply_json(200, rollout_to_json(view->rollout, view->live, true));
  });
}

void list_rollouts(const std::shared_ptr<Call>& call) {
  auto limit = parse_uint_param(call->head.query, "limit", kDefaultRolloutPage, kMaxRolloutPage);
  if (auto* invalid = std::get_if<Invalid>(&limit)) return call->reply_invalid(*invalid);
  if (std::get<std::uint64_t>(limit) == 0) {
    return call->reply_error(400, "invalid query parameter 'limit'", "INVALID_PARAMETER",
                             json{{"limit", fmt::format("must be 1 to {}", kMaxRolloutPage)}});
  }
  std::optional<std::string> after;
  if (const auto cursor = call->head.query.find("cursor"); cursor != call->head.query.end())
    after = cursor->second;
  call->when_projected([call, limit = std::get<std::uint64_t>(limit), after] {
    const auto page = call->services.rollouts->list(call->principal, limit, after);
    if (!page) {
      return call->reply_error(400, "invalid query parameter 'cursor'", "INVALID_PARAMETER",
                               json{{"cursor", page.error().message}});
    }
    json rollouts = json::array();
    for (const Rollout& rollout : page->rollouts)
      rollouts.push_back(rollout_to_json(rollout, std::nullopt, false));
    call->reply_json(200, {{"rollouts", std::move(rollouts)},
                           {"next_cursor", page->next_after ? json(*page->next_after) : json(nullptr)}});
  });
}

}  // namespace

void add_rollouts(RouteTable& table) {
  using C = Credential;
  table.add("POST", "/api/v1/rollouts", {create_rollout, C::api_key, Role::operator_, false, true});
  table.add("GET", "/api/v1/rollouts", {list_rollouts, C::api_key, Role::viewer});
  table.add("GET", "/api/v1/rollouts/{rollout_id}", {get_rollout, C::api_key, Role::viewer});
  table.add("POST", "/api/v1/rollouts/{rollout_id}/pause",
            {steer_rollout<&RolloutService::pause>, C::api_key, Role::operator_, false, true});
  table.add("POST", "/api/v1/rollouts/{rollout_id}/resume",
            {steer_rollout<&RolloutService::resume_rollout>, C::api_key, Role::operator_, false, true});
  table.add("POST", "/api/v1/rollouts/{rollout_id}/abort",
            {steer_rollout<&RolloutService::abort>, C::api_key, Role::operator_, false, true});
  table.add("POST", "/api/v1/rollouts/{rollout_id}/rollback",
            {steer_rollout<&RolloutService::rollback>, C::api_key, Role::operator_, false, true});
}

}  // namespace muster::http::routes
