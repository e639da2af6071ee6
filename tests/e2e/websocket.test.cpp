// WebSocket on the real server's listeners, through the test-only echo route
// (GET /_test/websocket/echo, --enable-test-hooks). The client here is
// written by hand from RFC 6455 over a plain socket (the handshake, masked
// frames, fragmentation, control frames): independent of the server's
// library, so that the two cannot share a misreading.

#include <openssl/ssl.h>
#include <poll.h>

#include <optional>
#include <random>

#include "tests/e2e/e2e_helpers.hpp"

namespace muster::e2e {
namespace {

enum Opcode : std::uint8_t { kContinuation = 0, kText = 1, kBinary = 2, kClose = 8, kPing = 9, kPong = 10 };

struct Frame {
  std::uint8_t opcode = 0;
  bool fin = true;
  std::string payload;
  /// For a close frame: its code (0 when it carries none).
  int close_code() const {
    if (payload.size() < 2) return 0;
    return (static_cast<unsigned char>(payload[0]) << 8) | static_cast<unsigned char>(payload[1]);
  }
};

// The RFC 6455 section 1.3 example: this key's accept value is known.
constexpr const char* kKey = "dGhlIHNhbXBsZSBub25jZQ==";
constexpr const char* kAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

class RawWebSocket {
 public:
  /// Connects and sends the upgrade request for `path` with `extra_headers`
  /// (each ending in CRLF); reads the answer's head (and body unless 101).
  /// With `tls`, over TLS (the server's certificate is not checked).
  RawWebSocket(int port, const std::string& path, const std::string& extra_headers, bool tls = false) {
    fd_ = connect_loopback(port);
    REQUIRE(fd_ >= 0);
    if (tls) {
      tls_context_ = SSL_CTX_new(TLS_client_method());
      REQUIRE(tls_context_ != nullptr);
      tls_ = SSL_new(tls_context_);
      SSL_set_fd(tls_, fd_);
      REQUIRE(SSL_connect(tls_) == 1);
    }
    write_all("GET " + path +
              " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              "Sec-WebSocket-Key: " +
              kKey + "\r\nSec-WebSocket-Version: 13\r\n" + extra_headers + "\r\n");
    std::size_t end = std::string::npos;
    while ((end = input_.find("\r\n\r\n")) == std::string::npos) {
      if (!fill(std::chrono::seconds(10))) break;
    }
    REQUIRE(end != std::string::npos);
    head = input_.substr(0, end + 4);
    input_.erase(0, end + 4);
    status = std::stoi(head.substr(9, 3));
    if (status == 101) return;
    const std::string length_field = "Content-Length: ";
    const auto at = head.find(length_field);
    REQUIRE(at != std::string::npos);
    const std::size_t length = std::stoul(head.substr(at + length_field.size()));
    while (input_.size() < length && fill(std::chrono::seconds(10))) {
    }
    body = json::parse(input_.substr(0, length), nullptr, false);
  }
  ~RawWebSocket() {
    if (tls_ != nullptr) SSL_free(tls_);
    if (tls_context_ != nullptr) SSL_CTX_free(tls_context_);
    if (fd_ >= 0) ::close(fd_);
  }
  RawWebSocket(const RawWebSocket&) = delete;
  RawWebSocket& operator=(const RawWebSocket&) = delete;

  /// One frame, masked as a client must (RFC 6455 5.3).
  void send_frame(std::uint8_t opcode, const std::string& payload, bool fin = true) {
    std::string frame;
    frame += static_cast<char>((fin ? 0x80 : 0) | opcode);
    if (payload.size() < 126) {
      frame += static_cast<char>(0x80 | payload.size());
    } else if (payload.size() <= 0xFFFF) {
      frame += static_cast<char>(0x80 | 126);
      frame += static_cast<char>(payload.size() >> 8);
      frame += static_cast<char>(payload.size() & 0xFF);
    } else {
      frame += static_cast<char>(0x80 | 127);
      for (int shift = 56; shift >= 0; shift -= 8)
        frame += static_cast<char>((payload.size() >> shift) & 0xFF);
    }
    char mask[4];
    for (char& byte : mask) byte = static_cast<char>(random_());
    frame.append(mask, 4);
    for (std::size_t index = 0; index < payload.size(); ++index) {
      frame += static_cast<char>(payload[index] ^ mask[index % 4]);
    }
    write_all(frame);
  }
  void send_text(const std::string& text) { send_frame(kText, text); }
  void send_binary(const std::string& bytes) { send_frame(kBinary, bytes); }

  /// The next frame the server sends, or nullopt when the connection ends
  /// (or nothing comes within `wait`).
  std::optional<Frame> read_frame(std::chrono::milliseconds wait = std::chrono::seconds(10)) {
    while (true) {
      if (input_.size() >= 2) {
        const auto byte = [&](std::size_t index) { return static_cast<unsigned char>(input_[index]); };
        REQUIRE((byte(1) & 0x80) == 0);  // a server never masks
        std::size_t length = byte(1) & 0x7F;
        std::size_t header = 2;
        if (length == 126) {
          header = 4;
          if (input_.size() >= header) length = (byte(2) << 8) | byte(3);
        } else if (length == 127) {
          header = 10;
          if (input_.size() >= header) {
            length = 0;
            for (std::size_t index = 2; index < 10; ++index) length = (length << 8) | byte(index);
          }
        }
        if (input_.size() >= header && input_.size() >= header + length) {
          Frame frame;
          frame.fin = (byte(0) & 0x80) != 0;
          frame.opcode = byte(0) & 0x0F;
          frame.payload = input_.substr(header, length);
          input_.erase(0, header + length);
          return frame;
        }
      }
      if (!fill(wait)) return std::nullopt;
    }
  }

  /// The next data message, reassembled; control frames on the way are
  /// kept in `controls` (pings are not answered). nullopt at a close frame
  /// (kept in `close_frame`) or the connection's end.
  std::optional<Frame> read_message() {
    std::optional<Frame> message;
    while (auto frame = read_frame()) {
      if (frame->opcode == kClose) {
        close_frame = *frame;
        return std::nullopt;
      }
      if (frame->opcode >= kClose) {
        controls.push_back(*frame);
        continue;
      }
      if (!message) {
        message = *frame;
      } else {
        message->payload += frame->payload;
      }
      if (frame->fin) return message;
    }
    return std::nullopt;
  }

  /// True when the server closed the connection (EOF or reset) within `wait`.
  bool closed_within(std::chrono::milliseconds wait) {
    const auto deadline = std::chrono::steady_clock::now() + wait;
    while (std::chrono::steady_clock::now() < deadline) {
      if (!fill(std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                                      std::chrono::steady_clock::now()))) {
        return eof_;
      }
    }
    return false;
  }

  int status = 0;
  std::string head;
  json body;
  std::vector<Frame> controls;
  std::optional<Frame> close_frame;

 private:
  void write_all(const std::string& bytes) {
    if (tls_ == nullptr) return send_all(fd_, bytes);
    for (std::size_t sent = 0; sent < bytes.size();) {
      const int written = SSL_write(tls_, bytes.data() + sent, static_cast<int>(bytes.size() - sent));
      if (written <= 0) return;
      sent += static_cast<std::size_t>(written);
    }
  }

  // Reads what arrives within `wait`; false at the end of the connection or on a timeout.
  bool fill(std::chrono::milliseconds wait) {
    if (eof_) return false;
    if (tls_ == nullptr || SSL_pending(tls_) == 0) {
      pollfd ready{fd_, POLLIN, 0};
      if (::poll(&ready, 1, static_cast<int>(std::max<std::int64_t>(wait.count(), 0))) <= 0) return false;
    }
    char buffer[65536];
    const ssize_t got =
        tls_ != nullptr ? SSL_read(tls_, buffer, sizeof buffer) : ::recv(fd_, buffer, sizeof buffer, 0);
    if (got <= 0) {
      eof_ = true;
      return false;
    }
    input_.append(buffer, static_cast<std::size_t>(got));
    return true;
  }

  int fd_ = -1;
  SSL_CTX* tls_context_ = nullptr;
  SSL* tls_ = nullptr;
  std::string input_;
  bool eof_ = false;
  std::minstd_rand random_{std::random_device{}()};
};

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
