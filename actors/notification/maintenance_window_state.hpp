#pragma once
/// Maintenance windows: a time span during which notifications about what
/// the window's scope covers are suppressed (the alerts still fire and are
/// recorded; the notifier records the suppression). Each window is a stream
/// "maintenance-window:<org>/<id>":
///
///   MaintenanceWindowCreated {window_id, org, scope, starts_at, ends_at, reason, principal}
///   MaintenanceWindowDeleted {}
///
/// `scope` is the alert rules' scope JSON (actors/alert/alert_scope.hpp):
/// {} for every agent of the org, or one of group / labels / agents.

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include <nlohmann/json.hpp>

#include "actors/runtime/payload_codec.hpp"
#include "common/clock.hpp"
#include "common/result.hpp"

namespace muster {

inline constexpr std::string_view kMaintenanceWindowKind = "maintenance-window";

struct MaintenanceWindowCreated {
  static constexpr EventType kType{"MaintenanceWindowCreated", kMaintenanceWindowKind, 1};
  std::string window_id;
  std::string org;
  nlohmann::json scope = nlohmann::json::object();
  TimeMs starts_at_ms = 0;
  TimeMs ends_at_ms = 0;  ///< After starts_at_ms.
  std::string reason;
  std::string principal;

  nlohmann::json to_json() const;
  static Result<MaintenanceWindowCreated> from_json(const nlohmann::json& data, std::uint32_t schema_version);
};

struct MaintenanceWindowDeleted {
  static constexpr EventType kType{"MaintenanceWindowDeleted", kMaintenanceWindowKind, 1};
  nlohmann::json to_json() const { return nlohmann::json::object(); }
  static Result<MaintenanceWindowDeleted> from_json(const nlohmann::json&, std::uint32_t) {
    return MaintenanceWindowDeleted{};
  }
};

using MaintenanceWindowEvent = std::variant<MaintenanceWindowCreated, MaintenanceWindowDeleted>;

struct MaintenanceWindow {
  std::string window_id;
  std::string org;
  nlohmann::json scope = nlohmann::json::object();
  TimeMs starts_at_ms = 0;
  TimeMs ends_at_ms = 0;
  std::string reason;
  std::string principal;
  bool deleted = false;
  TimeMs created_at_ms = 0;
  std::uint64_t created_position = 0;
  std::uint64_t version = 0;
  std::uint64_t last_position = 0;

  bool exists() const { return version > 0; }
  /// Not deleted, and `now_ms` in [starts_at, ends_at).
  bool active_at(TimeMs now_ms) const { return !deleted && now_ms >= starts_at_ms && now_ms < ends_at_ms; }
};
bool operator==(const MaintenanceWindow& left, const MaintenanceWindow& right);

std::string maintenance_window_instance_id(std::string_view org, std::string_view window_id);
std::string maintenance_window_stream(std::string_view org, std::string_view window_id);

std::string encode_maintenance_window(const MaintenanceWindow& window);
Result<MaintenanceWindow> decode_maintenance_window(std::string_view bytes);

/// Folds one event of a "maintenance-window:" stream. Errors: `corruption`, state unchanged.
Status apply(MaintenanceWindow& window, const MaintenanceWindowEvent& event, const EventHeader& header);
Status apply(MaintenanceWindow& window, const Event& event);

}  // namespace muster
