#pragma once
/// One request on its way through the API: what the pipeline learnt about
/// it (route parameters, the caller), the services to answer it from, and
/// the one way to answer. Handlers (http/routes/) receive a
/// `std::shared_ptr<Call>` and may answer later, from any thread: no thread
/// waits for an actor. The first answer wins; later ones are dropped, so a
/// service's late result after the deadline's 503 is harmless.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "actors/access/principal.hpp"
#include "actors/agent/agent_credentials.hpp"
#include "actors/agent/agent_id.hpp"
#include "actors/agent/agent_service.hpp"
#include "actors/alert/alert_service.hpp"
#include "actors/api_key/api_key_service.hpp"
#include "actors/bulk/bulk_service.hpp"
#include "actors/command/command_service.hpp"
#include "actors/config/config_service.hpp"
#include "actors/crash_injector.hpp"
#include "actors/enrollment/enrollment_service.hpp"
#include "actors/enrollment/registration.hpp"
#include "actors/group/group_service.hpp"
#include "actors/notification/notification_service.hpp"
#include "actors/rollout/rollout_service.hpp"
#include "actors/runtime/request_context.hpp"
#include "actors/runtime/runtime.hpp"
#include "actors/user/user_service.hpp"
#include "common/result.hpp"
#include "common/timers.hpp"
#include "eventstore/event_store.hpp"
#include "eventstore/log_metrics.hpp"
#include "eventstore/metrics/metric_history.hpp"
#include "eventstore/nats_cluster.hpp"
#include "http/auth_throttle.hpp"
#include "http/exchange.hpp"
#include "http/json_views.hpp"
#include "http/message_channel.hpp"
#include "http/request_parsing.hpp"
#include "http/router.hpp"
#include "projections/agent_registry.hpp"
#include "projections/event_queries.hpp"
#include "projections/access_projection.hpp"
#include "projections/alerts.hpp"
#include "projections/notifications.hpp"
#include "projections/config_model.hpp"
#include "projections/projection_runner.hpp"
#include "projections/report_counts.hpp"

namespace muster::http {

class OpampServer;
class EventStreams;
class Forwarder;

/// Everything the API answers from; not owned, each must outlive the API.
struct Services {
  const EventStore* store = nullptr;
  ProjectionRunner* projections = nullptr;
  const AgentRegistry* registry = nullptr;
  const EventQueries* events = nullptr;
  AgentService* agents = nullptr;
  Registrations* registrations = nullptr;
  ApiKeyService* api_keys = nullptr;
  /// Operators' accounts and sign-in sessions.
  UserService* users = nullptr;
  EnrollmentService* enrollment = nullptr;
  /// Configs, groups, assignments, desired configurations and drift (read side).
  const ConfigModel* config_model = nullptr;
  /// Configs and policies (write side).
  ConfigService* configs = nullptr;
  /// Groups (write side; reads through it come from the config model).
  GroupService* groups = nullptr;
  /// Bulk jobs (creation, progress).
  BulkService* bulk = nullptr;
  /// Commands to agents (queueing, the agents' fetches, reads).
  CommandService* commands = nullptr;
  /// Rollouts (creation, steering, reads with live numbers).
  RolloutService* rollouts = nullptr;
  /// Agents' reports counted per type over the last 24 hours.
  const ReportCounts* report_counts = nullptr;
  /// The heartbeats' metrics over time (null: the metrics routes are not served).
  MetricHistory* metrics = nullptr;
  /// Alert rules and alerts, and the evaluator's pending ones (null: their routes are not served).
  AlertService* alerts = nullptr;
  /// Notification channels, maintenance windows and alerts' deliveries
  /// (null: their routes are not served).
  NotificationService* notifications = nullptr;
  /// The clock, and the deadlines of requests waiting for a service.
  TimerService* timers = nullptr;
  /// OpAMP's conversations (/v1/opamp).
  OpampServer* opamp = nullptr;
  /// The open live event streams (null: /api/v1/events/stream is not served).
  EventStreams* event_streams = nullptr;
  /// Read by GET /metrics alone (null: those metrics are left out): the
  /// actor runtime's hosts, the alerts' and notifications' read models, and
  /// what the event log's writer counts.
  const runtime::Runtime* runtime = nullptr;
  const Alerts* alert_model = nullptr;
  const Notifications* notification_model = nullptr;
  const LogMetrics* log_metrics = nullptr;
  /// In a cluster: hands what this node does not answer to the leader (null: one node answers all).
  Forwarder* forwarder = nullptr;
  /// In a cluster: its nodes and leader, for GET /api/v1/cluster (null: one node).
  const ClusterMembership* cluster = nullptr;
  /// Test-only, with `enable_test_hooks`: POST /_test/agents/{id}/crash arms it.
  CrashInjector* crash_injector = nullptr;
  /// Test-only, with `--test-manual-clock`: the clock `timers` reads, which
  /// POST /_test/clock/advance moves.
  ManualClock* test_clock = nullptr;
};

/// {"error", "code", "details"?} as an answer with `status`: every error
/// muster answers, from a handler, the pipeline or the listener itself.
Response error_response(int status, const std::string& message, const std::string& code,
                        const nlohmann::json& details = nullptr);

struct ApiOptions {
  /// Longest a read with `min_position` waits for the projection. Default: 5 s.
  TimeMs max_min_position_wait_ms = 5'000;
  /// Longest a request waits for a service's answer; then 503 with the
  /// route's busy code (AGENT_BUSY, BUSY). Default: 10 s.
  TimeMs request_timeout_ms = 10'000;
  HealthThresholds health;
  /// How repeated authentication failures from one address are slowed down.
  AuthThrottleOptions auth_throttle;
  /// Bytes of the file bodies of one config version, in total, at most
  /// (--max-config-bytes); a request body carrying them must also fit the
  /// listener's max_body_bytes. Default: 1 MiB.
  std::size_t max_config_bytes = kDefaultMaxConfigBytes;
  /// An OpAMP message, decompressed, over HTTP or WebSocket, at most
  /// (--opamp-max-message-bytes); larger answer 413 (HTTP) or close the
  /// WebSocket with 1009. Default: 4 MiB.
  std::size_t opamp_max_message_bytes = 4 << 20;
  /// GET /metrics needs a viewer key (--metrics-require-key). Default:
  /// false, as Prometheus scrapes without one.
  bool metrics_require_key = false;
  /// The session cookie is marked Secure: the operators' listener speaks TLS.
  bool secure_cookies = false;
};

class Api;
struct Route;

class Call : public std::enable_shared_from_this<Call> {
 public:
  Call(RequestHead head, Reply reply, const Services& services, const ApiOptions& options, AuthThrottle& throttle);
  ~Call();
  Call(const Call&) = delete;
  Call& operator=(const Call&) = delete;

  // --- What the pipeline found out -------------------------------------------
  RequestHead head;
  const Api* api = nullptr;
  const Route* route = nullptr;
  /// The route's number in the table (`Router::Match::index`); until a
  /// route matched, past every route (RequestMetrics' "unmatched").
  std::size_t route_index = static_cast<std::size_t>(-1);
  /// When the pipeline took the request: its answer's latency starts here.
  const std::chrono::steady_clock::time_point started_at = std::chrono::steady_clock::now();
  /// The largest body (or WebSocket message) this route takes; 0: the
  /// listener's own `max_body_bytes`.
  std::size_t max_body_bytes = 0;
  PathParams params;
  std::string body;
  RequestContext context;
  /// The operator calling, by API key or session (unscoped until
  /// authenticated: routes without a credential see no organization filter).
  Principal principal;
  /// Set when the operator signed in as a user: the session presented.
  std::optional<SessionCaller> session;
  /// Set when the agent itself calls, with the token it presented.
  std::optional<PresentedAgentToken> agent_token;
  /// Set on registration: the enrollment token that admits it.
  std::optional<EnrollmentGrant> enrollment_grant;
  /// The request goes to the cluster's leader (http/forwarding.hpp), not to its route.
  bool forwarded = false;
  const Services& services;
  const ApiOptions& options;

  // --- Answering (each answers once; later answers are dropped) ---------------
  void reply(Response response);
  void reply_body(int status, std::string json_text);
  void reply_json(int status, const nlohmann::json& body);
  void reply_error(int status, const std::string& message, const std::string& code,
                   const nlohmann::json& details = nullptr);
  void reply_invalid(const Invalid& invalid);
  /// A service's error, through the one table of statuses (http/api.cpp);
  /// a failed credential counts towards the address's throttle.
  void reply_failure(const Error& error);
  bool answered() const { return answered_.load(std::memory_order_acquire); }

  // --- Steps handlers share; each answers with an error and returns false ------
  /// The body as a JSON object (bounded depth and size; see request_parsing).
  bool parse_body(bool allow_empty, nlohmann::json& out);
  /// What the caller may do to an agent: its token's digest when the agent
  /// itself calls, the API key's organization when an operator does.
  AgentAccess agent_access() const;
  /// The path's {agent_id} as a lowercase UUID.
  bool require_agent_id(AgentId& agent_id);
  /// The organization an operator request works in (`creation_org`): the
  /// scoped caller's own, or `?org=` (default "default") for an unscoped
  /// one. 400 INVALID_PARAMETER for a malformed `org`, 403 FORBIDDEN for a
  /// scoped caller naming another.
  bool require_org(std::string& org);
  /// Parses `?min_position` and runs `then` once the read models hold it; 503
  /// PROJECTION_LAGGING after `max_min_position_wait_ms`.
  void when_projected(std::function<void()> then);

  /// Starts an asynchronous service call: `start(done)` gets a callback
  /// that hands the result to `on_result` unless the request was answered
  /// already. If no answer came by `request_timeout_ms`, 503 `busy_code`.
  template <class T, class Start, class OnResult>
  void await(const char* busy_code, Start&& start, OnResult on_result) {
    auto self = shared_from_this();
    start([self, on_result = std::move(on_result)](Result<T> result) mutable {
      if (!self->answered()) on_result(std::move(result));
    });
    if (!answered()) arm_deadline(busy_code);
  }

 private:
  void arm_deadline(const char* busy_code);

  Reply send_;
  AuthThrottle& throttle_;
  std::atomic<bool> answered_{false};
  std::atomic<TimerService::TimerId> deadline_{0};
};

/// The answer to revoking a credential (an API key, an enrollment token):
/// {id, revoked: true, position}, or the service's error.
void reply_revoked(Call& call, const std::string& id, const Result<std::uint64_t>& revoked);

/// The answer to every list of agents: the page of `list` (its filters, and
/// the config model's `group` and `config_status` on top of any
/// `filter.also` the route set), each agent with what the config model
/// knows of it, as `agent_page_json` writes it. `list.limit` 0: an empty page.
void reply_agent_page(Call& call, ListQuery list);

/// Which credential a route takes (README "Who may call what").
enum class Credential {
  none,              ///< Probes.
  /// An operator with at least the route's role: an API key or a user's
  /// session (a bearer access token, or the dashboard's cookie, which must
  /// come with its CSRF token on anything but GET and HEAD).
  api_key,
  /// Signing in (POST /api/v1/auth/login, /refresh): no credential yet, but
  /// the address's throttle applies and failures count towards it.
  sign_in,
  agent_token,       ///< The token of the agent named in the path.
  agent_or_api_key,  ///< Either of the two above.
  enrollment_token,  ///< Registration: a live enrollment token.
  /// OpAMP: the agent's own token (which names the agent) or a live
  /// enrollment token (the message's instance_uid names the agent), as
  /// Bearer or as the password (or user) of Basic.
  opamp_agent,
};

struct Route {
  void (*handler)(const std::shared_ptr<Call>&) = nullptr;
  Credential credential = Credential::none;
  Role role = Role::viewer;
  /// Also served on the agents' listener (the operators' serves every route).
  bool for_agents = false;
  /// The body is JSON (else any body is refused with 415 before it is read).
  bool takes_body = false;
  /// Set for a route that also speaks WebSocket on the same path: makes the
  /// connection's handler once the upgrade is admitted and accepted. A
  /// WebSocket upgrade to any other route answers 400 WEBSOCKET_NOT_SUPPORTED.
  std::shared_ptr<MessageHandler> (*upgrade)(const std::shared_ptr<Call>& call,
                                             std::shared_ptr<MessageChannel> channel) = nullptr;
  /// The body is an OpAMP message (application/x-protobuf, gzip allowed),
  /// bounded by `ApiOptions::opamp_max_message_bytes`, not the listener's limit.
  bool opamp = false;
  /// In a cluster, answered by whichever node receives it (`any_node`); a
  /// follower forwards every other request to the leader.
  bool any_node = false;
};

/// `route`, marked as answered by any node of a cluster: a read that needs
/// only what every node holds (its read models, its probes, its own files,
/// agents' last-seen times as the leader saved them a few seconds ago:
/// LastSeenFollower), never what only the leader keeps (agents' latest
/// metrics, OpAMP conversations, the alert evaluator's pending alerts,
/// rollouts' measurements), nor anything that writes.
inline Route any_node(Route route) {
  route.any_node = true;
  return route;
}

using RouteTable = Router<Route>;

/// Each resource's file (http/routes/<resource>.cpp) adds its routes here.
namespace routes {
/// Starts a bulk job (http/routes/bulk.cpp) from the request's body, in
/// the organization `require_org` gives: `parse` reads the body, `view`
/// writes the job; answers 202 with Location `location` + the job's id.
void start_bulk_job(const std::shared_ptr<Call>& call, Parsed<BulkRequest> (*parse)(const nlohmann::json& body),
                    const char* location, nlohmann::json (*view)(const Call& call, const BulkJob& job));

void add_probes(RouteTable& table);
void add_agents(RouteTable& table);
void add_agent_config(RouteTable& table);
void add_agent_reports(RouteTable& table);
void add_api_keys(RouteTable& table);
/// /api/v1/users (http/routes/users.cpp).
void add_users(RouteTable& table);
/// /api/v1/auth/...: signing in and out (http/routes/auth.cpp).
void add_auth(RouteTable& table);
void add_backup(RouteTable& table);
void add_bulk(RouteTable& table);
void add_commands(RouteTable& table);
void add_command_batches(RouteTable& table);
void add_agent_commands(RouteTable& table);
void add_configs(RouteTable& table);
void add_enrollment_tokens(RouteTable& table);
void add_groups(RouteTable& table);
void add_opamp(RouteTable& table);
void add_rollouts(RouteTable& table);
void add_events(RouteTable& table);
/// GET /api/v1/events/stream (http/routes/event_stream.cpp).
void add_event_stream(RouteTable& table);
void add_stats(RouteTable& table);
void add_version(RouteTable& table);
void add_cluster(RouteTable& table);
void add_test_hooks(RouteTable& table);
void add_metrics(RouteTable& table);
void add_alert_rules(RouteTable& table);
void add_alerts(RouteTable& table);
void add_notification_channels(RouteTable& table);
void add_maintenance_windows(RouteTable& table);
/// GET /metrics (http/routes/prometheus.cpp): open, or for a viewer key when `require_key`.
void add_prometheus(RouteTable& table, bool require_key);
/// GET /api/v1/openapi.json (http/routes/openapi.cpp).
void add_openapi(RouteTable& table);
/// GET / and GET /assets/{name}: the web dashboard (http/routes/dashboard.cpp).
void add_dashboard(RouteTable& table);
}  // namespace routes

}  // namespace muster::http
