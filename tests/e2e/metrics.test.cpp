// The metrics history against the real binary, on a manual clock the test
// moves: heartbeats' metrics read back per agent (raw and per minute), the
// names seen, an aggregate over the agents with a label, the same answers
// once the raw points expired (from the stored aggregates) and after a
// restart; bad queries and bad metrics in a heartbeat refused with nothing
// stored.

#include <cmath>

#include "tests/e2e/e2e_helpers.hpp"

namespace muster::e2e {
namespace {

const std::vector<std::string> kServer{"--enable-test-hooks",     "--test-manual-clock", "--heartbeat-timeout",
                                       "24h",                     "--healthy-within",    "1h",
                                       "--warning-within",        "2h",                  "--metrics-raw-retention",
                                       "1h"};

/// What the test sent, per agent: (time, cpu) in order.
struct Sent {
  std::vector<std::pair<TimeMs, double>> cpu;
};

/// [time, min, max, avg, last] per minute of `sent` in [from, to), as the route should answer.
json expected_minutes(const Sent& sent, TimeMs from, TimeMs to) {
  json rows = json::array();
  std::map<TimeMs, std::vector<double>> buckets;
  for (const auto& [time_ms, value] : sent.cpu) {
    if (time_ms >= from && time_ms < to) buckets[time_ms - time_ms % 60'000].push_back(value);
  }
  for (const auto& [bucket, values] : buckets) {
    double sum = 0;
    for (double value : values) sum += value;
    rows.push_back(json::array({bucket, *std::min_element(values.begin(), values.end()),
                                *std::max_element(values.begin(), values.end()),
                                sum / static_cast<double>(values.size()), values.back()}));
  }
  return rows;
}

void check_rows(const json& got, const json& expected) {
  INFO("got " << got.dump() << " expected " << expected.dump());
  REQUIRE(got.size() == expected.size());
  for (std::size_t row = 0; row < got.size(); ++row) {
    CHECK(got[row][0] == expected[row][0]);
    for (std::size_t column = 1; column < 5; ++column) {
      CHECK(got[row][column].get<double>() == doctest::Approx(expected[row][column].get<double>()));
    }
  }
}

}  // namespace

TEST_SUITE("e2e") {
  SCENARIO("heartbeats' metrics are kept, downsampled, aggregated across agents, and survive expiry and restart") {
    TempDir dir;
    auto server = std::make_unique<MusterServer>(dir.file("data"), kServer);
    std::vector<std::string> agents;
    agents.push_back(register_agent(*server, "m-1", {{"labels", {{"env", "prod"}}}}).agent_id);
    agents.push_back(register_agent(*server, "m-2", {{"labels", {{"env", "prod"}}}}).agent_id);
    agents.push_back(register_agent(*server, "m-3", {{"labels", {{"env", "dev"}}}}).agent_id);
    // Start on a ten-minute boundary, so that ten minutes of heartbeats fill
    // ten one-minute buckets and one ten-minute bucket.
    TimeMs now = advance_clock(*server, 0);
    now = advance_clock(*server, 600'000 - now % 600'000);
    const TimeMs start = now;
    std::map<std::string, Sent> sent;
    for (int beat = 0; beat < 30; ++beat) {
      for (std::size_t index = 0; index < agents.size(); ++index) {
        const double cpu = std::fmod(beat * 7.0 + static_cast<double>(index) * 13.0, 50.0) / 50.0;
        heartbeat(*server, agents[index], {{"metrics", {{"cpu", cpu}, {"mem", 1000.0 + beat}}}});
        sent[agents[index]].cpu.emplace_back(now, cpu);
      }
      now = advance_clock(*server, 20'000);
    }
    const TimeMs end = start + 10 * 60'000;
    const std::string range = fmt::format("from={}&to={}", start, end);

    json minutes_before;
    THEN("an agent's metric reads back per minute, and raw") {
      const json answer =
          get_json(*server, "/api/v1/agents/" + agents[0] + "/metrics?name=cpu&step=1m&" + range);
      CHECK(answer.at("name") == "cpu");
      CHECK(answer.at("resolution") == "raw");
      CHECK(answer.at("step") == 60'000);
      check_rows(answer.at("points"), expected_minutes(sent[agents[0]], start, end));
      const json raw = get_json(*server, "/api/v1/agents/" + agents[1] + "/metrics?name=cpu&step=1s&" + range);
      REQUIRE(raw.at("points").size() == 30);
      CHECK(raw.at("points")[3][0] == sent[agents[1]].cpu[3].first);
      CHECK(raw.at("points")[3][4].get<double>() == doctest::Approx(sent[agents[1]].cpu[3].second));
      // Defaults: the last hour, in steps of at least a second.
      const json recent = get_json(*server, "/api/v1/agents/" + agents[2] + "/metrics?name=mem");
      CHECK(recent.at("points").size() == 30);
    }
    THEN("the names seen are listed for the organization") {
      CHECK(get_json(*server, "/api/v1/metrics/names").at("names") == json({"cpu", "mem"}));
      CHECK(get_json(*server, "/api/v1/metrics/names?org=globex").at("names") == json::array());
    }
    THEN("an aggregate over the agents with a label answers max, avg and p95 per step") {
      const json max = get_json(*server, "/api/v1/metrics/aggregate?name=cpu&label=env=prod&fn=max&step=10m&" + range);
      CHECK(max.at("agents") == 2);
      REQUIRE(max.at("points").size() == 1);
      double expected_max = 0;
      double sum_of_averages = 0;
      for (int index = 0; index < 2; ++index) {
        double sum = 0;
        for (const auto& [time_ms, value] : sent[agents[index]].cpu) {
          expected_max = std::max(expected_max, value);
          sum += value;
        }
        sum_of_averages += sum / 30;
      }
      CHECK(max.at("points")[0][1].get<double>() == doctest::Approx(expected_max));
      CHECK(max.at("points")[0][2] == 2);
      const json avg = get_json(*server, "/api/v1/metrics/aggregate?name=cpu&labels=env=prod&step=10m&" + range);
      CHECK(avg.at("points")[0][1].get<double>() == doctest::Approx(sum_of_averages / 2));
      const json all = get_json(*server, "/api/v1/metrics/aggregate?name=cpu&fn=p95&step=10m&" + range);
      CHECK(all.at("agents") == 3);
      CHECK(all.at("points")[0][2] == 3);
    }
    WHEN("the raw points expire (raw retention 1h) and muster restarts") {
      const json before =
          get_json(*server, "/api/v1/agents/" + agents[0] + "/metrics?name=cpu&step=1m&" + range).at("points");
      // The rollup and expiry run on the server's timers, whenever they do:
      // a read is exact before, during and after them.
      advance_clock(*server, 3 * 3'600'000);
      const json after = get_json(*server, "/api/v1/agents/" + agents[0] + "/metrics?name=cpu&step=1m&" + range);
      CHECK(after.at("resolution") == "1m");
      check_rows(after.at("points"), before);
      REQUIRE(server->terminate() == 0);
      server = std::make_unique<MusterServer>(dir.file("data"), kServer);
      // The new server's manual clock starts at the real time again: move it
      // past where the last one was.
      advance_clock(*server, 3 * 3'600'000 + 20 * 60'000);
      THEN("the minutes read the same from the stored aggregates, and the names are still known") {
        const json again = get_json(*server, "/api/v1/agents/" + agents[0] + "/metrics?name=cpu&step=1m&" + range);
        check_rows(again.at("points"), before);
        CHECK(get_json(*server, "/api/v1/metrics/names").at("names") == json({"cpu", "mem"}));
      }
    }
  }

  SCENARIO("bad metric queries and bad heartbeat metrics are refused, naming the field, with nothing stored") {
    TempDir dir;
    MusterServer server(dir.file("data"), kServer);
    const std::string agent = register_agent(server, "bad-1").agent_id;
    heartbeat(server, agent, {{"metrics", {{"cpu", 1}}}});
    const std::string base = "/api/v1/agents/" + agent + "/metrics";
    const std::vector<std::pair<std::string, std::string>> bad_queries = {
        {base, "name"},
        {base + "?name=9cpu", "name"},
        {base + "?name=cpu&from=yesterday", "from"},
        {base + "?name=cpu&to=-5", "to"},
        {base + "?name=cpu&from=2000&to=1000", "from"},
        {base + "?name=cpu&step=fast", "step"},
        {base + "?name=cpu&step=0", "step"},
        {base + "?name=cpu&step=1ms", "step"},  // 3.6 million points over the default hour
        {"/api/v1/metrics/aggregate?name=cpu&fn=median", "fn"},
        {"/api/v1/metrics/aggregate?name=cpu&group=Not%20A%20Group", "group"},
        {"/api/v1/metrics/aggregate?name=cpu&labels=novalue", "labels"},
        {"/api/v1/metrics/aggregate", "name"},
    };
    for (const auto& bad : bad_queries) {
      const std::string& path = bad.first;
      const std::string& field = bad.second;
      CAPTURE(path);
      const HttpAnswer answer = server.get(path);
      check_error(answer, 400, "INVALID_PARAMETER");
      CHECK(answer.json.at("details").contains(field));
    }
    check_error(server.get("/api/v1/agents/00000000-0000-4000-8000-000000000000/metrics?name=cpu"), 404,
                "AGENT_NOT_FOUND");
    json many = json::object();
    for (int index = 0; index < 65; ++index) many["m" + std::to_string(index)] = index;
    for (const json& metrics : {json{{"cpu-usage", 1}}, json{{"cpu", "high"}}, many, json{{"x/y", 1}}}) {
      CAPTURE(metrics.dump());
      const HttpAnswer answer = server.post("/api/v1/agents/" + agent + "/heartbeat", json{{"metrics", metrics}}.dump());
      check_error(answer, 400, "VALIDATION_FAILED");
      CHECK(answer.json.at("details").contains("metrics"));
    }
    CHECK(get_json(server, "/api/v1/metrics/names").at("names") == json({"cpu"}));
    CHECK(get_json(server, base + "?name=cpu").at("points").size() == 1);
  }
}

}  // namespace muster::e2e
