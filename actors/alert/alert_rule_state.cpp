#include "actors/alert/alert_rule_state.hpp"

#include <algorithm>
#include <cmath>
#include <utility>

#include <fmt/format.h>

#include "actors/runtime/stream_id.hpp"
#include "common/enum_names.hpp"
#include "common/time_format.hpp"

namespace muster {
namespace {

using nlohmann::json;
using payload::read;

constexpr std::pair<AlertRuleKind, const char*> kKindNames[] = {{AlertRuleKind::threshold, "threshold"},
                                                                {AlertRuleKind::absence, "absence"},
                                                                {AlertRuleKind::status, "status"},
                                                                {AlertRuleKind::fleet, "fleet"},
                                                                {AlertRuleKind::composite, "composite"}};
constexpr std::pair<ThresholdFn, const char*> kFnNames[] = {
    {ThresholdFn::avg, "avg"}, {ThresholdFn::max, "max"}, {ThresholdFn::min, "min"}, {ThresholdFn::last, "last"}};
constexpr std::pair<CompareOp, const char*> kOpNames[] = {{CompareOp::greater, ">"},
                                                          {CompareOp::greater_or_equal, ">="},
                                                          {CompareOp::less, "<"},
                                                          {CompareOp::less_or_equal, "<="}};
constexpr std::pair<FleetCondition, const char*> kFleetNames[] = {{FleetCondition::offline, "offline"},
                                                                  {FleetCondition::degraded, "degraded"},
                                                                  {FleetCondition::config_failed, "config_failed"},
                                                                  {FleetCondition::config_drifted, "config_drifted"}};

bool is_channel_id(const std::string& id) {
  return !id.empty() && id.size() <= 64 && std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-';
  });
}

bool is_report_type(const std::string& type) {
  if (type.empty() || type.size() > 64 || type[0] < 'a' || type[0] > 'z') return false;
  return std::all_of(type.begin(), type.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
  });
}

// Reads a rule body member by member; the first problem is the answer.
class RuleReader {
 public:
  std::optional<Error> problem;

  void fail(std::string field, std::string why) {
    if (!problem) problem = invalid_field(std::move(field), std::move(why));
  }

  // A duration member ("5m"); `fallback` when absent or null.
  TimeMs duration(const json& object, const char* key, const std::string& field, TimeMs fallback, TimeMs min_ms,
                  TimeMs max_ms) {
    const auto found = object.find(key);
    if (found == object.end() || found->is_null()) return fallback;
    if (!found->is_string()) {
      fail(field, "must be a duration such as \"30s\", \"5m\", \"2h\"");
      return fallback;
    }
    auto parsed = parse_duration_ms(found->get_ref<const std::string&>());
    if (!parsed || *parsed < min_ms || *parsed > max_ms) {
      fail(field, fmt::format("must be a duration from {} to {} such as \"30s\", \"5m\", \"2h\"",
                              format_duration(min_ms), format_duration(max_ms)));
      return fallback;
    }
    return *parsed;
  }

  std::vector<std::string> channels(const json& value, const std::string& field) {
    std::vector<std::string> out;
    if (!value.is_array() || value.size() > kMaxRuleChannels) {
      fail(field, fmt::format("must be an array of at most {} channel ids", kMaxRuleChannels));
      return out;
    }
    for (const json& item : value) {
      if (!item.is_string() || !is_channel_id(item.get_ref<const std::string&>())) {
        fail(field, "channel ids are 1 to 64 characters of [A-Za-z0-9._-]");
        return out;
      }
      if (std::find(out.begin(), out.end(), item.get<std::string>()) == out.end()) out.push_back(item.get<std::string>());
    }
    return out;
  }

  void only(const json& object, std::initializer_list<const char*> keys, const std::string& field) {
    for (const auto& item : object.items()) {
      if (std::none_of(keys.begin(), keys.end(), [&](const char* key) { return item.key() == key; })) {
        fail(field.empty() ? item.key() : field + "." + item.key(), "is not a member this accepts");
        return;
      }
    }
  }

  ThresholdCondition threshold(const json& value, const std::string& field) {
    ThresholdCondition out;
    only(value, {"kind", "metric", "fn", "window", "op", "value"}, field);
    const auto metric = value.find("metric");
    if (metric == value.end() || !metric->is_string() || metric->get_ref<const std::string&>().empty() ||
        metric->get_ref<const std::string&>().size() > 128) {
      fail(field + ".metric", "is required: a metric name of 1 to 128 characters");
    } else {
      out.metric = metric->get<std::string>();
    }
    const auto fn = value.find("fn");
    if (fn != value.end() && !fn->is_null()) {
      const auto parsed = fn->is_string() ? value_in(kFnNames, fn->get_ref<const std::string&>()) : std::nullopt;
      if (!parsed) {
        fail(field + ".fn", "must be avg, max, min or last");
      } else {
        out.fn = *parsed;
      }
    }
    out.window_ms = duration(value, "window", field + ".window", 300'000, 1000, kMaxThresholdWindowMs);
    const auto op = value.find("op");
    const auto parsed_op =
        op != value.end() && op->is_string() ? value_in(kOpNames, op->get_ref<const std::string&>()) : std::nullopt;
    if (!parsed_op) {
      fail(field + ".op", "is required: \">\", \">=\", \"<\" or \"<=\"");
    } else {
      out.op = *parsed_op;
    }
    const auto number = value.find("value");
    if (number == value.end() || !number->is_number() || !std::isfinite(number->get<double>())) {
      fail(field + ".value", "is required: a finite number");
    } else {
      out.value = number->get<double>();
    }
    return out;
  }

  StatusCondition status(const json& value, const std::string& field, bool allow_rollout) {
    StatusCondition out;
    only(value, {"kind", "agent_status", "config_status", "rollout", "report_type", "window"}, field);
    const auto agent_status = value.find("agent_status");
    const auto config_status = value.find("config_status");
    const auto rollout = value.find("rollout");
    const auto report_type = value.find("report_type");
    const int given = (agent_status != value.end()) + (config_status != value.end()) + (rollout != value.end()) +
                      (report_type != value.end());
    if (given != 1) {
      fail(field, "must name exactly one of agent_status, config_status, rollout, report_type");
      return out;
    }
    if (agent_status != value.end()) {
      if (*agent_status != "degraded") fail(field + ".agent_status", "must be \"degraded\"");
      out.check = StatusCheck::agent_degraded;
    } else if (config_status != value.end()) {
      if (*config_status == "failed") {
        out.check = StatusCheck::config_failed;
      } else if (*config_status == "drifted") {
        out.check = StatusCheck::config_drifted;
      } else {
        fail(field + ".config_status", "must be \"failed\" or \"drifted\"");
      }
    } else if (rollout != value.end()) {
      if (!allow_rollout) fail(field + ".rollout", "is not a condition of one agent");
      if (*rollout != "paused") fail(field + ".rollout", "must be \"paused\"");
      out.check = StatusCheck::rollout_paused;
    } else {
      if (!report_type->is_string() || !is_report_type(report_type->get<std::string>())) {
        fail(field + ".report_type", "must be a report type: [a-z][a-z0-9_.-]{0,63}");
      } else {
        out.report_type = report_type->get<std::string>();
      }
      out.check = StatusCheck::report_type;
      out.window_ms = duration(value, "window", field + ".window", kDefaultReportWindowMs, 1000,
                               kMaxThresholdWindowMs);
    }
    if (out.check != StatusCheck::report_type && value.contains("window")) {
      fail(field + ".window", "is for report_type only");
    }
    return out;
  }

  AgentCondition agent_condition(AlertRuleKind kind, const json& value, const std::string& field,
                                 bool allow_rollout) {
    AgentCondition out;
    out.kind = kind;
    if (!value.is_object()) {
      fail(field, "must be an object");
      return out;
    }
    if (kind == AlertRuleKind::threshold) out.threshold = threshold(value, field);
    if (kind == AlertRuleKind::status) out.status = status(value, field, allow_rollout);
    if (kind == AlertRuleKind::absence) only(value, {"kind"}, field);
    return out;
  }
};

json condition_json(const AgentCondition& condition, bool with_kind) {
  json out = json::object();
  if (with_kind) out["kind"] = to_string(condition.kind);
  if (condition.kind == AlertRuleKind::threshold) {
    const ThresholdCondition& threshold = condition.threshold;
    out["metric"] = threshold.metric;
    out["fn"] = to_string(threshold.fn);
    out["window"] = format_duration(threshold.window_ms);
    out["op"] = to_string(threshold.op);
    out["value"] = threshold.value;
  } else if (condition.kind == AlertRuleKind::status) {
    const StatusCondition& status = condition.status;
    switch (status.check) {
      case StatusCheck::agent_degraded:
        out["agent_status"] = "degraded";
        break;
      case StatusCheck::config_failed:
        out["config_status"] = "failed";
        break;
      case StatusCheck::config_drifted:
        out["config_status"] = "drifted";
        break;
      case StatusCheck::rollout_paused:
        out["rollout"] = "paused";
        break;
      case StatusCheck::report_type:
        out["report_type"] = status.report_type;
        out["window"] = format_duration(status.window_ms);
        break;
    }
  }
  return out;
}

bool read_rule(const json& data, AlertRuleSpec& out) {
  const auto found = data.find("rule");
  if (found == data.end()) return false;
  auto parsed = parse_alert_rule(*found);
  if (!parsed) return false;
  out = std::move(*parsed);
  return true;
}

json rule_fields(const AlertRule& rule) {
  json out = rule.spec.to_json();
  out["rule_id"] = rule.rule_id;
  out["org"] = rule.org;
  out["principal"] = rule.principal;
  out["created_at_ms"] = rule.created_at_ms;
  out["updated_at_ms"] = rule.updated_at_ms;
  out["version"] = rule.version;
  return out;
}

}  // namespace

const char* to_string(AlertRuleKind kind) {
  return name_in(kKindNames, kind);
}
const char* to_string(ThresholdFn fn) {
  return name_in(kFnNames, fn);
}
const char* to_string(CompareOp op) {
  return name_in(kOpNames, op);
}
const char* to_string(FleetCondition condition) {
  return name_in(kFleetNames, condition);
}

bool compare(CompareOp op, double value, double threshold) {
  switch (op) {
    case CompareOp::greater:
      return value > threshold;
    case CompareOp::greater_or_equal:
      return value >= threshold;
    case CompareOp::less:
      return value < threshold;
    case CompareOp::less_or_equal:
      return value <= threshold;
  }
  return false;
}

std::string format_duration(TimeMs ms) {
  constexpr std::pair<TimeMs, const char*> kUnits[] = {{86'400'000, "d"}, {3'600'000, "h"}, {60'000, "m"}, {1000, "s"}};
  for (const auto& unit : kUnits) {
    if (ms > 0 && ms % unit.first == 0) return fmt::format("{}{}", ms / unit.first, unit.second);
  }
  return fmt::format("{}ms", ms);
}

json AlertRuleSpec::to_json() const {
  json condition_out = json::object();
  if (kind == AlertRuleKind::fleet) {
    condition_out = {{"condition", muster::to_string(fleet_condition)}, {"share_percent", share_percent}};
  } else if (kind == AlertRuleKind::composite) {
    json list = json::array();
    for (const AgentCondition& part : parts) list.push_back(condition_json(part, true));
    condition_out[composite_all ? "all" : "any"] = std::move(list);
  } else {
    condition_out = condition_json(condition, false);
  }
  json steps = json::array();
  for (const AlertEscalationStep& step : escalation) {
    steps.push_back({{"after", format_duration(step.after_ms)}, {"channels", step.channels}});
  }
  return {{"name", name},
          {"kind", muster::to_string(kind)},
          {"condition", std::move(condition_out)},
          {"scope", scope.to_json()},
          {"severity", muster::to_string(severity)},
          {"channels", channels},
          {"escalation", std::move(steps)},
          {"group_wait", format_duration(group_wait_ms)},
          {"for", format_duration(for_ms)}};
}

bool AlertRuleSpec::per_agent() const {
  if (kind == AlertRuleKind::fleet) return false;
  return !(kind == AlertRuleKind::status && condition.status.check == StatusCheck::rollout_paused);
}

bool operator==(const AlertRuleSpec& left, const AlertRuleSpec& right) {
  return left.to_json() == right.to_json();
}

Result<AlertRuleSpec> parse_alert_rule(const json& body) {
  if (!body.is_object()) return invalid_field("body", "must be a JSON object");
  RuleReader reader;
  AlertRuleSpec spec;
  reader.only(body, {"name", "kind", "condition", "scope", "severity", "channels", "escalation", "group_wait", "for"},
              "");
  const auto name = body.find("name");
  if (name == body.end() || !name->is_string() || name->get_ref<const std::string&>().empty() ||
      name->get_ref<const std::string&>().size() > 128) {
    reader.fail("name", "is required: 1 to 128 characters");
  } else {
    spec.name = name->get<std::string>();
    if (std::any_of(spec.name.begin(), spec.name.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20; })) {
      reader.fail("name", "must hold no control characters");
    }
  }
  const auto kind = body.find("kind");
  const auto parsed_kind =
      kind != body.end() && kind->is_string() ? value_in(kKindNames, kind->get_ref<const std::string&>()) : std::nullopt;
  if (!parsed_kind) {
    reader.fail("kind", "is required: threshold, absence, status, fleet or composite");
    return *reader.problem;
  }
  spec.kind = *parsed_kind;
  const auto found_condition = body.find("condition");
  const json condition = found_condition == body.end() || found_condition->is_null() ? json::object() : *found_condition;
  if (!condition.is_object()) reader.fail("condition", "must be an object");
  if (!reader.problem) {
    switch (spec.kind) {
      case AlertRuleKind::threshold:
      case AlertRuleKind::absence:
      case AlertRuleKind::status:
        spec.condition = reader.agent_condition(spec.kind, condition, "condition", true);
        break;
      case AlertRuleKind::fleet: {
        reader.only(condition, {"condition", "share_percent"}, "condition");
        const auto which = condition.find("condition");
        const auto parsed = which != condition.end() && which->is_string()
                                ? value_in(kFleetNames, which->get_ref<const std::string&>())
                                : std::nullopt;
        if (!parsed) {
          reader.fail("condition.condition", "is required: offline, degraded, config_failed or config_drifted");
        } else {
          spec.fleet_condition = *parsed;
        }
        const auto share = condition.find("share_percent");
        if (share == condition.end() || !share->is_number() || !std::isfinite(share->get<double>()) ||
            share->get<double>() <= 0 || share->get<double>() > 100) {
          reader.fail("condition.share_percent", "is required: a number above 0, at most 100");
        } else {
          spec.share_percent = share->get<double>();
        }
        break;
      }
      case AlertRuleKind::composite: {
        const bool has_all = condition.contains("all");
        const bool has_any = condition.contains("any");
        if (has_all == has_any || condition.size() != 1) {
          reader.fail("condition", "must be {\"all\": [conditions]} or {\"any\": [conditions]}");
          break;
        }
        spec.composite_all = has_all;
        const std::string list_field = has_all ? "condition.all" : "condition.any";
        const json& list = condition.at(has_all ? "all" : "any");
        if (!list.is_array() || list.empty() || list.size() > kMaxCompositeParts) {
          reader.fail(list_field, fmt::format("must be an array of 1 to {} conditions", kMaxCompositeParts));
          break;
        }
        for (std::size_t index = 0; index < list.size(); ++index) {
          const std::string field = fmt::format("{}[{}]", list_field, index);
          const json& part = list[index];
          const auto part_kind = part.is_object() && part.contains("kind") && part["kind"].is_string()
                                     ? value_in(kKindNames, part["kind"].get_ref<const std::string&>())
                                     : std::nullopt;
          if (!part_kind || *part_kind == AlertRuleKind::fleet || *part_kind == AlertRuleKind::composite) {
            reader.fail(field + ".kind", "is required: threshold, absence or status");
            break;
          }
          spec.parts.push_back(reader.agent_condition(*part_kind, part, field, false));
        }
        break;
      }
    }
  }
  if (auto scope = parse_alert_scope(body.contains("scope") ? body.at("scope") : json(nullptr), "scope"); !scope) {
    if (!reader.problem) reader.problem = scope.error();
  } else {
    spec.scope = std::move(*scope);
  }
  if (const auto severity = body.find("severity"); severity != body.end() && !severity->is_null()) {
    const auto parsed = severity->is_string() ? parse_alert_severity(severity->get_ref<const std::string&>())
                                              : std::nullopt;
    if (!parsed) {
      reader.fail("severity", "must be info, warning or critical");
    } else {
      spec.severity = *parsed;
    }
  }
  if (const auto channels = body.find("channels"); channels != body.end() && !channels->is_null()) {
    spec.channels = reader.channels(*channels, "channels");
  }
  if (const auto escalation = body.find("escalation"); escalation != body.end() && !escalation->is_null()) {
    if (!escalation->is_array() || escalation->size() > kMaxEscalationSteps) {
      reader.fail("escalation", fmt::format("must be an array of at most {} steps", kMaxEscalationSteps));
    } else {
      for (std::size_t index = 0; index < escalation->size(); ++index) {
        const std::string field = fmt::format("escalation[{}]", index);
        const json& step = (*escalation)[index];
        if (!step.is_object()) {
          reader.fail(field, "must be {\"after\": \"15m\", \"channels\": [ids]}");
          break;
        }
        reader.only(step, {"after", "channels"}, field);
        AlertEscalationStep parsed;
        if (!step.contains("after")) reader.fail(field + ".after", "is required: a duration such as \"15m\"");
        parsed.after_ms = reader.duration(step, "after", field + ".after", 0, 1000, 366LL * 86'400'000);
        if (!step.contains("channels")) reader.fail(field + ".channels", "is required: an array of channel ids");
        parsed.channels = reader.channels(step.contains("channels") ? step.at("channels") : json::array(),
                                          field + ".channels");
        spec.escalation.push_back(std::move(parsed));
      }
    }
  }
  spec.group_wait_ms = reader.duration(body, "group_wait", "group_wait", kDefaultGroupWaitMs, 0, 3'600'000);
  spec.for_ms = reader.duration(body, "for", "for", 0, 0, 30LL * 86'400'000);
  if (reader.problem) return *reader.problem;
  return spec;
}

json AlertRuleCreated::to_json() const {
  return {{"rule_id", rule_id}, {"org", org}, {"rule", rule.to_json()}, {"principal", principal}};
}

Result<AlertRuleCreated> AlertRuleCreated::from_json(const json& data, std::uint32_t /*schema_version*/) {
  AlertRuleCreated event;
  if (!read(data, "rule_id", event.rule_id) || event.rule_id.empty() || !read(data, "org", event.org) ||
      event.org.empty() || !read_rule(data, event.rule) || !read(data, "principal", event.principal)) {
    return payload_error("bad AlertRuleCreated payload");
  }
  return event;
}

json AlertRuleUpdated::to_json() const {
  return {{"rule", rule.to_json()}, {"principal", principal}};
}

Result<AlertRuleUpdated> AlertRuleUpdated::from_json(const json& data, std::uint32_t /*schema_version*/) {
  AlertRuleUpdated event;
  if (!read_rule(data, event.rule) || !read(data, "principal", event.principal)) {
    return payload_error("bad AlertRuleUpdated payload");
  }
  return event;
}

json AlertRuleDeleted::to_json() const {
  return {{"principal", principal}};
}

Result<AlertRuleDeleted> AlertRuleDeleted::from_json(const json& data, std::uint32_t /*schema_version*/) {
  AlertRuleDeleted event;
  if (!read(data, "principal", event.principal)) return payload_error("bad AlertRuleDeleted payload");
  return event;
}

bool operator==(const AlertRule& left, const AlertRule& right) {
  return left.rule_id == right.rule_id && left.org == right.org && left.spec == right.spec &&
         left.deleted == right.deleted && left.principal == right.principal &&
         left.created_at_ms == right.created_at_ms && left.updated_at_ms == right.updated_at_ms &&
         left.created_position == right.created_position && left.version == right.version &&
         left.last_position == right.last_position;
}

json to_json(const AlertRule& rule) {
  json out = rule_fields(rule);
  out.erase("version");
  return out;
}

std::string alert_rule_stream(std::string_view org, std::string_view rule_id) {
  return stream_name(kAlertRuleKind, org_scoped_id(org, rule_id));
}

std::string encode_alert_rule(const AlertRule& rule) {
  json out{{"rule_id", rule.rule_id},
           {"org", rule.org},
           {"rule", rule.spec.to_json()},
           {"deleted", rule.deleted},
           {"principal", rule.principal},
           {"created_at_ms", rule.created_at_ms},
           {"updated_at_ms", rule.updated_at_ms},
           {"created_position", rule.created_position},
           {"version", rule.version},
           {"last_position", rule.last_position}};
  return out.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<AlertRule> decode_alert_rule(std::string_view bytes) {
  const auto data = json::parse(bytes, nullptr, /*allow_exceptions=*/false);
  AlertRule rule;
  if (!data.is_object() || !read(data, "rule_id", rule.rule_id) || !read(data, "org", rule.org) ||
      !read_rule(data, rule.spec) || !data.contains("deleted") || !data["deleted"].is_boolean() ||
      !read(data, "principal", rule.principal) || !read(data, "created_at_ms", rule.created_at_ms) ||
      !read(data, "updated_at_ms", rule.updated_at_ms) || !read(data, "created_position", rule.created_position) ||
      !read(data, "version", rule.version) || !read(data, "last_position", rule.last_position)) {
    return payload_error("bad alert rule snapshot");
  }
  rule.deleted = data["deleted"].get<bool>();
  return rule;
}

Status apply(AlertRule& rule, const AlertRuleEvent& event, const EventHeader& header) {
  const std::string_view type = type_of(event).name;
  if (header.version != rule.version + 1) return corrupt_event(header, type, "out of version order");
  if (const auto* created = std::get_if<AlertRuleCreated>(&event)) {
    if (rule.exists()) return corrupt_event(header, type, "a rule is created once");
    if (stream_id_of(header.stream, kAlertRuleKind) !=
        std::optional<std::string_view>(org_scoped_id(created->org, created->rule_id))) {
      return corrupt_event(header, type, "org/rule_id differ from the stream id");
    }
    rule.rule_id = created->rule_id;
    rule.org = created->org;
    rule.spec = created->rule;
    rule.principal = created->principal;
    rule.created_at_ms = header.time_ms;
    rule.created_position = header.position;
  } else {
    if (!rule.exists()) return corrupt_event(header, type, "a change to a rule never created");
    if (rule.deleted) return corrupt_event(header, type, "a change to a deleted rule");
    if (const auto* updated = std::get_if<AlertRuleUpdated>(&event)) {
      rule.spec = updated->rule;
      rule.principal = updated->principal;
    } else {
      rule.deleted = true;
      rule.principal = std::get<AlertRuleDeleted>(event).principal;
    }
  }
  rule.updated_at_ms = header.time_ms;
  rule.version = header.version;
  rule.last_position = header.position;
  return Status::success();
}

Status apply(AlertRule& rule, const Event& event) {
  return apply_stored<AlertRuleEvent>(rule, event);
}

}  // namespace muster
