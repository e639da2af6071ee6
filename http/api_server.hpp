#pragma once
/// The HTTP API (see README "HTTP API") on its two listeners: operators'
/// (`--listen`, every route) and agents' (`--agent-listen`, only the routes
/// agents call), both Boost.Beast (http/listener.hpp) in front of one
/// pipeline and one route table (http/api.hpp). JSON in and out, every
/// error as {"error", "code", "details"?}. Writes are answered after they
/// are durable and carry the log `position` they reached; reads come from
/// projections and accept `?min_position=N` to wait, bounded, for the
/// projection to catch up.
///
/// Lifecycle: `start()` binds both listeners; until `set_ready`, every
/// route but the probes answers 503 NOT_READY; `stop()` stops accepting,
/// lets requests in flight finish (bounded) and closes every connection.
/// Both serve OpAMP at /v1/opamp (http/opamp/opamp_server.hpp).

#include <cstdint>
#include <memory>

#include "http/api.hpp"
#include "http/listener.hpp"
#include "http/opamp/opamp_server.hpp"

namespace muster::http {

struct ApiServerOptions {
  ApiServerOptions();
  ListenerOptions operators;  ///< 127.0.0.1:8080, ordinary priority.
  ListenerOptions agents;     ///< 127.0.0.1:4320, agents' thread class.
  bool serve_agents = true;   ///< False: `--agent-listen off`.
  ApiOptions api;
  OpampOptions opamp;
};

class ApiServer : public Service {
 public:
  ApiServer(ApiServerOptions options, Services services);
  ~ApiServer() override;
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  std::string_view name() const override { return "http"; }
  /// Errors: those of either listener's start().
  Status start() override;
  void stop() override;

  /// The operators' bound port (after `start()`).
  int port() const { return operators_.port(); }
  /// The agents' bound port; 0 when they have no listener of their own.
  int agent_port() const { return options_.serve_agents ? agents_.port() : 0; }

  /// Opens every route; /readyz answers ready once the read models hold
  /// `ready_at_position` too.
  void set_ready(std::uint64_t ready_at_position) { api_.set_ready(ready_at_position); }

 private:
  const ApiServerOptions options_;
  Services services_;  ///< The caller's, with `opamp` set to `opamp_`.
  OpampServer opamp_;
  Api api_;
  HttpListener operators_;
  HttpListener agents_;
};

}  // namespace muster::http
