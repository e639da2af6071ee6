#include "http/assignment_parsing.hpp"

#include <set>
#include <string>

#include <fmt/format.h>

#include "actors/config/config_files.hpp"

namespace muster::http {
namespace {

using nlohmann::json;

constexpr const char* kNameRule =
    "must be a config name: 1 to 63 characters of [a-z0-9._-], starting with [a-z0-9]";
constexpr std::size_t kMaxSearchTextLength = 256;
constexpr const char* kVersionRule = "must be a version number from 1, or \"latest\"";

// A version as requests write it: a whole number from 1, or "latest" (held as 0).
std::optional<std::uint64_t> read_version(const json& value) {
  if (value.is_string() && value.get_ref<const std::string&>() == "latest") return 0;
  if (value.is_number_unsigned() && value.get<std::uint64_t>() >= 1) return value.get<std::uint64_t>();
  return std::nullopt;
}

// The member `key` of `object` unless absent or null.
const json* member(const json& object, const char* key) {
  const auto found = object.find(key);
  return found == object.end() || found->is_null() ? nullptr : &*found;
}

// One policy: "<name>" or {"name", "version"?}; why not, if it is neither.
std::optional<std::string> read_policy(const json& item, ConfigRef& out) {
  if (item.is_string()) {
    out.name = item.get<std::string>();
  } else if (item.is_object()) {
    for (const auto& [key, value] : item.items()) {
      if (key != "name" && key != "version")
        return fmt::format("'{}' is not a member of a policy (name, version)", key);
    }
    const json* name = member(item, "name");
    if (name == nullptr || !name->is_string()) return std::string("each policy needs a string \"name\"");
    out.name = name->get<std::string>();
    if (const json* version = member(item, "version")) {
      const auto read = read_version(*version);
      if (!read) return fmt::format("policy '{}': version {}", out.name, kVersionRule);
      out.version = *read;
    }
  } else {
    return std::string("each policy must be a name or {\"name\", \"version\"}");
  }
  if (!is_valid_config_name(out.name)) return fmt::format("policy names {}", kNameRule);
  return std::nullopt;
}

std::optional<std::string> read_policies(const json& value, std::vector<ConfigRef>& out) {
  if (!value.is_array()) return std::string("must be an array of policy names or {\"name\", \"version\"}");
  if (value.size() > kMaxPolicies) return fmt::format("must have at most {} policies", kMaxPolicies);
  std::set<std::string> seen;
  for (const json& item : value) {
    ConfigRef policy;
    if (auto why = read_policy(item, policy)) return why;
    if (!seen.insert(policy.name).second) return fmt::format("policy '{}' is named twice", policy.name);
    out.push_back(std::move(policy));
  }
  return std::nullopt;
}

std::optional<std::string> check_settings(const json& value) {
  if (!value.is_object()) return std::string("must be a JSON object");
  if (json_depth(value) > kMaxSettingsDepth) {
    return fmt::format("must be nested at most {} levels deep", kMaxSettingsDepth);
  }
  if (value.dump(-1, ' ', false, json::error_handler_t::replace).size() > kMaxSettingsBytes) {
    return fmt::format("must be at most {} bytes as JSON", kMaxSettingsBytes);
  }
  return std::nullopt;
}

}  // namespace

Parsed<Assignment> parse_assignment(const json& body) {
  json problems = json::object();
  if (!body.is_object()) {
    return Invalid{"request body must be a JSON object", "INVALID_JSON",
                   json{{"body", "must be a JSON object"}}};
  }
  for (const auto& [key, value] : body.items()) {
    if (key != "config" && key != "version" && key != "policies" && key != "settings") {
      problems[key] = "is not a member of an assignment (config, version, policies, settings)";
    }
  }
  Assignment assignment;
  const json* config = member(body, "config");
  if (config != nullptr) {
    if (!config->is_string() || !is_valid_config_name(config->get_ref<const std::string&>())) {
      problems["config"] = kNameRule;
    } else {
      assignment.config = ConfigRef{config->get<std::string>(), 0};
    }
  }
  if (const json* version = member(body, "version")) {
    const auto read = read_version(*version);
    if (config == nullptr) {
      problems["version"] = "needs \"config\": it is the version of the config";
    } else if (!read) {
      problems["version"] = kVersionRule;
    } else if (assignment.config) {
      assignment.config->version = *read;
    }
  }
  if (const json* policies = member(body, "policies")) {
    if (auto why = read_policies(*policies, assignment.policies)) problems["policies"] = *why;
  }
  if (const json* settings = member(body, "settings")) {
    if (auto why = check_settings(*settings)) {
      problems["settings"] = *why;
    } else {
      assignment.settings = *settings;
    }
  }
  if (!problems.empty())
    return Invalid{"request body failed validation", "VALIDATION_FAILED", std::move(problems)};
  return assignment;
}

Parsed<LabelSelector> parse_selector(const json& value) {
  return parse_labels(value, "selector");
}

BulkSelector parse_bulk_selector(const json& value, json& problems) {
  BulkSelector selector;
  if (!value.is_object()) {
    problems["selector"] =
        "must be an object of criteria: agent_ids, group, labels, status, config_status, q";
    return selector;
  }
  for (const auto& [key, item] : value.items()) {
    if (key != "agent_ids" && key != "group" && key != "labels" && key != "status" &&
        key != "config_status" && key != "q") {
      problems["selector." + key] = "is not a criterion (agent_ids, group, labels, status, config_status, q)";
    }
  }
  if (const json* ids = member(value, "agent_ids")) {
    std::vector<AgentId> parsed;
    const bool sized = ids->is_array() && !ids->empty() && ids->size() <= kMaxBulkAgents;
    for (const json& item : sized ? *ids : json::array()) {
      const auto id = item.is_string() ? AgentId::parse(item.get_ref<const std::string&>()) : std::nullopt;
      if (!id) break;
      parsed.push_back(*id);
    }
    if (!sized || parsed.size() != ids->size()) {
      problems["selector.agent_ids"] =
          fmt::format("must be an array of 1 to {} agent ids (lowercase UUIDs)", kMaxBulkAgents);
    } else {
      selector.agent_ids = std::move(parsed);
    }
  }
  if (const json* group = member(value, "group")) {
    if (!group->is_string() || !is_valid_config_name(group->get_ref<const std::string&>())) {
      problems["selector.group"] = "must be a group name: [a-z0-9][a-z0-9._-]{0,62}";
    } else {
      selector.group = group->get<std::string>();
    }
  }
  if (const json* labels = member(value, "labels")) {
    auto parsed = parse_labels(*labels, "selector.labels");
    if (auto* invalid = std::get_if<Invalid>(&parsed)) {
      for (const auto& detail : invalid->details.items()) problems[detail.key()] = detail.value();
    } else {
      selector.labels = std::get<LabelSelector>(std::move(parsed));
    }
  }
  if (const json* status = member(value, "status")) {
    const auto parsed = status->is_string() ? parse_agent_status(status->get<std::string>()) : std::nullopt;
    if (!parsed || !is_listed(*parsed)) {
      problems["selector.status"] = "must be ONLINE, DEGRADED or OFFLINE";
    } else {
      selector.status = parsed;
    }
  }
  if (const json* status = member(value, "config_status")) {
    selector.config_status =
        status->is_string() ? parse_config_status(status->get<std::string>()) : std::nullopt;
    if (!selector.config_status) {
      problems["selector.config_status"] = "must be none, pending, applying, applied, failed or drifted";
    }
  }
  if (const json* text = member(value, "q")) {
    if (!text->is_string() || text->get_ref<const std::string&>().empty() ||
        text->get_ref<const std::string&>().size() > kMaxSearchTextLength ||
        has_control_character(text->get_ref<const std::string&>())) {
      problems["selector.q"] = fmt::format(
          "must be a string of 1 to {} characters without control characters", kMaxSearchTextLength);
    } else {
      selector.text = text->get<std::string>();
    }
  }
  return selector;
}

}  // namespace muster::http
