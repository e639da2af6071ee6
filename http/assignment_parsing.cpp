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

}  // namespace muster::http
