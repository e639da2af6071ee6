// /api/v1/stats: the fleet's counts, from the registry's counters.

#include "http/call.hpp"

namespace muster::http::routes {
namespace {

void stats(const std::shared_ptr<Call>& call) {
  call->when_projected([call] {
    const auto head = call->services.store->head_position();
    if (!head) return call->reply_failure(head.error());
    call->reply_json(200, stats_to_json(call->services.registry->stats(call->principal.org), *head));
  });
}

}  // namespace

void add_stats(RouteTable& table) {
  table.add("GET", "/api/v1/stats", {stats, Credential::api_key, Role::viewer});
}

}  // namespace muster::http::routes
