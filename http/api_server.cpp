#include "http/api_server.hpp"

#include <thread>

namespace muster::http {

ApiServerOptions::ApiServerOptions() {
  const std::size_t cores = std::max(1u, std::thread::hardware_concurrency());
  operators.kind = Listener::operators;
  operators.port = 8080;
  operators.threads = cores;
  agents.kind = Listener::agents;
  agents.port = 4320;
  agents.threads = cores;
  // Agents' traffic yields the CPU to operators' requests (common/thread_class.hpp).
  agents.thread_class = ThreadClass::agent_traffic;
}

namespace {

Services with_opamp(Services& services, OpampServer* opamp) {
  services.opamp = opamp;
  return services;
}

}  // namespace

ApiServer::ApiServer(ApiServerOptions options, Services services)
    : options_(std::move(options)),
      services_(services),
      opamp_(services_, options_.opamp),
      api_(options_.api, with_opamp(services_, &opamp_)),
      operators_(options_.operators, api_),
      agents_(options_.agents, api_) {}

ApiServer::~ApiServer() {
  stop();
}

Status ApiServer::start() {
  opamp_.start();
  if (Status started = operators_.start(); !started) return started;
  if (!options_.serve_agents) return Status::success();
  if (Status started = agents_.start(); !started) {
    operators_.stop();
    return started;
  }
  return Status::success();
}

void ApiServer::stop() {
  agents_.stop();
  operators_.stop();
  opamp_.stop();
}

}  // namespace muster::http
