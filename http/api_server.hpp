#pragma once
/// The REST API (see README "HTTP API"): JSON in and out, every error as
/// {"error", "code", "details"?}. Writes are answered after they are durable
/// and carry the log `position` they reached; reads come from projections and
/// accept `?min_position=N` to wait, bounded, for the projection to catch up.
///
/// Lifecycle: `start()` binds and serves on threads of its own; the agent host
/// may be attached later (writes answer 503 NOT_READY until then, /healthz
/// already answers); `stop()` refuses new connections, finishes requests in
/// flight and returns.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "actors/agent_host.hpp"
#include "actors/crash_injector.hpp"
#include "common/clock.hpp"
#include "common/result.hpp"
#include "eventstore/event_store.hpp"
#include "http/auth_throttle.hpp"
#include "http/json_views.hpp"
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
  HealthThresholds health;
  /// How repeated authentication failures from one address are slowed down.
  AuthThrottleOptions auth_throttle;
  /// PEM certificate (chain) and private key: serve HTTPS when both are set. Default: plain HTTP.
  std::string tls_cert_path;
  std::string tls_key_path;
};

class ApiServer {
 public:
  /// Everything the API serves from; not owned, each must outlive the server.
  struct Backends {
    EventStore* store = nullptr;
    ProjectionRunner* projections = nullptr;
    const Clock* clock = nullptr;
    /// Test-only, with `enable_test_hooks`: POST /_test/agents/{id}/crash arms it.
    CrashInjector* crash_injector = nullptr;
  };

  ApiServer(ApiServerOptions options, Backends backends);
  ~ApiServer();
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  /// Binds and starts serving. Errors: `invalid_argument` if the TLS
  /// certificate or key cannot be loaded, `unavailable` if the address cannot be bound.
  Status start();
  /// The bound port (after `start()`).
  int port() const;

  /// Makes writes possible; /readyz answers ready once the projection has
  /// also folded `ready_at_position`. `host` must outlive the server.
  void attach_agent_host(AgentHost* host, std::uint64_t ready_at_position);

  /// Stops accepting, finishes requests in flight. Idempotent.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace muster::http
