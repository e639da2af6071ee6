// The alert evaluator's cost at fleet scale (bench/RESULTS.md, "Alert
// evaluation"): AGENTS agents, 20 rules of every kind, heartbeats of 8
// metrics each driven straight into the evaluator (no HTTP, no log), as
// the agents' service calls it. Prints ns per heartbeat (one thread, then
// two), the periodic pass's time, the bytes the evaluator says it holds
// and the process's RSS growth.
//
//   muster_bench_alerts [--agents 1000000] [--rounds 3] [--threads 2]

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "actors/alert/alert_evaluator.hpp"

using namespace muster;
using nlohmann::json;

namespace {

long rss_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return 0;
}

AlertRule rule(int n, const json& body) {
  auto spec = parse_alert_rule(body);
  if (!spec) {
    std::fprintf(stderr, "bad rule %d: %s %s\n", n, spec.error().field.c_str(), spec.error().message.c_str());
    std::exit(1);
  }
  AlertRule out;
  out.rule_id = fmt::format("{:016x}", n);
  out.org = "acme";
  out.spec = *spec;
  out.version = 1;
  return out;
}

json threshold(const char* metric, const char* fn, const char* window, const char* op, double value) {
  return {{"metric", metric}, {"fn", fn}, {"window", window}, {"op", op}, {"value", value}};
}

json part(json condition) {
  condition["kind"] = "threshold";
  return condition;
}

std::vector<AlertRule> twenty_rules() {
  const json web = {{"labels", {{"role", "web"}}}};
  std::vector<json> bodies = {
      {{"name", "cpu last"}, {"kind", "threshold"}, {"condition", threshold("cpu", "last", "1m", ">", 97)}},
      {{"name", "mem last"}, {"kind", "threshold"}, {"condition", threshold("mem", "last", "1m", ">", 95)}},
      {{"name", "errors last"}, {"kind", "threshold"}, {"condition", threshold("errors", "last", "1m", ">", 100)},
       {"scope", web}},
      {{"name", "latency last"}, {"kind", "threshold"}, {"condition", threshold("latency_ms", "last", "1m", ">=", 2000)}},
      {{"name", "latency spike"}, {"kind", "threshold"}, {"condition", threshold("latency_ms", "max", "5m", ">", 5000)}},
      {{"name", "disk low all window"}, {"kind", "threshold"}, {"condition", threshold("disk_free", "max", "5m", "<", 5)}},
      {{"name", "queue never drains"}, {"kind", "threshold"}, {"condition", threshold("queue", "min", "5m", ">", 500)}},
      {{"name", "net dip"}, {"kind", "threshold"}, {"condition", threshold("net_in", "min", "5m", "<", 1)}},
      {{"name", "cpu avg"}, {"kind", "threshold"}, {"condition", threshold("cpu", "avg", "5m", ">", 90)}, {"for", "2m"}},
      {{"name", "mem avg"}, {"kind", "threshold"}, {"condition", threshold("mem", "avg", "5m", ">", 85)}},
      {{"name", "queue avg"}, {"kind", "threshold"}, {"condition", threshold("queue", "avg", "1m", ">", 1000)},
       {"scope", web}},
      {{"name", "latency avg"}, {"kind", "threshold"}, {"condition", threshold("latency_ms", "avg", "5m", ">", 1500)}},
      {{"name", "gone"}, {"kind", "absence"}, {"for", "5m"}},
      {{"name", "web gone"}, {"kind", "absence"}, {"for", "1m"}, {"scope", web}},
      {{"name", "degraded"}, {"kind", "status"}, {"condition", {{"agent_status", "degraded"}}}},
      {{"name", "config failed"}, {"kind", "status"}, {"condition", {{"config_status", "failed"}}}},
      {{"name", "fleet offline"}, {"kind", "fleet"}, {"condition", {{"condition", "offline"}, {"share_percent", 5}}}},
      {{"name", "web degraded"}, {"kind", "fleet"}, {"condition", {{"condition", "degraded"}, {"share_percent", 10}}},
       {"scope", web}},
      {{"name", "sick and busy"}, {"kind", "composite"},
       {"condition", {{"all", {{{"kind", "status"}, {"agent_status", "degraded"}},
                               part(threshold("cpu", "last", "1m", ">", 80))}}}}},
      {{"name", "errors or gone"}, {"kind", "composite"},
       {"condition", {{"any", {part(threshold("errors", "last", "1m", ">", 50)),
                               {{"kind", "absence"}}}}}}},
  };
  std::vector<AlertRule> rules;
  for (std::size_t n = 0; n < bodies.size(); ++n) rules.push_back(rule(static_cast<int>(n + 1), bodies[n]));
  return rules;
}

// A heartbeat's 8 metrics: mostly within bounds, a few agents over them.
std::map<std::string, double> metrics_for(std::mt19937_64& random, bool hot) {
  std::uniform_real_distribution<double> unit(0, 1);
  return {{"cpu", hot ? 99 : 20 + 50 * unit(random)},     {"mem", hot ? 97 : 30 + 40 * unit(random)},
          {"errors", hot ? 200 : 5 * unit(random)},        {"latency_ms", hot ? 6000 : 50 + 200 * unit(random)},
          {"disk_free", hot ? 2 : 40 + 50 * unit(random)}, {"queue", hot ? 2000 : 100 * unit(random)},
          {"net_in", 10 + 100 * unit(random)},             {"net_out", 10 + 100 * unit(random)}};
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t agents = 1'000'000;
  int rounds = 3;
  int threads = 2;
  for (int index = 1; index + 1 < argc; index += 2) {
    if (std::strcmp(argv[index], "--agents") == 0) agents = std::stoul(argv[index + 1]);
    if (std::strcmp(argv[index], "--rounds") == 0) rounds = std::stoi(argv[index + 1]);
    if (std::strcmp(argv[index], "--threads") == 0) threads = std::stoi(argv[index + 1]);
  }
  using Clock = std::chrono::steady_clock;
  const auto seconds = [](Clock::duration d) { return std::chrono::duration<double>(d).count(); };

  std::vector<AgentId> ids(agents);
  std::mt19937_64 random(42);
  for (std::size_t n = 0; n < agents; ++n) {
    std::array<std::uint8_t, 16> bytes{};
    for (std::size_t b = 0; b < 16; b += 8) {
      const std::uint64_t word = random();
      std::memcpy(bytes.data() + b, &word, 8);
    }
    ids[n] = AgentId::from_bytes(bytes);
  }
  // A pool of heartbeats' metrics (building the map is the HTTP layer's cost, not the evaluator's).
  std::vector<std::map<std::string, double>> pool;
  for (int n = 0; n < 256; ++n) pool.push_back(metrics_for(random, n == 0));  // 1 in 256 over bounds

  const long rss_before = rss_kib();
  AlertEvaluator evaluator(nullptr);
  const std::vector<std::string> roles = {"web", "db", "cache", "batch"};
  for (std::size_t n = 0; n < agents; ++n) {
    AlertAgentFacts facts;
    facts.agent_id = ids[n];
    facts.org = "acme";
    facts.labels = {{"role", roles[n % roles.size()]}, {"zone", fmt::format("z{}", n % 8)}};
    evaluator.add_agent(facts);
  }
  TimeMs now = 1'764'640'000'000;
  auto started = Clock::now();
  const auto initial = evaluator.set_rules(twenty_rules(), now);
  const double set_rules_s = seconds(Clock::now() - started);

  std::size_t transitions = initial.size();
  std::size_t heartbeats = 0;
  double one_thread_s = 0;
  double many_threads_s = 0;
  double tick_s = 0;
  for (int round = 0; round < rounds; ++round) {
    now += 10'000;
    const bool parallel = round == rounds - 1 && threads > 1;
    started = Clock::now();
    if (!parallel) {
      for (std::size_t n = 0; n < agents; ++n) {
        transitions += evaluator.on_metrics(ids[n], "acme", now, pool[(n * 7 + round) % pool.size()]).size();
      }
      one_thread_s += seconds(Clock::now() - started);
    } else {
      std::vector<std::thread> workers;
      std::vector<std::size_t> counts(threads);
      for (int worker = 0; worker < threads; ++worker) {
        workers.emplace_back([&, worker] {
          for (std::size_t n = worker; n < agents; n += threads) {
            counts[worker] +=
                evaluator.on_metrics(ids[n], "acme", now, pool[(n * 7 + round) % pool.size()]).size();
          }
        });
      }
      for (std::thread& thread : workers) thread.join();
      for (std::size_t count : counts) transitions += count;
      many_threads_s += seconds(Clock::now() - started);
    }
    heartbeats += agents;
    started = Clock::now();
    transitions += evaluator.tick(now).size();
    tick_s += seconds(Clock::now() - started);
  }
  const int serial_rounds = threads > 1 ? rounds - 1 : rounds;
  const long rss_after = rss_kib();
  const std::size_t bytes = evaluator.state_bytes();
  std::printf("agents=%zu rules=20 metrics_per_heartbeat=8 heartbeats=%zu transitions=%zu\n", agents, heartbeats,
              transitions);
  std::printf("set_rules_s=%.3f\n", set_rules_s);
  if (serial_rounds > 0) {
    std::printf("ns_per_heartbeat_1_thread=%.0f\n", 1e9 * one_thread_s / (static_cast<double>(agents) * serial_rounds));
  }
  if (threads > 1) {
    std::printf("ns_per_heartbeat_%d_threads=%.0f (wall time / heartbeats)\n", threads,
                1e9 * many_threads_s / static_cast<double>(agents));
  }
  std::printf("tick_ms_avg=%.1f\n", 1e3 * tick_s / rounds);
  std::printf("evaluator_state_bytes=%zu bytes_per_agent=%.1f\n", bytes, static_cast<double>(bytes) / agents);
  std::printf("rss_growth_bytes_per_agent=%.1f\n", 1024.0 * static_cast<double>(rss_after - rss_before) / agents);
  return 0;
}
