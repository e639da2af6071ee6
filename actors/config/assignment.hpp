#pragma once
/// What a group or a single agent is told to run: a config (a version, or
/// the latest), policies, and settings. Groups and agents carry one each;
/// the desired configuration of an agent is resolved from them (see
/// desired_config.hpp).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.hpp"

namespace muster {

/// A config or policy named by an assignment. Version 0 means "latest".
struct ConfigRef {
  std::string name;
  std::uint64_t version = 0;
};

inline bool operator==(const ConfigRef& left, const ConfigRef& right) {
  return left.name == right.name && left.version == right.version;
}

struct Assignment {
  std::optional<ConfigRef> config;  ///< The one config; none: the assignment names only policies or settings.
  std::vector<ConfigRef> policies;  ///< Distinct names, in the order given.
  nlohmann::json settings = nlohmann::json::object();  ///< A JSON object.

  bool empty() const { return !config && policies.empty() && settings.empty(); }
};

inline bool operator==(const Assignment& left, const Assignment& right) {
  return left.config == right.config && left.policies == right.policies && left.settings == right.settings;
}

/// Bounds on what an assignment may carry.
inline constexpr std::size_t kMaxPolicies = 64;
inline constexpr std::size_t kMaxSettingsBytes = 64 * 1024;
inline constexpr std::size_t kMaxSettingsDepth = 8;

/// {config?, version?, policies: [{name, version?}], settings: {...}}: the
/// API's and the events' shape (version and policy versions "latest" when 0).
nlohmann::json assignment_to_json(const Assignment& assignment);
/// Reads what `assignment_to_json` wrote. Errors: `corruption`.
Result<Assignment> assignment_from_json(const nlohmann::json& data);

/// `later` merged into `into`: objects merge member by member, recursively;
/// anything else in `later` (a value, an array, null) replaces what was there.
void merge_settings(nlohmann::json& into, const nlohmann::json& later);

/// Depth of nested objects and arrays in `value` (a scalar: 0).
std::size_t json_depth(const nlohmann::json& value);

}  // namespace muster
