#pragma once
// A WebSocket client written by hand from RFC 6455 over a plain socket (the
// handshake, masked frames, fragmentation, control frames): independent of
// the server's library, so that the two cannot share a misreading.

#include <openssl/ssl.h>
#include <poll.h>

#include <optional>
#include <random>

#include "tests/e2e/e2e_helpers.hpp"

namespace muster::e2e {

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

}  // namespace muster::e2e
