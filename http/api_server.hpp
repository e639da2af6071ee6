#pragma once
/// The REST API (see README "HTTP API"): JSON in and out, every error as
/// {"error", "code", "details"?}. Writes are answered after they are durable
/// and carry the log `position` they reached; reads come from projections and
/// accept `?min_position=N` to wait, bounded, for the projection to catch up.
///
/// Handlers only translate: every rule (who may do what, in which
/// organization; what a command does) is a service's (actors/, projections/).
///
/// Lifecycle: `start()` binds and serves on threads of its own; until
/// `set_ready`, every route but the probes answers 503 NOT_READY (/healthz
/// answers at once, /readyz says NOT_READY); `stop()` refuses new
/// connections, finishes requests in flight and returns.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "actors/agent/agent_service.hpp"
#include "actors/api_key/api_key_service.hpp"
#include "actors/crash_injector.hpp"
#include "actors/enrollment/enrollment_service.hpp"
#include "actors/enrollment/registration.hpp"
#include "common/clock.hpp"
#include "common/lifecycle.hpp"
#include "common/result.hpp"
#include "eventstore/event_store.hpp"
#include "http/auth_throttle.hpp"
#include "http/json_views.hpp"
#include "projections/agent_registry.hpp"
#include "projections/event_queries.hpp"
#include "projections/projection_runner.hpp"

namespace muster::http {

struct ApiServerOptions {
  /// Address to listen on. Default: 127.0.0.1.
  std::string host = "127.0.0.1";
  /// TCP port; 0 picks a free one (see `ApiServer::port()`). Default: 8080.
  int port = 8080;
  /// Connections served at once: a thread each, started on demand (cpp-httplib
  /// holds a thread for as long as a connection is open, idle or slow).
  /// Beyond, new connections wait for a free thread. Default: 2048.
  std::size_t threads = 2048;
  /// Threads kept even when idle. Default: 64.
  std::size_t core_threads = 64;
  /// Largest request body accepted; larger ones answer 413. Default: 1 MiB.
  std::size_t max_body_bytes = 1 << 20;
  /// Requests served on one keep-alive connection before it is closed. Default: 10000.
  std::size_t keep_alive_max_requests = 10'000;
  /// Idle keep-alive connections are closed after this long. Default: 5 s.
  int keep_alive_timeout_seconds = 5;
  /// Reading a request or writing an answer may take this long. Default: 10 s.
  int io_timeout_seconds = 10;
  /// Longest a read with `min_position` waits for the projection. Default: 5 s.
  TimeMs max_min_position_wait_ms = 5'000;
  /// Longest a request waits for a service's answer (API keys, enrollment
  /// tokens; agents have their own, AgentServiceOptions). Default: 10 s.
  TimeMs request_timeout_ms = 10'000;
  HealthThresholds health;
  /// How repeated authentication failures from one address are slowed down.
  AuthThrottleOptions auth_throttle;
  /// PEM certificate (chain) and private key: serve HTTPS when both are set. Default: plain HTTP.
  std::string tls_cert_path;
  std::string tls_key_path;
};

class ApiServer : public Service {
 public:
  /// Everything the API serves from; not owned, each must outlive the server.
  struct Backends {
    const EventStore* store = nullptr;
    ProjectionRunner* projections = nullptr;
    const AgentRegistry* registry = nullptr;
    const EventQueries* events = nullptr;
    AgentService* agents = nullptr;
    Registrations* registrations = nullptr;
    ApiKeyService* api_keys = nullptr;
    EnrollmentService* enrollment = nullptr;
    const Clock* clock = nullptr;
    /// Test-only, with `enable_test_hooks`: POST /_test/agents/{id}/crash arms it.
    CrashInjector* crash_injector = nullptr;
  };

  ApiServer(ApiServerOptions options, Backends backends);
  ~ApiServer() override;
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  std::string_view name() const override { return "http"; }
  /// Binds and starts serving. Errors: `invalid_argument` if the TLS
  /// certificate or key cannot be loaded, `unavailable` if the address cannot be bound.
  Status start() override;
  /// The bound port (after `start()`).
  int port() const;

  /// Opens every route; /readyz answers ready once the read models hold
  /// `ready_at_position` too.
  void set_ready(std::uint64_t ready_at_position);

  /// Stops accepting, finishes requests in flight. Idempotent.
  void stop() override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace muster::http
