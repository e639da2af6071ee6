// /v1/opamp: the Open Agent Management Protocol, over HTTP (POST, one
// AgentToServer, one ServerToAgent) and WebSocket (GET with an upgrade),
// admitted by the pipeline like every agent route (credential, throttle,
// readiness, size) and answered by the OpAMP server (http/opamp/).

#include <fmt/format.h>

#include "common/gzip.hpp"
#include "http/call.hpp"
#include "http/opamp/opamp_server.hpp"

namespace muster::http::routes {
namespace {

// The body as sent, or gunzipped when it says so; false after answering.
bool read_message(Call& call, std::string& message) {
  const auto encoding = call.head.headers.find("Content-Encoding");
  const std::size_t limit = call.options.opamp_max_message_bytes;
  if (!encoding || encoding->empty() || equals_ignoring_case(*encoding, "identity")) {
    message = std::move(call.body);
    return true;
  }
  if (!equals_ignoring_case(*encoding, "gzip")) {
    call.reply_error(415, fmt::format("Content-Encoding '{}' is not accepted; send gzip or none", *encoding),
                     "UNSUPPORTED_MEDIA_TYPE");
    return false;
  }
  auto inflated = gzip_decompress(call.body, limit);
  if (!inflated) {
    if (inflated.error().code == ErrorCode::failed_precondition) {
      call.reply_error(413, fmt::format("the message is larger than {} bytes once decompressed", limit),
                       "PAYLOAD_TOO_LARGE");
    } else {
      call.reply_error(400, inflated.error().message, "BAD_REQUEST");
    }
    return false;
  }
  message = std::move(*inflated);
  return true;
}

void post_message(const std::shared_ptr<Call>& call) {
  std::string message;
  if (!read_message(*call, message)) return;
  const auto accept = call->head.headers.find("Accept-Encoding");
  call->services.opamp->handle_http(call, std::move(message), accept && accepts_gzip(*accept));
}

void websocket_only(const std::shared_ptr<Call>& call) {
  Response response = error_response(426, "GET /v1/opamp is OpAMP's WebSocket transport: send an Upgrade, or POST",
                                     "UPGRADE_REQUIRED");
  response.headers.emplace_back("Upgrade", "websocket");
  call->reply(std::move(response));
}

std::shared_ptr<MessageHandler> open_websocket(const std::shared_ptr<Call>& call,
                                               std::shared_ptr<MessageChannel> channel) {
  return call->services.opamp->open_websocket(call, std::move(channel));
}

}  // namespace

void add_opamp(RouteTable& table) {
  using C = Credential;
  Route post{post_message, C::opamp_agent, Role::viewer, true, false};
  post.opamp = true;
  table.add("POST", "/v1/opamp", post);
  Route upgrade{websocket_only, C::opamp_agent, Role::viewer, true, false};
  upgrade.opamp = true;
  upgrade.upgrade = open_websocket;
  table.add("GET", "/v1/opamp", upgrade);
}

}  // namespace muster::http::routes
