#include <doctest/doctest.h>

#include "app/cli.hpp"
#include "http/request_parsing.hpp"

using namespace muster;
using namespace muster::app;

TEST_CASE("serve flags map onto the options structs, with their defaults") {
  const auto defaults = parse_serve_args({});
  REQUIRE(defaults.ok());
  CHECK(defaults->store.path == "./data");
  CHECK(defaults->store.durability == Durability::fsync);
  CHECK(defaults->http.operators.host == "127.0.0.1");
  CHECK(defaults->http.operators.port == 8080);
  CHECK(defaults->http.serve_agents);
  CHECK(defaults->http.agents.host == "127.0.0.1");
  CHECK(defaults->http.agents.port == 4320);
  CHECK(defaults->agents.heartbeat_timeout_ms == 120'000);
  CHECK_FALSE(defaults->enable_test_hooks);

  const auto given =
      parse_serve_args({"--data", "/srv/muster", "--listen=0.0.0.0:9000", "--heartbeat-timeout", "45s",
                        "--durability", "wal", "--http-threads", "8", "--healthy-within", "30s",
                        "--warning-within=2m", "--log-level", "warn", "--enable-test-hooks",
                        "--agent-listen", "0.0.0.0:4321", "--agent-max-body-bytes", "512", "--max-body-bytes",
                        "2048", "--max-connections-per-address", "7", "--keep-alive-timeout", "3s"});
  REQUIRE(given.ok());
  CHECK(given->store.path == "/srv/muster");
  CHECK(given->http.operators.host == "0.0.0.0");
  CHECK(given->http.operators.port == 9000);
  CHECK(given->http.agents.host == "0.0.0.0");
  CHECK(given->http.agents.port == 4321);
  // Shared limits go to both listeners; --agent- ones only to the agents'.
  CHECK(given->http.operators.limits.max_body_bytes == 2048);
  CHECK(given->http.agents.limits.max_body_bytes == 512);
  CHECK(given->http.operators.limits.max_connections_per_address == 7);
  CHECK(given->http.agents.limits.max_connections_per_address == 10'000);
  CHECK(given->http.agents.limits.idle_timeout_ms == 3'000);
  CHECK(given->agents.heartbeat_timeout_ms == 45'000);
  CHECK(given->store.durability == Durability::wal);
  CHECK(given->http.operators.threads == 8);
  CHECK(given->http.agents.threads == 8);
  CHECK(given->http.api.health.healthy_within_ms == 30'000);
  CHECK(given->http.api.health.warning_within_ms == 120'000);
  CHECK(given->log_level == log::Level::warn);
  CHECK(given->enable_test_hooks);
  CHECK(parse_serve_args({"--listen", "[::1]:8080"})->http.operators.host == "::1");
  CHECK_FALSE(parse_serve_args({"--agent-listen", "off"})->http.serve_agents);
}

TEST_CASE("bad serve flags are refused with a message naming the flag") {
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"--bogus"},
                                             {"--data"},
                                             {"--data", ""},
                                             {"--listen", "8080"},
                                             {"--listen", "host:99999"},
                                             {"--listen", "host:"},
                                             {"--heartbeat-timeout", "0s"},
                                             {"--heartbeat-timeout", "soon"},
                                             {"--durability", "maybe"},
                                             {"--http-threads", "0"},
                                             {"--log-level", "loud"},
                                             {"--healthy-within", "10m", "--warning-within", "1m"}}) {
    CAPTURE(args.front());
    const auto parsed = parse_serve_args(args);
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.error().code == ErrorCode::invalid_argument);
    CHECK(parsed.error().message.find(args.front().substr(0, args.front().find('='))) != std::string::npos);
  }
}

TEST_CASE("regression: --test-sync-delay-ms slowed every sync without --enable-test-hooks") {
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"--test-sync-delay-ms", "50"},
           {"--test-sync-delay-ms=1"},
           {"--test-sync-ledger", "/tmp/ledger"},
           {"--test-fail-writes-while", "/tmp/fail"}}) {
    const std::string flag = args.front().substr(0, args.front().find('='));
    CAPTURE(flag);
    const auto refused = parse_serve_args(args);
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().code == ErrorCode::invalid_argument);
    CHECK(refused.error().message.find(flag) != std::string::npos);
    CHECK(refused.error().message.find("--enable-test-hooks") != std::string::npos);

    std::vector<std::string> with_hooks = args;
    with_hooks.push_back("--enable-test-hooks");
    CHECK(parse_serve_args(with_hooks).ok());
  }
  const auto delayed = parse_serve_args({"--enable-test-hooks", "--test-sync-delay-ms", "50"});
  REQUIRE(delayed.ok());
  CHECK(delayed->test_sync_delay_ms == 50);
}

TEST_CASE("metrics history flags: on by default, retentions 24h, 7d, 90d, 365d, never shrinking") {
  const auto defaults = parse_serve_args({});
  REQUIRE(defaults.ok());
  CHECK(defaults->metrics_history);
  CHECK(defaults->metrics.raw_retention_ms == 24 * 3'600'000LL);
  CHECK(defaults->metrics.minute_retention_ms == 7 * 86'400'000LL);
  CHECK(defaults->metrics.hour_retention_ms == 90 * 86'400'000LL);
  CHECK(defaults->metrics.day_retention_ms == 365 * 86'400'000LL);
  const auto given = parse_serve_args({"--metrics-history", "off", "--metrics-raw-retention", "2h",
                                       "--metrics-1m-retention", "2d", "--metrics-1h-retention", "30d",
                                       "--metrics-1d-retention", "730d"});
  REQUIRE(given.ok());
  CHECK_FALSE(given->metrics_history);
  CHECK(given->metrics.raw_retention_ms == 2 * 3'600'000LL);
  CHECK(given->metrics.minute_retention_ms == 2 * 86'400'000LL);
  CHECK(given->metrics.hour_retention_ms == 30 * 86'400'000LL);
  CHECK(given->metrics.day_retention_ms == 730 * 86'400'000LL);
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"--metrics-history", "maybe"},
           {"--metrics-raw-retention", "0s"},
           {"--metrics-1m-retention", "soon"},
           {"--metrics-raw-retention", "8d"},
           {"--metrics-1h-retention", "400d"}}) {
    CAPTURE(args.front());
    const auto parsed = parse_serve_args(args);
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.error().message.find(args.front()) != std::string::npos);
  }
}

TEST_CASE("replay flags: one agent selector, times in RFC 3339, --at needs an agent") {
  const auto parsed = parse_replay_args({"--data", "d", "--instance", "host-1", "--type", "AgentRegistered",
                                         "--since", "2026-01-01T00:00:00Z", "--format", "table"});
  REQUIRE(parsed.ok());
  CHECK(parsed->instance_id == std::optional<std::string>("host-1"));
  CHECK(parsed->since_ms.has_value());
  CHECK(parsed->format == ReplayFormat::table);
  CHECK_FALSE(parse_replay_args({"--at", "2026-01-01T00:00:00Z"}).ok());
  CHECK_FALSE(parse_replay_args({"--agent", "not-a-uuid"}).ok());
  CHECK_FALSE(parse_replay_args({"--since", "yesterday"}).ok());
  CHECK_FALSE(parse_replay_args({"--agent", "3f6c9a1e-8d2b-4c1f-9e7a-0b5d4c3a2f10", "--instance", "x"}).ok());
}

TEST_CASE("regression: keys create accepts the same organization names as the API, no more") {
  CHECK(parse_keys_create_args({"--role", "viewer", "--name", "n", "--org", "acme.eu-1"}).ok());
  CHECK_FALSE(parse_keys_create_args({"--role", "viewer", "--name", "n", "--org", "acme:eu"}).ok());
  CHECK_FALSE(http::is_valid_org("acme:eu"));
}

TEST_CASE("backup and restore flags: an organization name, a server URL without a path, a key") {
  const auto backup = parse_backup_args({"--data", "/srv/muster", "--org", "acme"});
  REQUIRE(backup.ok());
  CHECK(backup->data_dir == "/srv/muster");
  CHECK(backup->org == "acme");
  CHECK(parse_backup_args({})->org == "default");
  CHECK_FALSE(parse_backup_args({"--org", "acme:eu"}).ok());
  CHECK_FALSE(parse_backup_args({"--url", "http://h:1"}).ok());

  const auto restore = parse_restore_args(
      {"--url", "https://muster.example:8443", "--key", "mk_x", "--org", "acme", "--dry-run", "--ca-cert", "ca.pem"});
  REQUIRE(restore.ok());
  CHECK(restore->url == "https://muster.example:8443");
  CHECK(restore->key == "mk_x");
  CHECK(restore->org == std::optional<std::string>("acme"));
  CHECK(restore->dry_run);
  CHECK(restore->ca_cert_path == "ca.pem");
  const auto plain = parse_restore_args({"--url=http://127.0.0.1:8080", "--key=mk_x"});
  REQUIRE(plain.ok());
  CHECK_FALSE(plain->dry_run);
  CHECK_FALSE(plain->org.has_value());
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"--key", "mk_x"},
           {"--url", "http://127.0.0.1:8080"},
           {"--url", "127.0.0.1:8080", "--key", "mk_x"},
           {"--url", "ftp://127.0.0.1:8080", "--key", "mk_x"},
           {"--url", "http://127.0.0.1:8080/api", "--key", "mk_x"},
           {"--url", "http://", "--key", "mk_x"},
           {"--url", "http://h:1", "--key", "mk_x", "--data", "d"}}) {
    CAPTURE(args.front());
    CHECK_FALSE(parse_restore_args(args).ok());
  }
}

TEST_CASE("regression: counts of more than 7 digits were refused, so --max-body-bytes stopped under 10 MB") {
  const auto large = parse_serve_args({"--max-body-bytes", "67108864"});
  REQUIRE(large.ok());
  CHECK(large->http.operators.limits.max_body_bytes == 67'108'864);
  CHECK_FALSE(parse_serve_args({"--max-body-bytes", "2147483648"}).ok());
  CHECK_FALSE(parse_serve_args({"--max-body-bytes", "99999999999999999999999"}).ok());
}
