// GET /api/v1/stats?health=true: the fleet by health at this moment, as the
// dashboard's overview shows it, moving with the clock and scoped by organization.

#include "tests/e2e/e2e_helpers.hpp"

namespace muster::e2e {

TEST_CASE("stats: by health, counted as the clock moves, only when asked for") {
  TempDir dir;
  MusterServer server(dir.file("data"), {"--enable-test-hooks", "--test-manual-clock", "--heartbeat-timeout",
                                         "24h", "--healthy-within", "1h", "--warning-within", "2h"});
  const Registered first = register_agent(server, "host-1");
  const Registered second = register_agent(server, "host-2");
  const Registered third = register_agent(server, "host-3");
  REQUIRE(server.del("/api/v1/agents/" + third.agent_id).status == 200);
  CHECK_FALSE(stats(server).contains("by_health"));
  const auto by_health = [&] { return get_json(server, "/api/v1/stats?health=true").at("by_health"); };
  CHECK(by_health() == json{{"healthy", 2}, {"warning", 0}, {"unhealthy", 0}, {"offline", 0}});

  advance_clock(server, 90 * 60'000);  // 1.5 h: both silent past "healthy"
  heartbeat(server, first.agent_id);
  CHECK(by_health() == json{{"healthy", 1}, {"warning", 1}, {"unhealthy", 0}, {"offline", 0}});
  advance_clock(server, 60 * 60'000);  // 2.5 h since the second was heard
  CHECK(by_health() == json{{"healthy", 1}, {"warning", 0}, {"unhealthy", 1}, {"offline", 0}});

  check_error(server.get("/api/v1/stats?health=yes"), 400, "INVALID_PARAMETER");
  // A key of another organization counts none of these.
  const std::string other =
      server.post("/api/v1/api-keys", json{{"name", "o"}, {"role", "viewer"}, {"org", "other"}}.dump())
          .json.at("key");
  const HttpAnswer scoped =
      server.send("GET", "/api/v1/stats?health=true", "", {{"Authorization", "Bearer " + other}});
  REQUIRE(scoped.status == 200);
  CHECK(scoped.json.at("by_health") ==
        json{{"healthy", 0}, {"warning", 0}, {"unhealthy", 0}, {"offline", 0}});
}

}  // namespace muster::e2e
