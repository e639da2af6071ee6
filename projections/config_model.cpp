#include "projections/config_model.hpp"

// Work in progress: the real fold lands next.
namespace muster {

struct ConfigModel::Impl {
  mutable std::shared_mutex mutex;
  std::uint64_t position = 0;
};

ConfigModel::ConfigModel() : impl_(std::make_unique<Impl>()) {}
ConfigModel::~ConfigModel() = default;
Status ConfigModel::apply(const std::vector<Event>& batch) {
  if (!batch.empty()) impl_->position = batch.back().position;
  return Status::success();
}
std::uint64_t ConfigModel::position() const { return impl_->position; }
std::vector<Config> ConfigModel::configs(std::string_view) const { return {}; }
std::optional<Config> ConfigModel::config(std::string_view, std::string_view) const { return std::nullopt; }
bool ConfigModel::config_in_use(std::string_view, std::string_view) const { return false; }
ConfigStatusCounts ConfigModel::config_status_counts(std::string_view, std::string_view) const { return {}; }
Status ConfigModel::check_assignment(std::string_view, const Assignment&) const { return Status::success(); }
std::vector<Group> ConfigModel::groups(std::string_view) const { return {}; }
std::optional<Group> ConfigModel::group(std::string_view, std::string_view) const { return std::nullopt; }
bool ConfigModel::in_group(const AgentId&, std::string_view) const { return false; }
DesiredSummary ConfigModel::desired_of(const AgentId&) const { return {}; }
std::optional<AgentConfigView> ConfigModel::agent(const AgentId&) const { return std::nullopt; }
ConfigStatus ConfigModel::config_status_of(const AgentId&) const { return ConfigStatus::none; }
bool ConfigModel::was_desired(std::string_view, std::string_view) const { return false; }
ConfigStatusCounts ConfigModel::status_counts(std::string_view) const { return {}; }
Status ConfigModel::save_snapshot(SnapshotStore&) { return Status::success(); }
Result<std::uint64_t> ConfigModel::load_snapshot(SnapshotStore&, std::uint64_t) { return std::uint64_t{0}; }

}  // namespace muster
