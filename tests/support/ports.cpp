#include "tests/support/ports.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <random>
#include <stdexcept>

namespace muster::testing {
namespace {

// Below here sit well-known ports and services' defaults (4222, 8222, 9090).
constexpr int kLowest = 10'000;

// The first port the kernel hands out to outgoing connections.
int ephemeral_floor() {
  std::ifstream range("/proc/sys/net/ipv4/ip_local_port_range");
  int low = 0;
  if (!(range >> low) || low <= kLowest + 1'000) return 32'768;  // Linux's default floor
  return low;
}

// A socket bound to 127.0.0.1:`port`, or -1 if that port is taken.
int bind_loopback(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

std::vector<int> unused_loopback_ports(int count) {
  const int span = ephemeral_floor() - kLowest;
  std::uniform_int_distribution<int> offset(0, span - 1);
  std::random_device seed;
  std::mt19937 random(seed());
  // All stay bound until every one is chosen, so they are distinct.
  std::vector<int> sockets;
  std::vector<int> ports;
  const int first = offset(random);
  for (int step = 0; step < span && static_cast<int>(ports.size()) < count; ++step) {
    const int port = kLowest + (first + step) % span;
    const int fd = bind_loopback(port);
    if (fd < 0) continue;
    sockets.push_back(fd);
    ports.push_back(port);
  }
  for (const int fd : sockets) ::close(fd);
  if (static_cast<int>(ports.size()) != count) {
    throw std::runtime_error("cannot find free loopback ports below the ephemeral range");
  }
  return ports;
}

int unused_loopback_port() {
  return unused_loopback_ports(1).front();
}

}  // namespace muster::testing
