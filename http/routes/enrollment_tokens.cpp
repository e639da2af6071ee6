// /api/v1/enrollment-tokens: the tokens agents register with, admin only.

#include "http/call.hpp"

namespace muster::http::routes {
namespace {

using nlohmann::json;

void create_token(const std::shared_ptr<Call>& call) {
  json body;
  if (!call->parse_body(false, body)) return;
  auto request = parse_enrollment_token_request(body);
  if (auto* invalid = std::get_if<Invalid>(&request)) return call->reply_invalid(*invalid);
  call->await<IssuedEnrollmentToken>(
      "BUSY",
      [&](auto done) {
        call->services.enrollment->create(call->principal, std::get<EnrollmentTokenRequest>(request),
                                          call->context, std::move(done));
      },
      [call](Result<IssuedEnrollmentToken> issued) {
        if (!issued) return call->reply_failure(issued.error());
        json answer = enrollment_token_to_json(issued->token, call->services.timers->now_ms());
        answer["token"] = issued->plaintext;
        answer["position"] = issued->position;
        call->reply_json(201, answer);
      });
}

void list_tokens(const std::shared_ptr<Call>& call) {
  call->when_projected([call] {
    const TimeMs now = call->services.timers->now_ms();
    json tokens = json::array();
    for (const EnrollmentToken& token : call->services.enrollment->list(call->principal)) {
      tokens.push_back(enrollment_token_to_json(token, now));
    }
    call->reply_json(200, {{"enrollment_tokens", std::move(tokens)}});
  });
}

void revoke_token(const std::shared_ptr<Call>& call) {
  const std::string token_id = call->params["token_id"];
  call->await<std::uint64_t>(
      "BUSY",
      [&](auto done) {
        call->services.enrollment->revoke(call->principal, token_id, call->context, std::move(done));
      },
      [call, token_id](Result<std::uint64_t> revoked) { reply_revoked(*call, token_id, revoked); });
}

}  // namespace

void add_enrollment_tokens(RouteTable& table) {
  table.add("POST", "/api/v1/enrollment-tokens", {create_token, Credential::api_key, Role::admin, false, true});
  table.add("GET", "/api/v1/enrollment-tokens", any_node({list_tokens, Credential::api_key, Role::admin}));
  table.add("DELETE", "/api/v1/enrollment-tokens/{token_id}", {revoke_token, Credential::api_key, Role::admin});
}

}  // namespace muster::http::routes
