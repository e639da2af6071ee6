// /api/v1/stats: the fleet's counts, from the registry's, the config model's and the
// report counts' counters; with ?health=true, by health too (a scan).

#include "http/call.hpp"

namespace muster::http::routes {
namespace {

void stats(const std::shared_ptr<Call>& call) {
  call->when_projected([call] {
    const auto head = call->services.store->head_position();
    if (!head) return call->reply_failure(head.error());
    nlohmann::json body = stats_to_json(call->services.registry->stats(call->principal.org), *head);
    body["by_config_status"] =
        config_status_counts_to_json(call->services.config_model->status_counts(call->principal.org));
    body["reports_24h"] =
        call->services.report_counts->last_24h(call->principal.org, call->services.timers->now_ms());
    // Health moves with the clock: counted by a scan, only when asked (the dashboard's overview).
    if (const auto health = call->head.query.find("health"); health != call->head.query.end()) {
      if (health->second != "true" && health->second != "false") {
        return call->reply_error(400, "invalid query parameter 'health'", "INVALID_PARAMETER",
                                 {{"health", "must be true or false"}});
      }
      if (health->second == "true") {
        const HealthCounts counts = call->services.registry->health_counts(
            call->principal.org, call->services.timers->now_ms(), call->options.health);
        body["by_health"] = {{"healthy", counts.healthy},
                             {"warning", counts.warning},
                             {"unhealthy", counts.unhealthy},
                             {"offline", counts.offline}};
      }
    }
    call->reply_json(200, body);
  });
}

}  // namespace

void add_stats(RouteTable& table) {
  table.add("GET", "/api/v1/stats", any_node({stats, Credential::api_key, Role::viewer}));
}

}  // namespace muster::http::routes
