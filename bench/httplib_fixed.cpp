/// httplib_fixed: the heartbeat benchmark's framework ceiling. A cpp-httplib
/// server set up as muster's (TCP_NODELAY, keep-alive, a thread per
/// connection from the same ConnectionPool) answering every request with the
/// fixed JSON nginx answers. What it reaches against nginx bounds what any
/// handler behind cpp-httplib can.
///
///   httplib_fixed PORT        (serves until SIGTERM)

#include <csignal>
#include <cstdlib>
#include <string>

#include <httplib.h>

#include "http/connection_pool.hpp"

namespace {

httplib::Server* running = nullptr;

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  const int port = std::atoi(argv[1]);
  httplib::Server server;
  server.new_task_queue = [] { return new muster::http::ConnectionPool(64, 2048, 30); };
  server.set_tcp_nodelay(true);
  server.set_keep_alive_max_count(1'000'000);
  const std::string answer =
      R"({"agent_id":"77a90abc-0a01-4beb-a06a-3270591bc0d3","commands_pending":0,"config_version":0,)"
      R"("position":8,"status":"ONLINE","success":true})";
  const auto fixed = [&](const httplib::Request&, httplib::Response& response) {
    response.set_content(answer, "application/json");
  };
  server.Post(".*", fixed);
  server.Get(".*", fixed);
  running = &server;
  std::signal(SIGTERM, [](int) { running->stop(); });
  return server.listen("127.0.0.1", port) ? 0 : 1;
}
