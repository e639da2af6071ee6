// --tls-cert/--tls-key serve the whole API over HTTPS.

#include "tests/e2e/e2e_helpers.hpp"

namespace muster::e2e {

TEST_CASE("tls: the API answers over HTTPS with the given certificate, and not over plain HTTP") {
  TempDir dir;
  const std::string cert = dir.file("cert.pem");
  const std::string key = dir.file("key.pem");
  make_certificate(cert, key);
  MusterServer server(dir.file("data"), {"--tls-cert", cert, "--tls-key", key});
  CHECK(server.log_text().find("\"tls\":true") != std::string::npos);

  const Registered agent = register_agent(server, "tls-host");
  CHECK(agent.status == 201);
  CHECK(server.get("/api/v1/agents/" + agent.agent_id).status == 200);

  httplib::Client plain("127.0.0.1", server.port());
  plain.set_read_timeout(5, 0);
  const auto answer = plain.Get("/healthz");
  CHECK((!answer || answer->status != 200));
}

TEST_CASE("tls: a certificate that cannot be loaded stops the server before it touches the data") {
  TempDir dir;
  const CommandResult refused =
      run_muster({"serve", "--data", dir.file("data"), "--listen", "127.0.0.1:0", "--agent-listen", "off",
                  "--tls-cert", dir.file("missing.pem"), "--tls-key", dir.file("k.pem")});
  CHECK(refused.exit_code == 1);
  CHECK(refused.err.find("cannot load the TLS certificate") != std::string::npos);
  CHECK(refused.err.find("bootstrap") == std::string::npos);
  CHECK(run_muster({"serve", "--tls-cert", "c.pem"}).exit_code == 2);
}

}  // namespace muster::e2e
