#include <doctest/doctest.h>

#include <map>

#include "app/cli.hpp"
#include "app/config_file.hpp"
#include "tests/app/environment_of.hpp"
#include "tests/support/temp_dir.hpp"

using namespace muster;
using namespace muster::app;

namespace {

using testing::environment_of;

std::string write_file(const testing::TempDir& dir, const std::string& text) {
  const std::string path = dir.file("muster.toml");
  std::FILE* file = std::fopen(path.c_str(), "w");
  REQUIRE(file != nullptr);
  std::fputs(text.c_str(), file);
  std::fclose(file);
  return path;
}

}  // namespace

TEST_SUITE("config file") {
  TEST_CASE("settings are flags without their dashes, strings, integers and booleans") {
    const auto settings = parse_config_file(
        "# muster\n"
        "\n"
        "listen = \"0.0.0.0:9000\"   # the operators' listener\n"
        "heartbeat_timeout = '45s'\r\n"
        "  http-threads = 8\n"
        "enable-test-hooks = true\n"
        "data = \"/srv/m\\u00fcster \\\"a\\\"\"\n");
    REQUIRE(settings.ok());
    REQUIRE(settings->size() == 5);
    CHECK((*settings)[0].flag == "--listen");
    CHECK((*settings)[0].value == "0.0.0.0:9000");
    CHECK((*settings)[0].line == 3);
    CHECK((*settings)[1].flag == "--heartbeat-timeout");
    CHECK((*settings)[1].value == "45s");
    CHECK((*settings)[2].value == "8");
    CHECK_FALSE((*settings)[2].boolean.has_value());
    CHECK((*settings)[3].boolean == true);
    CHECK((*settings)[4].value == "/srv/m\xc3\xbcster \"a\"");
  }

  TEST_CASE("what the subset does not take is refused with its line, never skipped") {
    for (const char* text : {"[server]\nlisten = \"a:1\"\n", "listen\n", "server.listen = \"a:1\"\n",
                             "listen = 0.0.0.0:80\n", "listen = \"a:1\" trailing\n", "labels = [\"a\"]\n",
                             "listen = \"open\n", "data = \"\\q\"\n", "listen =\n"}) {
      CAPTURE(text);
      const auto refused = parse_config_file(text);
      REQUIRE_FALSE(refused.ok());
      CHECK(refused.error().message.rfind("line 1: ", 0) == 0);
    }
    const auto second = parse_config_file("listen = \"a:1\"\n[table]\n");
    REQUIRE_FALSE(second.ok());
    CHECK(second.error().message.rfind("line 2: ", 0) == 0);
  }

  TEST_CASE("each flag has one environment variable") {
    CHECK(environment_name("--heartbeat-timeout") == "MUSTER_HEARTBEAT_TIMEOUT");
    CHECK(environment_name("--metrics-1m-retention") == "MUSTER_METRICS_1M_RETENTION");
    CHECK(environment_name("--listen") == "MUSTER_LISTEN");
  }

  TEST_CASE("the command line wins over the environment, which wins over the file, flag by flag") {
    testing::TempDir dir;
    const std::string path = write_file(dir,
                                        "listen = \"127.0.0.1:7000\"\n"
                                        "heartbeat-timeout = \"45s\"\n"
                                        "log-level = \"warn\"\n"
                                        "durability = \"wal\"\n");
    const auto options = parse_serve_args(
        {"--config", path, "--log-level", "error"},
        environment_of({{"MUSTER_HEARTBEAT_TIMEOUT", "50s"}, {"MUSTER_LOG_LEVEL", "debug"}, {"MUSTER_KEY", "x"}}));
    REQUIRE(options.ok());
    CHECK(options->http.operators.port == 7000);               // the file alone
    CHECK(options->store.durability == Durability::wal);       // the file alone
    CHECK(options->agents.heartbeat_timeout_ms == 50'000);     // the environment over the file
    CHECK(options->log_level == log::Level::error);            // the command line over both
    // $MUSTER_CONFIG names the file when --config does not.
    const auto from_variable = parse_serve_args({}, environment_of({{"MUSTER_CONFIG", path}}));
    REQUIRE(from_variable.ok());
    CHECK(from_variable->http.operators.port == 7000);
  }

  TEST_CASE("switches take true or false from the file and the environment") {
    testing::TempDir dir;
    CHECK(parse_serve_args({"--config", write_file(dir, "enable-test-hooks = true\n")}, environment_of({}))
              ->enable_test_hooks);
    CHECK_FALSE(parse_serve_args({"--config", write_file(dir, "enable-test-hooks = false\n")}, environment_of({}))
                    ->enable_test_hooks);
    CHECK(parse_serve_args({}, environment_of({{"MUSTER_ENABLE_TEST_HOOKS", "1"}}))->enable_test_hooks);
    CHECK_FALSE(parse_serve_args({}, environment_of({{"MUSTER_ENABLE_TEST_HOOKS", "false"}}))->enable_test_hooks);
    const auto refused = parse_serve_args({}, environment_of({{"MUSTER_ENABLE_TEST_HOOKS", "yes"}}));
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().message.find("MUSTER_ENABLE_TEST_HOOKS") != std::string::npos);
  }

  TEST_CASE("the sample in packaging/ is a config muster takes") {
    const auto options =
        parse_serve_args({"--config", std::string(MUSTER_SOURCE_DIR) + "/packaging/muster.toml"}, environment_of({}));
    REQUIRE(options.ok());
    CHECK(options->store.path == "/var/lib/muster");
    CHECK(options->http.agents.port == 4320);
  }

  TEST_CASE("a bad setting names where it came from") {
    testing::TempDir dir;
    const std::string path = write_file(dir, "# first\nlisten = \"127.0.0.1:1\"\nlog-level = \"loud\"\n");
    const auto from_file = parse_serve_args({"--config", path}, environment_of({}));
    REQUIRE_FALSE(from_file.ok());
    CHECK(from_file.error().message.find("config file " + path + " line 3: --log-level") != std::string::npos);

    const auto unknown = parse_serve_args({"--config", write_file(dir, "colour = \"blue\"\n")}, environment_of({}));
    REQUIRE_FALSE(unknown.ok());
    CHECK(unknown.error().message.find("line 1: unknown setting 'colour'") != std::string::npos);

    const auto from_environment = parse_serve_args({}, environment_of({{"MUSTER_HEARTBEAT_TIMEOUT", "soon"}}));
    REQUIRE_FALSE(from_environment.ok());
    CHECK(from_environment.error().message.rfind("$MUSTER_HEARTBEAT_TIMEOUT: --heartbeat-timeout", 0) == 0);

    const auto missing = parse_serve_args({"--config", dir.file("absent.toml")}, environment_of({}));
    REQUIRE_FALSE(missing.ok());
    CHECK(missing.error().message.find("cannot read config file") != std::string::npos);
  }
}
