// WebSocket on the real server's listeners, through the test-only echo route
// (GET /_test/websocket/echo, --enable-test-hooks). The client (raw_websocket.hpp) is
// written by hand from RFC 6455 over a plain socket (the handshake, masked
// frames, fragmentation, control frames): independent of the server's
// library, so that the two cannot share a misreading.

#include "tests/e2e/raw_websocket.hpp"

namespace muster::e2e {
namespace {

/// Runs `server.terminate()` on its own thread and joins it when it goes out
/// of scope, so a failed REQUIRE meanwhile reports instead of aborting.
class Stopper {
 public:
  explicit Stopper(MusterServer& server) : thread_([&server] { server.terminate(); }) {}
  ~Stopper() { join(); }
  Stopper(const Stopper&) = delete;
  Stopper& operator=(const Stopper&) = delete;
  void join() {
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::thread thread_;
};

std::string admin_bearer_line(const MusterServer& server) {
  return "Authorization: Bearer " + server.admin_key() + "\r\n";
}

constexpr const char* kEcho = "/_test/websocket/echo";

// "opened O closed C" from the echo route.
std::pair<int, int> echo_counts(const MusterServer& server) {
  RawWebSocket socket(server.port(), kEcho, admin_bearer_line(server));
  REQUIRE(socket.status == 101);
  socket.send_text("stats");
  const auto answer = socket.read_message();
  REQUIRE(answer.has_value());
  int opened = 0;
  int closed = 0;
  REQUIRE(std::sscanf(answer->payload.c_str(), "opened %d closed %d", &opened, &closed) == 2);
  return {opened, closed};
}

}  // namespace

TEST_CASE("websocket: an upgrade answers 101 and messages come back whole, in order, on both listeners") {
  TempDir dir;
  MusterServer server(dir.file("data"), {"--enable-test-hooks"});
  for (const int port : {server.port(), server.agent_port()}) {
    INFO("port " << port);
    RawWebSocket socket(port, kEcho, admin_bearer_line(server));
    REQUIRE(socket.status == 101);
    CHECK(socket.head.find(std::string("Sec-WebSocket-Accept: ") + kAccept + "\r\n") != std::string::npos);

    const std::string binary("\x00\x01\x02\xff binary", 11);
    socket.send_binary(binary);
    socket.send_text("text, second");
    auto first = socket.read_message();
    auto second = socket.read_message();
    REQUIRE(first.has_value());
    REQUIRE(second.has_value());
    CHECK(first->opcode == kBinary);
    CHECK(first->payload == binary);
    CHECK(second->payload == "text, second");

    // Bigger than any one TCP read on either side: exactly the listener's limit (1 MiB).
    std::string big(1 << 20, '\0');
    for (std::size_t index = 0; index < big.size(); ++index) big[index] = static_cast<char>(index * 7);
    socket.send_binary(big);
    const auto echoed = socket.read_message();
    REQUIRE(echoed.has_value());
    CHECK(echoed->payload.size() == big.size());
    CHECK(echoed->payload == big);
  }
}

TEST_CASE("websocket: a fragmented message is reassembled, a ping between its fragments answered first") {
  TempDir dir;
  MusterServer server(dir.file("data"), {"--enable-test-hooks"});
  RawWebSocket socket(server.agent_port(), kEcho, admin_bearer_line(server));
  REQUIRE(socket.status == 101);
  socket.send_frame(kText, "frag", false);
  socket.send_frame(kContinuation, "men", false);
  socket.send_frame(kPing, "are you there");
  socket.send_frame(kContinuation, "ted", true);
  const auto pong = socket.read_frame();
  REQUIRE(pong.has_value());
  CHECK(pong->opcode == kPong);
  CHECK(pong->payload == "are you there");
  const auto message = socket.read_message();
  REQUIRE(message.has_value());
  CHECK(message->payload == "fragmented");

  socket.send_frame(kPing, "");
  const auto second_pong = socket.read_frame();
  REQUIRE(second_pong.has_value());
  CHECK(second_pong->opcode == kPong);
}

TEST_CASE("websocket: a message over the route's limit closes with 1009, and the route hears the close") {
  TempDir dir;
  MusterServer server(dir.file("data"), {"--enable-test-hooks", "--max-body-bytes", "4096"});
  {
    RawWebSocket socket(server.port(), kEcho, admin_bearer_line(server));
    REQUIRE(socket.status == 101);
    socket.send_binary(std::string(4096, 'a'));  // at the limit: fine
    const auto echoed = socket.read_message();
    REQUIRE(echoed.has_value());
    CHECK(echoed->payload.size() == 4096);

    socket.send_binary(std::string(4097, 'a'));
    CHECK_FALSE(socket.read_message().has_value());
    REQUIRE(socket.close_frame.has_value());
    CHECK(socket.close_frame->close_code() == 1009);
    socket.send_frame(kClose, socket.close_frame->payload.substr(0, 2));
    CHECK(socket.closed_within(std::chrono::seconds(5)));
  }
  // Every connection's on_close ran but the one asking's.
  CHECK(eventually([&] {
    const auto counts = echo_counts(server);
    return counts.first - counts.second == 1;
  }));
}

TEST_CASE("websocket: a peer that neither sends nor answers the ping is closed after the idle timeout") {
  TempDir dir;
  MusterServer server(dir.file("data"), {"--enable-test-hooks", "--websocket-idle-timeout", "400ms"});
  RawWebSocket socket(server.agent_port(), kEcho, admin_bearer_line(server));
  REQUIRE(socket.status == 101);
  // Half the timeout: the keep-alive ping.
  const auto ping = socket.read_frame(std::chrono::seconds(5));
  REQUIRE(ping.has_value());
  CHECK(ping->opcode == kPing);
  // Not answered: closed.
  CHECK(socket.closed_within(std::chrono::seconds(5)));
  CHECK(eventually([&] { return server.log_text().find("test websocket closed") != std::string::npos; }));
}

TEST_CASE("websocket: a peer that answers the pings stays open past the idle timeout") {
  TempDir dir;
  MusterServer server(dir.file("data"), {"--enable-test-hooks", "--websocket-idle-timeout", "300ms"});
  RawWebSocket socket(server.agent_port(), kEcho, admin_bearer_line(server));
  REQUIRE(socket.status == 101);
  // Three pings answered: three half-timeouts, longer than one timeout.
  for (int ping = 0; ping < 3; ++ping) {
    const auto frame = socket.read_frame(std::chrono::seconds(5));
    REQUIRE(frame.has_value());
    REQUIRE(frame->opcode == kPing);
    socket.send_frame(kPong, frame->payload);
  }
  socket.send_text("still here");
  const auto echoed = socket.read_message();
  REQUIRE(echoed.has_value());
  CHECK(echoed->payload == "still here");
}

TEST_CASE("websocket: refused upgrades are ordinary JSON errors") {
  TempDir dir;
  MusterServer server(dir.file("data"), {"--enable-test-hooks"});
  {
    RawWebSocket socket(server.agent_port(), kEcho, "");
    CHECK(socket.status == 401);
    CHECK(socket.body.value("code", "") == "UNAUTHORIZED");
  }
  {
    RawWebSocket socket(server.port(), kEcho, "Authorization: Bearer mk_not_a_key\r\n");
    CHECK(socket.status == 401);
    CHECK(socket.body.value("code", "") == "INVALID_API_KEY");
  }
  {
    RawWebSocket socket(server.port(), "/healthz", "");
    CHECK(socket.status == 400);
    CHECK(socket.body.value("code", "") == "WEBSOCKET_NOT_SUPPORTED");
  }
  {
    RawWebSocket socket(server.port(), "/api/v1/stats", admin_bearer_line(server));
    CHECK(socket.status == 400);
    CHECK(socket.body.value("code", "") == "WEBSOCKET_NOT_SUPPORTED");
  }
  // A version other than 13 (RFC 6455 4.4): 426 naming the one spoken.
  {
    const auto answer = raw_request(server.port(),
                                    "GET /_test/websocket/echo HTTP/1.1\r\nHost: m\r\nUpgrade: websocket\r\n"
                                    "Connection: Upgrade\r\nSec-WebSocket-Key: " +
                                        std::string(kKey) + "\r\nSec-WebSocket-Version: 8\r\n" +
                                        admin_bearer_line(server) + "\r\n");
    CHECK(answer.status == 426);
    CHECK(answer.body.value("code", "") == "UPGRADE_REQUIRED");
  }
  // Without the upgrade, the echo route answers plain HTTP.
  const HttpAnswer plain = server.get(kEcho);
  CHECK(plain.status == 400);
  CHECK(plain.json.value("code", "") == "WEBSOCKET_REQUIRED");
}

TEST_CASE(
    "websocket: messages pushed from another thread arrive in order - a close code the route asks for") {
  TempDir dir;
  MusterServer server(dir.file("data"), {"--enable-test-hooks"});
  RawWebSocket socket(server.agent_port(), kEcho, admin_bearer_line(server));
  REQUIRE(socket.status == 101);
  socket.send_text("push:50");
  for (int index = 0; index < 50; ++index) {
    const auto pushed = socket.read_message();
    REQUIRE(pushed.has_value());
    CHECK(pushed->payload == "pushed " + std::to_string(index));
  }
  socket.send_text("close:4000");
  CHECK_FALSE(socket.read_message().has_value());
  REQUIRE(socket.close_frame.has_value());
  CHECK(socket.close_frame->close_code() == 4000);
  socket.send_frame(kClose, socket.close_frame->payload.substr(0, 2));
  CHECK(socket.closed_within(std::chrono::seconds(5)));
}

TEST_CASE("websocket: a peer that does not read is closed with 1013 once 64 messages wait for it") {
  TempDir dir;
  MusterServer server(dir.file("data"), {"--enable-test-hooks"});
  // 52 MB asked for: more than the kernel's socket buffers hold, so messages
  // pile up in the server while the client does not read.
  RawWebSocket socket(server.agent_port(), kEcho, admin_bearer_line(server));
  REQUIRE(socket.status == 101);
  socket.send_text("flood:400:131072");
  int taken = -1;
  REQUIRE(eventually([&] {
    for (const std::string& line : lines_of(server.log_text())) {
      const json entry = json::parse(line, nullptr, false);
      if (entry.is_object() && entry.value("msg", "") == "test websocket flood") {
        taken = entry.value("accepted", -1);
        return true;
      }
    }
    return false;
  }));
  CHECK(taken < 400);
  int received = 0;
  while (const auto message = socket.read_message()) {
    CHECK(message->payload.size() == 131072);
    ++received;
  }
  CHECK(received == taken);
  REQUIRE(socket.close_frame.has_value());
  CHECK(socket.close_frame->close_code() == 1013);
}

TEST_CASE("websocket: the server stopping closes its WebSockets with 1001 and their routes hear it") {
  TempDir dir;
  MusterServer server(dir.file("data"), {"--enable-test-hooks"});
  RawWebSocket operators(server.port(), kEcho, admin_bearer_line(server));
  RawWebSocket agents(server.agent_port(), kEcho, admin_bearer_line(server));
  REQUIRE(operators.status == 101);
  REQUIRE(agents.status == 101);
  Stopper stopper(server);
  for (RawWebSocket* socket : {&operators, &agents}) {
    CHECK_FALSE(socket->read_message().has_value());
    REQUIRE(socket->close_frame.has_value());
    CHECK(socket->close_frame->close_code() == 1001);
    socket->send_frame(kClose, socket->close_frame->payload.substr(0, 2));
  }
  stopper.join();
  const std::string log = server.log_text();
  std::size_t closes = 0;
  for (auto at = log.find("test websocket closed"); at != std::string::npos;
       at = log.find("test websocket closed", at + 1)) {
    ++closes;
  }
  CHECK(closes == 2);
}

TEST_CASE("websocket: over TLS, messages come back and the server stopping closes with 1001") {
  TempDir dir;
  const std::string cert = dir.file("cert.pem");
  const std::string key = dir.file("key.pem");
  REQUIRE(std::system(("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 -keyout " +
                       key + " -out " + cert + " 2>/dev/null")
                          .c_str()) == 0);
  MusterServer server(dir.file("data"), {"--enable-test-hooks", "--tls-cert", cert, "--tls-key", key});
  RawWebSocket socket(server.agent_port(), kEcho, admin_bearer_line(server), true);
  REQUIRE(socket.status == 101);
  socket.send_text("over TLS");
  const std::string big(200 * 1024, 'b');
  socket.send_binary(big);
  const auto first = socket.read_message();
  const auto second = socket.read_message();
  REQUIRE(first.has_value());
  REQUIRE(second.has_value());
  CHECK(first->payload == "over TLS");
  CHECK(second->payload == big);
  Stopper stopper(server);
  CHECK_FALSE(socket.read_message().has_value());
  REQUIRE(socket.close_frame.has_value());
  CHECK(socket.close_frame->close_code() == 1001);
  socket.send_frame(kClose, socket.close_frame->payload.substr(0, 2));
  stopper.join();
  CHECK(server.log_text().find("test websocket closed") != std::string::npos);
}

}  // namespace muster::e2e
