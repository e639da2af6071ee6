// /healthz (the process answers) and /readyz (the read models hold the log
// as it was at start): no credential, served on both listeners.

#include "http/api.hpp"

namespace muster::http::routes {
namespace {

using nlohmann::json;

void healthz(const std::shared_ptr<Call>& call) {
  call->reply_json(200, {{"status", "ok"}});
}

void readyz(const std::shared_ptr<Call>& call) {
  const std::uint64_t projected = call->services.projections->position();
  const std::uint64_t wanted = call->api->ready_at_position();
  if (!call->api->ready() || projected < wanted) {
    return call->reply_error(503, "recovering", "NOT_READY",
                             json{{"projection_position", projected}, {"ready_at_position", wanted}});
  }
  call->reply_json(200, {{"status", "ready"}, {"projection_position", projected}});
}

}  // namespace

void add_probes(RouteTable& table) {
  table.add("GET", "/healthz", any_node({healthz, Credential::none, Role::viewer, true}));
  table.add("GET", "/readyz", any_node({readyz, Credential::none, Role::viewer, true}));
}

}  // namespace muster::http::routes
