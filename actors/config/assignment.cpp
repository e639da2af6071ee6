#include "actors/config/assignment.hpp"

namespace muster {
namespace {

using nlohmann::json;

json ref_version(std::uint64_t version) {
  return version == 0 ? json("latest") : json(version);
}

bool read_ref_version(const json& value, std::uint64_t& out) {
  if (value.is_string() && value.get<std::string>() == "latest") {
    out = 0;
    return true;
  }
  if (!value.is_number_unsigned()) return false;
  out = value.get<std::uint64_t>();
  return out > 0;
}

}  // namespace

json assignment_to_json(const Assignment& assignment) {
  json out = json::object();
  if (assignment.config) {
    out["config"] = assignment.config->name;
    out["version"] = ref_version(assignment.config->version);
  }
  json policies = json::array();
  for (const auto& policy : assignment.policies) {
    policies.push_back({{"name", policy.name}, {"version", ref_version(policy.version)}});
  }
  out["policies"] = std::move(policies);
  out["settings"] = assignment.settings;
  return out;
}

Result<Assignment> assignment_from_json(const json& data) {
  const auto bad = [](const char* why) { return make_error(ErrorCode::corruption, std::string("assignment: ") + why); };
  if (!data.is_object()) return bad("not an object");
  Assignment assignment;
  if (const auto config = data.find("config"); config != data.end() && !config->is_null()) {
    if (!config->is_string()) return bad("config is not a string");
    ConfigRef ref{config->get<std::string>(), 0};
    if (const auto version = data.find("version"); version != data.end() && !read_ref_version(*version, ref.version)) {
      return bad("bad version");
    }
    assignment.config = std::move(ref);
  }
  if (const auto policies = data.find("policies"); policies != data.end()) {
    if (!policies->is_array()) return bad("policies is not an array");
    for (const auto& policy : *policies) {
      const auto name = policy.is_object() ? policy.find("name") : policy.end();
      if (!policy.is_object() || name == policy.end() || !name->is_string()) return bad("bad policy");
      ConfigRef ref{name->get<std::string>(), 0};
      if (const auto version = policy.find("version");
          version != policy.end() && !read_ref_version(*version, ref.version)) {
        return bad("bad policy version");
      }
      assignment.policies.push_back(std::move(ref));
    }
  }
  if (const auto settings = data.find("settings"); settings != data.end()) {
    if (!settings->is_object()) return bad("settings is not an object");
    assignment.settings = *settings;
  }
  return assignment;
}

void merge_settings(json& into, const json& later) {
  if (!into.is_object() || !later.is_object()) {
    into = later;
    return;
  }
  for (const auto& [key, value] : later.items()) {
    auto existing = into.find(key);
    if (existing != into.end() && existing->is_object() && value.is_object()) {
      merge_settings(*existing, value);
    } else {
      into[key] = value;
    }
  }
}

std::size_t json_depth(const json& value) {
  if (!value.is_structured()) return 0;
  std::size_t deepest = 0;
  for (const auto& member : value) deepest = std::max(deepest, json_depth(member));
  return deepest + 1;
}

}  // namespace muster
