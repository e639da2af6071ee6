#include "actors/notification/maintenance_window_decider.hpp"

namespace muster {

Error maintenance_window_not_found() {
  return make_error(ErrorCode::not_found, "no maintenance window with this id", kMaintenanceWindowNotFound);
}

Result<std::vector<MaintenanceWindowEvent>> decide_create(const MaintenanceWindow& window,
                                                          const CreateMaintenanceWindow& command) {
  if (window.exists()) return std::vector<MaintenanceWindowEvent>{};
  if (command.created.ends_at_ms <= command.created.starts_at_ms) {
    return invalid_field("ends_at", "must come after starts_at");
  }
  return std::vector<MaintenanceWindowEvent>{command.created};
}

Result<std::vector<MaintenanceWindowEvent>> decide_delete(const MaintenanceWindow& window) {
  if (!window.exists() || window.deleted) return maintenance_window_not_found();
  return std::vector<MaintenanceWindowEvent>{MaintenanceWindowDeleted{}};
}

MaintenanceWindow MaintenanceWindowAggregate::initial_state(const std::string& id) {
  MaintenanceWindow window;
  if (const auto parts = split_org_scoped_id(id)) {
    window.org = std::string(parts->org);
    window.window_id = std::string(parts->name);
  } else {
    window.window_id = id;
  }
  return window;
}

Result<std::vector<MaintenanceWindowEvent>> MaintenanceWindowAggregate::decide(const State& state,
                                                                               const Command& command,
                                                                               Context& /*context*/) {
  if (const auto* create = std::get_if<CreateMaintenanceWindow>(&command))
    return decide_create(state, *create);
  return decide_delete(state);
}

}  // namespace muster
