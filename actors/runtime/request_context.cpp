#include "actors/runtime/request_context.hpp"

#include <nlohmann/json.hpp>

namespace muster {

std::string event_meta(const RequestContext& context) {
  nlohmann::json meta = nlohmann::json::object();
  if (!context.request_id.empty()) meta["request_id"] = context.request_id;
  if (!context.source_address.empty()) meta["source"] = context.source_address;
  if (!context.principal.empty()) meta["principal"] = context.principal;
  if (!context.cause.empty()) meta["cause"] = context.cause;
  return meta.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace muster
