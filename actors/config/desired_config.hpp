#pragma once
/// An agent's desired configuration, resolved from what its groups and the
/// agent itself are assigned, and the drift between it and what the agent
/// reports. Pure functions: the config model (projections/config_model.hpp)
/// calls them as it folds, and the tests drive them table by table.
///
/// Precedence: the agent's own assignment first, then the layers of the
/// rollouts that hold it (newest first; actors/rollout/rollout_state.hpp),
/// then its groups by `priority` (higher first), equal priorities by
/// creation (the group created first wins). From that order:
///   - the config is the first source's that names one;
///   - policies are the union of every source's, a policy named by several
///     taking the version of the first that names it; their files join the
///     config's as "<policy name>/<file name>";
///   - settings merge from the last source to the first (deep merge, so the
///     first source's values win).
/// No source with anything assigned: no desired configuration at all.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "actors/config/assignment.hpp"
#include "actors/config/config_files.hpp"

namespace muster {

/// One place an agent's configuration comes from: "agent", "rollout:<id>" or "group:<name>".
struct AssignmentSource {
  std::string source;
  const Assignment* assignment = nullptr;
};

/// A config or policy as resolved: which version, from which source.
struct ResolvedRef {
  std::string name;
  std::uint64_t version = 0;
  std::string hash;    ///< That version's files' hash.
  std::string source;  ///< "agent", "rollout:<id>" or "group:<name>".
};

struct DesiredConfig {
  SharedConfigFiles files;  ///< The config's files and the policies' (namespaced).
  nlohmann::json settings = nlohmann::json::object();
  std::string files_hash;  ///< hash_files(*files): what an effective config is compared with.
  std::string hash;        ///< Over files and settings: the ETag, `config_hash` everywhere.
  std::optional<ResolvedRef> config;
  std::vector<ResolvedRef> policies;
  /// Top-level setting -> the source whose value won.
  std::map<std::string, std::string> settings_sources;
};

/// A config version as a resolution needs it.
struct ConfigVersionRef {
  std::uint64_t version = 0;
  SharedConfigFiles files;
  std::string hash;
};

/// Finds version `version` (0: the latest) of the config or policy `name`;
/// nullopt if there is none (deleted, or of the other kind).
using FindConfigVersion =
    std::function<std::optional<ConfigVersionRef>(std::string_view name, std::uint64_t version, bool policy)>;

/// Resolves `sources`, first = highest precedence. A reference `find` cannot
/// resolve is left out. Null if no source assigns anything.
std::shared_ptr<const DesiredConfig> resolve_desired(const std::vector<AssignmentSource>& sources,
                                                      const FindConfigVersion& find);

/// The hash of files and settings together (DesiredConfig::hash).
std::string desired_hash(const std::string& files_hash, const nlohmann::json& settings);

/// Where an agent stands with its desired configuration.
enum class ConfigStatus : std::uint8_t {
  none,      ///< Nothing assigned.
  pending,   ///< The desired hash not reported yet.
  applying,  ///< The agent says it is applying it.
  applied,   ///< The agent says it runs it (and its effective config, if reported, agrees).
  failed,    ///< The agent could not apply it (with its error).
  drifted,   ///< Applied, but what it runs differs; or it reports a hash never desired.
};
inline constexpr std::size_t kConfigStatusCount = 6;
const char* to_string(ConfigStatus status);
std::optional<ConfigStatus> parse_config_status(std::string_view text);

/// What an agent says of the config it was given.
enum class ConfigReportStatus : std::uint8_t { applying, applied, failed };
const char* to_string(ConfigReportStatus status);
std::optional<ConfigReportStatus> parse_config_report_status(std::string_view text);

/// What an agent last said (AgentConfigReported).
struct ConfigReport {
  std::string config_hash;
  ConfigReportStatus status = ConfigReportStatus::applying;
  std::string error;
  bool hash_was_desired = true;  ///< False: a hash never desired in its org.
};

/// The status of an agent desiring `desired` (null: nothing), that last
/// reported `report` (null: never) and last said it runs files hashing to
/// `effective_files_hash` (empty: never said).
ConfigStatus derive_config_status(const DesiredConfig* desired, const ConfigReport* report,
                                  std::string_view effective_files_hash);

}  // namespace muster
