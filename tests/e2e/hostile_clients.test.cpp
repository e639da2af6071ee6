

// Slow, idle and oversized clients do not stop muster from serving others.

#include <fstream>
#include <sstream>
#include <thread>

#include "tests/e2e/e2e_helpers.hpp"

namespace muster::e2e {
namespace {

/// A TCP connection to the server that the test drives byte by byte.
class RawConnection {
 public:
  explicit RawConnection(int port) : fd_(connect_loopback(port)) {}
  ~RawConnection() {
    if (fd_ >= 0) ::close(fd_);
  }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  bool connected() const { return fd_ >= 0; }
  bool send(const std::string& bytes) {
    return ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size());
  }

 private:
  int fd_;
};

/// Time for a well-behaved client to register and heartbeat.
std::chrono::milliseconds time_to_serve(const MusterServer& server, const std::string& instance_id) {
  const auto started = std::chrono::steady_clock::now();
  const Registered agent = register_agent(server, instance_id);
  heartbeat(server, agent.agent_id);
  CHECK(get_json(server, "/readyz").at("status") == "ready");
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
}

}  // namespace

// CPU time (user + system) the process has used, in clock ticks.
long cpu_ticks(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  std::istringstream fields(text.substr(text.rfind(')') + 2));
  std::string field;
  long user = 0, system = 0;
  for (int index = 3; index <= 15 && fields >> field; ++index) {
    if (index == 14) user = std::stol(field);
    if (index == 15) system = std::stol(field);
  }
  return user + system;
}

TEST_CASE("hostile clients: 10,000 slow, unfinished and idle connections cost no CPU and block no one") {
  TempDir dir;
  // Hostile connections may sit for a minute: polite clients served well
  // before that were not queued behind them.
  MusterServer server(dir.file("data"), {"--io-timeout", "60s", "--keep-alive-timeout", "60s"});
  // Spread over both listeners: idle keep-alives, trickled headers (slowloris),
  // and announced bodies that never come.
  constexpr int kEach = 1'666;
  std::vector<std::unique_ptr<RawConnection>> idle, slow, unfinished;
  for (const int port : {server.port(), server.agent_port()}) {
    for (int index = 0; index < kEach; ++index) {
      idle.push_back(std::make_unique<RawConnection>(port));
      slow.push_back(std::make_unique<RawConnection>(port));
      slow.back()->send("POST /api/v1/agents/register HTTP/1.1\r\nHost: muster\r\nX-Slow: ");
      unfinished.push_back(std::make_unique<RawConnection>(port));
      unfinished.back()->send(
          "POST /api/v1/agents/register HTTP/1.1\r\nHost: muster\r\nContent-Type: application/json\r\n"
          "Content-Length: 100000\r\n\r\n{\"instance_id\":");
    }
  }
  std::size_t connected = 0;
  for (const auto* group : {&idle, &slow, &unfinished}) {
    for (const auto& connection : *group) connected += connection->connected() ? 1 : 0;
  }
  CHECK(connected == 6 * kEach);

  // Nothing to do for connections that send nothing: the server sleeps (a
  // server polling each connection spent 1.4 cores on 2,000).
  // Once it has accepted and read what was sent, a whole second passes with
  // under a tenth of a core used (slower builds, ASan, take longer to settle).
  const auto quiet_second = [&] {
    const long before = cpu_ticks(server.pid());
    std::this_thread::sleep_for(std::chrono::seconds(1));
    const long used = cpu_ticks(server.pid()) - before;
    INFO("server CPU over 1 s with " << connected << " open connections: " << used << " ticks");
    return used < sysconf(_SC_CLK_TCK) / 10;
  };
  CHECK(eventually(quiet_second, std::chrono::seconds(60)));

  server.enrollment_token();  // made on the operators' listener, before switching
  // Meanwhile, the slowloris keeps trickling, and polite clients are served on both listeners.
  for (int round = 0; round < 3; ++round) {
    for (const auto& connection : slow) connection->send("a");
    server.use_agents_listener(round % 2 == 1);
    const auto took = time_to_serve(server, fmt::format("polite-{}", round));
    server.use_agents_listener(false);
    INFO("round " << round << " took " << took.count() << " ms");
    CHECK(took < std::chrono::seconds(20));
  }
  idle.clear();
  slow.clear();
  unfinished.clear();
  CHECK(time_to_serve(server, "after") < std::chrono::seconds(20));
}

TEST_CASE("hostile clients: oversized headers and URIs are refused at once, and the server goes on") {
  TempDir dir;
  MusterServer server(dir.file("data"));
  const auto started = std::chrono::steady_clock::now();
  const RawAnswer huge_header = raw_request(server.port(), "GET /readyz HTTP/1.1\r\nHost: muster\r\nX-Big: " +
                                                               std::string(64 * 1024, 'a') + "\r\n\r\n");
  CHECK((huge_header.status == 400 || huge_header.status == 431 || huge_header.status == 0));
  const RawAnswer huge_uri =
      raw_request(server.port(), "GET /api/v1/agents?q=" + std::string(64 * 1024, 'a') + " HTTP/1.1\r\n\r\n");
  CHECK((huge_uri.status == 414 || huge_uri.status == 400 || huge_uri.status == 0));
  std::string many_headers = "GET /readyz HTTP/1.1\r\nHost: muster\r\n";
  for (int index = 0; index < 20'000; ++index) many_headers += fmt::format("X-H{}: v\r\n", index);
  const RawAnswer crowded = raw_request(server.port(), many_headers + "\r\n");
  CHECK(crowded.status != 500);
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(20));
  CHECK(time_to_serve(server, "after") < std::chrono::seconds(20));
  CHECK(server.log_text().find("unexpected exception") == std::string::npos);
}

}  // namespace muster::e2e
