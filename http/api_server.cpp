#include "http/api_server.hpp"

#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <random>
#include <thread>

#include <fmt/format.h>
#include <httplib.h>

#include "common/log.hpp"
#include "common/time_format.hpp"
#include "http/request_parsing.hpp"
#include "http/router.hpp"
#include "projections/access_projection.hpp"

namespace muster::http {
namespace {

using nlohmann::json;

constexpr std::uint64_t kMaxPageSize = 1000;
// A filtered read of the global log scans at most this many events per call,
// so one request cannot walk a huge log; the answer says where to continue.
constexpr std::size_t kMaxEventsScanned = 10'000;

struct Call {
  const httplib::Request& request;
  httplib::Response& response;
  PathParams params;
  QueryParams query;
  RequestContext context;
};

std::string body_text(const json& body) {
  // Invalid UTF-8 cannot come from parsed input, but never let dump() throw.
  return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

void reply_json(Call& call, int status, const json& body) {
  call.response.status = status;
  call.response.set_content(body_text(body), "application/json");
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
    case ErrorCode::not_found: mapping = {404, "NOT_FOUND"}; break;
    case ErrorCode::conflict: mapping = {409, "CONFLICT"}; break;
    case ErrorCode::unavailable: mapping = {503, "UNAVAILABLE"}; break;
    case ErrorCode::io_error: mapping = {503, "STORAGE_UNAVAILABLE"}; break;
    case ErrorCode::corruption: mapping = {500, "DATA_CORRUPTION"}; break;
    case ErrorCode::internal: mapping = {500, "INTERNAL_ERROR"}; break;
  }
  if (mapping.status >= 500) {
    log::error(
        "request failed",
        {{"request_id", call.context.request_id}, {"path", call.request.path}, {"error", error.message}});
  }
  reply_error(call, mapping.status, error.message, error.reason.empty() ? mapping.code : error.reason);
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
  /// A route's handler and the role it needs; nullopt: no API key needed
  /// (probes, and agent routes until agent credentials exist).
  struct Endpoint {
    Handler handler;
    std::optional<Role> role;
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
  AgentHost* require_host(Call& call);
  bool parse_body(Call& call, bool allow_empty, json& body);
  bool require_agent_id(Call& call, std::string& agent_id);
  bool wait_for_projection(Call& call);
  bool authorize(Call& call, Role needed);

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
  std::atomic<AgentHost*> host{nullptr};
  std::atomic<std::uint64_t> ready_at_position{0};
  std::atomic<bool> stopped{false};
};

void ApiServer::Impl::add_routes() {
  const std::optional<Role> open;
  router.add("GET", "/healthz", {&Impl::handle_healthz, open});
  router.add("GET", "/readyz", {&Impl::handle_readyz, open});
  router.add("POST", "/api/v1/agents/register", {&Impl::handle_register, open});
  router.add("POST", "/api/v1/agents/{agent_id}/heartbeat", {&Impl::handle_heartbeat, open});
  router.add("GET", "/api/v1/agents", {&Impl::handle_list_agents, Role::viewer});
  router.add("GET", "/api/v1/agents/{agent_id}", {&Impl::handle_get_agent, Role::viewer});
  router.add("DELETE", "/api/v1/agents/{agent_id}", {&Impl::handle_deregister, Role::operator_});
  router.add("POST", "/api/v1/agents/{agent_id}/decommission", {&Impl::handle_decommission, Role::operator_});
  router.add("GET", "/api/v1/agents/{agent_id}/events", {&Impl::handle_agent_events, Role::viewer});
  router.add("GET", "/api/v1/events", {&Impl::handle_log_events, Role::viewer});
  router.add("GET", "/api/v1/stats", {&Impl::handle_stats, Role::viewer});
  router.add("POST", "/api/v1/api-keys", {&Impl::handle_create_api_key, Role::admin});
  router.add("GET", "/api/v1/api-keys", {&Impl::handle_list_api_keys, Role::admin});
  router.add("DELETE", "/api/v1/api-keys/{key_id}", {&Impl::handle_revoke_api_key, Role::admin});
  if (backends.crash_injector != nullptr) {
    router.add("POST", "/_test/agents/{agent_id}/crash", {&Impl::handle_test_crash, Role::admin});
  }
}

void ApiServer::Impl::configure_server() {
  const std::size_t threads = options.threads;
  server.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
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
            RequestContext{request_id, request.remote_addr, ""}};
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
  if (match.handler->role && !authorize(call, *match.handler->role)) return;
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

AgentHost* ApiServer::Impl::require_host(Call& call) {
  AgentHost* attached = host.load();
  if (attached == nullptr) reply_error(call, 503, "muster is still recovering; retry shortly", "NOT_READY");
  return attached;
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

bool ApiServer::Impl::require_agent_id(Call& call, std::string& agent_id) {
  agent_id = call.params["agent_id"];
  if (is_valid_agent_id(agent_id)) return true;
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
                          backends.projections->fleet().position()),
              "PROJECTION_LAGGING");
  return false;
}

void ApiServer::Impl::reply_change(Call& call, const Result<AgentOutcome>& outcome) {
  if (!outcome) return reply_failure(call, outcome.error());
  reply_json(call, 200,
             {{"agent_id", outcome->agent_id},
              {"status", to_string(outcome->status)},
              {"position", outcome->position}});
}

bool ApiServer::Impl::authorize(Call& call, Role needed) {
  const std::string& address = call.request.remote_addr;
  if (const auto retry_after = auth_throttle.retry_after_seconds(address)) {
    call.response.set_header("Retry-After", std::to_string(*retry_after));
    reply_error(call, 429, "too many failed authentications from this address; retry later",
                "TOO_MANY_REQUESTS", json{{"retry_after_seconds", *retry_after}});
    return false;
  }
  const std::string header = call.request.get_header_value("Authorization");
  constexpr std::string_view kBearer = "Bearer ";
  if (header.empty()) {
    reply_error(call, 401, "this route needs an API key: Authorization: Bearer <key>", "UNAUTHORIZED");
    return false;
  }
  const auto principal =
      header.compare(0, kBearer.size(), kBearer) == 0
          ? backends.projections->access().authenticate(std::string_view(header).substr(kBearer.size()))
          : std::nullopt;
  if (!principal) {
    // Only a presented, wrong credential counts: a missing header is not a guess.
    auth_throttle.record_failure(address);
    reply_error(call, 401, "the API key is malformed, unknown or revoked", "INVALID_API_KEY");
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
  return true;
}

// --- Handlers -------------------------------------------------------------------

void ApiServer::Impl::handle_healthz(Call& call) {
  reply_json(call, 200, {{"status", "ok"}});
}

void ApiServer::Impl::handle_readyz(Call& call) {
  const std::uint64_t projected = backends.projections->fleet().position();
  if (host.load() == nullptr || projected < ready_at_position.load()) {
    reply_error(call, 503, "recovering", "NOT_READY",
                json{{"projection_position", projected}, {"ready_at_position", ready_at_position.load()}});
    return;
  }
  reply_json(call, 200, {{"status", "ready"}, {"projection_position", projected}});
}

void ApiServer::Impl::handle_register(Call& call) {
  AgentHost* agents = require_host(call);
  json body;
  if (agents == nullptr || !parse_body(call, false, body)) return;
  auto registration = parse_registration(body);
  if (auto* invalid = std::get_if<Invalid>(&registration)) return reply_invalid(call, *invalid);
  const auto outcome = agents->register_agent(std::get<Registration>(registration), call.context);
  if (!outcome) return reply_failure(call, outcome.error());
  reply_json(call, outcome->created ? 201 : 200,
             {{"agent_id", outcome->agent_id},
              {"instance_id", outcome->instance_id},
              {"status", to_string(outcome->status)},
              {"registered_at", format_rfc3339(outcome->registered_at_ms)},
              {"config_version", outcome->config_version},
              {"position", outcome->position}});
}

void ApiServer::Impl::handle_heartbeat(Call& call) {
  AgentHost* agents = require_host(call);
  std::string agent_id;
  json body;
  if (agents == nullptr || !require_agent_id(call, agent_id) || !parse_body(call, true, body)) return;
  auto report = parse_heartbeat(body);
  if (auto* invalid = std::get_if<Invalid>(&report)) return reply_invalid(call, *invalid);
  const auto outcome = agents->heartbeat(agent_id, std::get<HeartbeatReport>(report), call.context);
  if (!outcome) return reply_failure(call, outcome.error());
  reply_json(call, 200,
             {{"success", true},
              {"agent_id", outcome->agent_id},
              {"status", to_string(outcome->status)},
              {"config_version", outcome->config_version},
              {"commands_pending", 0},
              {"position", outcome->position}});
}

void ApiServer::Impl::handle_list_agents(Call& call) {
  auto query = parse_list_query(call.query);
  if (auto* invalid = std::get_if<Invalid>(&query)) return reply_invalid(call, *invalid);
  if (!wait_for_projection(call)) return;
  const ListQuery& list = std::get<ListQuery>(query);
  const AgentPage page = backends.projections->fleet().list(list.filter, list.limit, list.after_agent_id);
  const TimeMs now = backends.clock->now_ms();
  AgentHost* agents = host.load();
  json items = json::array();
  for (const AgentState& state : page.agents) {
    const auto live = agents != nullptr ? agents->live_info(state.agent_id) : std::nullopt;
    items.push_back(agent_to_json(state, live, now, options.health, false));
  }
  reply_json(call, 200,
             {{"agents", std::move(items)},
              {"total", page.total},
              {"next_cursor", page.next_after ? json(encode_cursor(*page.next_after)) : json(nullptr)}});
}

void ApiServer::Impl::handle_get_agent(Call& call) {
  std::string agent_id;
  if (!require_agent_id(call, agent_id) || !wait_for_projection(call)) return;
  const auto state = backends.projections->fleet().find(agent_id);
  if (!state) return reply_error(call, 404, "no agent with this id", kAgentNotFound);
  AgentHost* agents = host.load();
  const auto live = agents != nullptr ? agents->live_info(agent_id) : std::nullopt;
  reply_json(call, 200, agent_to_json(*state, live, backends.clock->now_ms(), options.health, true));
}

void ApiServer::Impl::handle_deregister(Call& call) {
  AgentHost* agents = require_host(call);
  std::string agent_id;
  if (agents == nullptr || !require_agent_id(call, agent_id)) return;
  reply_change(call, agents->deregister(agent_id, call.context));
}

void ApiServer::Impl::handle_decommission(Call& call) {
  AgentHost* agents = require_host(call);
  std::string agent_id;
  json body;
  if (agents == nullptr || !require_agent_id(call, agent_id) || !parse_body(call, true, body)) return;
  reply_change(call, agents->decommission(agent_id, call.context));
}

void ApiServer::Impl::handle_agent_events(Call& call) {
  std::string agent_id;
  if (!require_agent_id(call, agent_id)) return;
  const QueryParams params = call.query;
  auto from_version = parse_uint_param(params, "from_version", 1, UINT64_MAX);
  auto limit = parse_uint_param(params, "limit", 100, kMaxPageSize);
  for (auto* parsed : {&from_version, &limit}) {
    if (auto* invalid = std::get_if<Invalid>(parsed)) return reply_invalid(call, *invalid);
  }
  const std::uint64_t page_size = std::max<std::uint64_t>(1, std::get<std::uint64_t>(limit));
  if (backends.store->stream_version(agent_id) == 0) {
    return reply_error(call, 404, "no agent with this id", kAgentNotFound);
  }
  const auto events = backends.store->read_stream(agent_id, std::get<std::uint64_t>(from_version), page_size);
  if (!events) return reply_failure(call, events.error());
  json items = json::array();
  for (const Event& event : *events) items.push_back(event_to_json(event));
  const bool more = events->size() == page_size;
  reply_json(call, 200,
             {{"agent_id", agent_id},
              {"events", std::move(items)},
              {"next_from_version", more ? json(events->back().version + 1) : json(nullptr)}});
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
  const std::size_t page_size = std::max<std::uint64_t>(1, std::get<std::uint64_t>(limit));
  std::uint64_t next = std::max<std::uint64_t>(1, std::get<std::uint64_t>(from_position));
  json items = json::array();
  std::size_t scanned = 0;
  bool reached_head = false;
  while (items.size() < page_size && scanned < kMaxEventsScanned) {
    const auto batch = backends.store->read_log(next, type.empty() ? page_size - items.size() : 1000);
    if (!batch) return reply_failure(call, batch.error());
    if (batch->empty()) {
      reached_head = true;
      break;
    }
    for (const Event& event : *batch) {
      next = event.position + 1;
      ++scanned;
      if (type.empty() || event.type == type) items.push_back(event_to_json(event));
      if (items.size() == page_size) break;
    }
  }
  if (!reached_head && next > backends.store->head_position()) reached_head = true;
  reply_json(
      call, 200,
      {{"events", std::move(items)}, {"next_from_position", reached_head ? json(nullptr) : json(next)}});
}

void ApiServer::Impl::handle_stats(Call& call) {
  if (!wait_for_projection(call)) return;
  reply_json(call, 200,
             stats_to_json(backends.projections->fleet().stats(), backends.store->head_position()));
}

void ApiServer::Impl::handle_create_api_key(Call& call) {
  json body;
  if (!parse_body(call, false, body)) return;
  auto request = parse_api_key_request(body);
  if (auto* invalid = std::get_if<Invalid>(&request)) return reply_invalid(call, *invalid);
  const ApiKeyRequest& wanted = std::get<ApiKeyRequest>(request);
  auto issued =
      issue_api_key(*backends.store, wanted.name, wanted.role, wanted.org, event_meta(call.context));
  if (!issued) return reply_failure(call, issued.error());
  // The key must work as soon as its creator reads the answer.
  backends.projections->wait_for_position(issued->position,
                                          std::chrono::milliseconds(options.max_min_position_wait_ms));
  json answer = api_key_to_json(issued->key);
  answer["key"] = issued->plaintext;
  answer["position"] = issued->position;
  reply_json(call, 201, answer);
}

void ApiServer::Impl::handle_list_api_keys(Call& call) {
  if (!wait_for_projection(call)) return;
  json keys = json::array();
  for (const ApiKey& key : backends.projections->access().keys()) keys.push_back(api_key_to_json(key));
  reply_json(call, 200, {{"api_keys", std::move(keys)}});
}

void ApiServer::Impl::handle_revoke_api_key(Call& call) {
  const std::string key_id = call.params["key_id"];
  if (!is_valid_key_id(key_id)) {
    return reply_error(call, 400, "API key id must be 16 lowercase hex digits", "INVALID_KEY_ID");
  }
  auto revoked = revoke_api_key(*backends.store, key_id, event_meta(call.context));
  if (!revoked) return reply_failure(call, revoked.error());
  backends.projections->wait_for_position(*revoked,
                                          std::chrono::milliseconds(options.max_min_position_wait_ms));
  reply_json(call, 200, {{"id", key_id}, {"revoked", true}, {"position", *revoked}});
}

void ApiServer::Impl::handle_test_crash(Call& call) {
  std::string agent_id;
  if (!require_agent_id(call, agent_id)) return;
  backends.crash_injector->arm(agent_id);
  reply_json(call, 200, {{"armed", agent_id}});
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

void ApiServer::attach_agent_host(AgentHost* host, std::uint64_t ready_at_position) {
  impl_->ready_at_position = ready_at_position;
  impl_->host = host;
}

void ApiServer::stop() {
  if (impl_->stopped.exchange(true)) return;
  impl_->server.stop();
  if (impl_->listener.joinable()) impl_->listener.join();
}

}  // namespace muster::http
