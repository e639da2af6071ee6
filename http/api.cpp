#include "http/api.hpp"

#include <algorithm>
#include <random>

#include <fmt/format.h>

#include "common/base64url.hpp"
#include "common/log.hpp"
#include "http/forwarding.hpp"
#include "http/session_cookie.hpp"

namespace muster::http {
namespace {

using nlohmann::json;

std::string new_request_id() {
  thread_local std::mt19937_64 generator{std::random_device{}()};
  return fmt::format("{:016x}", generator());
}

// The media type of a Content-Type, without parameters, in lower case.
std::string media_type_of(std::string_view content_type) {
  std::string media(content_type.substr(0, content_type.find(';')));
  while (!media.empty() && (media.back() == ' ' || media.back() == '\t')) media.pop_back();
  for (char& c : media) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return media;
}

bool is_json_media_type(std::string_view content_type) {
  const std::string media = media_type_of(content_type);
  return media == "application/json" || (media.rfind("application/", 0) == 0 && media.size() > 5 &&
                                         media.compare(media.size() - 5, 5, "+json") == 0);
}

bool is_media_type(std::string_view content_type, std::string_view expected) {
  return media_type_of(content_type) == expected;
}

// The credential after "Bearer " (the scheme is case-insensitive, RFC 7235);
// nullopt when the header is missing or empty, empty when it holds something else.
std::optional<std::string> bearer_credential(const Headers& headers) {
  const auto header = headers.find("Authorization");
  if (!header || header->empty()) return std::nullopt;
  constexpr std::string_view kScheme = "bearer ";
  if (header->size() <= kScheme.size() || !equals_ignoring_case(header->substr(0, kScheme.size()), kScheme)) {
    return std::string();
  }
  return std::string(header->substr(kScheme.size()));
}

// The token in "Basic base64(user:password)": the password, or the user when
// the password is empty (OpAMP clients configured with a token as either);
// empty when the header is not Basic or does not decode.
std::string basic_credential(const Headers& headers) {
  const auto header = headers.find("Authorization");
  constexpr std::string_view kScheme = "basic ";
  if (!header || header->size() <= kScheme.size() ||
      !equals_ignoring_case(header->substr(0, kScheme.size()), kScheme)) {
    return std::string();
  }
  std::string text(header->substr(kScheme.size()));
  while (!text.empty() && text.back() == '=') text.pop_back();
  for (char& c : text) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  const auto decoded = base64url_decode(text);
  if (!decoded) return std::string();
  const auto colon = decoded->find(':');
  if (colon == std::string::npos) return *decoded;
  const std::string password = decoded->substr(colon + 1);
  return password.empty() ? decoded->substr(0, colon) : password;
}

}  // namespace

StatusMapping status_for(ErrorCode code) {
  switch (code) {
    case ErrorCode::invalid_argument: return {400, "INVALID_REQUEST"};
    case ErrorCode::unauthenticated: return {401, "UNAUTHORIZED"};
    case ErrorCode::permission_denied: return {403, "FORBIDDEN"};
    case ErrorCode::not_found: return {404, "NOT_FOUND"};
    case ErrorCode::conflict: return {409, "CONFLICT"};
    case ErrorCode::failed_precondition: return {412, "PRECONDITION_FAILED"};
    case ErrorCode::unavailable: return {503, "UNAVAILABLE"};
    case ErrorCode::io_error: return {503, "STORAGE_UNAVAILABLE"};
    case ErrorCode::corruption: return {500, "DATA_CORRUPTION"};
    case ErrorCode::internal: return {500, "INTERNAL_ERROR"};
  }
  return {500, "INTERNAL_ERROR"};
}

Api::Api(ApiOptions options, Services services)
    : options_(std::move(options)), services_(services), throttle_(options_.auth_throttle, *services_.timers) {
  routes::add_probes(routes_);
  routes::add_agents(routes_);
  routes::add_agent_config(routes_);
  routes::add_agent_reports(routes_);
  routes::add_api_keys(routes_);
  if (services_.users != nullptr) {
    routes::add_users(routes_);
    routes::add_auth(routes_);
  }
  routes::add_backup(routes_);
  routes::add_bulk(routes_);
  routes::add_commands(routes_);
  routes::add_command_batches(routes_);
  routes::add_agent_commands(routes_);
  routes::add_configs(routes_);
  routes::add_enrollment_tokens(routes_);
  routes::add_events(routes_);
  if (services_.event_streams != nullptr) routes::add_event_stream(routes_);
  routes::add_groups(routes_);
  if (services_.opamp != nullptr) routes::add_opamp(routes_);
  routes::add_rollouts(routes_);
  routes::add_stats(routes_);
  routes::add_version(routes_);
  routes::add_cluster(routes_);
  routes::add_openapi(routes_);
  routes::add_dashboard(routes_);
  if (services_.notifications != nullptr) {
    routes::add_notification_channels(routes_);
    routes::add_maintenance_windows(routes_);
  }
  if (services_.metrics != nullptr) routes::add_metrics(routes_);
  if (services_.alerts != nullptr) {
    routes::add_alert_rules(routes_);
    routes::add_alerts(routes_);
  }
  if (services_.crash_injector != nullptr) routes::add_test_hooks(routes_);
  routes::add_prometheus(routes_, options_.metrics_require_key);
  std::vector<RequestMetrics::RouteLabels> labels;
  for (std::size_t index = 0; index < routes_.size(); ++index) {
    labels.push_back({routes_.method(index), routes_.pattern(index)});
  }
  request_metrics_ = std::make_unique<RequestMetrics>(std::move(labels));
}

std::size_t Api::largest_body_bytes(std::size_t listener_max_body_bytes) const {
  return std::max(listener_max_body_bytes, options_.opamp_max_message_bytes);
}

void Api::set_ready(std::uint64_t ready_at_position) {
  ready_at_position_ = ready_at_position;
  ready_ = true;
}

std::shared_ptr<Call> Api::admit(RequestHead head, Reply reply) {
  if (services_.cluster != nullptr && head.headers.find(kForwardedByHeader)) {
    if (auto client = forwarded_client_address(head, services_.cluster->nodes())) head.remote_address = *client;
  }
  auto call = std::make_shared<Call>(std::move(head), std::move(reply), services_, options_, throttle_);
  call->api = this;
  const RequestHead& request = call->head;
  const auto request_id = request.headers.find("X-Request-Id");
  call->context.request_id =
      request_id && is_valid_instance_id(*request_id) ? std::string(*request_id) : new_request_id();
  call->context.source_address = request.remote_address;

  auto match = routes_.find(request.method, request.path);
  if (match.handler != nullptr && request.listener == Listener::agents && !match.handler->for_agents) {
    match = {};  // The agents' listener does not reveal the operators' routes.
  }
  if (match.handler == nullptr) {
    if (match.allowed_methods.empty()) {
      call->reply_error(404, fmt::format("no route for {}", request.path), "ROUTE_NOT_FOUND");
    } else {
      Response response =
          error_response(405, fmt::format("{} is not allowed on {}", request.method, request.path),
                         "METHOD_NOT_ALLOWED", json{{"allowed", match.allowed_methods}});
      response.headers.emplace_back("Allow", fmt::format("{}", fmt::join(match.allowed_methods, ", ")));
      call->reply(std::move(response));
    }
    return nullptr;
  }
  call->route = match.handler;
  call->route_index = match.index;
  call->params = std::move(match.params);
  if (call->route->opamp) call->max_body_bytes = options_.opamp_max_message_bytes;
  if (services_.forwarder != nullptr && services_.forwarder->forwards(*call->route)) {
    call->forwarded = true;
    // The leader checks everything else, once, as for a request sent to it.
    // A WebSocket is checked here too, as the leader would: once it opens,
    // it is relayed, and a refusal must come before.
    if (!request.websocket) return call;
    if (request.headers.find(kForwardedByHeader)) {
      // Relayed here as to the leader, which this node no longer is: no second hop.
      call->reply(error_response(503, "the node this WebSocket was relayed to does not lead any more; reconnect",
                                 "NO_LEADER"));
      return nullptr;
    }
  }
  if (request.websocket && call->route->upgrade == nullptr) {
    call->reply_error(400, fmt::format("{} does not speak WebSocket", request.path), "WEBSOCKET_NOT_SUPPORTED");
    return nullptr;
  }
  if (request.headers.count("Authorization") > 1) {
    call->reply_error(400, "send one Authorization header", "DUPLICATE_HEADER",
                      json{{"Authorization", "appears more than once"}});
    return nullptr;
  }
  if (call->route->takes_body && request.has_body) {
    const auto content_type = request.headers.find("Content-Type");
    if (content_type && !is_json_media_type(*content_type)) {
      call->reply_error(415, fmt::format("request body must be application/json, not '{}'", *content_type),
                        "UNSUPPORTED_MEDIA_TYPE");
      return nullptr;
    }
  }
  if (call->route->opamp && request.has_body) {
    const auto content_type = request.headers.find("Content-Type");
    if (!content_type || !is_media_type(*content_type, "application/x-protobuf")) {
      call->reply_error(415,
                        fmt::format("an OpAMP message must be application/x-protobuf, not '{}'",
                                    content_type.value_or("")),
                        "UNSUPPORTED_MEDIA_TYPE");
      return nullptr;
    }
  }
  if (!authenticate(*call, *call->route)) return nullptr;
  return call;
}

void Api::handle(const std::shared_ptr<Call>& call, std::string body) {
  call->body = std::move(body);
  if (call->forwarded) return services_.forwarder->forward(call);
  if (!call->agent_token || call->route->credential == Credential::opamp_agent) return call->route->handler(call);
  // An agent's token is checked before its body is parsed: a guessed token
  // costs no more than reading the bounded body.
  const AgentAccess access = call->agent_access();
  const std::string& path_agent = call->params["agent_id"];
  if (call->agent_token->agent_id.to_string() == path_agent) {
    if (Status allowed = services_.agents->check_access(call->agent_token->agent_id, access); !allowed) {
      return call->reply_failure(allowed.error());
    }
    return call->route->handler(call);
  }
  // A token naming another agent: 403 if it is that agent's valid token, else 401.
  call->await<AgentOutcome>(
      "AGENT_BUSY",
      [&](auto done) { services_.agents->verify_access(call->agent_token->agent_id, access, std::move(done)); },
      [call](Result<AgentOutcome> verified) {
        if (!verified && verified.error().code == ErrorCode::unavailable) {
          return call->reply_failure(verified.error());
        }
        if (!verified) {
          return call->reply_failure(make_error(ErrorCode::unauthenticated,
                                                "the agent token is malformed, unknown or revoked",
                                                kInvalidAgentToken));
        }
        call->reply_error(403, "an agent's token is good only for that agent's own routes", "AGENT_MISMATCH");
      });
}

bool Api::authenticate(Call& call, const Route& route) {
  if (route.credential == Credential::none) return true;
  const std::string& address = call.head.remote_address;
  if (const auto retry_after = throttle_.retry_after_seconds(address)) {
    log::warn("throttled", {{"request_id", call.context.request_id}, {"source", address}, {"path", call.head.path}});
    Response response = error_response(429, "too many failed authentications from this address; retry later",
                                       "TOO_MANY_REQUESTS", json{{"retry_after_seconds", *retry_after}});
    response.headers.emplace_back("Retry-After", std::to_string(*retry_after));
    call.reply(std::move(response));
    return false;
  }
  if (!ready_) {
    call.reply_error(503, "muster is still recovering; retry shortly", "NOT_READY");
    return false;
  }
  auto credential = bearer_credential(call.head.headers);
  if (route.credential == Credential::opamp_agent && credential && credential->empty()) {
    credential = basic_credential(call.head.headers);
  }
  switch (route.credential) {
    case Credential::none: return true;
    case Credential::sign_in: return true;
    case Credential::opamp_agent:
      if (auto presented = credential ? read_agent_token(*credential) : std::nullopt) {
        if (!authenticate_agent(call, std::move(presented))) return false;
        // No path names the agent: its token does. Checked here, from the
        // head, so that a WebSocket is refused before it opens.
        if (Status allowed = services_.agents->check_access(call.agent_token->agent_id, call.agent_access());
            !allowed) {
          call.reply_failure(allowed.error());
          return false;
        }
        return true;
      }
      [[fallthrough]];
    case Credential::enrollment_token: {
      const char* refusal =
          route.credential == Credential::opamp_agent
              ? "OpAMP needs a live enrollment token or the agent's own token: Authorization: Bearer <token>"
              : "registration needs a live enrollment token: Authorization: Bearer <enrollment token>";
      call.enrollment_grant = credential ? services_.registrations->admit(*credential) : std::nullopt;
      if (call.enrollment_grant) {
        call.context.principal = "enrollment:" + call.enrollment_grant->token_id;
        return true;
      }
      // Only a presented, wrong credential counts: a missing header is not a guess.
      if (credential) {
        call.reply_failure(make_error(ErrorCode::unauthenticated, refusal, "INVALID_ENROLLMENT_TOKEN"));
      } else {
        call.reply_error(401, refusal, "INVALID_ENROLLMENT_TOKEN");
      }
      return false;
    }
    case Credential::agent_token:
      if (!credential) {
        call.reply_error(401, "this route needs the agent's token: Authorization: Bearer <agent_token>",
                         kInvalidAgentToken);
        return false;
      }
      return authenticate_agent(call, read_agent_token(*credential));
    case Credential::agent_or_api_key:
      if (auto presented = credential ? read_agent_token(*credential) : std::nullopt) {
        return authenticate_agent(call, std::move(presented));
      }
      break;
    case Credential::api_key: break;
  }
  if (!credential) {
    if (const auto cookie = session_cookie(call.head.headers)) {
      return authorize_session(call, *cookie, route.role, /*from_cookie=*/true);
    }
    call.reply_error(401, "this route needs an API key or a session: Authorization: Bearer <key or access token>",
                     "UNAUTHORIZED");
    return false;
  }
  return authorize_operator(call, *credential, route.role);
}

bool Api::check_role(Call& call, Role held, Role needed, const char* holder) {
  if (role_allows(held, needed)) return true;
  call.reply_error(
      403, fmt::format("this route needs the {} role; the {} has {}", to_string(needed), holder, to_string(held)),
      "FORBIDDEN");
  return false;
}

bool Api::authorize_operator(Call& call, std::string_view credential, Role needed) {
  // A user's session reads "ms_...", a key "mk_...": which store to ask.
  const bool session = credential.size() > kSessionPrefix.size() &&
                       credential.compare(0, kSessionPrefix.size(), kSessionPrefix) == 0 &&
                       credential[kSessionPrefix.size()] == '_';
  if (session) {
    return authorize_session(call, credential, needed, /*from_cookie=*/false);
  }
  const auto principal = services_.api_keys->authenticate(credential);
  if (!principal) {
    call.reply_failure(
        make_error(ErrorCode::unauthenticated, "the API key is malformed, unknown or revoked", "INVALID_API_KEY"));
    return false;
  }
  if (!check_role(call, principal->role, needed, "key")) return false;
  call.context.principal = principal->label();
  call.principal = *principal;
  return true;
}

bool Api::authorize_session(Call& call, std::string_view secret, Role needed, bool from_cookie) {
  auto session = services_.users ? services_.users->authenticate(secret) : std::nullopt;
  if (!session) {
    call.reply_failure(make_error(ErrorCode::unauthenticated,
                                  "the session is unknown, expired or ended: sign in again", "INVALID_SESSION"));
    return false;
  }
  const bool safe = call.head.method == "GET" || call.head.method == "HEAD";
  if (from_cookie && !safe && !has_csrf_token(call.head.headers, secret)) {
    call.reply_error(403,
                     fmt::format("a write with the session cookie needs its CSRF token in {} (from the sign-in "
                                 "answer or GET /api/v1/auth/session)",
                                 kCsrfHeader),
                     "CSRF_TOKEN_INVALID");
    return false;
  }
  if (!check_role(call, session->principal.role, needed, "user")) return false;
  call.context.principal = session->principal.label();
  call.principal = session->principal;
  call.session = std::move(*session);
  return true;
}

bool Api::authenticate_agent(Call& call, std::optional<PresentedAgentToken> presented) {
  if (!presented) {
    call.reply_failure(make_error(ErrorCode::unauthenticated, "the agent token is malformed, unknown or revoked",
                                  kInvalidAgentToken));
    return false;
  }
  call.agent_token = std::move(presented);
  call.context.principal = "agent:" + call.agent_token->agent_id.to_string();
  return true;
}

}  // namespace muster::http
