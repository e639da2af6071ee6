// GET /api/v1/openapi.json: the OpenAPI 3.1 document of every route
// (http/openapi.json, embedded at build time). No credential, like the
// probes: it says what the README and the source say, holds nothing from the
// store, and tools (viewers, client generators) fetch it without a key. Only
// on the operators' listener: the agents' one does not reveal their routes.

#include "http/call.hpp"
#include "http/openapi_document.hpp"

namespace muster::http::routes {
namespace {

void openapi(const std::shared_ptr<Call>& call) {
  call->reply_body(200, std::string(openapi_document()));
}

}  // namespace

void add_openapi(RouteTable& table) {
  table.add("GET", "/api/v1/openapi.json", any_node({openapi, Credential::none, Role::viewer}));
}

}  // namespace muster::http::routes
