// The remote commands' shared parts: their command line (parse_remote_args)
// and what an answer means (app/api_client.hpp). The commands themselves
// run against a real server in tests/e2e/cli.test.cpp.

#include <map>

#include <doctest/doctest.h>

#include "app/api_client.hpp"
#include "app/cli.hpp"
#include "tests/app/environment_of.hpp"

using namespace muster;
using namespace muster::app;

namespace {

using testing::environment_of;

const RemoteCommandSpec kSpec{{"AGENT_ID"}, {"--status"}, {"--label"}, {"--follow"}};

}  // namespace

TEST_CASE("remote flags: the server and key default to the environment, and a flag wins over each") {
  const auto defaults = parse_remote_args(kSpec, {"id-1"}, environment_of({}));
  REQUIRE(defaults.ok());
  CHECK(defaults->client.server_url == "http://127.0.0.1:8080");
  CHECK(defaults->client.key.empty());
  CHECK(defaults->output == OutputFormat::table);
  CHECK(defaults->arguments == std::vector<std::string>{"id-1"});

  const Environment environment =
      environment_of({{"MUSTER_SERVER", "https://muster.example.com:8443/"}, {"MUSTER_KEY", "mk_env"}});
  const auto from_environment = parse_remote_args(kSpec, {"id-1"}, environment);
  REQUIRE(from_environment.ok());
  CHECK(from_environment->client.server_url == "https://muster.example.com:8443");
  CHECK(from_environment->client.key == "mk_env");

  const auto flags_win =
      parse_remote_args(kSpec, {"--server", "http://10.0.0.1:9000", "id-1", "--key=mk_flag"}, environment);
  REQUIRE(flags_win.ok());
  CHECK(flags_win->client.server_url == "http://10.0.0.1:9000");
  CHECK(flags_win->client.key == "mk_flag");

  // An empty variable counts as unset.
  const auto empty = parse_remote_args(kSpec, {"id-1"}, environment_of({{"MUSTER_KEY", ""}}));
  REQUIRE(empty.ok());
  CHECK(empty->client.key.empty());
}

TEST_CASE("remote flags: arguments in order, options once, repeated ones in order, switches, output") {
  const auto parsed =
      parse_remote_args(kSpec,
                        {"--label", "env=prod", "id-1", "--status", "ONLINE", "--label=tier=web", "--follow",
                         "--output", "json", "--ca-cert", "ca.pem"},
                        environment_of({}));
  REQUIRE(parsed.ok());
  CHECK(parsed->arguments == std::vector<std::string>{"id-1"});
  CHECK(parsed->value("--status") == std::optional<std::string>("ONLINE"));
  CHECK(parsed->values.at("--label") == std::vector<std::string>{"env=prod", "tier=web"});
  CHECK(parsed->switches.count("--follow") == 1);
  CHECK(parsed->output == OutputFormat::json);
  CHECK(parsed->client.ca_cert_path == "ca.pem");
  CHECK_FALSE(parsed->value("--missing"));
}

TEST_CASE("remote flags: usage errors name what is wrong and never the key") {
  const Environment none = environment_of({});
  const auto message = [&](const std::vector<std::string>& args, const Environment& environment) {
    const auto parsed = parse_remote_args(kSpec, args, environment);
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.error().code == ErrorCode::invalid_argument);
    return parsed.error().message;
  };
  CHECK(message({}, none) == "missing AGENT_ID");
  CHECK(message({"a", "b"}, none) == "unexpected argument 'b'");
  CHECK(message({"a", "--bogus"}, none) == "unknown option '--bogus'");
  CHECK(message({"a", "--status"}, none) == "option --status needs a value");
  CHECK(message({"a", "--status", "A", "--status", "B"}, none) == "--status: given more than once");
  CHECK(message({"a", "--output", "yaml"}, none) == "--output: must be table or json");
  CHECK(message({"a", "--server", "127.0.0.1:8080"}, none).find("must be http://HOST:PORT") !=
        std::string::npos);
  CHECK(message({"a", "--server", "http://h:1/api"}, none).find("no path") != std::string::npos);
  const std::string from_environment =
      message({"a"}, environment_of({{"MUSTER_SERVER", "ftp://h"}, {"MUSTER_KEY", "mk_secret"}}));
  CHECK(from_environment.rfind("$MUSTER_SERVER: --server:", 0) == 0);
  CHECK(from_environment.find("mk_secret") == std::string::npos);
}

TEST_CASE("api client: each answer's exit code") {
  const auto code_of = [](int status) {
    ApiAnswer answer;
    answer.status = status;
    return exit_code_of(answer);
  };
  CHECK(code_of(200) == kExitOk);
  CHECK(code_of(201) == kExitOk);
  CHECK(code_of(0) == kExitUnavailable);
  CHECK(code_of(500) == kExitUnavailable);
  CHECK(code_of(503) == kExitUnavailable);
  CHECK(code_of(401) == kExitAuth);
  CHECK(code_of(403) == kExitAuth);
  CHECK(code_of(404) == kExitNotFound);
  CHECK(code_of(400) == kExitRefused);
  CHECK(code_of(409) == kExitRefused);
  CHECK(code_of(412) == kExitRefused);
  CHECK(code_of(429) == kExitRefused);
}

TEST_CASE("api client: a failure is one line with the server's error and code") {
  ApiAnswer error;
  error.status = 400;
  error.body = {{"error", "invalid query parameter 'status'"},
                {"code", "INVALID_PARAMETER"},
                {"details", {{"status", "must be ONLINE, DEGRADED or OFFLINE"}}}};
  CHECK(
      describe_failure(error, "http://h:1") ==
      R"(invalid query parameter 'status' (400 INVALID_PARAMETER) {"status":"must be ONLINE, DEGRADED or OFFLINE"})");

  ApiAnswer no_answer;
  no_answer.transport_error = "Connection";
  CHECK(describe_failure(no_answer, "http://h:1") == "cannot reach http://h:1: Connection");

  // Not the API's shape (a proxy's page): the status and the start of the body, on one line.
  ApiAnswer proxy;
  proxy.status = 502;
  proxy.text = "<html>\nBad gateway\n</html>";
  proxy.body = nlohmann::json::value_t::discarded;
  const std::string line = describe_failure(proxy, "http://h:1");
  CHECK(line == "the server answered 502: <html> Bad gateway </html>");
}

TEST_CASE("api client: server URLs are http or https with a host, no path") {
  CHECK(normalize_server_url("http://127.0.0.1:8080") == "http://127.0.0.1:8080");
  CHECK(normalize_server_url("https://muster.example.com/") == "https://muster.example.com");
  CHECK(normalize_server_url("http://[::1]:8080") == "http://[::1]:8080");
  CHECK(normalize_server_url("127.0.0.1:8080").empty());
  CHECK(normalize_server_url("ftp://host").empty());
  CHECK(normalize_server_url("http://").empty());
  CHECK(normalize_server_url("http://host/api/v1").empty());
  CHECK(normalize_server_url("").empty());
}
