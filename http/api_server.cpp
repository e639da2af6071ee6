#include "http/api_server.hpp"

#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <functional>
#include <random>
#include <thread>

#include <fmt/format.h>
#include <httplib.h>

#include "actors/access/credentials.hpp"
#include "actors/runtime/await.hpp"
#include "common/log.hpp"
#include "common/thread_class.hpp"
#include "common/time_format.hpp"
#include "http/connection_pool.hpp"
#include "http/request_parsing.hpp"
#include "http/router.hpp"

namespace muster::http {
namespace {

using nlohmann::json;

constexpr std::uint64_t kMaxPageSize = 1000;
// Threads above the core count end after this long without a connection.
constexpr int kIdleThreadSeconds = 30;

struct Call {
  const httplib::Request& request;
  httplib::Response& response;
  PathParams params;
  QueryParams query;
  RequestContext context;
  /// The API key's caller (unscoped until authenticated: routes without an
  /// API key see no organization filter).
  Principal principal;
  /// Set when the agent itself calls, with the token it presented.
  std::optional<PresentedAgentToken> agent_token;
  AuthThrottle* auth_throttle = nullptr;
};

// The credential after "Bearer " (the scheme is case-insensitive, RFC 7235);
// nullopt when the header is missing or empty, empty when it holds something else.
std::optional<std::string> bearer_credential(const httplib::Request& request) {
  const std::string header = request.get_header_value("Authorization");
  if (header.empty()) return std::nullopt;
  constexpr std::string_view kScheme = "bearer ";
  if (header.size() <= kScheme.size()) return std::string();
  for (std::size_t index = 0; index < kScheme.size(); ++index) {
    if (std::tolower(static_cast<unsigned char>(header[index])) != kScheme[index]) return std::string();
  }
  return header.substr(kScheme.size());
}

std::string body_text(const json& body) {
  // Invalid UTF-8 cannot come from parsed input, but never let dump() throw.
  return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

void reply_body(Call& call, int status, std::string body) {
  call.response.status = status;
  call.response.set_content(std::move(body), "application/json");
}

void reply_json(Call& call, int status, const json& body) {
  reply_body(call, status, body_text(body));
}

void reply_error(Call& call, int status, const std::string& message, const std::string& code,
                 const json& details = nullptr) {
  if (status == 503) call.response.set_header("Retry-After", "1");
  reply_json(call, status, error_body(message, code, details));
}

void reply_invalid(Call& call, const Invalid& invalid) {
  reply_error(call, 400, invalid.message, invalid.code, invalid.details);
}

void reply_failure(Call& call, const Error& error) {
  struct Mapping {
    int status;
    const char* code;
  };
  Mapping mapping{500, "INTERNAL_ERROR"};
  switch (error.code) {
    case ErrorCode::invalid_argument: mapping = {400, "INVALID_REQUEST"}; break;
    case ErrorCode::unauthenticated: mapping = {401, "UNAUTHORIZED"}; break;
    case ErrorCode::permission_denied: mapping = {403, "FORBIDDEN"}; break;
    case ErrorCode::not_found: mapping = {404, "NOT_FOUND"}; break;
    case ErrorCode::conflict: mapping = {409, "CONFLICT"}; break;
    case ErrorCode::unavailable: mapping = {503, "UNAVAILABLE"}; break;
    case ErrorCode::io_error: mapping = {503, "STORAGE_UNAVAILABLE"}; break;
    case ErrorCode::corruption: mapping = {500, "DATA_CORRUPTION"}; break;
    case ErrorCode::internal: mapping = {500, "INTERNAL_ERROR"}; break;
  }
  // A wrong agent token is found out by the agent's actor: count it here.
  if (error.code == ErrorCode::unauthenticated) call.auth_throttle->record_failure(call.request.remote_addr);
  if (mapping.status >= 500) {
    log::error(
        "request failed",
        {{"request_id", call.context.request_id}, {"path", call.request.path}, {"error", error.message}});
  }
  reply_error(call, mapping.status, error.message, error.reason.empty() ? mapping.code : error.reason);
}

// Refuses a presented credential that is malformed, unknown or revoked:
// 401 with `code`, counted by the failure throttle (reply_failure does).
void refuse_credential(Call& call, const std::string& message, const std::string& code) {
  reply_failure(call, make_error(ErrorCode::unauthenticated, message, code));
}

std::string new_request_id() {
  thread_local std::mt19937_64 generator{std::random_device{}()};
  return fmt::format("{:016x}", generator());
}

bool is_json_media_type(const std::string& content_type) {
  const std::string media = content_type.substr(0, content_type.find(';'));
  return media == "application/json" || (media.rfind("application/", 0) == 0 && media.size() > 5 &&
                                         media.compare(media.size() - 5, 5, "+json") == 0);
}

// The JSON body for an error answered by httplib itself, before any handler ran.
json transport_error_body(int status) {
  switch (status) {
    case 400: return error_body("malformed HTTP request", "BAD_REQUEST");
    case 404: return error_body("no such route", "ROUTE_NOT_FOUND");
    case 408: return error_body("request not received in time", "REQUEST_TIMEOUT");
    case 413: return error_body("request body too large", "PAYLOAD_TOO_LARGE");
    case 414: return error_body("request URI too long", "URI_TOO_LONG");
    case 416: return error_body("range not satisfiable", "RANGE_NOT_SATISFIABLE");
    default:
      return status >= 500 ? error_body("internal error", "INTERNAL_ERROR")
                           : error_body(fmt::format("HTTP error {}", status), "HTTP_ERROR");
  }
}

}  // namespace

struct ApiServer::Impl {
  using Handler = void (Impl::*)(Call&);
  /// Which credential a route takes (README "Who may call what").
  enum class Credential {
    none,              ///< Probes.
    api_key,           ///< An operator's API key with at least the route's role.
    agent_token,       ///< The token of the agent named in the path.
    agent_or_api_key,  ///< Either of the two above.
    enrollment_token,  ///< Registration: checked by its handler, which must settle the use.
  };
  struct Endpoint {
    Handler handler;
    Credential credential = Credential::none;
    Role role = Role::viewer;
  };

  Impl(ApiServerOptions options_in, Backends backends_in)
      : options(std::move(options_in)),
        backends(backends_in),
        server_owner(make_server(options)),
        server(*server_owner),
        auth_throttle(options.auth_throttle, *backends.clock) {
    add_routes();
    configure_server();
  }

  static std::unique_ptr<httplib::Server> make_server(const ApiServerOptions& options) {
    if (options.tls_cert_path.empty()) return std::make_unique<httplib::Server>();
    return std::make_unique<httplib::SSLServer>(options.tls_cert_path.c_str(), options.tls_key_path.c_str());
  }

  void add_routes();
  void configure_server();
  void dispatch(const httplib::Request& request, httplib::Response& response);
  // Answers, from the headers alone, requests whose body must not be read.
  httplib::Server::HandlerResponse screen(const httplib::Request& request, httplib::Response& response);

  // Shared steps of handlers; each returns false after answering with an error.
  bool require_ready(Call& call);
  bool parse_body(Call& call, bool allow_empty, json& body);
  bool require_agent_id(Call& call, AgentId& agent_id);
  bool wait_for_projection(Call& call);
  bool authenticate(Call& call, const Endpoint& endpoint);
  bool authorize_operator(Call& call, const std::string& credential, Role needed);
  bool authenticate_agent(Call& call, std::optional<PresentedAgentToken> presented);
  AgentAccess access_of(const Call& call) const;
  /// Waits (bounded) for an asynchronous service call.
  template <class T, class Start>
  Result<T> await(Start&& start) const {
    return await_result<T>(std::forward<Start>(start), options.request_timeout_ms, "BUSY");
  }

  void handle_healthz(Call& call);
  void handle_readyz(Call& call);
  void handle_register(Call& call);
  void handle_heartbeat(Call& call);
  void handle_list_agents(Call& call);
  void handle_get_agent(Call& call);
  void handle_deregister(Call& call);
  void handle_decommission(Call& call);
  void handle_agent_events(Call& call);
  void handle_log_events(Call& call);
  void handle_stats(Call& call);
  void handle_test_crash(Call& call);
  void handle_create_api_key(Call& call);
  void handle_list_api_keys(Call& call);
  void handle_revoke_api_key(Call& call);
  void handle_rotate_agent_token(Call& call);
  void handle_create_enrollment_token(Call& call);
  void handle_list_enrollment_tokens(Call& call);
  void handle_revoke_enrollment_token(Call& call);
  void reply_revoked(Call& call, const std::string& id, const Result<std::uint64_t>& revoked);
  void reply_change(Call& call, const Result<AgentOutcome>& outcome);

  const ApiServerOptions options;
  const Backends backends;
  Router<Endpoint> router;
  std::unique_ptr<httplib::Server> server_owner;  ///< An SSLServer when TLS is configured.
  httplib::Server& server;
  std::thread listener;
  int bound_port = 0;
  int listening_socket = -1;
  AuthThrottle auth_throttle;
  std::atomic<bool> ready{false};
  std::atomic<std::uint64_t> ready_at_position{0};
  std::atomic<bool> stopped{false};
};

void ApiServer::Impl::add_routes() {
  using C = Credential;
  router.add("GET", "/healthz", {&Impl::handle_healthz});
  router.add("GET", "/readyz", {&Impl::handle_readyz});
  router.add("POST", "/api/v1/agents/register", {&Impl::handle_register, C::enrollment_token});
  router.add("POST", "/api/v1/agents/{agent_id}/heartbeat", {&Impl::handle_heartbeat, C::agent_token});
  router.add("POST", "/api/v1/agents/{agent_id}/token/rotate",
             {&Impl::handle_rotate_agent_token, C::agent_or_api_key, Role::operator_});
  router.add("GET", "/api/v1/agents", {&Impl::handle_list_agents, C::api_key, Role::viewer});
  router.add("GET", "/api/v1/agents/{agent_id}", {&Impl::handle_get_agent, C::api_key, Role::viewer});
  router.add("DELETE", "/api/v1/agents/{agent_id}", {&Impl::handle_deregister, C::api_key, Role::operator_});
  router.add("POST", "/api/v1/agents/{agent_id}/decommission",
             {&Impl::handle_decommission, C::api_key, Role::operator_});
  router.add("GET", "/api/v1/agents/{agent_id}/events",
             {&Impl::handle_agent_events, C::api_key, Role::viewer});
  router.add("GET", "/api/v1/events", {&Impl::handle_log_events, C::api_key, Role::viewer});
  router.add("GET", "/api/v1/stats", {&Impl::handle_stats, C::api_key, Role::viewer});
  router.add("POST", "/api/v1/api-keys", {&Impl::handle_create_api_key, C::api_key, Role::admin});
  router.add("GET", "/api/v1/api-keys", {&Impl::handle_list_api_keys, C::api_key, Role::admin});
  router.add("DELETE", "/api/v1/api-keys/{key_id}", {&Impl::handle_revoke_api_key, C::api_key, Role::admin});
  router.add("POST", "/api/v1/enrollment-tokens",
             {&Impl::handle_create_enrollment_token, C::api_key, Role::admin});
  router.add("GET", "/api/v1/enrollment-tokens",
             {&Impl::handle_list_enrollment_tokens, C::api_key, Role::admin});
  router.add("DELETE", "/api/v1/enrollment-tokens/{token_id}",
             {&Impl::handle_revoke_enrollment_token, C::api_key, Role::admin});
  if (backends.crash_injector != nullptr) {
    router.add("POST", "/_test/agents/{agent_id}/crash", {&Impl::handle_test_crash, C::api_key, Role::admin});
  }
}

void ApiServer::Impl::configure_server() {
  server.new_task_queue = [this] {
    return new ConnectionPool(options.core_threads, options.threads, kIdleThreadSeconds);
  };
  // Without TCP_NODELAY every answer waits for a delayed ACK (~40 ms; see shared/NOTES.md).
  server.set_tcp_nodelay(true);
  server.set_keep_alive_max_count(options.keep_alive_max_requests);
  server.set_keep_alive_timeout(options.keep_alive_timeout_seconds);
  server.set_read_timeout(options.io_timeout_seconds, 0);
  server.set_write_timeout(options.io_timeout_seconds, 0);
  server.set_payload_max_length(options.max_body_bytes);
  server.set_socket_options([this](int socket) {
    httplib::default_socket_options(socket);
    listening_socket = socket;
  });
  const auto dispatcher = [this](const httplib::Request& request, httplib::Response& response) {
    dispatch(request, response);
  };
  server.Get(".*", dispatcher);
  server.Post(".*", dispatcher);
  server.Put(".*", dispatcher);
  server.Patch(".*", dispatcher);
  server.Delete(".*", dispatcher);
  server.Options(".*", dispatcher);
  // httplib's own refusals (bad request line, body too large, ...) get JSON too.
  server.set_pre_routing_handler([this](const httplib::Request& request, httplib::Response& response) {
    return screen(request, response);
  });
  server.set_error_handler(
      httplib::Server::HandlerWithResponse([](const httplib::Request&, httplib::Response& response) {
        if (!response.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
        response.set_content(body_text(transport_error_body(response.status)), "application/json");
        return httplib::Server::HandlerResponse::Handled;
      }));
  server.set_exception_handler(
      [](const httplib::Request& request, httplib::Response& response, std::exception_ptr) {
        log::error("unexpected exception in request handler", {{"path", request.path}});
        response.status = 500;
        response.set_content(body_text(error_body("internal error", "INTERNAL_ERROR")), "application/json");
      });
}

void ApiServer::Impl::dispatch(const httplib::Request& request, httplib::Response& response) {
  std::string request_id = request.get_header_value("X-Request-Id");
  if (!is_valid_instance_id(request_id)) request_id = new_request_id();
  response.set_header("X-Request-Id", request_id);
  Call call{request,
            response,
            {},
            parse_query_string(request.target),
            RequestContext{request_id, request.remote_addr, "", ""},
            Principal{},
            std::nullopt,
            &auth_throttle};
  auto match = router.find(request.method, request.path);
  if (match.handler == nullptr) {
    if (match.allowed_methods.empty()) {
      reply_error(call, 404, fmt::format("no route for {}", request.path), "ROUTE_NOT_FOUND");
    } else {
      response.set_header("Allow", fmt::format("{}", fmt::join(match.allowed_methods, ", ")));
      reply_error(call, 405, fmt::format("{} is not allowed on {}", request.method, request.path),
                  "METHOD_NOT_ALLOWED", json{{"allowed", match.allowed_methods}});
    }
    return;
  }
  call.params = std::move(match.params);
  const Credential credential = match.handler->credential;
  const bool agent_traffic =
      credential == Credential::agent_token || credential == Credential::enrollment_token;
  set_thread_class(agent_traffic ? ThreadClass::agent_traffic : ThreadClass::interactive);
  if (!authenticate(call, *match.handler)) return;
  (this->*(match.handler->handler))(call);
}

httplib::Server::HandlerResponse ApiServer::Impl::screen(const httplib::Request& request,
                                                         httplib::Response& response) {
  const bool may_have_body = request.method == "POST" || request.method == "PUT" || request.method == "PATCH";
  if (!may_have_body) return httplib::Server::HandlerResponse::Unhandled;
  // RFC 7230 3.3.3: a request with neither header has no body. httplib would
  // wait for one until its read timeout, so answer now.
  const bool no_body = (!request.has_header("Content-Length") && !request.has_header("Transfer-Encoding")) ||
                       request.get_header_value("Content-Length") == "0";
  const std::string content_type = request.get_header_value("Content-Type");
  const bool json_body = content_type.empty() || is_json_media_type(content_type);
  // The common case (a JSON body) is left to httplib and dispatch: routing
  // here too would cost every heartbeat a second route lookup.
  if (!no_body && json_body) return httplib::Server::HandlerResponse::Unhandled;
  const bool routed = router.find(request.method, request.path).handler != nullptr;
  if (routed && no_body) {
    dispatch(request, response);
    return httplib::Server::HandlerResponse::Handled;
  }
  // A wrong route (404/405) or a body that is not JSON (415, before httplib
  // reads and, for forms and multipart, parses it). An unread body cannot be
  // skipped reliably, so such a connection is not reused.
  if (!no_body) response.set_header("Connection", "close");
  if (!routed) {
    dispatch(request, response);
  } else {
    response.status = 415;
    response.set_content(
        body_text(error_body(fmt::format("request body must be application/json, not '{}'", content_type),
                             "UNSUPPORTED_MEDIA_TYPE")),
        "application/json");
  }
  return httplib::Server::HandlerResponse::Handled;
}

// --- Shared steps ---------------------------------------------------------------

bool ApiServer::Impl::require_ready(Call& call) {
  if (ready) return true;
  reply_error(call, 503, "muster is still recovering; retry shortly", "NOT_READY");
  return false;
}

bool ApiServer::Impl::parse_body(Call& call, bool allow_empty, json& body) {
  auto parsed = parse_json_object(call.request.body, allow_empty);
  if (auto* invalid = std::get_if<Invalid>(&parsed)) {
    reply_invalid(call, *invalid);
    return false;
  }
  body = std::move(std::get<json>(parsed));
  return true;
}

bool ApiServer::Impl::require_agent_id(Call& call, AgentId& agent_id) {
  if (const auto parsed = AgentId::parse(call.params["agent_id"])) {
    agent_id = *parsed;
    return true;
  }
  reply_error(call, 400, "agent id must be a lowercase UUID", "INVALID_AGENT_ID",
              json{{"agent_id", "must be a UUID such as 3f6c9a1e-8d2b-4c1f-9e7a-0b5d4c3a2f10"}});
  return false;
}

bool ApiServer::Impl::wait_for_projection(Call& call) {
  const QueryParams params = call.query;
  auto wanted = parse_uint_param(params, "min_position", 0, UINT64_MAX);
  if (auto* invalid = std::get_if<Invalid>(&wanted)) {
    reply_invalid(call, *invalid);
    return false;
  }
  const std::uint64_t min_position = std::get<std::uint64_t>(wanted);
  if (backends.projections->wait_for_position(min_position,
                                              std::chrono::milliseconds(options.max_min_position_wait_ms))) {
    return true;
  }
  reply_error(call, 503,
              fmt::format("the read model has not reached position {} yet (at {})", min_position,
                          backends.projections->position()),
              "PROJECTION_LAGGING");
  return false;
}

void ApiServer::Impl::reply_change(Call& call, const Result<AgentOutcome>& outcome) {
  if (!outcome) return reply_failure(call, outcome.error());
  reply_json(call, 200,
             {{"agent_id", outcome->agent_id.to_string()},
              {"status", to_string(outcome->status)},
              {"position", outcome->position}});
}

bool ApiServer::Impl::authenticate(Call& call, const Endpoint& endpoint) {
  if (endpoint.credential == Credential::none) return true;
  const std::string& address = call.request.remote_addr;
  if (const auto retry_after = auth_throttle.retry_after_seconds(address)) {
    call.response.set_header("Retry-After", std::to_string(*retry_after));
    reply_error(call, 429, "too many failed authentications from this address; retry later",
                "TOO_MANY_REQUESTS", json{{"retry_after_seconds", *retry_after}});
    return false;
  }
  if (!require_ready(call)) return false;
  const auto credential = bearer_credential(call.request);
  switch (endpoint.credential) {
    case Credential::none:
    case Credential::enrollment_token: return true;
    case Credential::agent_token:
      if (!credential) {
        reply_error(call, 401, "this route needs the agent's token: Authorization: Bearer <agent_token>",
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
    reply_error(call, 401, "this route needs an API key: Authorization: Bearer <key>", "UNAUTHORIZED");
    return false;
  }
  return authorize_operator(call, *credential, endpoint.role);
}

bool ApiServer::Impl::authorize_operator(Call& call, const std::string& credential, Role needed) {
  const auto principal = backends.api_keys->authenticate(credential);
  if (!principal) {
    refuse_credential(call, "the API key is malformed, unknown or revoked", "INVALID_API_KEY");
    return false;
  }
  if (!role_allows(principal->role, needed)) {
    reply_error(call, 403,
                fmt::format("this route needs the {} role; the key has {}", to_string(needed),
                            to_string(principal->role)),
                "FORBIDDEN");
    return false;
  }
  call.context.principal = "key:" + principal->key_id;
  call.principal = *principal;
  return true;
}

// Reads the agent's token. Whether the agent accepts it is decided with the
// command; only a token naming another agent is checked here.
bool ApiServer::Impl::authenticate_agent(Call& call, std::optional<PresentedAgentToken> presented) {
  constexpr const char* kRefusal = "the agent token is malformed, unknown or revoked";
  call.agent_token = std::move(presented);
  if (!call.agent_token) {
    refuse_credential(call, kRefusal, kInvalidAgentToken);
    return false;
  }
  const std::string token_agent = call.agent_token->agent_id.to_string();
  call.context.principal = "agent:" + token_agent;
  if (token_agent == call.params["agent_id"]) return true;
  AgentAccess access;
  access.token = call.agent_token->digest;
  const auto verified = backends.agents->wait([&](AgentService::Done done) {
    backends.agents->verify_access(call.agent_token->agent_id, access, std::move(done));
  });
  if (!verified) {
    if (verified.error().code == ErrorCode::unavailable) {
      reply_failure(call, verified.error());
    } else {
      refuse_credential(call, kRefusal, kInvalidAgentToken);
    }
    return false;
  }
  reply_error(call, 403, "an agent's token is good only for that agent's own routes", "AGENT_MISMATCH");
  return false;
}

AgentAccess ApiServer::Impl::access_of(const Call& call) const {
  AgentAccess access;
  if (call.agent_token) access.token = call.agent_token->digest;
  access.org_scope = call.principal.org;
  return access;
}

// --- Handlers -------------------------------------------------------------------

void ApiServer::Impl::handle_healthz(Call& call) {
  reply_json(call, 200, {{"status", "ok"}});
}

void ApiServer::Impl::handle_readyz(Call& call) {
  const std::uint64_t projected = backends.projections->position();
  if (!ready || projected < ready_at_position.load()) {
    reply_error(call, 503, "recovering", "NOT_READY",
                json{{"projection_position", projected}, {"ready_at_position", ready_at_position.load()}});
    return;
  }
  reply_json(call, 200, {{"status", "ready"}, {"projection_position", projected}});
}

void ApiServer::Impl::handle_register(Call& call) {
  const auto credential = bearer_credential(call.request);
  const auto grant = credential ? backends.registrations->admit(*credential) : std::nullopt;
  if (!grant) {
    constexpr const char* kRefusal =
        "registration needs a live enrollment token: Authorization: Bearer <enrollment token>";
    // Only a presented, wrong credential counts: a missing header is not a guess.
    if (credential) return refuse_credential(call, kRefusal, "INVALID_ENROLLMENT_TOKEN");
    return reply_error(call, 401, kRefusal, "INVALID_ENROLLMENT_TOKEN");
  }
  call.context.principal = "enrollment:" + grant->token_id;
  json body;
  if (!parse_body(call, false, body)) return;
  auto registration = parse_registration(body);
  if (auto* invalid = std::get_if<Invalid>(&registration)) return reply_invalid(call, *invalid);
  const auto outcome = backends.agents->wait([&](AgentService::Done done) {
    backends.registrations->register_agent(*grant, std::get<Registration>(registration), call.context,
                                           std::move(done));
  });
  if (!outcome) return reply_failure(call, outcome.error());
  reply_json(call, outcome->created ? 201 : 200,
             {{"agent_id", outcome->agent_id.to_string()},
              {"instance_id", outcome->instance_id},
              {"org", outcome->org},
              {"status", to_string(outcome->status)},
              {"registered_at", format_rfc3339(outcome->registered_at_ms)},
              {"config_version", outcome->config_version},
              {"agent_token", outcome->agent_token},
              {"position", outcome->position}});
}

void ApiServer::Impl::handle_heartbeat(Call& call) {
  AgentId agent_id;
  json body;
  if (!require_agent_id(call, agent_id) || !parse_body(call, true, body)) return;
  auto report = parse_heartbeat(body);
  if (auto* invalid = std::get_if<Invalid>(&report)) return reply_invalid(call, *invalid);
  const auto outcome = backends.agents->wait([&](AgentService::Done done) {
    backends.agents->heartbeat(agent_id, access_of(call), std::get<HeartbeatReport>(report), call.context,
                               std::move(done));
  });
  if (!outcome) return reply_failure(call, outcome.error());
  reply_json(call, 200,
             {{"success", true},
              {"agent_id", outcome->agent_id.to_string()},
              {"status", to_string(outcome->status)},
              {"config_version", outcome->config_version},
              {"commands_pending", 0},
              {"position", outcome->position}});
}

void ApiServer::Impl::handle_rotate_agent_token(Call& call) {
  AgentId agent_id;
  json body;
  if (!require_agent_id(call, agent_id) || !parse_body(call, true, body)) return;
  const auto outcome = backends.agents->wait([&](AgentService::Done done) {
    backends.agents->rotate_token(agent_id, access_of(call), call.context, std::move(done));
  });
  if (!outcome) return reply_failure(call, outcome.error());
  reply_json(call, 200,
             {{"agent_id", outcome->agent_id.to_string()},
              {"agent_token", outcome->agent_token},
              {"previous_token_valid_until", format_rfc3339(outcome->previous_token_valid_until_ms)},
              {"position", outcome->position}});
}

void ApiServer::Impl::handle_list_agents(Call& call) {
  auto query = parse_list_query(call.query);
  if (auto* invalid = std::get_if<Invalid>(&query)) return reply_invalid(call, *invalid);
  if (!wait_for_projection(call)) return;
  ListQuery& list = std::get<ListQuery>(query);
  if (call.principal.org != kAllOrgs) {
    // A scoped key lists its own organization; asking for another finds nothing.
    if (list.filter.org && *list.filter.org != call.principal.org) list.limit = 0;
    list.filter.org = call.principal.org;
  }
  const AgentPage page = list.limit == 0 ? AgentPage{} : backends.registry->list(list.filter, list.limit, list.after);
  const TimeMs now = backends.clock->now_ms();
  // {"agents":[...],"next_cursor":...,"total":...}, written directly (see append_agent_json).
  std::string body = R"({"agents":[)";
  body.reserve(page.agents.size() * 512);
  for (const AgentView& agent : page.agents) {
    if (body.back() != '[') body += ',';
    append_agent_json(body, agent, now, options.health, false);
  }
  body += R"(],"next_cursor":)";
  body += page.next_after ? json(encode_cursor(*page.next_after)).dump() : "null";
  body += fmt::format(R"(,"total":{}}})", page.total);
  reply_body(call, 200, std::move(body));
}

void ApiServer::Impl::handle_get_agent(Call& call) {
  AgentId agent_id;
  if (!require_agent_id(call, agent_id) || !wait_for_projection(call)) return;
  const auto agent = backends.registry->find(agent_id);
  if (!agent || !org_visible(call.principal.org, *agent->state.org)) {
    return reply_error(call, 404, "no agent with this id", kAgentNotFound);
  }
  std::string body;
  append_agent_json(body, *agent, backends.clock->now_ms(), options.health, true);
  reply_body(call, 200, std::move(body));
}

void ApiServer::Impl::handle_deregister(Call& call) {
  AgentId agent_id;
  if (!require_agent_id(call, agent_id)) return;
  reply_change(call, backends.agents->wait([&](AgentService::Done done) {
    backends.agents->deregister(agent_id, access_of(call), call.context, std::move(done));
  }));
}

void ApiServer::Impl::handle_decommission(Call& call) {
  AgentId agent_id;
  json body;
  if (!require_agent_id(call, agent_id) || !parse_body(call, true, body)) return;
  reply_change(call, backends.agents->wait([&](AgentService::Done done) {
    backends.agents->decommission(agent_id, access_of(call), call.context, std::move(done));
  }));
}

void ApiServer::Impl::handle_agent_events(Call& call) {
  AgentId agent_id;
  if (!require_agent_id(call, agent_id)) return;
  const QueryParams params = call.query;
  auto from_version = parse_uint_param(params, "from_version", 1, UINT64_MAX);
  auto limit = parse_uint_param(params, "limit", 100, kMaxPageSize);
  for (auto* parsed : {&from_version, &limit}) {
    if (auto* invalid = std::get_if<Invalid>(parsed)) return reply_invalid(call, *invalid);
  }
  const auto page = backends.events->agent_events(call.principal, agent_id,
                                                  std::get<std::uint64_t>(from_version),
                                                  std::get<std::uint64_t>(limit));
  if (!page) return reply_failure(call, page.error());
  json items = json::array();
  for (const Event& event : page->events) items.push_back(event_to_json(event));
  reply_json(call, 200,
             {{"agent_id", agent_id.to_string()},
              {"events", std::move(items)},
              {"next_from_version", page->next ? json(*page->next) : json(nullptr)}});
}

void ApiServer::Impl::handle_log_events(Call& call) {
  const QueryParams params = call.query;
  auto from_position = parse_uint_param(params, "from_position", 1, UINT64_MAX);
  auto limit = parse_uint_param(params, "limit", 100, kMaxPageSize);
  for (auto* parsed : {&from_position, &limit}) {
    if (auto* invalid = std::get_if<Invalid>(parsed)) return reply_invalid(call, *invalid);
  }
  const auto type_param = call.query.find("type");
  const std::string type = type_param == call.query.end() ? "" : type_param->second;
  if (type_param != call.query.end() && !is_valid_instance_id(type)) {
    return reply_error(call, 400, "invalid query parameter 'type'", "INVALID_PARAMETER",
                       json{{"type", "must be an event type such as AgentRegistered"}});
  }
  const auto page = backends.events->log_events(call.principal, std::get<std::uint64_t>(from_position),
                                                std::get<std::uint64_t>(limit), type);
  if (!page) return reply_failure(call, page.error());
  json items = json::array();
  for (const Event& event : page->events) items.push_back(event_to_json(event));
  reply_json(call, 200,
             {{"events", std::move(items)}, {"next_from_position", page->next ? json(*page->next) : json(nullptr)}});
}

void ApiServer::Impl::handle_stats(Call& call) {
  if (!wait_for_projection(call)) return;
  const auto head = backends.store->head_position();
  if (!head) return reply_failure(call, head.error());
  reply_json(call, 200, stats_to_json(backends.registry->stats(call.principal.org), *head));
}

void ApiServer::Impl::handle_create_api_key(Call& call) {
  json body;
  if (!parse_body(call, false, body)) return;
  auto request = parse_api_key_request(body);
  if (auto* invalid = std::get_if<Invalid>(&request)) return reply_invalid(call, *invalid);
  const auto issued = await<IssuedApiKey>([&](auto done) {
    backends.api_keys->create(call.principal, std::get<ApiKeyRequest>(request), call.context, std::move(done));
  });
  if (!issued) return reply_failure(call, issued.error());
  json answer = api_key_to_json(issued->key);
  answer["key"] = issued->plaintext;
  answer["position"] = issued->position;
  reply_json(call, 201, answer);
}

void ApiServer::Impl::handle_list_api_keys(Call& call) {
  if (!wait_for_projection(call)) return;
  json keys = json::array();
  for (const ApiKey& key : backends.api_keys->list(call.principal)) keys.push_back(api_key_to_json(key));
  reply_json(call, 200, {{"api_keys", std::move(keys)}});
}

void ApiServer::Impl::handle_revoke_api_key(Call& call) {
  const std::string key_id = call.params["key_id"];
  reply_revoked(call, key_id, await<std::uint64_t>([&](auto done) {
                  backends.api_keys->revoke(call.principal, key_id, call.context, std::move(done));
                }));
}

void ApiServer::Impl::handle_create_enrollment_token(Call& call) {
  json body;
  if (!parse_body(call, false, body)) return;
  auto request = parse_enrollment_token_request(body);
  if (auto* invalid = std::get_if<Invalid>(&request)) return reply_invalid(call, *invalid);
  const auto issued = await<IssuedEnrollmentToken>([&](auto done) {
    backends.enrollment->create(call.principal, std::get<EnrollmentTokenRequest>(request), call.context,
                                std::move(done));
  });
  if (!issued) return reply_failure(call, issued.error());
  json answer = enrollment_token_to_json(issued->token, backends.clock->now_ms());
  answer["token"] = issued->plaintext;
  answer["position"] = issued->position;
  reply_json(call, 201, answer);
}

void ApiServer::Impl::handle_list_enrollment_tokens(Call& call) {
  if (!wait_for_projection(call)) return;
  const TimeMs now = backends.clock->now_ms();
  json tokens = json::array();
  for (const EnrollmentToken& token : backends.enrollment->list(call.principal)) {
    tokens.push_back(enrollment_token_to_json(token, now));
  }
  reply_json(call, 200, {{"enrollment_tokens", std::move(tokens)}});
}

void ApiServer::Impl::handle_revoke_enrollment_token(Call& call) {
  const std::string token_id = call.params["token_id"];
  reply_revoked(call, token_id, await<std::uint64_t>([&](auto done) {
                  backends.enrollment->revoke(call.principal, token_id, call.context, std::move(done));
                }));
}

void ApiServer::Impl::reply_revoked(Call& call, const std::string& id, const Result<std::uint64_t>& revoked) {
  if (!revoked) return reply_failure(call, revoked.error());
  reply_json(call, 200, {{"id", id}, {"revoked", true}, {"position", *revoked}});
}

void ApiServer::Impl::handle_test_crash(Call& call) {
  AgentId agent_id;
  if (!require_agent_id(call, agent_id)) return;
  backends.crash_injector->arm(agent_id.to_string());
  reply_json(call, 200, {{"armed", agent_id.to_string()}});
}

// --- ApiServer --------------------------------------------------------------------

ApiServer::ApiServer(ApiServerOptions options, Backends backends)
    : impl_(std::make_unique<Impl>(std::move(options), backends)) {}

ApiServer::~ApiServer() {
  stop();
}

Status ApiServer::start() {
  Impl& impl = *impl_;
  if (!impl.server.is_valid()) {
    return make_error(ErrorCode::invalid_argument,
                      fmt::format("cannot load the TLS certificate {} or its key {}",
                                  impl.options.tls_cert_path, impl.options.tls_key_path));
  }
  if (impl.options.port == 0) {
    impl.bound_port = impl.server.bind_to_any_port(impl.options.host);
  } else if (impl.server.bind_to_port(impl.options.host, impl.options.port)) {
    impl.bound_port = impl.options.port;
  }
  if (impl.bound_port <= 0) {
    return make_error(ErrorCode::unavailable,
                      fmt::format("cannot listen on {}:{}", impl.options.host, impl.options.port));
  }
  // Debian's compiled cpp-httplib listens with a backlog of 5, so a burst of
  // new connections overflows the accept queue and clients stall for a SYN
  // retransmit (1 s). Listening again on the bound socket raises the backlog.
  if (::listen(impl.listening_socket, SOMAXCONN) != 0) {
    log::warn("cannot raise the listen backlog", {{"errno", errno}});
  }
  impl.listener = std::thread([&impl] { impl.server.listen_after_bind(); });
  return Status::success();
}

int ApiServer::port() const {
  return impl_->bound_port;
}

void ApiServer::set_ready(std::uint64_t ready_at_position) {
  impl_->ready_at_position = ready_at_position;
  impl_->ready = true;
}

void ApiServer::stop() {
  if (impl_->stopped.exchange(true)) return;
  impl_->server.stop();
  if (impl_->listener.joinable()) impl_->listener.join();
}

}  // namespace muster::http
