// /api/v1/version: which muster answers (its version and the commit it was
// built from), for the CLI, the dashboard and support.

#include "common/build_info.hpp"
#include "http/call.hpp"

namespace muster::http::routes {
namespace {

void version(const std::shared_ptr<Call>& call) {
  const BuildInfo& info = build_info();
  call->reply_json(200, {{"version", info.version}, {"commit", info.commit}, {"api", "v1"}});
}

}  // namespace

void add_version(RouteTable& table) {
  table.add("GET", "/api/v1/version", any_node({version, Credential::api_key, Role::viewer}));
}

}  // namespace muster::http::routes
