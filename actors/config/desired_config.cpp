#include "actors/config/desired_config.hpp"

#include <set>

#include "common/secrets.hpp"

namespace muster {

const char* to_string(ConfigReportStatus status) {
  switch (status) {
    case ConfigReportStatus::applying: return "applying";
    case ConfigReportStatus::applied: return "applied";
    case ConfigReportStatus::failed: return "failed";
  }
  return "applying";
}

std::optional<ConfigReportStatus> parse_config_report_status(std::string_view text) {
  for (auto status : {ConfigReportStatus::applying, ConfigReportStatus::applied, ConfigReportStatus::failed}) {
    if (text == to_string(status)) return status;
  }
  return std::nullopt;
}

const char* to_string(ConfigStatus status) {
  switch (status) {
    case ConfigStatus::none: return "none";
    case ConfigStatus::pending: return "pending";
    case ConfigStatus::applying: return "applying";
    case ConfigStatus::applied: return "applied";
    case ConfigStatus::failed: return "failed";
    case ConfigStatus::drifted: return "drifted";
  }
  return "none";
}

std::optional<ConfigStatus> parse_config_status(std::string_view text) {
  for (std::size_t index = 0; index < kConfigStatusCount; ++index) {
    const auto status = static_cast<ConfigStatus>(index);
    if (text == to_string(status)) return status;
  }
  return std::nullopt;
}

std::string desired_hash(const std::string& files_hash, const nlohmann::json& settings) {
  // nlohmann's objects are ordered maps: dump() is canonical for equal settings.
  return sha256_hex(files_hash + "\n" + settings.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

std::shared_ptr<const DesiredConfig> resolve_desired(const std::vector<AssignmentSource>& sources,
                                                      const FindConfigVersion& find) {
  bool assigned = false;
  for (const auto& source : sources) assigned = assigned || (source.assignment && !source.assignment->empty());
  if (!assigned) return nullptr;

  auto desired = std::make_shared<DesiredConfig>();
  ConfigFiles files;
  for (const auto& source : sources) {
    if (!source.assignment || !source.assignment->config) continue;
    const ConfigRef& ref = *source.assignment->config;
    const auto found = find(ref.name, ref.version, /*policy=*/false);
    if (!found) continue;
    desired->config = ResolvedRef{ref.name, found->version, found->hash, source.source};
    files = *found->files;
    break;
  }
  std::set<std::string> seen;
  for (const auto& source : sources) {
    if (!source.assignment) continue;
    for (const ConfigRef& ref : source.assignment->policies) {
      if (!seen.insert(ref.name).second) continue;
      const auto found = find(ref.name, ref.version, /*policy=*/true);
      if (!found) continue;
      desired->policies.push_back(ResolvedRef{ref.name, found->version, found->hash, source.source});
      for (const auto& [name, file] : *found->files) files[ref.name + "/" + name] = file;
    }
  }
  for (auto source = sources.rbegin(); source != sources.rend(); ++source) {
    if (!source->assignment) continue;
    merge_settings(desired->settings, source->assignment->settings);
    for (const auto& [key, value] : source->assignment->settings.items()) {
      desired->settings_sources[key] = source->source;
    }
  }
  desired->files_hash = hash_files(files);
  desired->hash = desired_hash(desired->files_hash, desired->settings);
  desired->files = std::make_shared<const ConfigFiles>(std::move(files));
  return desired;
}

ConfigStatus derive_config_status(const DesiredConfig* desired, const ConfigReport* report,
                                  std::string_view effective_files_hash) {
  if (desired == nullptr) return ConfigStatus::none;
  if (report == nullptr) return ConfigStatus::pending;
  if (report->config_hash != desired->hash) {
    return report->hash_was_desired ? ConfigStatus::pending : ConfigStatus::drifted;
  }
  switch (report->status) {
    case ConfigReportStatus::applying: return ConfigStatus::applying;
    case ConfigReportStatus::failed: return ConfigStatus::failed;
    case ConfigReportStatus::applied:
      if (!effective_files_hash.empty() && effective_files_hash != desired->files_hash) return ConfigStatus::drifted;
      return ConfigStatus::applied;
  }
  return ConfigStatus::pending;
}

}  // namespace muster
