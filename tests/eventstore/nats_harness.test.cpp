// The NATS test harness itself, against real nats-server processes: what the
// JetStream backend's tests rely on when they start, crash and restart servers.

#include "tests/support/nats_server.hpp"

#include <doctest/doctest.h>

#include <filesystem>

namespace muster {
namespace {

using testing::NatsCluster;
using testing::NatsServer;

SCENARIO("a NATS test server answers on its monitoring port and keeps its ports and data across restarts") {
  GIVEN("a JetStream server started by the harness") {
    NatsServer server;
    const int port = server.port();
    const int monitor_port = server.monitor_port();
    REQUIRE(port > 0);
    REQUIRE(monitor_port > 0);
    CHECK(server.url() == "nats://127.0.0.1:" + std::to_string(port));
    CHECK(server.healthy());
    const auto jsz = server.monitor_get("/jsz");
    REQUIRE(jsz.status == 200);
    CHECK(jsz.json["config"]["store_dir"].get<std::string>().rfind(server.store_dir(), 0) == 0);

    WHEN("it is stopped and restarted") {
      const pid_t first_pid = server.pid();
      server.restart();
      THEN("it is a new process on the same ports, healthy, with the same store") {
        CHECK(server.pid() != first_pid);
        CHECK(server.port() == port);
        CHECK(server.monitor_port() == monitor_port);
        CHECK(server.healthy());
        CHECK(std::filesystem::is_directory(server.store_dir() + "/jetstream"));
      }
    }
    WHEN("it is killed with SIGKILL and restarted") {
      server.kill9();
      CHECK_FALSE(server.running());
      CHECK_FALSE(server.healthy());
      server.restart();
      THEN("it comes back on the same ports") {
        CHECK(server.running());
        CHECK(server.port() == port);
        CHECK(server.healthy());
      }
    }
  }
}

SCENARIO("a three-server NATS test cluster elects a JetStream meta leader and survives losing one server") {
  GIVEN("a cluster started by the harness") {
    NatsCluster cluster;
    REQUIRE(cluster.size() == 3);
    CHECK(cluster.url() ==
          cluster.server(0).url() + "," + cluster.server(1).url() + "," + cluster.server(2).url());
    for (std::size_t i = 0; i < cluster.size(); ++i) CHECK(cluster.server(i).healthy());
    const auto leader = cluster.leader_index();
    REQUIRE(leader.has_value());

    WHEN("the meta leader is killed with SIGKILL") {
      cluster.server(*leader).kill9();
      THEN("the other two elect a new leader and stay healthy") {
        REQUIRE(cluster.wait_until_healthy());
        const auto new_leader = cluster.leader_index();
        REQUIRE(new_leader.has_value());
        CHECK(*new_leader != *leader);
        AND_WHEN("the killed server is restarted") {
          const int port = cluster.server(*leader).port();
          cluster.server(*leader).restart();
          THEN("it rejoins on its port and all three are healthy") {
            CHECK(cluster.server(*leader).port() == port);
            CHECK(cluster.wait_until_healthy());
            for (std::size_t i = 0; i < cluster.size(); ++i) CHECK(cluster.server(i).healthy());
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace muster
