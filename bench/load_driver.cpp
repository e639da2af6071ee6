/// muster_load: a bounded HTTP load generator for muster's benchmarks.
///
///   muster_load register  --port P --agents N --token ENROLLMENT_TOKEN [--threads T] [--ids FILE]
///   muster_load heartbeat --port P --ids FILE --requests N [--threads T]
///
/// `register` writes "<agent_id> <agent_token>" lines to FILE; `heartbeat`
/// sends each agent's token (a line without one sends none, for servers that
/// predate agent authentication).
///
/// Each thread keeps one keep-alive connection. Prints one JSON line with the
/// rate and latency percentiles. Every run is bounded by its count and stops
/// by itself.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

namespace {

using Clock = std::chrono::steady_clock;

struct Args {
  std::string mode;
  int port = 8080;
  std::size_t agents = 1000;
  std::size_t requests = 10000;
  std::size_t threads = 64;
  std::string ids_path;
  std::string enrollment_token;
};

struct AgentCredential {
  std::string agent_id;
  std::string token;
};

bool parse_args(int argc, char** argv, Args& args) {
  if (argc < 2) return false;
  args.mode = argv[1];
  for (int index = 2; index + 1 < argc; index += 2) {
    const std::string name = argv[index];
    const std::string value = argv[index + 1];
    if (name == "--port")
      args.port = std::stoi(value);
    else if (name == "--agents")
      args.agents = std::stoul(value);
    else if (name == "--requests")
      args.requests = std::stoul(value);
    else if (name == "--threads")
      args.threads = std::stoul(value);
    else if (name == "--ids")
      args.ids_path = value;
    else if (name == "--token")
      args.enrollment_token = value;
    else
      return false;
  }
  return args.mode == "register" || args.mode == "heartbeat";
}

struct Totals {
  std::vector<double> latencies_ms;
  std::size_t failures = 0;
  std::map<std::string, std::size_t> failure_kinds;  ///< "status 503" or the httplib error.
};

// What went wrong with one answer, or empty if it had an expected status.
std::string failure_of(const httplib::Result& answer, std::initializer_list<int> expected) {
  if (!answer) return httplib::to_string(answer.error());
  for (int status : expected) {
    if (answer->status == status) return {};
  }
  return fmt::format("status {}", answer->status);
}

// Runs `count` requests spread over `threads` threads; `request(client, index)`
// sends one and returns what went wrong, or empty on success.
template <class Request>
Totals run(const Args& args, std::size_t count, Request request, double& seconds) {
  std::atomic<std::size_t> next{0};
  std::vector<Totals> per_thread(args.threads);
  const auto started = Clock::now();
  std::vector<std::thread> threads;
  for (std::size_t thread_idx = 0; thread_idx < args.threads; ++thread_idx) {
    threads.emplace_back([&, thread_idx] {
      httplib::Client client("127.0.0.1", args.port);
      client.set_keep_alive(true);
      client.set_tcp_nodelay(true);
      client.set_read_timeout(30, 0);
      Totals& totals = per_thread[thread_idx];
      for (std::size_t index = next++; index < count; index = next++) {
        const auto sent = Clock::now();
        const std::string failure = request(client, index);
        totals.latencies_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - sent).count());
        if (!failure.empty()) {
          ++totals.failures;
          ++totals.failure_kinds[failure];
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  seconds = std::chrono::duration<double>(Clock::now() - started).count();
  Totals all;
  for (auto& totals : per_thread) {
    all.latencies_ms.insert(all.latencies_ms.end(), totals.latencies_ms.begin(), totals.latencies_ms.end());
    all.failures += totals.failures;
    for (const auto& [kind, count] : totals.failure_kinds) all.failure_kinds[kind] += count;
  }
  std::sort(all.latencies_ms.begin(), all.latencies_ms.end());
  return all;
}

double percentile(const std::vector<double>& sorted, double fraction) {
  if (sorted.empty()) return 0;
  return sorted[std::min(sorted.size() - 1, static_cast<std::size_t>(fraction * sorted.size()))];
}

void report(const Args& args, std::size_t count, const Totals& totals, double seconds) {
  const nlohmann::json line = {{"mode", args.mode},
                               {"requests", count},
                               {"threads", args.threads},
                               {"failures", totals.failures},
                               {"failure_kinds", totals.failure_kinds},
                               {"seconds", seconds},
                               {"per_second", count / seconds},
                               {"p50_ms", percentile(totals.latencies_ms, 0.50)},
                               {"p99_ms", percentile(totals.latencies_ms, 0.99)},
                               {"max_ms", totals.latencies_ms.empty() ? 0 : totals.latencies_ms.back()}};
  std::puts(line.dump().c_str());
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  if (!parse_args(argc, argv, args)) {
    std::fputs(
        "usage: muster_load register --port P --agents N --token T [--threads T] [--ids FILE]\n"
        "       muster_load heartbeat --port P --ids FILE --requests N [--threads T]\n",
        stderr);
    return 2;
  }
  double seconds = 0;
  if (args.mode == "register") {
    std::vector<AgentCredential> agents(args.agents);
    const httplib::Headers enrollment = {{"Authorization", "Bearer " + args.enrollment_token}};
    const std::string run_tag = fmt::format("{:x}", Clock::now().time_since_epoch().count());
    const Totals totals = run(
        args, args.agents,
        [&](httplib::Client& client, std::size_t index) {
          const std::string body = fmt::format(
              R"({{"instance_id":"bench-{}-{}","name":"agent-{}","hostname":"host-{}.bench","version":"1.0","type":"bench","labels":{{"shard":"{}"}}}})",
              run_tag, index, index, index, index % 16);
          auto answer = client.Post("/api/v1/agents/register", enrollment, body, "application/json");
          std::string failure = failure_of(answer, {200, 201});
          if (failure.empty()) {
            const auto registered = nlohmann::json::parse(answer->body);
            agents[index] = {registered.at("agent_id"), registered.value("agent_token", "")};
          }
          return failure;
        },
        seconds);
    report(args, args.agents, totals, seconds);
    if (!args.ids_path.empty()) {
      std::ofstream out(args.ids_path);
      for (const AgentCredential& agent : agents) {
        if (!agent.agent_id.empty()) out << agent.agent_id << ' ' << agent.token << '\n';
      }
    }
    return totals.failures == 0 ? 0 : 1;
  }
  std::vector<AgentCredential> agents;
  std::ifstream in(args.ids_path);
  for (AgentCredential agent; in >> agent.agent_id;) {
    if (in.peek() == ' ') in >> agent.token;
    agents.push_back(agent);
    agent.token.clear();
  }
  if (agents.empty()) {
    std::fputs("no agent ids to heartbeat\n", stderr);
    return 2;
  }
  const Totals totals = run(
      args, args.requests,
      [&](httplib::Client& client, std::size_t index) {
        const AgentCredential& agent = agents[index % agents.size()];
        const std::string path = "/api/v1/agents/" + agent.agent_id + "/heartbeat";
        httplib::Headers headers;
        if (!agent.token.empty()) headers.emplace("Authorization", "Bearer " + agent.token);
        return failure_of(client.Post(path, headers, R"({"status":"online"})", "application/json"), {200});
      },
      seconds);
  report(args, args.requests, totals, seconds);
  return totals.failures == 0 ? 0 : 1;
}
