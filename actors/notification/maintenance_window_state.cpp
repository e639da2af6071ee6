#include "actors/notification/maintenance_window_state.hpp"

#include "actors/notification/json_fields.hpp"
#include "actors/runtime/stream_id.hpp"

namespace muster {
namespace {

using nlohmann::json;
using notification_fields::read_bool;
using notification_fields::read_json;
using payload::read;

bool read_created(const json& data, MaintenanceWindowCreated& event) {
  return read(data, "window_id", event.window_id) && read(data, "org", event.org) &&
         read_json(data, "scope", json::value_t::object, event.scope) &&
         read(data, "starts_at", event.starts_at_ms) && read(data, "ends_at", event.ends_at_ms) &&
         read(data, "reason", event.reason) && read(data, "principal", event.principal);
}

}  // namespace

json MaintenanceWindowCreated::to_json() const {
  return {{"window_id", window_id}, {"org", org},       {"scope", scope},        {"starts_at", starts_at_ms},
          {"ends_at", ends_at_ms},  {"reason", reason}, {"principal", principal}};
}

Result<MaintenanceWindowCreated> MaintenanceWindowCreated::from_json(const json& data,
                                                                     std::uint32_t /*schema_version*/) {
  MaintenanceWindowCreated event;
  if (!read_created(data, event)) return payload_error("bad MaintenanceWindowCreated payload");
  return event;
}

bool operator==(const MaintenanceWindow& left, const MaintenanceWindow& right) {
  return left.window_id == right.window_id && left.org == right.org && left.scope == right.scope &&
         left.starts_at_ms == right.starts_at_ms && left.ends_at_ms == right.ends_at_ms &&
         left.reason == right.reason && left.principal == right.principal && left.deleted == right.deleted &&
         left.created_at_ms == right.created_at_ms && left.created_position == right.created_position &&
         left.version == right.version && left.last_position == right.last_position;
}

std::string maintenance_window_instance_id(std::string_view org, std::string_view window_id) {
  return org_scoped_id(org, window_id);
}

std::string maintenance_window_stream(std::string_view org, std::string_view window_id) {
  return stream_name(kMaintenanceWindowKind, maintenance_window_instance_id(org, window_id));
}

std::string encode_maintenance_window(const MaintenanceWindow& window) {
  MaintenanceWindowCreated created{window.window_id,  window.org,    window.scope,    window.starts_at_ms,
                                   window.ends_at_ms, window.reason, window.principal};
  json out = created.to_json();
  out["deleted"] = window.deleted;
  out["created_at"] = window.created_at_ms;
  out["created_position"] = window.created_position;
  out["version"] = window.version;
  out["last_position"] = window.last_position;
  return notification_fields::dump(out);
}

Result<MaintenanceWindow> decode_maintenance_window(std::string_view bytes) {
  const auto data = json::parse(bytes, nullptr, /*allow_exceptions=*/false);
  MaintenanceWindowCreated created;
  MaintenanceWindow window;
  if (!data.is_object() || !read_created(data, created) || !read_bool(data, "deleted", window.deleted) ||
      !read(data, "created_at", window.created_at_ms) ||
      !read(data, "created_position", window.created_position) || !read(data, "version", window.version) ||
      !read(data, "last_position", window.last_position)) {
    return payload_error("bad maintenance window snapshot");
  }
  window.window_id = std::move(created.window_id);
  window.org = std::move(created.org);
  window.scope = std::move(created.scope);
  window.starts_at_ms = created.starts_at_ms;
  window.ends_at_ms = created.ends_at_ms;
  window.reason = std::move(created.reason);
  window.principal = std::move(created.principal);
  return window;
}

Status apply(MaintenanceWindow& window, const MaintenanceWindowEvent& event, const EventHeader& header) {
  const std::string_view type = type_of(event).name;
  if (header.version != window.version + 1) return corrupt_event(header, type, "out of version order");
  if (const auto* created = std::get_if<MaintenanceWindowCreated>(&event)) {
    if (window.exists()) return corrupt_event(header, type, "a window is created once");
    if (stream_id_of(header.stream, kMaintenanceWindowKind) !=
        std::optional<std::string_view>(maintenance_window_instance_id(created->org, created->window_id))) {
      return corrupt_event(header, type, "org/window_id differs from the stream id");
    }
    if (created->ends_at_ms <= created->starts_at_ms)
      return corrupt_event(header, type, "ends before it starts");
    window.window_id = created->window_id;
    window.org = created->org;
    window.scope = created->scope;
    window.starts_at_ms = created->starts_at_ms;
    window.ends_at_ms = created->ends_at_ms;
    window.reason = created->reason;
    window.principal = created->principal;
    window.created_at_ms = header.time_ms;
    window.created_position = header.position;
  } else {
    if (!window.exists()) return corrupt_event(header, type, "a change to a window never created");
    if (window.deleted) return corrupt_event(header, type, "a change to a deleted window");
    window.deleted = true;
  }
  window.version = header.version;
  window.last_position = header.position;
  return Status::success();
}

Status apply(MaintenanceWindow& window, const Event& event) {
  return apply_stored<MaintenanceWindowEvent>(window, event);
}

}  // namespace muster
