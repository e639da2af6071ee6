// /api/v1/alerts: alert instances, one per (rule, subject), each firing an
// episode at a time (actors/alert/alert_state.hpp). Viewers list and read
// them; operators acknowledge and silence them.
//
//   GET  /api/v1/alerts?state=firing|resolved|pending&severity=&rule=&limit=
//   GET  /api/v1/alerts/{alert_id}
//   POST /api/v1/alerts/{alert_id}/ack      {comment?}
//   POST /api/v1/alerts/{alert_id}/silence  {for: "1h" | until: RFC 3339 or ms, reason?}

#include <fmt/format.h>

#include "actors/alert/alert_service.hpp"
#include "actors/notification/notification_service.hpp"
#include "common/time_format.hpp"
#include "http/call.hpp"
#include "http/json_views.hpp"

namespace muster::http::routes {
namespace {

using nlohmann::json;

constexpr std::uint64_t kDefaultAlertPage = 100;
constexpr std::uint64_t kMaxAlertPage = 1000;
constexpr std::size_t kMaxCommentLength = 1024;
constexpr TimeMs kMaxSilenceMs = 366LL * 86'400'000;

json time_or_null(TimeMs time_ms) {
  return time_ms == 0 ? json(nullptr) : json(format_rfc3339(time_ms));
}

json alert_json(const AlertRecord& alert, TimeMs now_ms) {
  json out = to_json(alert, now_ms);
  for (const char* key : {"fired_at_ms", "pending_since_ms", "resolved_at_ms", "acknowledged_at_ms", "silenced_at_ms",
                          "silenced_until_ms"}) {
    const std::string name(key);
    out[name.substr(0, name.size() - 3)] = time_or_null(out[name].get<TimeMs>());
    out.erase(name);
  }
  out["position"] = alert.last_position;
  return out;
}

json pending_json(const PendingAlert& alert) {
  return {{"alert_id", alert_id_for(alert.rule_id, alert.subject)},
          {"org", alert.org},
          {"rule_id", alert.rule_id},
          {"subject", alert.subject.to_json()},
          {"state", "pending"},
          {"pending_since", format_rfc3339(alert.pending_since_ms)}};
}

void reply_alert(const std::shared_ptr<Call>& call, Result<AlertRecord> alert) {
  if (!alert) return call->reply_failure(alert.error());
  call->reply_json(200, alert_json(*alert, call->services.alerts->now_ms()));
}

void list_alerts(const std::shared_ptr<Call>& call) {
  const auto& query = call->head.query;
  AlertFilter filter;
  bool pending = false;
  json problems = json::object();
  if (const auto state = query.find("state"); state != query.end()) {
    if (state->second == "firing") {
      filter.status = AlertStatus::firing;
    } else if (state->second == "resolved") {
      filter.status = AlertStatus::resolved;
    } else if (state->second == "pending") {
      pending = true;
    } else {
      problems["state"] = "must be firing, resolved or pending";
    }
  }
  if (const auto severity = query.find("severity"); severity != query.end()) {
    filter.severity = parse_alert_severity(severity->second);
    if (!filter.severity) problems["severity"] = "must be info, warning or critical";
  }
  if (const auto rule = query.find("rule"); rule != query.end()) filter.rule_id = rule->second;
  auto limit = parse_uint_param(query, "limit", kDefaultAlertPage, kMaxAlertPage);
  if (auto* invalid = std::get_if<Invalid>(&limit)) return call->reply_invalid(*invalid);
  if (std::get<std::uint64_t>(limit) == 0) problems["limit"] = fmt::format("must be 1 to {}", kMaxAlertPage);
  if (!problems.empty()) return call->reply_error(400, "invalid query parameter", "INVALID_PARAMETER", problems);
  call->when_projected([call, filter, pending, limit = std::get<std::uint64_t>(limit)] {
    const AlertListing listing = call->services.alerts->list_alerts(call->principal, filter, pending, limit);
    json alerts = json::array();
    const TimeMs now_ms = call->services.alerts->now_ms();
    for (const AlertRecord& alert : listing.alerts) alerts.push_back(alert_json(alert, now_ms));
    for (const PendingAlert& alert : listing.pending) alerts.push_back(pending_json(alert));
    call->reply_json(200, {{"alerts", std::move(alerts)}});
  });
}

// The alert with every notification sent (or being sent) for it: each
// attempt's outcome is part of what an operator reads about an alert.
void get_alert(const std::shared_ptr<Call>& call) {
  call->when_projected([call] {
    const std::string& alert_id = call->params["alert_id"];
    const auto alert = call->services.alerts->find_alert(call->principal, alert_id);
    if (!alert) return call->reply_failure(alert.error());
    json answer = alert_json(*alert, call->services.alerts->now_ms());
    json deliveries = json::array();
    for (const NotificationRecord& record : call->services.notifications->deliveries(call->principal, alert_id)) {
      deliveries.push_back(delivery_to_json(record));
    }
    answer["deliveries"] = std::move(deliveries);
    call->reply_json(200, answer);
  });
}

// A text member of at most kMaxCommentLength characters; "" when absent.
bool optional_text(const std::shared_ptr<Call>& call, const json& body, const char* key, std::string& out) {
  const auto found = body.find(key);
  if (found == body.end() || found->is_null()) return true;
  if (!found->is_string() || found->get_ref<const std::string&>().size() > kMaxCommentLength) {
    call->reply_failure(invalid_field(key, fmt::format("must be text of at most {} characters", kMaxCommentLength)));
    return false;
  }
  out = found->get<std::string>();
  return true;
}

void acknowledge_alert(const std::shared_ptr<Call>& call) {
  json body;
  if (!call->parse_body(true, body)) return;
  for (const auto& item : body.items()) {
    if (item.key() != "comment") return call->reply_failure(invalid_field(item.key(), "is not a member this accepts"));
  }
  std::string comment;
  if (!optional_text(call, body, "comment", comment)) return;
  call->await<AlertRecord>(
      "BUSY",
      [&](auto done) {
        call->services.alerts->acknowledge(call->principal, call->params["alert_id"], comment, call->context,
                                           std::move(done));
      },
      [call](Result<AlertRecord> alert) { reply_alert(call, std::move(alert)); });
}

void silence_alert(const std::shared_ptr<Call>& call) {
  json body;
  if (!call->parse_body(false, body)) return;
  for (const auto& item : body.items()) {
    if (item.key() != "for" && item.key() != "until" && item.key() != "reason") {
      return call->reply_failure(invalid_field(item.key(), "is not a member this accepts"));
    }
  }
  const TimeMs now_ms = call->services.alerts->now_ms();
  const bool has_for = body.contains("for") && !body["for"].is_null();
  const bool has_until = body.contains("until") && !body["until"].is_null();
  if (has_for == has_until) return call->reply_failure(invalid_field("for", "give exactly one of for and until"));
  TimeMs until_ms = 0;
  if (has_for) {
    const json& value = body["for"];
    auto parsed = value.is_string() ? parse_duration_ms(value.get_ref<const std::string&>())
                                    : Result<TimeMs>(invalid_field("for", "not text"));
    if (!parsed || *parsed <= 0 || *parsed > kMaxSilenceMs) {
      return call->reply_failure(invalid_field("for", "must be a duration from 1ms to 366d such as \"1h\""));
    }
    until_ms = now_ms + *parsed;
  } else {
    const json& value = body["until"];
    if (value.is_number_integer()) {
      until_ms = value.get<TimeMs>();
    } else if (value.is_string()) {
      auto parsed = parse_rfc3339(value.get_ref<const std::string&>());
      if (parsed) until_ms = *parsed;
    }
    if (until_ms <= now_ms || until_ms > now_ms + kMaxSilenceMs) {
      return call->reply_failure(
          invalid_field("until", "must be a time (RFC 3339 or ms) after now, at most 366 days ahead"));
    }
  }
  std::string reason;
  if (!optional_text(call, body, "reason", reason)) return;
  call->await<AlertRecord>(
      "BUSY",
      [&](auto done) {
        call->services.alerts->silence(call->principal, call->params["alert_id"], until_ms, reason, call->context,
                                       std::move(done));
      },
      [call](Result<AlertRecord> alert) { reply_alert(call, std::move(alert)); });
}

}  // namespace

void add_alerts(RouteTable& table) {
  using C = Credential;
  table.add("GET", "/api/v1/alerts", {list_alerts, C::api_key, Role::viewer});
  table.add("GET", "/api/v1/alerts/{alert_id}", any_node({get_alert, C::api_key, Role::viewer}));
  table.add("POST", "/api/v1/alerts/{alert_id}/ack", {acknowledge_alert, C::api_key, Role::operator_, false, true});
  table.add("POST", "/api/v1/alerts/{alert_id}/silence", {silence_alert, C::api_key, Role::operator_, false, true});
}

}  // namespace muster::http::routes
