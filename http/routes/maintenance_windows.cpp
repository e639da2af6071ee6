// /api/v1/maintenance-windows: spans of time during which notifications
// about what a window's scope covers are suppressed (alerts still fire and
// are recorded). Viewers read, operators create and delete; a window is
// created in one organization (Call::require_org).

#include <fmt/format.h>

#include "actors/alert/alert_scope.hpp"
#include "actors/notification/maintenance_window_decider.hpp"
#include "common/time_format.hpp"
#include "http/call.hpp"

namespace muster::http::routes {
namespace {

using nlohmann::json;

constexpr std::size_t kMaxReasonLength = 1024;

// An RFC 3339 string or milliseconds since the epoch (a positive integer).
std::optional<TimeMs> read_time(const json& value) {
  if (value.is_string()) {
    const auto parsed = parse_rfc3339(value.get_ref<const std::string&>());
    if (parsed && *parsed > 0) return *parsed;
    return std::nullopt;
  }
  if (value.is_number_unsigned() && value.get<std::uint64_t>() > 0 &&
      value.get<std::uint64_t>() < 253402300800000ULL) {
    return static_cast<TimeMs>(value.get<std::uint64_t>());
  }
  return std::nullopt;
}

Parsed<MaintenanceWindowRequest> parse_window(const json& body) {
  json problems = json::object();
  MaintenanceWindowRequest request;
  for (const auto& item : body.items()) {
    const std::string& key = item.key();
    if (key != "scope" && key != "starts_at" && key != "ends_at" && key != "reason") {
      problems[key] = "is not a member of a maintenance window (scope, starts_at, ends_at, reason)";
    }
  }
  const auto scope_value = body.find("scope");
  auto scope = parse_alert_scope(scope_value == body.end() ? json(nullptr) : *scope_value, "scope");
  if (!scope) {
    problems[scope.error().field.empty() ? "scope" : scope.error().field] = scope.error().message;
  } else {
    request.scope = scope->to_json();
  }
  for (const char* key : {"starts_at", "ends_at"}) {
    const json* value = present_member(body, key);
    const auto time = value == nullptr ? std::nullopt : read_time(*value);
    if (!time) {
      problems[key] =
          "is required: an RFC 3339 time, such as 2026-12-01T10:00:00Z, or milliseconds since the epoch";
    } else if (std::string_view(key) == "starts_at") {
      request.starts_at_ms = *time;
    } else {
      request.ends_at_ms = *time;
    }
  }
  if (!problems.contains("starts_at") && !problems.contains("ends_at") &&
      request.ends_at_ms <= request.starts_at_ms) {
    problems["ends_at"] = "must come after starts_at";
  }
  if (const json* reason = present_member(body, "reason")) {
    if (!reason->is_string() || reason->get_ref<const std::string&>().size() > kMaxReasonLength ||
        has_control_character(reason->get_ref<const std::string&>())) {
      problems["reason"] = fmt::format("must be a string of at most {} characters without control characters",
                                       kMaxReasonLength);
    } else {
      request.reason = reason->get<std::string>();
    }
  }
  if (!problems.empty())
    return Invalid{"request body failed validation", "VALIDATION_FAILED", std::move(problems)};
  return request;
}

json window_to_json(const MaintenanceWindow& window, TimeMs now_ms) {
  return {{"window_id", window.window_id},
          {"org", window.org},
          {"scope", window.scope},
          {"starts_at", format_rfc3339(window.starts_at_ms)},
          {"ends_at", format_rfc3339(window.ends_at_ms)},
          {"reason", window.reason},
          {"active", window.active_at(now_ms)},
          {"created_at", format_rfc3339(window.created_at_ms)},
          {"created_by", window.principal}};
}

void create_window(const std::shared_ptr<Call>& call) {
  std::string org;
  json body;
  if (!call->require_org(org) || !call->parse_body(false, body)) return;
  auto parsed = parse_window(body);
  if (auto* invalid = std::get_if<Invalid>(&parsed)) return call->reply_invalid(*invalid);
  call->await<NotificationOutcome<MaintenanceWindow>>(
      "BUSY",
      [&](auto done) {
        call->services.notifications->create_window(org, std::get<MaintenanceWindowRequest>(parsed),
                                                    call->context, std::move(done));
      },
      [call](Result<NotificationOutcome<MaintenanceWindow>> outcome) {
        if (!outcome) return call->reply_failure(outcome.error());
        Response response;
        response.status = 201;
        response.headers.emplace_back("Location", "/api/v1/maintenance-windows/" + outcome->record.window_id);
        response.body = window_to_json(outcome->record, call->services.timers->now_ms())
                            .dump(-1, ' ', false, json::error_handler_t::replace);
        call->reply(std::move(response));
      });
}

void list_windows(const std::shared_ptr<Call>& call) {
  call->when_projected([call] {
    const TimeMs now_ms = call->services.timers->now_ms();
    json windows = json::array();
    for (const MaintenanceWindow& window : call->services.notifications->windows(call->principal)) {
      windows.push_back(window_to_json(window, now_ms));
    }
    call->reply_json(200, {{"windows", std::move(windows)}});
  });
}

void get_window(const std::shared_ptr<Call>& call) {
  call->when_projected([call] {
    const auto window = call->services.notifications->window(call->principal, call->params["window_id"]);
    if (!window) return call->reply_failure(window.error());
    call->reply_json(200, window_to_json(*window, call->services.timers->now_ms()));
  });
}

void delete_window(const std::shared_ptr<Call>& call) {
  const std::string window_id = call->params["window_id"];
  call->await<NotificationOutcome<MaintenanceWindow>>(
      "BUSY",
      [&](auto done) {
        call->services.notifications->delete_window(call->principal, window_id, call->context,
                                                    std::move(done));
      },
      [call](Result<NotificationOutcome<MaintenanceWindow>> outcome) {
        if (!outcome) return call->reply_failure(outcome.error());
        call->reply_json(
            200,
            {{"window_id", outcome->record.window_id}, {"deleted", true}, {"position", outcome->position}});
      });
}

}  // namespace

void add_maintenance_windows(RouteTable& table) {
  using C = Credential;
  table.add("POST", "/api/v1/maintenance-windows", {create_window, C::api_key, Role::operator_, false, true});
  table.add("GET", "/api/v1/maintenance-windows", any_node({list_windows, C::api_key, Role::viewer}));
  table.add("GET", "/api/v1/maintenance-windows/{window_id}",
            any_node({get_window, C::api_key, Role::viewer}));
  table.add("DELETE", "/api/v1/maintenance-windows/{window_id}",
            {delete_window, C::api_key, Role::operator_});
}

}  // namespace muster::http::routes
