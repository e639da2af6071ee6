// /api/v1/api-keys: operators' keys, admin only.

#include "http/call.hpp"

namespace muster::http::routes {
namespace {

using nlohmann::json;

void create_key(const std::shared_ptr<Call>& call) {
  json body;
  if (!call->parse_body(false, body)) return;
  auto request = parse_api_key_request(body);
  if (auto* invalid = std::get_if<Invalid>(&request)) return call->reply_invalid(*invalid);
  call->await<IssuedApiKey>(
      "BUSY",
      [&](auto done) {
        call->services.api_keys->create(call->principal, std::get<ApiKeyRequest>(request), call->context,
                                        std::move(done));
      },
      [call](Result<IssuedApiKey> issued) {
        if (!issued) return call->reply_failure(issued.error());
        json answer = api_key_to_json(issued->key);
        answer["key"] = issued->plaintext;
        answer["position"] = issued->position;
        call->reply_json(201, answer);
      });
}

void list_keys(const std::shared_ptr<Call>& call) {
  call->when_projected([call] {
    json keys = json::array();
    for (const ApiKey& key : call->services.api_keys->list(call->principal)) keys.push_back(api_key_to_json(key));
    call->reply_json(200, {{"api_keys", std::move(keys)}});
  });
}

void revoke_key(const std::shared_ptr<Call>& call) {
  const std::string key_id = call->params["key_id"];
  call->await<std::uint64_t>(
      "BUSY",
      [&](auto done) { call->services.api_keys->revoke(call->principal, key_id, call->context, std::move(done)); },
      [call, key_id](Result<std::uint64_t> revoked) { reply_revoked(*call, key_id, revoked); });
}

}  // namespace

void add_api_keys(RouteTable& table) {
  table.add("POST", "/api/v1/api-keys", {create_key, Credential::api_key, Role::admin, false, true});
  table.add("GET", "/api/v1/api-keys", any_node({list_keys, Credential::api_key, Role::admin}));
  table.add("DELETE", "/api/v1/api-keys/{key_id}", {revoke_key, Credential::api_key, Role::admin});
}

}  // namespace muster::http::routes
