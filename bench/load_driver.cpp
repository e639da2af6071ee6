/// muster_load: a bounded HTTP load generator for muster's benchmarks.
///
///   muster_load register  --port P --agents N --token ENROLLMENT_TOKEN [--threads T] [--ids FILE]
///   muster_load heartbeat --port P --ids FILE --requests N [--threads T]
///   muster_load pace      --port P --ids FILE --rate R --seconds S [--silent-every K] [--threads T]
///   muster_load query     --port P --key API_KEY --paths P1,P2 --rate R --seconds S
///   muster_load offline-report --ids FILE --silent-every K --events REPLAY.jsonl
///   muster_load fetch     --port P --ids FILE --requests N --etag HASH [--threads T]
///   muster_load propagate --port P --ids FILE --rate R --seconds S --admin-port P2 --key API_KEY
///                         --group NAME --config NAME [--threads T]
///   muster_load longpoll  --port P --ids FILE --pollers N --seconds S --admin-port P2 --key API_KEY
///                         [--wait DURATION] [--threads T]
///   muster_load batchbeat --port P --ids FILE --seconds S --admin-port P2 --key API_KEY
///                         --selector JSON [--threads T]
///   muster_load streams   --port P --key ADMIN_KEY --streams N --seconds S --rate R
///
/// `register` writes "<agent_id> <agent_token>" lines to FILE; `heartbeat`
/// sends each agent's token (a line without one sends none, for servers that
/// predate agent authentication).
///
/// `pace` heartbeats the agents of FILE in order at a steady R per second for
/// S seconds, skipping every K-th agent (they stay silent); its latencies run
/// from when each heartbeat was due, so falling behind shows. `query` GETs the
/// paths in turn at R per second and prints one line per path.
/// `offline-report` reads `muster replay --format jsonl` and reports, for
/// every AgentWentOffline, how long after the agent's deadline (last seen +
/// timeout) it came, and how many went offline that `pace` kept heartbeating.
/// `fetch` is each agent's config poll when nothing changed: GET
/// .../config with If-None-Match: "HASH", expecting 304. `propagate` paces
/// heartbeats like `pace`; after a second it changes the group's assignment
/// on the operators' port (the config, with new settings) and reports how
/// long until 50% and 99% of the agents' heartbeat answers carried a
/// config_version at or past that change's position.
///
/// `longpoll` is commands delivered through the agents' long poll: the first
/// N agents of FILE each hold one connection waiting on GET
/// .../commands?wait=DURATION (default 30s), while T operator threads queue
/// commands to them (POST /api/v1/agents/{id}/commands on the operators'
/// port, round robin) for S seconds; it reports commands delivered per
/// second (from the first queued to the last delivered) and how long each
/// took from being queued to reaching its agent. `batchbeat` heartbeats the
/// agents of FILE as fast as T connections go: S seconds alone, then again
/// while a batch of commands (POST /api/v1/commands {selector, type}) is
/// queued, one for every agent the selector picks, until
/// GET /api/v1/command-batches/{id} says it finished; it reports both
/// heartbeat rates and their ratio.
///
/// `streams` holds N live event streams (GET /api/v1/events/stream, each
/// following the log, read as they come on one thread with poll()) for S
/// seconds while appending R events a second (enrollment tokens, with the
/// admin key), then waits (at most 10 s) for every stream to have received
/// every event appended; it reports how many streams opened and the fewest
/// and most events one received. N 0 appends alone (the baseline).
///
/// Each thread keeps one keep-alive connection. Prints one JSON line with the
/// rate and latency percentiles. Every run is bounded by its count or time and
/// stops by itself.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "common/time_format.hpp"

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
  double rate = 1000;
  double seconds = 10;
  std::size_t silent_every = 0;  ///< 0: none silent.
  std::string api_key;
  std::vector<std::string> paths;
  std::string events_path;
  std::string etag;
  int admin_port = 0;
  std::string group;
  std::string config;
  std::size_t pollers = 100;
  std::string wait = "30s";
  std::string selector;
  std::size_t streams = 200;
};

struct AgentCredential {
  std::string agent_id;
  std::string token;
};

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (std::size_t end; (end = text.find(separator, start)) != std::string::npos; start = end + 1) {
    parts.push_back(text.substr(start, end - start));
  }
  parts.push_back(text.substr(start));
  return parts;
}

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
    else if (name == "--rate")
      args.rate = std::stod(value);
    else if (name == "--seconds")
      args.seconds = std::stod(value);
    else if (name == "--silent-every")
      args.silent_every = std::stoul(value);
    else if (name == "--key")
      args.api_key = value;
    else if (name == "--paths")
      args.paths = split(value, ',');
    else if (name == "--events")
      args.events_path = value;
    else if (name == "--etag")
      args.etag = value;
    else if (name == "--admin-port")
      args.admin_port = std::stoi(value);
    else if (name == "--group")
      args.group = value;
    else if (name == "--config")
      args.config = value;
    else if (name == "--pollers")
      args.pollers = std::stoul(value);
    else if (name == "--wait")
      args.wait = value;
    else if (name == "--selector")
      args.selector = value;
    else if (name == "--streams")
      args.streams = std::stoul(value);
    else
      return false;
  }
  return args.mode == "register" || args.mode == "heartbeat" || args.mode == "pace" || args.mode == "query" ||
         args.mode == "offline-report" || args.mode == "fetch" || args.mode == "propagate" ||
         args.mode == "longpoll" || args.mode == "batchbeat" || args.mode == "streams";
}

struct Totals {
  std::vector<double> latencies_ms;
  std::size_t failures = 0;
  std::map<std::string, std::size_t> failure_kinds;  ///< "status 503" or the httplib error.

  /// One answer: its latency since `sent`, and what went wrong (empty: nothing).
  void record(Clock::time_point sent, const std::string& failure) {
    latencies_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - sent).count());
    if (failure.empty()) return;
    ++failures;
    ++failure_kinds[failure];
  }
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
// sends one and returns what went wrong, or empty on success. With `rate`,
// request i is due i / rate seconds after the start, none is sent past
// `args.seconds`, and latencies count from the due time.
template <class Request>
Totals run(const Args& args, std::size_t count, Request request, double& seconds,
           std::optional<double> rate = std::nullopt) {
  std::atomic<std::size_t> next{0};
  std::vector<Totals> per_thread(args.threads);
  const auto started = Clock::now();
  const auto stop_at =
      started + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(args.seconds));
  std::vector<std::thread> threads;
  for (std::size_t thread_idx = 0; thread_idx < args.threads; ++thread_idx) {
    threads.emplace_back([&, thread_idx] {
      httplib::Client client("127.0.0.1", args.port);
      client.set_keep_alive(true);
      client.set_tcp_nodelay(true);
      client.set_read_timeout(30, 0);
      Totals& totals = per_thread[thread_idx];
      for (std::size_t index = next++; index < count; index = next++) {
        auto sent = Clock::now();
        if (rate) {
          sent = started +
                 std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(index / *rate));
          if (sent >= stop_at) break;
          std::this_thread::sleep_until(sent);
        }
        totals.record(sent, request(client, index));
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

nlohmann::json summary(const Args& args, std::size_t count, const Totals& totals, double seconds) {
  return {{"mode", args.mode},
          {"requests", count},
          {"threads", args.threads},
          {"failures", totals.failures},
          {"failure_kinds", totals.failure_kinds},
          {"seconds", seconds},
          {"per_second", count / seconds},
          {"p50_ms", percentile(totals.latencies_ms, 0.50)},
          {"p99_ms", percentile(totals.latencies_ms, 0.99)},
          {"max_ms", totals.latencies_ms.empty() ? 0 : totals.latencies_ms.back()}};
}

int report(const Args& args, std::size_t count, const Totals& totals, double seconds) {
  std::puts(summary(args, count, totals, seconds).dump().c_str());
  return totals.failures == 0 ? 0 : 1;
}

std::vector<AgentCredential> read_agents(const std::string& path) {
  std::vector<AgentCredential> agents;
  std::ifstream in(path);
  for (AgentCredential agent; in >> agent.agent_id;) {
    if (in.peek() == ' ') in >> agent.token;
    agents.push_back(agent);
    agent.token.clear();
  }
  return agents;
}

bool is_silent(const Args& args, std::size_t index) {
  return args.silent_every > 0 && index % args.silent_every == args.silent_every - 1;
}

std::string send_heartbeat(httplib::Client& client, const AgentCredential& agent) {
  const std::string path = "/api/v1/agents/" + agent.agent_id + "/heartbeat";
  httplib::Headers headers;
  if (!agent.token.empty()) headers.emplace("Authorization", "Bearer " + agent.token);
  return failure_of(client.Post(path, headers, R"({"status":"online"})", "application/json"), {200});
}

int register_agents(const Args& args) {
  std::vector<AgentCredential> agents(args.agents);
  const httplib::Headers enrollment = {{"Authorization", "Bearer " + args.enrollment_token}};
  const std::string run_tag = fmt::format("{:x}", Clock::now().time_since_epoch().count());
  double seconds = 0;
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
  if (!args.ids_path.empty()) {
    std::ofstream out(args.ids_path);
    for (const AgentCredential& agent : agents) {
      if (!agent.agent_id.empty()) out << agent.agent_id << ' ' << agent.token << '\n';
    }
  }
  return report(args, args.agents, totals, seconds);
}

int heartbeat(const Args& args) {
  const auto agents = read_agents(args.ids_path);
  if (agents.empty()) {
    std::fputs("no agent ids to heartbeat\n", stderr);
    return 2;
  }
  double seconds = 0;
  const Totals totals = run(
      args, args.requests,
      [&](httplib::Client& client, std::size_t index) {
        return send_heartbeat(client, agents[index % agents.size()]);
      },
      seconds);
  return report(args, args.requests, totals, seconds);
}

int pace(const Args& args) {
  std::vector<AgentCredential> speaking;
  const auto agents = read_agents(args.ids_path);
  for (std::size_t index = 0; index < agents.size(); ++index) {
    if (!is_silent(args, index)) speaking.push_back(agents[index]);
  }
  if (speaking.empty()) {
    std::fputs("no agent ids to heartbeat\n", stderr);
    return 2;
  }
  const auto count = static_cast<std::size_t>(args.rate * args.seconds);
  double seconds = 0;
  const Totals totals = run(
      args, count,
      [&](httplib::Client& client, std::size_t index) {
        return send_heartbeat(client, speaking[index % speaking.size()]);
      },
      seconds, args.rate);
  return report(args, totals.latencies_ms.size(), totals, seconds);
}

int fetch(const Args& args) {
  const auto agents = read_agents(args.ids_path);
  if (agents.empty() || args.etag.empty()) {
    std::fputs("fetch needs agent ids and --etag\n", stderr);
    return 2;
  }
  double seconds = 0;
  const std::string etag = "\"" + args.etag + "\"";
  const Totals totals = run(
      args, args.requests,
      [&](httplib::Client& client, std::size_t index) {
        const AgentCredential& agent = agents[index % agents.size()];
        const httplib::Headers headers = {{"Authorization", "Bearer " + agent.token}, {"If-None-Match", etag}};
        return failure_of(client.Get("/api/v1/agents/" + agent.agent_id + "/config", headers), {304});
      },
      seconds);
  return report(args, args.requests, totals, seconds);
}

int propagate(const Args& args) {
  const auto agents = read_agents(args.ids_path);
  if (agents.empty() || args.admin_port == 0 || args.group.empty() || args.config.empty()) {
    std::fputs("propagate needs agent ids, --admin-port, --group and --config\n", stderr);
    return 2;
  }
  // Per agent: when its first answer at or past the change's position came (0: not yet).
  std::vector<std::atomic<std::int64_t>> seen_at_ns(agents.size());
  std::atomic<std::uint64_t> change_position{0};
  std::atomic<std::int64_t> changed_at_ns{0};
  std::atomic<std::size_t> seen{0};
  double put_ms = 0;
  std::thread changer([&] {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    httplib::Client client("127.0.0.1", args.admin_port);
    client.set_read_timeout(60, 0);
    const nlohmann::json body = {{"config", args.config},
                                 {"settings", {{"bench_change", Clock::now().time_since_epoch().count()}}}};
    const auto sent = Clock::now();
    auto answer = client.Put("/api/v1/groups/" + args.group + "/assignment",
                             {{"Authorization", "Bearer " + args.api_key}}, body.dump(), "application/json");
    put_ms = std::chrono::duration<double, std::milli>(Clock::now() - sent).count();
    if (!answer || answer->status != 200) {
      std::fprintf(stderr, "the assignment change failed: %s\n", answer ? answer->body.c_str() : "no answer");
      return;
    }
    const auto position = nlohmann::json::parse(answer->body, nullptr, false).value("position", std::uint64_t{0});
    changed_at_ns = sent.time_since_epoch().count();
    change_position = position;
  });
  const auto count = static_cast<std::size_t>(args.rate * args.seconds);
  double seconds = 0;
  const Totals totals = run(
      args, count,
      [&](httplib::Client& client, std::size_t index) {
        const std::size_t which = index % agents.size();
        const AgentCredential& agent = agents[which];
        auto answer = client.Post("/api/v1/agents/" + agent.agent_id + "/heartbeat",
                                  {{"Authorization", "Bearer " + agent.token}}, "{}", "application/json");
        std::string failure = failure_of(answer, {200});
        const std::uint64_t position = change_position;
        if (failure.empty() && position != 0 && seen_at_ns[which] == 0) {
          const auto version =
              nlohmann::json::parse(answer->body, nullptr, false).value("config_version", std::uint64_t{0});
          if (version >= position) {
            std::int64_t expected = 0;
            if (seen_at_ns[which].compare_exchange_strong(expected, Clock::now().time_since_epoch().count())) {
              ++seen;
            }
          }
        }
        return failure;
      },
      seconds, args.rate);
  changer.join();
  std::vector<double> delays_ms;
  for (const auto& at : seen_at_ns) {
    if (at != 0) delays_ms.push_back((at - changed_at_ns) / 1e6);
  }
  std::sort(delays_ms.begin(), delays_ms.end());
  const auto share_ms = [&](double share) {
    const auto needed = static_cast<std::size_t>(share * agents.size());
    return needed == 0 || delays_ms.size() < needed ? -1.0 : delays_ms[needed - 1];
  };
  nlohmann::json line = summary(args, totals.latencies_ms.size(), totals, seconds);
  line["agents"] = agents.size();
  line["change_position"] = change_position.load();
  line["change_answered_ms"] = put_ms;
  line["seen"] = seen.load();
  line["seen_50_ms"] = share_ms(0.50);
  line["seen_99_ms"] = share_ms(0.99);
  line["heartbeat_interval_ms"] = 1000.0 * agents.size() / args.rate;
  std::puts(line.dump().c_str());
  return totals.failures == 0 && change_position != 0 ? 0 : 1;
}

std::int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

// Queues a command of `type` for `agent_id` on the operators' port; its
// params carry when it was sent, so its delivery can be timed.
std::string queue_command(httplib::Client& client, const Args& args, const std::string& agent_id,
                          const std::string& type) {
  const nlohmann::json body = {{"type", type}, {"params", {{"sent_ns", steady_ns()}}}};
  return failure_of(
      client.Post("/api/v1/agents/" + agent_id + "/commands", {{"Authorization", "Bearer " + args.api_key}},
                  body.dump(), "application/json"),
      {201});
}

// A client of the operators' port.
void configure_admin(httplib::Client& client) {
  client.set_keep_alive(true);
  client.set_tcp_nodelay(true);
  client.set_read_timeout(60, 0);
}

int longpoll(const Args& args) {
  auto agents = read_agents(args.ids_path);
  if (agents.size() < args.pollers || args.pollers == 0 || args.admin_port == 0 || args.api_key.empty()) {
    std::fputs("longpoll needs at least --pollers agent ids, --admin-port and --key\n", stderr);
    return 2;
  }
  agents.resize(args.pollers);
  std::atomic<bool> stopping{false};
  std::atomic<std::size_t> queued{0};
  std::atomic<std::size_t> delivered{0};
  std::atomic<std::int64_t> last_delivery_ns{0};
  std::vector<Totals> polled(args.pollers);  // per poller: queued-to-delivered latencies, failures
  std::vector<std::thread> pollers;
  for (std::size_t which = 0; which < args.pollers; ++which) {
    pollers.emplace_back([&, which] {
      httplib::Client client("127.0.0.1", args.port);
      client.set_keep_alive(true);
      client.set_tcp_nodelay(true);
      client.set_read_timeout(120, 0);
      const AgentCredential& agent = agents[which];
      const std::string path = "/api/v1/agents/" + agent.agent_id + "/commands?wait=" + args.wait;
      const httplib::Headers headers = {{"Authorization", "Bearer " + agent.token}};
      while (!stopping) {
        auto answer = client.Get(path, headers);
        const std::string failure = failure_of(answer, {200});
        if (!failure.empty()) {
          ++polled[which].failures;
          ++polled[which].failure_kinds[failure];
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
          continue;
        }
        const auto body = nlohmann::json::parse(answer->body, nullptr, false);
        const std::int64_t now = steady_ns();
        const auto commands = body.is_object() ? body.find("commands") : body.end();
        if (commands == body.end() || !commands->is_array() || stopping) continue;
        for (const auto& command : *commands) {
          const auto params = command.find("params");
          if (params == command.end() || !params->is_object() || !params->contains("sent_ns")) continue;
          polled[which].latencies_ms.push_back((now - params->at("sent_ns").get<std::int64_t>()) / 1e6);
          ++delivered;
          last_delivery_ns = now;
        }
      }
    });
  }
  // Every poller waiting before the first command is queued.
  std::this_thread::sleep_for(std::chrono::seconds(1));
  const std::int64_t started_ns = steady_ns();
  const auto stop_at =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(args.seconds));
  std::atomic<std::size_t> next{0};
  std::vector<Totals> queuing(args.threads);
  std::vector<std::thread> queuers;
  for (std::size_t thread_idx = 0; thread_idx < args.threads; ++thread_idx) {
    queuers.emplace_back([&, thread_idx] {
      httplib::Client client("127.0.0.1", args.admin_port);
      configure_admin(client);
      while (Clock::now() < stop_at) {
        const auto sent = Clock::now();
        const std::string failure =
            queue_command(client, args, agents[next++ % agents.size()].agent_id, "bench");
        queuing[thread_idx].record(sent, failure);
        if (failure.empty()) ++queued;
      }
    });
  }
  for (auto& thread : queuers) thread.join();
  // Bounded: what was queued reaches its agents, or 30 s pass.
  for (int waited = 0; delivered < queued && waited < 3000; ++waited) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const double seconds = (std::max(last_delivery_ns.load(), started_ns) - started_ns) / 1e9;
  // Wake every poller with one more command, then let them go.
  stopping = true;
  {
    httplib::Client client("127.0.0.1", args.admin_port);
    configure_admin(client);
    for (const AgentCredential& agent : agents) {
      (void)queue_command(client, args, agent.agent_id, "bench.stop");
    }
  }
  for (auto& thread : pollers) thread.join();
  Totals delivery;
  for (const Totals& totals : polled) {
    delivery.latencies_ms.insert(delivery.latencies_ms.end(), totals.latencies_ms.begin(),
                                 totals.latencies_ms.end());
    delivery.failures += totals.failures;
    for (const auto& [kind, count] : totals.failure_kinds) delivery.failure_kinds["fetch " + kind] += count;
  }
  for (const Totals& totals : queuing) {
    delivery.failures += totals.failures;
    for (const auto& [kind, count] : totals.failure_kinds) delivery.failure_kinds["queue " + kind] += count;
  }
  std::sort(delivery.latencies_ms.begin(), delivery.latencies_ms.end());
  nlohmann::json line = summary(args, delivery.latencies_ms.size(), delivery, seconds > 0 ? seconds : 1e-9);
  line["pollers"] = args.pollers;
  line["queued"] = queued.load();
  line["delivered"] = delivered.load();
  line["delivered_per_second"] = seconds > 0 ? delivered / seconds : 0;
  line["queued_per_second"] = queued / args.seconds;
  std::puts(line.dump().c_str());
  return delivery.failures == 0 && delivered == queued && queued > 0 ? 0 : 1;
}

// Heartbeats the agents as fast as `args.threads` connections go until
// stopped; each thread keeps the steady times its answers came. `args` and
// `agents` must outlive it.
class HeartbeatLoad {
 public:
  HeartbeatLoad(const Args& args, const std::vector<AgentCredential>& agents)
      : answered_ns_(args.threads), totals_(args.threads) {
    for (std::size_t thread_idx = 0; thread_idx < args.threads; ++thread_idx) {
      threads_.emplace_back([this, &args, &agents, thread_idx] {
        httplib::Client client("127.0.0.1", args.port);
        client.set_keep_alive(true);
        client.set_tcp_nodelay(true);
        client.set_read_timeout(30, 0);
        while (running_) {
          const auto sent = Clock::now();
          totals_[thread_idx].record(sent, send_heartbeat(client, agents[next_++ % agents.size()]));
          answered_ns_[thread_idx].push_back(steady_ns());
        }
      });
    }
  }
  ~HeartbeatLoad() { stop(); }

  void stop() {
    running_ = false;
    for (auto& thread : threads_) {
      if (thread.joinable()) thread.join();
    }
  }
  /// Heartbeats answered in [from_ns, to_ns), per second. After stop().
  double rate(std::int64_t from_ns, std::int64_t to_ns) const {
    std::size_t count = 0;
    for (const auto& times : answered_ns_) {
      count += static_cast<std::size_t>(std::count_if(
          times.begin(), times.end(), [&](std::int64_t at) { return at >= from_ns && at < to_ns; }));
    }
    return to_ns > from_ns ? count / ((to_ns - from_ns) / 1e9) : 0;
  }
  /// After stop().
  std::size_t failures() const {
    std::size_t failed = 0;
    for (const Totals& totals : totals_) failed += totals.failures;
    return failed;
  }

 private:
  std::atomic<bool> running_{true};
  std::atomic<std::size_t> next_{0};
  std::vector<std::vector<std::int64_t>> answered_ns_;
  std::vector<Totals> totals_;
  std::vector<std::thread> threads_;
};

int batchbeat(const Args& args) {
  const auto agents = read_agents(args.ids_path);
  const auto selector = nlohmann::json::parse(args.selector, nullptr, false);
  if (agents.empty() || args.admin_port == 0 || args.api_key.empty() || !selector.is_object()) {
    std::fputs("batchbeat needs agent ids, --admin-port, --key and a --selector object\n", stderr);
    return 2;
  }
  const auto seconds_ns = static_cast<std::int64_t>(args.seconds * 1e9);
  // Alone: the heartbeat rate to compare with.
  HeartbeatLoad alone(args, agents);
  const std::int64_t alone_from = steady_ns();
  std::this_thread::sleep_for(std::chrono::nanoseconds(seconds_ns));
  const std::int64_t alone_to = steady_ns();
  alone.stop();
  const double alone_rate = alone.rate(alone_from, alone_to);

  // Again, while one command is queued for every selected agent.
  HeartbeatLoad beside(args, agents);
  std::this_thread::sleep_for(std::chrono::seconds(1));
  httplib::Client client("127.0.0.1", args.admin_port);
  configure_admin(client);
  const httplib::Headers auth = {{"Authorization", "Bearer " + args.api_key}};
  const nlohmann::json body = {{"selector", selector}, {"type", "bench"}};
  const std::int64_t posted_ns = steady_ns();
  auto answer = client.Post("/api/v1/commands", auth, body.dump(), "application/json");
  const double post_ms = (steady_ns() - posted_ns) / 1e6;
  std::string batch_id;
  if (answer && answer->status == 202) {
    batch_id = nlohmann::json::parse(answer->body, nullptr, false).value("batch_id", std::string());
  }
  if (batch_id.empty()) {
    beside.stop();
    std::fprintf(stderr, "the batch was not accepted: %s\n",
                 answer ? (std::to_string(answer->status) + " " + answer->body).c_str() : "no answer");
    return 1;
  }
  // Queued when the batch has gone through every agent it selected
  // (queued or refused), polled every 100 ms; bounded at 10 minutes.
  nlohmann::json last_seen;
  std::int64_t queued_ns = 0;
  for (int polls = 0; polls < 6000 && queued_ns == 0; ++polls) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    auto progress = client.Get("/api/v1/command-batches/" + batch_id, auth);
    if (!progress || progress->status != 200) continue;
    auto batch = nlohmann::json::parse(progress->body, nullptr, false);
    if (!batch.is_object()) continue;
    if (batch.value("state", std::string()) == "finished") queued_ns = steady_ns();
    batch.erase("refusals");  // The counts say enough; this could list thousands of agents.
    last_seen = std::move(batch);
  }
  // At least as long a window as the one alone, so short batches are not measured on a blip.
  const std::int64_t window_to = std::max(queued_ns, posted_ns + seconds_ns);
  std::this_thread::sleep_for(std::chrono::nanoseconds(std::max<std::int64_t>(0, window_to - steady_ns())));
  beside.stop();
  const double beside_rate = beside.rate(posted_ns, window_to);
  nlohmann::json line = {{"mode", args.mode},
                         {"agents", agents.size()},
                         {"threads", args.threads},
                         {"alone_per_second", alone_rate},
                         {"beside_batch_per_second", beside_rate},
                         {"ratio", alone_rate > 0 ? beside_rate / alone_rate : 0},
                         {"batch_id", batch_id},
                         {"batch_answered_ms", post_ms},
                         {"batch_queued_seconds", queued_ns == 0 ? -1.0 : (queued_ns - posted_ns) / 1e9},
                         {"window_seconds", (window_to - posted_ns) / 1e9},
                         {"heartbeat_failures", alone.failures() + beside.failures()},
                         {"batch", last_seen}};
  std::puts(line.dump().c_str());
  return queued_ns != 0 && alone.failures() + beside.failures() == 0 ? 0 : 1;
}

int query(Args args) {
  if (args.paths.empty()) return 2;
  std::vector<Totals> by_path(args.paths.size());
  const httplib::Headers headers = {{"Authorization", "Bearer " + args.api_key}};
  args.threads = 1;
  double seconds = 0;
  run(
      args, static_cast<std::size_t>(args.rate * args.seconds),
      [&](httplib::Client& client, std::size_t index) {
        const std::size_t which = index % args.paths.size();
        const auto sent = Clock::now();
        std::string failure = failure_of(client.Get(args.paths[which], headers), {200});
        by_path[which].record(sent, failure);
        return failure;
      },
      seconds, args.rate);
  std::size_t failures = 0;
  for (std::size_t which = 0; which < args.paths.size(); ++which) {
    Totals& totals = by_path[which];
    std::sort(totals.latencies_ms.begin(), totals.latencies_ms.end());
    auto line = summary(args, totals.latencies_ms.size(), totals, seconds);
    line["path"] = args.paths[which];
    std::puts(line.dump().c_str());
    failures += totals.failures;
  }
  return failures == 0 ? 0 : 1;
}

// Reads `muster replay --format jsonl` for the AgentWentOffline events.
int offline_report(const Args& args) {
  const auto agents = read_agents(args.ids_path);
  std::unordered_map<std::string, bool> silent;  // agent id -> was it left silent
  for (std::size_t index = 0; index < agents.size(); ++index)
    silent[agents[index].agent_id] = is_silent(args, index);
  std::ifstream in(args.events_path);
  std::vector<double> lags_ms;
  std::size_t wrongly_offline = 0;
  std::size_t expected_offline = 0;
  for (const auto& [agent_id, left_silent] : silent) expected_offline += left_silent ? 1 : 0;
  for (std::string line; std::getline(in, line);) {
    if (line.find("\"AgentWentOffline\"") == std::string::npos) continue;
    const auto event = nlohmann::json::parse(line);
    // Agent streams are "agent:<id>" (a bare id in data directories from before stream kinds).
    std::string agent_id = event.at("stream").get<std::string>();
    if (agent_id.rfind("agent:", 0) == 0) agent_id.erase(0, 6);
    const auto known = silent.find(agent_id);
    if (known == silent.end()) continue;
    if (!known->second) {
      ++wrongly_offline;
      continue;
    }
    const auto time_ms = muster::parse_rfc3339(event.at("time").get<std::string>());
    if (!time_ms) return 2;
    const auto& data = event.at("data");
    const double deadline_ms = data.at("last_seen").get<double>() + data.at("timeout_ms").get<double>();
    lags_ms.push_back(static_cast<double>(*time_ms) - deadline_ms);
  }
  std::sort(lags_ms.begin(), lags_ms.end());
  const nlohmann::json line = {{"mode", args.mode},
                               {"silent_agents", expected_offline},
                               {"went_offline", lags_ms.size()},
                               {"wrongly_offline", wrongly_offline},
                               {"lag_p50_ms", percentile(lags_ms, 0.50)},
                               {"lag_p99_ms", percentile(lags_ms, 0.99)},
                               {"lag_max_ms", lags_ms.empty() ? 0 : lags_ms.back()}};
  std::puts(line.dump().c_str());
  return 0;
}

// One live event stream over a plain socket: counts the SSE events received
// (their "\nevent: " lines; a piece is whole events, so a chunk's framing
// never splits one, but a read may: the tail of the last read is kept).
struct EventStreamReader {
  int fd = -1;
  bool open = false;
  std::size_t events = 0;
  std::string tail;

  void take(const char* data, std::size_t size) {
    static constexpr std::string_view kMark = "\nevent: ";
    std::string text = tail + std::string(data, size);
    for (std::size_t at = text.find(kMark); at != std::string::npos; at = text.find(kMark, at + 1)) ++events;
    tail = text.substr(text.size() > kMark.size() ? text.size() - kMark.size() + 1 : 0);
  }
};

int streams(const Args& args) {
  std::vector<EventStreamReader> readers(args.streams);
  const std::string request = fmt::format(
      "GET /api/v1/events/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\n\r\n", args.api_key);
  for (EventStreamReader& reader : readers) {
    reader.fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(args.port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (reader.fd < 0 || ::connect(reader.fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::send(reader.fd, request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size())) {
      continue;
    }
    // The answer's head: 200 before anything is appended.
    std::string head;
    char buffer[4096];
    while (head.find("\r\n\r\n") == std::string::npos) {
      const ssize_t got = ::recv(reader.fd, buffer, sizeof buffer, 0);
      if (got <= 0) break;
      head.append(buffer, static_cast<std::size_t>(got));
    }
    reader.open = head.rfind("HTTP/1.1 200", 0) == 0;
  }
  const std::size_t opened =
      std::count_if(readers.begin(), readers.end(), [](const EventStreamReader& reader) { return reader.open; });

  std::atomic<bool> appending{true};
  std::atomic<std::size_t> appended{0};
  std::atomic<std::size_t> append_failures{0};
  std::thread appender([&] {
    httplib::Client client("127.0.0.1", args.port);
    client.set_keep_alive(true);
    const httplib::Headers headers{{"Authorization", "Bearer " + args.api_key}};
    const auto start = Clock::now();
    for (std::size_t index = 0; Clock::now() - start < std::chrono::duration<double>(args.seconds); ++index) {
      std::this_thread::sleep_until(start + std::chrono::duration<double>(index / args.rate));
      const auto answer = client.Post("/api/v1/enrollment-tokens", headers,
                                      fmt::format(R"({{"name":"stream-{}"}})", index), "application/json");
      ++(answer && answer->status == 201 ? appended : append_failures);
    }
    appending = false;
  });

  std::vector<pollfd> polled;
  std::vector<EventStreamReader*> polled_readers;
  for (EventStreamReader& reader : readers) {
    if (!reader.open) continue;
    polled.push_back(pollfd{reader.fd, POLLIN, 0});
    polled_readers.push_back(&reader);
  }
  const auto all_received = [&] {
    return std::all_of(polled_readers.begin(), polled_readers.end(),
                       [&](const EventStreamReader* reader) { return reader->events >= appended.load(); });
  };
  std::optional<Clock::time_point> settle_deadline;
  char buffer[16384];
  while (true) {
    if (!appending && !settle_deadline) settle_deadline = Clock::now() + std::chrono::seconds(10);
    if (settle_deadline && (all_received() || Clock::now() > *settle_deadline)) break;
    if (polled.empty()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      continue;
    }
    if (::poll(polled.data(), polled.size(), 50) <= 0) continue;
    for (std::size_t index = 0; index < polled.size(); ++index) {
      if ((polled[index].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      const ssize_t got = ::recv(polled[index].fd, buffer, sizeof buffer, 0);
      if (got <= 0) {
        polled[index].fd = -1;  // poll skips it from now on
        continue;
      }
      polled_readers[index]->take(buffer, static_cast<std::size_t>(got));
    }
  }
  appender.join();
  std::size_t fewest = polled_readers.empty() ? 0 : SIZE_MAX;
  std::size_t most = 0;
  for (const EventStreamReader* reader : polled_readers) {
    fewest = std::min(fewest, reader->events);
    most = std::max(most, reader->events);
  }
  for (EventStreamReader& reader : readers) {
    if (reader.fd >= 0) ::close(reader.fd);
  }
  const nlohmann::json line = {{"mode", args.mode},         {"streams", args.streams},
                               {"opened", opened},          {"appended", appended.load()},
                               {"append_failures", append_failures.load()},
                               {"fewest_received", fewest}, {"most_received", most}};
  std::puts(line.dump().c_str());
  const bool delivered = polled_readers.empty() || fewest == appended.load();
  return opened == args.streams && append_failures == 0 && delivered ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  if (!parse_args(argc, argv, args)) {
    std::fputs(
        "usage: muster_load register --port P --agents N --token T [--threads T] [--ids FILE]\n"
        "       muster_load heartbeat --port P --ids FILE --requests N [--threads T]\n"
        "       muster_load pace --port P --ids FILE --rate R --seconds S [--silent-every K] [--threads T]\n"
        "       muster_load query --port P --key API_KEY --paths P1,P2 --rate R --seconds S\n"
        "       muster_load offline-report --ids FILE --silent-every K --events REPLAY.jsonl\n"
        "       muster_load fetch --port P --ids FILE --requests N --etag HASH [--threads T]\n"
        "       muster_load propagate --port P --ids FILE --rate R --seconds S --admin-port P2 --key K\n"
        "                             --group NAME --config NAME [--threads T]\n"
        "       muster_load longpoll --port P --ids FILE --pollers N --seconds S --admin-port P2 --key K\n"
        "                            [--wait DURATION] [--threads T]\n"
        "       muster_load batchbeat --port P --ids FILE --seconds S --admin-port P2 --key K\n"
        "                             --selector JSON [--threads T]\n"
        "       muster_load streams --port P --key ADMIN_KEY --streams N --seconds S --rate R\n",
        stderr);
    return 2;
  }
  if (args.mode == "register") return register_agents(args);
  if (args.mode == "heartbeat") return heartbeat(args);
  if (args.mode == "pace") return pace(args);
  if (args.mode == "query") return query(args);
  if (args.mode == "fetch") return fetch(args);
  if (args.mode == "propagate") return propagate(args);
  if (args.mode == "longpoll") return longpoll(args);
  if (args.mode == "batchbeat") return batchbeat(args);
  if (args.mode == "streams") return streams(args);
  return offline_report(args);
}
