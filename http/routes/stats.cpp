// /api/v1/stats: the fleet's counts, from the registry's, the config model's and the
// report counts' counters.

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
    call->reply_json(200, body);
  });
}

}  // namespace

void add_stats(RouteTable& table) {
  table.add("GET", "/api/v1/stats", {stats, Credential::api_key, Role::viewer});
}

}  // namespace muster::http::routes
