// Several muster nodes on one NATS JetStream log (README "Running several
// nodes"): bad configurations refused before anything is written; one node
// riding out NATS going away; a leader that lost its lease stepping down;
// any node answering, and the leader's death
// moving the fleet to another node without losing an acknowledged write or
// marking a heartbeating agent offline. Real nats-server and real muster
// processes on loopback.

#include <csignal>
#include <filesystem>
#include <set>

#include "tests/e2e/e2e_helpers.hpp"
#include "tests/e2e/raw_websocket.hpp"
#include "tests/support/nats_server.hpp"
#include "tests/support/tcp_proxy.hpp"

namespace muster::e2e {
namespace {

using testing::NatsCluster;
using testing::NatsServer;

/// `serve` flags for a node `node_id` of the stream on `url`.
std::vector<std::string> node_args(const std::string& url, const std::string& node_id, int replicas,
                                   std::vector<std::string> more = {}) {
  // On one nats-server a short lease keeps the tests quick; on a cluster the
  // lease must outlast NATS's own failover (a new stream leader takes seconds):
  // 15 s, the default.
  std::vector<std::string> args{"--store",         "nats",
                                "--nats-url",      url,
                                "--node-id",       node_id,
                                "--nats-replicas", std::to_string(replicas),
                                "--lease-period",  replicas < 3 ? "1s" : "15s"};
  if (replicas < 3) args.push_back("--allow-unreplicated");
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

/// Starts a node whose data directory holds `admin_key_of`'s bootstrap key
/// (only the first leader writes one; the key is in the shared log).
std::unique_ptr<MusterServer> start_node(const std::string& data_dir, std::vector<std::string> args,
                                         const MusterServer* admin_key_of = nullptr) {
  if (admin_key_of != nullptr) {
    std::filesystem::create_directories(data_dir);
    std::ofstream(data_dir + "/admin.key") << admin_key_of->admin_key() << "\n";
  }
  return std::make_unique<MusterServer>(data_dir, std::move(args));
}

/// `muster serve` run to its end with `args` (it must refuse to start).
CommandResult refused_serve(const std::string& data_dir, std::vector<std::string> args) {
  args.insert(args.begin(), {"serve", "--data", data_dir, "--listen", "127.0.0.1:0", "--agent-listen", "127.0.0.1:0"});
  return run_muster(args, std::chrono::seconds(30));
}

/// Sends a heartbeat through `server` until one answers 200 (a failover
/// answers 503 NO_LEADER meanwhile); false if none did within `within`.
bool heartbeat_gets_through(const MusterServer& server, const std::string& agent_id,
                            std::chrono::milliseconds within) {
  return eventually(
      [&] { return server.post("/api/v1/agents/" + agent_id + "/heartbeat", "{}").status == 200; }, within);
}

json cluster_of(const MusterServer& server) {
  return get_json(server, "/api/v1/cluster");
}

/// Two nodes on one nats-server: `a` leads, `b` follows. The lease is long,
/// so that a leader frozen by a test (SIGSTOP) keeps it: `b` cannot take over.
struct LeaderAndFollower {
  NatsServer nats;
  TempDir dir;
  std::unique_ptr<MusterServer> a;
  std::unique_ptr<MusterServer> b;

  explicit LeaderAndFollower(std::vector<std::string> more = {}) {
    more.insert(more.end(), {"--lease-period", "60s"});
    a = start_node(dir.file("a"), node_args(nats.url(), "a", 1, more));
    b = start_node(dir.file("b"), node_args(nats.url(), "b", 1, more), a.get());
    REQUIRE(cluster_of(*b).at("leader") == "a");
  }
};

}  // namespace

TEST_CASE("cluster: bad configurations are refused with a message that says what to change, and nothing is written") {
  NatsServer nats;
  TempDir dir;

  SUBCASE("an unknown store, a missing node id, too few replicas") {
    auto unknown = refused_serve(dir.file("a"), {"--store", "mongo"});
    CHECK(unknown.exit_code == 2);
    CHECK(unknown.err.find("--store") != std::string::npos);
    auto no_id = refused_serve(dir.file("a"), {"--store", "nats", "--nats-url", nats.url()});
    CHECK(no_id.exit_code == 2);
    CHECK(no_id.err.find("--node-id") != std::string::npos);
    auto one_replica =
        refused_serve(dir.file("a"), {"--store", "nats", "--nats-url", nats.url(), "--node-id", "a", "--nats-replicas", "1"});
    CHECK(one_replica.exit_code == 2);
    CHECK(one_replica.err.find("--allow-unreplicated") != std::string::npos);
  }
  SUBCASE("NATS unreachable: the URL is named, also after --nats-wait") {
    auto unreachable = refused_serve(dir.file("a"), node_args("nats://127.0.0.1:1", "a", 1, {"--nats-wait", "600ms"}));
    CHECK(unreachable.exit_code == 1);
    CHECK(unreachable.err.find("nats://127.0.0.1:1") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(dir.file("a")));
  }
  SUBCASE("a second node with a live node's id, and a node asking for other replicas than the stream has") {
    MusterServer first(dir.file("a"), node_args(nats.url(), "a", 1));
    auto same_id = refused_serve(dir.file("b"), node_args(nats.url(), "a", 1));
    CHECK(same_id.exit_code == 1);
    CHECK(same_id.err.find("another node with id") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(dir.file("b")));
    auto other_replicas = refused_serve(dir.file("c"), node_args(nats.url(), "c", 3));
    CHECK(other_replicas.exit_code == 1);
    CHECK(other_replicas.err.find("1 replica(s)") != std::string::npos);
    CHECK(cluster_of(first).at("nodes").size() == 1);
  }
}

TEST_CASE("cluster: one node on NATS keeps its fleet across a restart, and answers 503 while NATS is away") {
  NatsServer nats;
  TempDir dir;
  // NATS stays away for seconds (a write in flight when it dies waits out its
  // 5 s publish timeout): well within this lease, which the leader keeps.
  const std::vector<std::string> lease{"--lease-period", "60s"};
  auto node = start_node(dir.file("a"), node_args(nats.url(), "a", 1, lease));
  // Evaluated only when a check fails: what the node said about it.
  INFO("the node's log:\n" << node->log_text());
  const Registered agent = register_agent(*node, "nats-one");
  const std::string key = node->admin_key();
  node->terminate();
  node = start_node(dir.file("a"), node_args(nats.url(), "a", 1, lease));
  CHECK(get_agent(*node, agent.agent_id).at("instance_id") == "nats-one");
  CHECK(cluster_of(*node).at("leader") == "a");

  nats.kill9();
  const HttpAnswer refused = node->post("/api/v1/enrollment-tokens", R"({"name":"while-away"})");
  CHECK(refused.status == 503);
  CHECK(refused.json.value("code", "") == "STORAGE_UNAVAILABLE");
  CHECK_FALSE(header_of(refused, "Retry-After").empty());
  // Reads go on from the node's read models.
  CHECK(get_agent(*node, agent.agent_id).at("instance_id") == "nats-one");

  nats.restart();
  CHECK(eventually(
      [&] { return node->post("/api/v1/enrollment-tokens", R"({"name":"after"})").status == 201; },
      std::chrono::seconds(20)));
}

TEST_CASE("cluster: a leader out of reach of NATS for a whole lease period steps down, answers reads, and writes "
          "again once it takes the lease back") {
  NatsServer nats;
  TempDir dir;
  MusterServer node(dir.file("a"), node_args(nats.url(), "a", 1));
  INFO("the node's log:\n" << node.log_text());
  REQUIRE(eventually([&] { return cluster_of(node).at("leader") == "a"; }));
  node.enrollment_token();
  node.use_agents_listener(true);
  const Registered agent = register_agent(node, "away");
  node.use_agents_listener(false);

  // Another node could hold the lease by now, as far as this one knows: it writes nothing more.
  nats.kill9();
  CHECK(eventually([&] { return node.log_text().find("this node stepped down") != std::string::npos; },
                   std::chrono::seconds(30)));
  const HttpAnswer refused = node.post("/api/v1/enrollment-tokens", R"({"name":"stepped-down"})");
  CHECK(refused.status == 503);
  CHECK(refused.json.value("code", "") == "STORAGE_UNAVAILABLE");
  CHECK_FALSE(header_of(refused, "Retry-After").empty());
  // Reads go on, and so do the heartbeats that change nothing.
  CHECK(get_agent(node, agent.agent_id).at("instance_id") == "away");
  node.use_agents_listener(true);
  CHECK(heartbeat(node, agent.agent_id).at("status") == "ONLINE");
  node.use_agents_listener(false);

  // Nobody took the lease meanwhile: the node takes it back and goes on where it stopped.
  nats.restart();
  CHECK(eventually(
      [&] { return node.post("/api/v1/enrollment-tokens", R"({"name":"back"})").status == 201; },
      std::chrono::seconds(30)));
  CHECK(node.log_text().find("this node leads again") != std::string::npos);
  CHECK(cluster_of(node).at("leader") == "a");
  CHECK(node.terminate() == 0);
}

TEST_CASE("cluster: a leader cut off from NATS steps down and answers reads, and stops with exit 1 once another "
          "node leads") {
  NatsServer nats;
  TempDir dir;
  // Node a reaches NATS only through this link, which the test cuts: node b still reaches it.
  testing::TcpProxy link(nats.port());
  auto a = start_node(dir.file("a"), node_args(link.nats_url(), "a", 1));
  INFO("a's log:\n" << a->log_text());
  auto b = start_node(dir.file("b"), node_args(nats.url(), "b", 1), a.get());
  REQUIRE(cluster_of(*b).at("leader") == "a");
  a->enrollment_token();
  a->use_agents_listener(true);
  const Registered agent = register_agent(*a, "partitioned");
  a->use_agents_listener(false);

  link.cut();
  CHECK(eventually([&] { return a->log_text().find("this node stepped down") != std::string::npos; },
                   std::chrono::seconds(30)));
  // The lease expires a period after a's last renewal, and b takes it.
  CHECK(eventually([&] { return cluster_of(*b).at("leader") == "b"; }, std::chrono::seconds(30)));
  CHECK(b->post("/api/v1/enrollment-tokens", R"({"name":"on-b"})").status == 201);
  // Cut off, a still answers reads from what it holds, and writes nothing.
  CHECK(get_agent(*a, agent.agent_id).at("instance_id") == "partitioned");
  CHECK(a->post("/api/v1/enrollment-tokens", R"({"name":"on-a"})").status == 503);

  // Back in reach, a finds b leading: it stops, for its service manager to start it again as a follower.
  link.restore();
  CHECK(eventually([&] { return a->log_text().find("\"msg\":\"stopped\"") != std::string::npos; },
                   std::chrono::seconds(30)));
  CHECK(a->log_text().find("another node leads now") != std::string::npos);
  CHECK(a->terminate() == 1);
  a = start_node(dir.file("a"), node_args(nats.url(), "a", 1));
  CHECK(cluster_of(*a).at("leader") == "b");
  CHECK(get_agent(*a, agent.agent_id).at("instance_id") == "partitioned");
}

TEST_CASE("cluster: any node answers, and the leader's death moves the fleet without an agent going offline") {
  NatsServer nats;
  TempDir dir;
  const std::vector<std::string> timeout{"--heartbeat-timeout", "4s"};
  auto a = start_node(dir.file("a"), node_args(nats.url(), "a", 1, timeout));
  auto b = start_node(dir.file("b"), node_args(nats.url(), "b", 1, timeout), a.get());

  const json seen_by_b = cluster_of(*b);
  CHECK(seen_by_b.at("leader") == "a");
  CHECK(seen_by_b.at("nodes").size() == 2);

  // Registered and heartbeating through the node that does not lead: forwarded.
  b->enrollment_token();
  b->use_agents_listener(true);
  std::vector<std::string> agents;
  for (int index = 0; index < 10; ++index) agents.push_back(register_agent(*b, fmt::format("ha-{}", index)).agent_id);
  for (const auto& agent : agents) heartbeat(*b, agent);
  b->use_agents_listener(false);
  CHECK(list_agents(*b).size() == agents.size());

  // The fleet runs on a for longer than a heartbeat timeout: b, which never
  // heard a heartbeat itself, must not hold that against the agents when it takes over.
  const auto keep_until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < keep_until) {
    for (const auto& agent : agents) heartbeat(*b, agent);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  a->kill9();
  // b takes the lease within a lease period (1 s) and a poll, and its heartbeats get through again.
  for (const auto& agent : agents) CHECK(heartbeat_gets_through(*b, agent, std::chrono::seconds(10)));
  CHECK(cluster_of(*b).at("leader") == "b");

  // Past a whole heartbeat timeout after the takeover, agents that kept
  // heartbeating are all ONLINE, and none was ever marked offline.
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(6);
  while (std::chrono::steady_clock::now() < until) {
    for (const auto& agent : agents) CHECK(heartbeat_gets_through(*b, agent, std::chrono::seconds(5)));
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  for (const auto& agent : agents) CHECK(get_agent(*b, agent).at("status") == "ONLINE");
  for (const json& event : log_events(*b, "type=AgentWentOffline")) {
    CHECK_MESSAGE(false, "an agent went offline: " << event.dump());
  }

  // The old leader comes back as a follower and forwards to the new one.
  a = start_node(dir.file("a"), node_args(nats.url(), "a", 1, timeout));
  CHECK(cluster_of(*a).at("leader") == "b");
  CHECK(list_agents(*a).size() == agents.size());
}

TEST_CASE("cluster: a follower answers reads of the read models itself, a write it forwarded included, also while "
          "the leader is frozen") {
  LeaderAndFollower nodes;
  MusterServer* a = nodes.a.get();
  MusterServer* b = nodes.b.get();

  // Written through the follower (the leader decides), then read there at
  // once: the follower answered the write once its read models held it.
  for (int index = 0; index < 20; ++index) {
    const std::string name = fmt::format("through-b-{}", index);
    const HttpAnswer made = b->post(
        "/api/v1/configs",
        json{{"name", name}, {"kind", "config"}, {"files", collector_files("a: 1\n")}, {"message", "first"}}.dump());
    REQUIRE(made.status == 201);
    CHECK(header_of(made, "X-Muster-Position").empty());  // Between the nodes only.
    CHECK(made.headers.count("X-Request-Id") == 1);
    CHECK(b->get("/api/v1/configs/" + name).status == 200);
  }

  // Frozen, the leader answers nothing (a forwarded request would wait out
  // the forwarding timeout): the follower's reads of its read models go on.
  ::kill(a->pid(), SIGSTOP);
  const HttpAnswer configs = b->get("/api/v1/configs");
  CHECK(configs.status == 200);
  CHECK(configs.json.at("configs").size() == 20);
  CHECK(b->get("/api/v1/events?limit=5").status == 200);
  CHECK(b->get("/api/v1/api-keys").status == 200);
  ::kill(a->pid(), SIGCONT);
}

TEST_CASE("cluster: a follower lists and counts the fleet itself, with the last-seen times the leader saved, also "
          "while the leader is frozen") {
  LeaderAndFollower nodes;
  MusterServer* a = nodes.a.get();
  MusterServer* b = nodes.b.get();
  a->enrollment_token();
  const std::string agent = register_agent(*a, "followed", {{"labels", {{"tier", "web"}}}}).agent_id;
  REQUIRE(a->post("/api/v1/groups", json{{"name", "web"}, {"selector", {{"tier", "web"}}}}.dump()).status == 201);
  REQUIRE(a->post("/api/v1/configs", json{{"name", "edge"},
                                          {"kind", "config"},
                                          {"files", collector_files("a: 1\n")},
                                          {"message", "first"}}
                                         .dump())
              .status == 201);

  // A heartbeat that changes nothing is no event: the follower learns its
  // time only from the bucket the leader saves last-seen times in.
  const std::string registered_at = get_agent(*a, agent).at("registered_at").get<std::string>();
  std::string heard;
  REQUIRE(eventually(
      [&] {
        heartbeat(*a, agent);
        heard = get_agent(*a, agent).at("last_seen").get<std::string>();
        return heard != registered_at;
      },
      std::chrono::seconds(5)));
  const auto seen_by_b = [&] {
    const std::vector<json> listed = list_agents(*b);
    return listed.size() == 1 ? listed[0].at("last_seen").get<std::string>() : std::string();
  };
  CHECK(eventually([&] { return seen_by_b() == heard; }, std::chrono::seconds(15)));

  // Frozen, the leader answers nothing: the follower lists and counts from what it holds.
  ::kill(a->pid(), SIGSTOP);
  CHECK(seen_by_b() == heard);
  const json counts = stats(*b);
  CHECK(counts.at("total") == 1);
  CHECK(counts.at("by_status").at("ONLINE") == 1);
  CHECK(get_json(*b, "/api/v1/stats?health=true").at("by_health").at("offline") == 0);
  const json members = get_json(*b, "/api/v1/groups/web/agents");
  REQUIRE(members.at("agents").size() == 1);
  CHECK(members.at("agents")[0].at("agent_id") == agent);
  CHECK(get_json(*b, "/api/v1/configs/edge/status").at("name") == "edge");
  ::kill(a->pid(), SIGCONT);
  // An agent's latest metrics are the leader's alone: forwarded.
  CHECK(get_agent(*b, agent).at("agent_id") == agent);
}

TEST_CASE("cluster: a WebSocket opened on a follower is relayed to the leader message by message, OpAMP's "
          "included, and a refused one never opens") {
  LeaderAndFollower nodes({"--enable-test-hooks"});
  MusterServer& a = *nodes.a;
  MusterServer& b = *nodes.b;
  const std::string admin = "Authorization: Bearer " + a.admin_key() + "\r\n";
  constexpr const char* kEcho = "/_test/websocket/echo";

  // The follower refuses what the leader would, before anything opens.
  RawWebSocket refused(b.port(), kEcho, "Authorization: Bearer wrong\r\n");
  CHECK(refused.status == 401);
  CHECK(refused.body.at("code") == "INVALID_API_KEY");

  {
    RawWebSocket socket(b.port(), kEcho, admin);
    REQUIRE(socket.status == 101);
    // Sent at once, before the relay's own WebSocket to the leader is open: held, and sent in order.
    for (int index = 0; index < 20; ++index) socket.send_text(fmt::format("message {}", index));
    for (int index = 0; index < 20; ++index) {
      const auto echoed = socket.read_message();
      REQUIRE(echoed.has_value());
      CHECK(echoed->payload == fmt::format("message {}", index));
    }
    // The leader's route holds the conversation: its count of connections
    // (the follower's own echo route saw none), and what it pushes from its own thread.
    socket.send_text("stats");
    const auto stats = socket.read_message();
    REQUIRE(stats.has_value());
    CHECK(stats->payload == "opened 1 closed 0");
    socket.send_text("push:3");
    for (int index = 0; index < 3; ++index) {
      const auto pushed = socket.read_message();
      REQUIRE(pushed.has_value());
      CHECK(pushed->payload == fmt::format("pushed {}", index));
    }
    // The leader's close reaches the client with its code.
    socket.send_text("close:1001");
    CHECK_FALSE(socket.read_message().has_value());
    REQUIRE(socket.close_frame.has_value());
    CHECK(socket.close_frame->close_code() == 1001);
  }
  {
    // The client's close ends the leader's end too.
    RawWebSocket socket(b.port(), kEcho, admin);
    REQUIRE(socket.status == 101);
    socket.send_text("stats");
    REQUIRE(socket.read_message().has_value());
    socket.send_frame(kClose, std::string("\x03\xe8", 2));
    CHECK_FALSE(socket.read_message().has_value());
  }
  // Asked of the leader itself: every connection its route saw but this one has closed.
  CHECK(eventually(
      [&] {
        RawWebSocket socket(a.port(), kEcho, admin);
        socket.send_text("stats");
        const auto stats = socket.read_message();
        int opened = 0;
        int closed = 0;
        return stats && std::sscanf(stats->payload.c_str(), "opened %d closed %d", &opened, &closed) == 2 &&
               opened >= 3 && closed == opened - 1;
      },
      std::chrono::seconds(10)));

  // An OpAMP agent through the follower: its first AgentToServer (by hand:
  // an instance_uid, sequence_num 1, an empty agent_description) registers
  // it on the leader, and the ServerToAgent that answers names it.
  const std::string uid = "relayed-00000001";
  const std::string token = a.enrollment_token();
  // The follower checks the token from its read models: once they hold it.
  stats(b, log_position(a));
  RawWebSocket opamp(b.agent_port(), "/v1/opamp", "Authorization: Bearer " + token + "\r\n");
  REQUIRE(opamp.status == 101);
  opamp.send_binary(std::string("\x00\x0a\x10", 3) + uid + std::string("\x10\x01\x1a\x00", 4));
  const auto answer = opamp.read_message();
  REQUIRE(answer.has_value());
  CHECK(answer->payload.substr(0, 3 + uid.size()) == std::string("\x00\x0a\x10", 3) + uid);
  CHECK(eventually([&] { return list_agents(a).size() == 1; }, std::chrono::seconds(10)));

  // A follower that stops closes the WebSockets it relays as its own (1001), and exits cleanly.
  CHECK(b.terminate() == 0);
  CHECK_FALSE(opamp.read_message().has_value());
  REQUIRE(opamp.close_frame.has_value());
  CHECK(opamp.close_frame->close_code() == 1001);
}

TEST_CASE("cluster: the leader's failure throttle counts the client a follower forwards, and no client names its own "
          "address") {
  NatsServer nats;
  TempDir dir;
  const std::vector<std::string> throttle{"--auth-failures-per-minute", "3"};
  auto a = start_node(dir.file("a"), node_args(nats.url(), "a", 1, throttle));
  auto b = start_node(dir.file("b"), node_args(nats.url(), "b", 1, throttle), a.get());
  REQUIRE(cluster_of(*b).at("leader") == "a");
  // Clients at other addresses of 127/8 than the nodes' 127.0.0.1.
  const auto status_of = [](const MusterServer& node, const char* client, const std::string& key,
                            const std::string& more_headers = "") {
    return raw_request(node.port(),
                       "GET /api/v1/agents HTTP/1.1\r\nHost: muster\r\nAuthorization: Bearer " + key + "\r\n" +
                           more_headers + "Connection: close\r\n\r\n",
                       std::chrono::seconds(15), std::chrono::milliseconds(0), client)
        .status;
  };
  const std::string key = a->admin_key();

  // Failing through the follower, a client is throttled by the leader...
  for (int attempt = 0; attempt < 3; ++attempt) CHECK(status_of(*b, "127.0.0.2", "wrong") == 401);
  CHECK(status_of(*b, "127.0.0.2", key) == 429);
  // ...and another client of the same follower is not.
  CHECK(status_of(*b, "127.0.0.3", key) == 200);

  // A client claiming to be forwarded for someone else is counted as itself.
  const std::string forged = "X-Muster-Forwarded-By: b\r\nX-Forwarded-For: 127.0.0.9\r\n";
  for (int attempt = 0; attempt < 3; ++attempt) CHECK(status_of(*a, "127.0.0.4", "wrong", forged) == 401);
  CHECK(status_of(*a, "127.0.0.4", key, forged) == 429);
  CHECK(status_of(*a, "127.0.0.9", key) == 200);
  // So is one that brings its own X-Forwarded-For through the follower.
  const std::string own = "X-Forwarded-For: 127.0.0.10\r\n";
  for (int attempt = 0; attempt < 3; ++attempt) CHECK(status_of(*b, "127.0.0.5", "wrong", own) == 401);
  CHECK(status_of(*b, "127.0.0.5", key) == 429);
  CHECK(status_of(*b, "127.0.0.10", key) == 200);
}

TEST_SUITE("slow") {
  TEST_CASE("cluster: three NATS servers (R3) and three nodes under load lose no acknowledged write when the "
            "leading node and then a NATS server are killed, and a NATS server's death does not move the lease") {
    NatsCluster nats;
    TempDir dir;
    const std::vector<std::string> slow_timeout{"--heartbeat-timeout", "60s"};
    std::vector<std::unique_ptr<MusterServer>> nodes;
    nodes.push_back(start_node(dir.file("n0"), node_args(nats.url(), "n0", 3, slow_timeout)));
    for (int index = 1; index < 3; ++index) {
      nodes.push_back(start_node(dir.file(fmt::format("n{}", index)),
                                 node_args(nats.url(), fmt::format("n{}", index), 3, slow_timeout), nodes[0].get()));
    }
    // Enrollment tokens are made through the first node before it dies.
    for (auto& node : nodes) node->enrollment_token();

    // Registrations through every node, retried through 503s, each acknowledged one recorded.
    std::mutex mutex;
    std::vector<RegistrationLoad::Ack> acks;
    std::vector<std::string> unexpected;
    std::atomic<bool> stopping{false};
    std::atomic<bool> first_node_dead{false};
    std::vector<std::thread> clients;
    for (int client = 0; client < 3; ++client) {
      clients.emplace_back([&, client] {
        for (int request = 0; !stopping; ++request) {
          // A client whose node died goes on through the next one, as behind a load balancer.
          const int index = (client + request) % 3;
          if (index == 0 && first_node_dead) continue;
          MusterServer& node = *nodes[index];
          const std::string instance = fmt::format("r3-{}-{}", client, request);
          const HttpAnswer answer = node.post("/api/v1/agents/register", registration_body(instance).dump());
          std::lock_guard lock(mutex);
          if (answer.status == 201) {
            acks.push_back({instance, answer.json.at("agent_id").get<std::string>(),
                            answer.json.at("position").get<std::uint64_t>()});
          } else if (answer.status != 0 && answer.status != 503) {
            unexpected.push_back(fmt::format("{} {}", answer.status, answer.body));
          }
        }
      });
    }
    const auto acked = [&] {
      std::lock_guard lock(mutex);
      return acks.size();
    };
    REQUIRE(eventually([&] { return acked() >= 50; }, std::chrono::seconds(30)));
    first_node_dead = true;
    nodes[0]->kill9();
    const std::size_t before_takeover = acked();
    CHECK(eventually([&] { return acked() >= before_takeover + 50; }, std::chrono::seconds(30)));
    // The worst NATS server to lose: the one leading the lease's bucket. The
    // leader renews it again once the bucket has a new leader, within its period.
    // (Once both survivors see the new leader: a view is refreshed every fifth of the lease period.)
    std::string leader_before;
    REQUIRE(eventually(
        [&] {
          const json seen_by_1 = cluster_of(*nodes[1]).at("leader");
          leader_before = seen_by_1.is_string() ? seen_by_1.get<std::string>() : "";
          return !leader_before.empty() && leader_before != "n0" && cluster_of(*nodes[2]).at("leader") == seen_by_1;
        },
        std::chrono::seconds(30)));
    const auto lease_server = nats.stream_leader_index("KV_MUSTER_leader");
    REQUIRE(lease_server.has_value());
    nats.server(*lease_server).kill9();
    const std::size_t before_nats_loss = acked();
    CHECK(eventually([&] { return acked() >= before_nats_loss + 50; }, std::chrono::seconds(30)));
    stopping = true;
    for (auto& client : clients) client.join();
    CHECK(unexpected.empty());

    // Every acknowledged registration is in the log once, at the position it was answered with, with no gap.
    MusterServer& survivor = *nodes[1];
    const auto tail = [](const MusterServer& node) {
      const std::string text = node.log_text();
      return text.substr(text.size() > 6000 ? text.size() - 6000 : 0);
    };
    INFO("n1 wrote: " << tail(survivor));
    INFO("n2 wrote: " << tail(*nodes[2]));
    check_log_holds_acknowledged(survivor, acks);
    const json cluster = cluster_of(survivor);
    CHECK(cluster.at("leader") == leader_before);
    std::set<std::string> live;
    for (const json& node : cluster.at("nodes")) live.insert(node.at("node_id").get<std::string>());
    CHECK(live.count("n1") == 1);
    CHECK(live.count("n2") == 1);
    CHECK(log_events(survivor, "type=AgentWentOffline").empty());
  }
}

}  // namespace muster::e2e
