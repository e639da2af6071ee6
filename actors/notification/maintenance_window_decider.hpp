#pragma once
/// A maintenance window's decisions, and the window as the runtime runs it.

#include <string>
#include <variant>
#include <vector>

#include "actors/notification/maintenance_window_state.hpp"
#include "actors/runtime/aggregate_host.hpp"
#include "actors/runtime/stream_id.hpp"

namespace muster {

inline constexpr const char* kMaintenanceWindowNotFound = "MAINTENANCE_WINDOW_NOT_FOUND";
Error maintenance_window_not_found();

struct CreateMaintenanceWindow {
  MaintenanceWindowCreated created;
};
struct DeleteMaintenanceWindow {};
using MaintenanceWindowCommand = std::variant<CreateMaintenanceWindow, DeleteMaintenanceWindow>;

/// MaintenanceWindowCreated; nothing for one that exists. Refused:
/// `invalid_argument` (field "ends_at") when it ends before it starts.
Result<std::vector<MaintenanceWindowEvent>> decide_create(const MaintenanceWindow& window,
                                                          const CreateMaintenanceWindow& command);
/// MaintenanceWindowDeleted. Refused: `not_found` / MAINTENANCE_WINDOW_NOT_FOUND.
Result<std::vector<MaintenanceWindowEvent>> decide_delete(const MaintenanceWindow& window);

struct MaintenanceWindowAggregate {
  static constexpr std::string_view kKind = kMaintenanceWindowKind;
  using State = MaintenanceWindow;
  using Payload = MaintenanceWindowEvent;
  using Command = MaintenanceWindowCommand;
  using Context = runtime::DecideContext;

  static State initial_state(const std::string& id);
  static std::string stream_of(const State& state) {
    return maintenance_window_stream(state.org, state.window_id);
  }
  static Result<std::vector<Payload>> decide(const State& state, const Command& command, Context& context);
  static Status apply(State& state, const Payload& event, const EventHeader& header) {
    return muster::apply(state, event, header);
  }
  static Status apply(State& state, const Event& event) { return muster::apply(state, event); }
};

}  // namespace muster
