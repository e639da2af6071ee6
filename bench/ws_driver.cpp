// muster_ws: holds many WebSocket connections open against one server and
// measures what they cost it (bench/run websocket). Raw sockets and one
// epoll loop, no WebSocket library: the handshake and masked frames are
// written here (RFC 6455), so the driver shares nothing with the server.
//
//   muster_ws --port P --path /v1/opamp --authorization 'Bearer TOKEN'
//             --connections N [--addresses K] [--server-pid PID] [--opamp]
//             [--rate M --seconds S] [--settle-ms MS]
//
// Opens N connections (from source addresses 127.0.0.1 .. 127.0.0.K in
// turn, when one address's ports run short), sends each a first message and
// waits for its answer, keeps them idle, reads the server's VmRSS before and
// after, then optionally sends M messages per second over them for S
// seconds and times each answer. N is capped by the file descriptors this
// process and the server may open (RLIMIT_NOFILE, /proc/PID/limits), and the
// cap is reported. With --opamp each message is an OpAMP AgentToServer (the
// 0x00 header, then the protobuf): the first with a random instance_uid,
// sequence_num 1, capabilities ReportsStatus and service.name, later ones
// the next sequence_num; otherwise a short text message (the test echo route).
// Pings from the server are answered.
//
// Prints one JSON line: connections, capped_by, rss_before_kb, rss_after_kb,
// rss_per_connection_kb, connect_seconds, messages_per_second, answered,
// p50_ms, p99_ms, failed, closed_by_server, error_answers (OpAMP answers
// with an error_response; a first message so answered is sent again).

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "opamp.pb.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  int port = 0;
  std::string path = "/v1/opamp";
  std::string authorization;
  std::size_t connections = 1000;
  int addresses = 1;
  long server_pid = 0;
  bool opamp = false;
  double rate = 0;
  double seconds = 0;
  int settle_ms = 1000;
};

[[noreturn]] void fail(const std::string& why) {
  std::fprintf(stderr, "muster_ws: %s\n", why.c_str());
  std::exit(1);
}

Options parse(int argc, char** argv) {
  Options options;
  for (int index = 1; index < argc; ++index) {
    const std::string name = argv[index];
    const auto value = [&]() -> std::string {
      if (index + 1 >= argc) fail(name + " needs a value");
      return argv[++index];
    };
    if (name == "--port") {
      options.port = std::stoi(value());
    } else if (name == "--path") {
      options.path = value();
    } else if (name == "--authorization") {
      options.authorization = value();
    } else if (name == "--connections") {
      options.connections = std::stoul(value());
    } else if (name == "--addresses") {
      options.addresses = std::max(1, std::min(250, std::stoi(value())));
    } else if (name == "--server-pid") {
      options.server_pid = std::stol(value());
    } else if (name == "--opamp") {
      options.opamp = true;
    } else if (name == "--rate") {
      options.rate = std::stod(value());
    } else if (name == "--seconds") {
      options.seconds = std::stod(value());
    } else if (name == "--settle-ms") {
      options.settle_ms = std::stoi(value());
    } else {
      fail("unknown option " + name);
    }
  }
  if (options.port == 0) fail("--port is required");
  return options;
}

long rss_kb(long pid) {
  if (pid <= 0) return 0;
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return 0;
}

// The server's soft limit on open files (/proc/PID/limits), 0 if unknown.
std::size_t server_open_files_limit(long pid) {
  if (pid <= 0) return 0;
  std::ifstream limits("/proc/" + std::to_string(pid) + "/limits");
  for (std::string line; std::getline(limits, line);) {
    if (line.rfind("Max open files", 0) == 0) {
      std::istringstream fields(line.substr(14));
      std::string soft;
      fields >> soft;
      return soft == "unlimited" ? 0 : std::stoul(soft);
    }
  }
  return 0;
}

// How many descriptors the server has open now.
std::size_t server_open_files(long pid) {
  if (pid <= 0) return 0;
  std::size_t count = 0;
  const std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  if (FILE* listing = ::popen(("ls " + dir + " 2>/dev/null | wc -l").c_str(), "r")) {
    unsigned long value = 0;
    if (std::fscanf(listing, "%lu", &value) == 1) count = value;
    ::pclose(listing);
  }
  return count;
}

enum class State { connecting, upgrading, first_answer, idle };

struct Connection {
  int fd = -1;
  State state = State::connecting;
  std::string input;
  std::string output;  ///< Not yet written (the kernel took less).
  std::string uid;
  std::uint64_t sequence = 0;
  bool awaiting = false;
  Clock::time_point sent_at;
};

std::minstd_rand random_bytes{std::random_device{}()};

std::string frame(std::uint8_t opcode, const std::string& payload) {
  std::string out;
  out += static_cast<char>(0x80 | opcode);
  if (payload.size() < 126) {
    out += static_cast<char>(0x80 | payload.size());
  } else if (payload.size() <= 0xFFFF) {
    out += static_cast<char>(0x80 | 126);
    out += static_cast<char>(payload.size() >> 8);
    out += static_cast<char>(payload.size() & 0xFF);
  } else {
    out += static_cast<char>(0x80 | 127);
    for (int shift = 56; shift >= 0; shift -= 8) out += static_cast<char>((payload.size() >> shift) & 0xFF);
  }
  char mask[4];
  for (char& byte : mask) byte = static_cast<char>(random_bytes());
  out.append(mask, 4);
  for (std::size_t index = 0; index < payload.size(); ++index)
    out += static_cast<char>(payload[index] ^ mask[index % 4]);
  return out;
}

std::string next_message(const Options& options, Connection& connection) {
  ++connection.sequence;
  if (!options.opamp) return frame(1, "status " + std::to_string(connection.sequence));
  muster::opamp::AgentToServer message;
  message.set_instance_uid(connection.uid);
  message.set_sequence_num(connection.sequence);
  if (connection.sequence == 1) {
    message.set_capabilities(muster::opamp::AgentCapabilities_ReportsStatus);
    auto* attribute = message.mutable_agent_description()->add_identifying_attributes();
    attribute->set_key("service.name");
    attribute->mutable_value()->set_string_value("bench-websocket");
  }
  std::string payload(1, '\0');
  payload += message.SerializeAsString();
  return frame(2, payload);
}

class Driver {
 public:
  explicit Driver(Options options) : options_(std::move(options)) {
    epoll_ = ::epoll_create1(0);
    if (epoll_ < 0) fail("epoll_create1");
  }

  // Writes what `connection` has pending; false when the connection failed.
  bool flush(Connection& connection) {
    while (!connection.output.empty()) {
      const ssize_t written =
          ::send(connection.fd, connection.output.data(), connection.output.size(), MSG_NOSIGNAL);
      if (written < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      if (written <= 0) return false;
      connection.output.erase(0, static_cast<std::size_t>(written));
    }
    watch(connection);
    return true;
  }

  void watch(Connection& connection) {
    epoll_event event{};
    event.events =
        EPOLLIN | (connection.output.empty() && connection.state != State::connecting ? 0u : EPOLLOUT);
    event.data.u64 = static_cast<std::uint64_t>(&connection - connections_.data());
    ::epoll_ctl(epoll_, EPOLL_CTL_MOD, connection.fd, &event);
  }

  bool open(std::size_t index) {
    Connection& connection = connections_[index];
    connection.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (connection.fd < 0) return false;
    const int on = 1;
    ::setsockopt(connection.fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    if (options_.addresses > 1) {
      sockaddr_in source{};
      source.sin_family = AF_INET;
      source.sin_addr.s_addr =
          htonl(INADDR_LOOPBACK + static_cast<std::uint32_t>(index % options_.addresses));
      if (::bind(connection.fd, reinterpret_cast<sockaddr*>(&source), sizeof source) != 0) return false;
    }
    sockaddr_in target{};
    target.sin_family = AF_INET;
    target.sin_port = htons(static_cast<std::uint16_t>(options_.port));
    target.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(connection.fd, reinterpret_cast<sockaddr*>(&target), sizeof target) != 0 &&
        errno != EINPROGRESS) {
      return false;
    }
    connection.uid.resize(16);
    for (char& byte : connection.uid) byte = static_cast<char>(random_bytes());
    connection.output =
        "GET " + options_.path +
        " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
        (options_.authorization.empty() ? "" : "Authorization: " + options_.authorization + "\r\n") + "\r\n";
    epoll_event event{};
    event.events = EPOLLIN | EPOLLOUT;
    event.data.u64 = index;
    ::epoll_ctl(epoll_, EPOLL_CTL_ADD, connection.fd, &event);
    return true;
  }

  void drop(Connection& connection) {
    if (connection.fd >= 0) ::close(connection.fd);
    connection.fd = -1;
    if (connection.state == State::idle) --idle_;
    ++failed_;
    connection.state = State::connecting;
    ++dropped_;
  }

  // Handles what arrived on `connection`.
  void on_input(Connection& connection) {
    char buffer[16384];
    while (true) {
      const ssize_t got = ::recv(connection.fd, buffer, sizeof buffer, 0);
      if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      if (got <= 0) return drop(connection);
      connection.input.append(buffer, static_cast<std::size_t>(got));
    }
    if (connection.state == State::upgrading) {
      const auto end = connection.input.find("\r\n\r\n");
      if (end == std::string::npos) return;
      if (connection.input.compare(0, 12, "HTTP/1.1 101") != 0) {
        if (refusals_++ < 3)
          std::fprintf(stderr, "muster_ws: upgrade refused: %s\n", connection.input.substr(0, 300).c_str());
        return drop(connection);
      }
      connection.input.erase(0, end + 4);
      connection.state = State::first_answer;
      send_message(connection);
    }
    // Frames.
    while (connection.input.size() >= 2) {
      const auto byte = [&](std::size_t at) { return static_cast<unsigned char>(connection.input[at]); };
      std::size_t length = byte(1) & 0x7F;
      std::size_t header = 2;
      if (length == 126) {
        header = 4;
        if (connection.input.size() < header) return;
        length = (byte(2) << 8) | byte(3);
      } else if (length == 127) {
        header = 10;
        if (connection.input.size() < header) return;
        length = 0;
        for (std::size_t at = 2; at < 10; ++at) length = (length << 8) | byte(at);
      }
      if (connection.input.size() < header + length) return;
      const std::uint8_t opcode = byte(0) & 0x0F;
      const bool fin = (byte(0) & 0x80) != 0;
      std::string payload = connection.input.substr(header, length);
      connection.input.erase(0, header + length);
      if (opcode == 9) {
        connection.output += frame(10, payload);
        if (!flush(connection)) return drop(connection);
      } else if (opcode == 8) {
        ++closed_by_server_;
        return drop(connection);
      } else if (fin && opcode != 10) {
        on_answer(connection, payload);
      }
    }
  }

  void on_answer(Connection& connection, const std::string& payload) {
    if (!connection.awaiting) return;
    connection.awaiting = false;
    if (options_.opamp) {
      // ServerToAgent after the 0x00 header. An error (the server busy
      // registering: Unavailable) on the first message: it is sent again
      // shortly, as a client would, and the connection is not counted yet.
      muster::opamp::ServerToAgent answer;
      const bool parsed =
          !payload.empty() && answer.ParseFromArray(payload.data() + 1, static_cast<int>(payload.size() - 1));
      if (!parsed || answer.has_error_response()) {
        ++error_answers_;
        if (connection.state == State::first_answer) {
          connection.sequence = 0;
          retries_.push_back({Clock::now() + std::chrono::milliseconds(100 + random_bytes() % 200),
                              static_cast<std::size_t>(&connection - connections_.data())});
          return;
        }
      }
    }
    if (measuring_) {
      last_answer_at_ = Clock::now();
      latencies_ms_.push_back(
          std::chrono::duration<double, std::milli>(last_answer_at_ - connection.sent_at).count());
    }
    if (connection.state == State::first_answer) {
      connection.state = State::idle;
      ++idle_;
    }
  }

  void send_message(Connection& connection) {
    connection.output += next_message(options_, connection);
    connection.awaiting = true;
    connection.sent_at = Clock::now();
    if (!flush(connection)) drop(connection);
  }

  // First messages refused for now, sent again when due.
  void send_retries() {
    const auto now = Clock::now();
    std::size_t kept = 0;
    for (const Retry& retry : retries_) {
      Connection& connection = connections_[retry.index];
      if (connection.fd < 0) continue;
      if (retry.due <= now) {
        send_message(connection);
      } else {
        retries_[kept++] = retry;
      }
    }
    retries_.resize(kept);
  }

  // Runs the loop for up to `timeout_ms` once.
  void poll(int timeout_ms) {
    send_retries();
    epoll_event events[1024];
    const int ready = ::epoll_wait(epoll_, events, 1024, timeout_ms);
    for (int at = 0; at < ready; ++at) {
      Connection& connection = connections_[events[at].data.u64];
      if (connection.fd < 0) continue;
      if ((events[at].events & (EPOLLERR | EPOLLHUP)) != 0 && (events[at].events & EPOLLIN) == 0) {
        drop(connection);
        continue;
      }
      if (connection.state == State::connecting && (events[at].events & EPOLLOUT) != 0) {
        int error = 0;
        socklen_t size = sizeof error;
        ::getsockopt(connection.fd, SOL_SOCKET, SO_ERROR, &error, &size);
        if (error != 0) {
          drop(connection);
          continue;
        }
        connection.state = State::upgrading;
      }
      if ((events[at].events & EPOLLOUT) != 0 && !flush(connection)) {
        drop(connection);
        continue;
      }
      if ((events[at].events & EPOLLIN) != 0) on_input(connection);
    }
  }

  int run() {
    // Our own limit as high as it goes; the server's as it is.
    rlimit files{};
    ::getrlimit(RLIMIT_NOFILE, &files);
    files.rlim_cur = files.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &files);
    std::size_t count = options_.connections;
    std::string capped_by = "none";
    const std::size_t own_cap = files.rlim_cur > 64 ? files.rlim_cur - 64 : 0;
    if (count > own_cap) {
      count = own_cap;
      capped_by = "driver RLIMIT_NOFILE " + std::to_string(files.rlim_cur);
    }
    if (const std::size_t server_limit = server_open_files_limit(options_.server_pid); server_limit > 0) {
      // What the server has open already (store, listeners), and room for a few more.
      const std::size_t used = server_open_files(options_.server_pid) + 64;
      const std::size_t server_cap = server_limit > used ? server_limit - used : 0;
      if (count > server_cap) {
        count = server_cap;
        capped_by = "server RLIMIT_NOFILE " + std::to_string(server_limit);
      }
    }
    const long rss_before = rss_kb(options_.server_pid);
    connections_.resize(count);
    const auto started = Clock::now();
    // A bounded number of handshakes at once (the listen backlog, the SYN queue).
    constexpr std::size_t kOpening = 256;
    std::size_t next = 0;
    auto last_progress = Clock::now();
    std::size_t last_done = 0;
    while (idle_ + failed_ < count) {
      while (next < count && next - (idle_ + failed_) < kOpening) {
        if (!open(next)) {
          ++failed_;
          if (connections_[next].fd >= 0) ::close(connections_[next].fd);
          connections_[next].fd = -1;
        }
        ++next;
      }
      poll(50);
      if (idle_ + failed_ != last_done) {
        last_done = idle_ + failed_;
        last_progress = Clock::now();
      } else if (Clock::now() - last_progress > std::chrono::seconds(30)) {
        std::fprintf(stderr, "muster_ws: no progress for 30 s (%zu idle, %zu failed of %zu)\n", idle_,
                     failed_, count);
        break;
      }
    }
    const double connect_seconds = std::chrono::duration<double>(Clock::now() - started).count();
    // Let the server settle (its allocations after the last answer), answering pings meanwhile.
    const auto settle_until = Clock::now() + std::chrono::milliseconds(options_.settle_ms);
    while (Clock::now() < settle_until) poll(20);
    const long rss_after = rss_kb(options_.server_pid);
    const std::size_t held = idle_;

    double per_second = 0;
    std::size_t answered = 0;
    if (options_.rate > 0 && options_.seconds > 0 && held > 0) {
      measuring_ = true;
      const auto begin = Clock::now();
      const auto end = begin + std::chrono::duration_cast<Clock::duration>(
                                   std::chrono::duration<double>(options_.seconds));
      std::size_t sent = 0;
      std::size_t cursor = 0;
      while (Clock::now() < end) {
        const double due = options_.rate * std::chrono::duration<double>(Clock::now() - begin).count();
        std::size_t scanned = 0;
        while (static_cast<double>(sent) < due && scanned < connections_.size()) {
          Connection& connection = connections_[cursor];
          cursor = (cursor + 1) % connections_.size();
          ++scanned;
          if (connection.fd < 0 || connection.state != State::idle || connection.awaiting) continue;
          send_message(connection);
          ++sent;
        }
        poll(1);
      }
      const auto drain_until = Clock::now() + std::chrono::seconds(5);
      while (Clock::now() < drain_until &&
             std::any_of(connections_.begin(), connections_.end(), [](const Connection& connection) {
               return connection.fd >= 0 && connection.awaiting;
             })) {
        poll(10);
      }
      answered = latencies_ms_.size();
      // Answers over the time they took to come, the last one's included.
      const double elapsed = std::chrono::duration<double>(std::max(last_answer_at_, end) - begin).count();
      per_second = static_cast<double>(answered) / elapsed;
    }
    std::sort(latencies_ms_.begin(), latencies_ms_.end());
    const auto percentile = [&](double p) {
      if (latencies_ms_.empty()) return 0.0;
      return latencies_ms_[std::min(latencies_ms_.size() - 1,
                                    static_cast<std::size_t>(p * latencies_ms_.size()))];
    };
    const double per_connection =
        held > 0 ? static_cast<double>(rss_after - rss_before) / static_cast<double>(held) : 0;
    std::printf(
        "{\"asked\":%zu,\"connections\":%zu,\"capped_by\":\"%s\",\"rss_before_kb\":%ld,\"rss_after_kb\":%ld,"
        "\"rss_per_connection_kb\":%.2f,\"connect_seconds\":%.2f,\"messages_per_second\":%.0f,\"answered\":%"
        "zu,"
        "\"p50_ms\":%.2f,\"p99_ms\":%.2f,\"failed\":%zu,\"closed_by_server\":%zu,\"error_answers\":%zu}\n",
        options_.connections, held, capped_by.c_str(), rss_before, rss_after, per_connection, connect_seconds,
        per_second, answered, percentile(0.50), percentile(0.99), failed_, closed_by_server_, error_answers_);
    for (Connection& connection : connections_) {
      if (connection.fd >= 0) ::close(connection.fd);
    }
    return held > 0 ? 0 : 1;
  }

 private:
  const Options options_;
  int epoll_ = -1;
  std::vector<Connection> connections_;
  std::size_t idle_ = 0;
  std::size_t failed_ = 0;
  std::size_t dropped_ = 0;
  std::size_t refusals_ = 0;
  std::size_t closed_by_server_ = 0;
  bool measuring_ = false;
  std::vector<double> latencies_ms_;
  Clock::time_point last_answer_at_;
  struct Retry {
    Clock::time_point due;
    std::size_t index;
  };
  std::vector<Retry> retries_;
  std::size_t error_answers_ = 0;  ///< OpAMP answers carrying an error_response.
};

}  // namespace

int main(int argc, char** argv) {
  return Driver(parse(argc, argv)).run();
}
