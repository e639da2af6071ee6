// /api/v1/events and /api/v1/agents/{id}/events: pages of the log.

#include "http/call.hpp"

namespace muster::http::routes {
namespace {

using nlohmann::json;

constexpr std::uint64_t kMaxPageSize = 1000;

void agent_events(const std::shared_ptr<Call>& call) {
  AgentId agent_id;
  if (!call->require_agent_id(agent_id)) return;
  auto from_version = parse_uint_param(call->head.query, "from_version", 1, UINT64_MAX);
  auto limit = parse_uint_param(call->head.query, "limit", 100, kMaxPageSize);
  for (auto* parsed : {&from_version, &limit}) {
    if (auto* invalid = std::get_if<Invalid>(parsed)) return call->reply_invalid(*invalid);
  }
  const auto page = call->services.events->agent_events(call->principal, agent_id,
                                                        std::get<std::uint64_t>(from_version),
                                                        std::get<std::uint64_t>(limit));
  if (!page) return call->reply_failure(page.error());
  json items = json::array();
  for (const Event& event : page->events) items.push_back(event_to_json(event));
  call->reply_json(200, {{"agent_id", agent_id.to_string()},
                         {"events", std::move(items)},
                         {"next_from_version", page->next ? json(*page->next) : json(nullptr)}});
}

void log_events(const std::shared_ptr<Call>& call) {
  auto from_position = parse_uint_param(call->head.query, "from_position", 1, UINT64_MAX);
  auto limit = parse_uint_param(call->head.query, "limit", 100, kMaxPageSize);
  for (auto* parsed : {&from_position, &limit}) {
    if (auto* invalid = std::get_if<Invalid>(parsed)) return call->reply_invalid(*invalid);
  }
  const auto type_param = call->head.query.find("type");
  const std::string type = type_param == call->head.query.end() ? "" : type_param->second;
  if (type_param != call->head.query.end() && !is_valid_instance_id(type)) {
    return call->reply_error(400, "invalid query parameter 'type'", "INVALID_PARAMETER",
                             json{{"type", "must be an event type such as AgentRegistered"}});
  }
  // ?report_type= narrows AgentReported events to one report type (and implies that event type).
  const auto report_param = call->head.query.find("report_type");
  const std::string report_type = report_param == call->head.query.end() ? "" : report_param->second;
  if (report_param != call->head.query.end() &&
      (!is_valid_type_name(report_type) || (!type.empty() && type != AgentReported::kType.name))) {
    return call->reply_error(400, "invalid query parameter 'report_type'", "INVALID_PARAMETER",
                             json{{"report_type",
                                   "must be a report type such as termination, with no type "
                                   "parameter or type=AgentReported"}});
  }
  const auto page = call->services.events->log_events(call->principal, std::get<std::uint64_t>(from_position),
                                                      std::get<std::uint64_t>(limit), type, report_type);
  if (!page) return call->reply_failure(page.error());
  json items = json::array();
  for (const Event& event : page->events) items.push_back(event_to_json(event));
  call->reply_json(200, {{"events", std::move(items)},
                         {"next_from_position", page->next ? json(*page->next) : json(nullptr)}});
}

}  // namespace

void add_events(RouteTable& table) {
  table.add("GET", "/api/v1/agents/{agent_id}/events",
            any_node({agent_events, Credential::api_key, Role::viewer}));
  table.add("GET", "/api/v1/events", any_node({log_events, Credential::api_key, Role::viewer}));
}

}  // namespace muster::http::routes
