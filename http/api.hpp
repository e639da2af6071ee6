#pragma once
/// The API as one pipeline in front of the route table, for every
/// transport: request id, route (404/405; the agents' listener serves only
/// agents' routes), the failure throttle, readiness, the credential and the
/// media type are settled from the request's head alone (`admit`), so a
/// refused request's body is never read or parsed; then the route's handler
/// runs with the body (`handle`). Errors map to statuses in one table
/// (`status_for`).
///
/// Until `set_ready`, every route but the probes answers 503 NOT_READY.

#include <atomic>
#include <cstdint>
#include <memory>

#include "http/call.hpp"
#include "http/request_metrics.hpp"

namespace muster::http {

/// The HTTP status and default code for a service's error.
struct StatusMapping {
  int status;
  const char* code;
};
StatusMapping status_for(ErrorCode code);

class Api {
 public:
  Api(ApiOptions options, Services services);
  Api(const Api&) = delete;
  Api& operator=(const Api&) = delete;

  /// Phase 1, from the head: either answers through `reply` (a refusal; a
  /// body the request announced stays unread, so the transport must close
  /// the connection after answering) and returns null, or returns the call
  /// to continue with once its body is read.
  std::shared_ptr<Call> admit(RequestHead head, Reply reply);

  /// Phase 2: runs the route's handler with the body.
  void handle(const std::shared_ptr<Call>& call, std::string body);

  /// Opens every route; /readyz answers ready once the read models hold
  /// `ready_at_position` too.
  void set_ready(std::uint64_t ready_at_position);
  bool ready() const { return ready_.load(); }
  std::uint64_t ready_at_position() const { return ready_at_position_.load(); }

  AuthThrottle& throttle() { return throttle_; }

  /// Every answer of the pipeline, counted by route and status and timed
  /// (`Call::reply` records; /metrics reads).
  RequestMetrics& request_metrics() const { return *request_metrics_; }

  /// The routes this API serves, fixed at construction (read-only; safe from
  /// any thread).
  const RouteTable& routes() const { return routes_; }

  /// The largest body any route takes (a listener reads a request's body
  /// only up to its route's `Call::max_body_bytes`, known after `admit`).
  std::size_t largest_body_bytes(std::size_t listener_max_body_bytes) const;

 private:
  bool authenticate(Call& call, const Route& route);
  bool authorize_operator(Call& call, std::string_view credential, Role needed);
  /// A user's session secret, from a bearer token or the dashboard's cookie
  /// (which must come with its CSRF token on anything but GET and HEAD).
  bool authorize_session(Call& call, std::string_view secret, Role needed, bool from_cookie);
  /// The caller has at least `needed`: else 403 FORBIDDEN naming both roles.
  bool check_role(Call& call, Role held, Role needed, const char* holder);
  bool authenticate_agent(Call& call, std::optional<PresentedAgentToken> presented);

  const ApiOptions options_;
  const Services services_;
  RouteTable routes_;
  /// Made once every route is added: one slot per route.
  std::unique_ptr<RequestMetrics> request_metrics_;
  AuthThrottle throttle_;
  std::atomic<bool> ready_{false};
  std::atomic<std::uint64_t> ready_at_position_{0};
};

}  // namespace muster::http
