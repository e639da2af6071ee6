

// Slow, idle and oversized clients do not stop muster from serving others.

#include "tests/e2e/e2e_helpers.hpp"

namespace muster::e2e {
namespace {

/// A TCP connection to the server that the test drives byte by byte.
class RawConnection {
 public:
  explicit RawConnection(int port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = fd_ >= 0 && ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  }
  ~RawConnection() {
    if (fd_ >= 0) ::close(fd_);
  }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  bool connected() const { return connected_; }
  bool send(const std::string& bytes) {
    return ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size());
  }

 private:
  int fd_;
  bool connected_ = false;
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

TEST_CASE("hostile clients: slowloris, unfinished bodies and idle keep-alives do not block others") {
  TempDir dir;
  // Hostile connections may hold their thread for a minute: polite clients
  // served well before that were not queued behind them. (With a fixed pool
  // of 64 threads they were, for as long as the slowloris kept trickling.)
  MusterServer server(dir.file("data"), {"--io-timeout", "60s", "--keep-alive-timeout", "60s"});
  // Each idle connection costs cpp-httplib a wakeup every ~11 ms; 300 keep
  // the test's CPU use modest on two cores.
  constexpr int kIdle = 300;
  std::vector<std::unique_ptr<RawConnection>> hostile;
  // Connections that never send a byte (idle keep-alive).
  for (int index = 0; index < kIdle; ++index)
    hostile.push_back(std::make_unique<RawConnection>(server.port()));
  // 200 that trickle a request's headers and never end them (slowloris).
  for (int index = 0; index < 200; ++index) {
    hostile.push_back(std::make_unique<RawConnection>(server.port()));
    hostile.back()->send("POST /api/v1/agents/register HTTP/1.1\r\nHost: muster\r\nX-Slow: ");
  }
  // 200 that announce a body and never send it.
  for (int index = 0; index < 200; ++index) {
    hostile.push_back(std::make_unique<RawConnection>(server.port()));
    hostile.back()->send(
        "POST /api/v1/agents/register HTTP/1.1\r\nHost: muster\r\nContent-Type: application/json\r\n"
        "Content-Length: 100000\r\n\r\n{\"instance_id\":");
  }
  std::size_t connected = 0;
  for (const auto& connection : hostile) connected += connection->connected() ? 1 : 0;
  CHECK(connected == hostile.size());

  // Meanwhile, a slowloris keeps trickling.
  for (int round = 0; round < 3; ++round) {
    for (int index = kIdle; index < kIdle + 200; ++index) hostile[index]->send("a");
    const auto took = time_to_serve(server, fmt::format("polite-{}", round));
    INFO("round " << round << " took " << took.count() << " ms");
    CHECK(took < std::chrono::seconds(20));
  }
  hostile.clear();
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
