#include "tests/support/tcp_proxy.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>

namespace muster::testing {

/// One relayed connection: the client's socket, the target's, and the
/// thread copying between them until either side closes or the pair is cut.
struct TcpProxy::Pair {
  int client = -1;
  int target = -1;
  std::thread relay;

  /// Wakes the relay thread (its poll sees both ends shut down).
  void shut() {
    ::shutdown(client, SHUT_RDWR);
    ::shutdown(target, SHUT_RDWR);
  }

  void run() {
    pollfd ends[2] = {{client, POLLIN, 0}, {target, POLLIN, 0}};
    char buffer[16384];
    for (;;) {
      if (::poll(ends, 2, -1) < 0) return;
      for (int index = 0; index < 2; ++index) {
        if (ends[index].revents == 0) continue;
        const ssize_t got = ::read(ends[index].fd, buffer, sizeof buffer);
        if (got <= 0) return;
        const int other = ends[1 - index].fd;
        for (ssize_t sent = 0; sent < got;) {
          const ssize_t wrote = ::send(other, buffer + sent, static_cast<std::size_t>(got - sent), MSG_NOSIGNAL);
          if (wrote <= 0) return;
          sent += wrote;
        }
      }
    }
  }
};

namespace {

sockaddr_in loopback(int port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return address;
}

}  // namespace

TcpProxy::TcpProxy(int target_port) : target_port_(target_port) {
  listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address = loopback(0);
  socklen_t length = sizeof address;
  if (listener_ < 0 || ::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::listen(listener_, 64) != 0 ||
      ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    if (listener_ >= 0) ::close(listener_);
    throw std::runtime_error("the TCP proxy cannot listen on 127.0.0.1");
  }
  port_ = ntohs(address.sin_port);
  acceptor_ = std::thread([this] { accept_loop(); });
}

TcpProxy::~TcpProxy() {
  stopping_ = true;
  ::shutdown(listener_, SHUT_RDWR);  // Wakes accept().
  acceptor_.join();
  ::close(listener_);
  close_pairs();
}

std::string TcpProxy::nats_url() const {
  return "nats://127.0.0.1:" + std::to_string(port_);
}

void TcpProxy::cut() {
  {
    std::lock_guard lock(mutex_);
    cut_ = true;
  }
  close_pairs();
}

void TcpProxy::restore() {
  cut_ = false;
}

void TcpProxy::accept_loop() {
  while (!stopping_) {
    const int client = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) {
      if (stopping_) return;
      continue;
    }
    if (cut_) {
      ::close(client);
      continue;
    }
    const int target = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const sockaddr_in address = loopback(target_port_);
    if (target < 0 || ::connect(target, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
      if (target >= 0) ::close(target);
      ::close(client);
      continue;
    }
    auto pair = std::make_shared<Pair>();
    pair->client = client;
    pair->target = target;
    pair->relay = std::thread([raw = pair.get()] { raw->run(); });
    std::unique_lock lock(mutex_);
    if (!cut_) {
      pairs_.push_back(std::move(pair));
      continue;
    }
    lock.unlock();  // Cut while this one was being connected.
    pair->shut();
    pair->relay.join();
    ::close(client);
    ::close(target);
  }
}

void TcpProxy::close_pairs() {
  std::vector<std::shared_ptr<Pair>> pairs;
  {
    std::lock_guard lock(mutex_);
    pairs.swap(pairs_);
  }
  for (auto& pair : pairs) {
    pair->shut();
    pair->relay.join();
    ::close(pair->client);
    ::close(pair->target);
  }
}

}  // namespace muster::testing
