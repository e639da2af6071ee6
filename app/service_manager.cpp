#include "app/service_manager.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include "common/log.hpp"

namespace muster::app {

void notify_service_manager(std::string_view state) {
  const char* socket_path = std::getenv("NOTIFY_SOCKET");
  if (socket_path == nullptr || socket_path[0] == '\0') return;
  static std::atomic<bool> warned{false};
  const auto fail = [](const char* what) {
    if (!warned.exchange(true)) {
      log::warn("cannot notify the service manager", {{"step", what}, {"error", std::strerror(errno)}});
    }
  };
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  const std::size_t length = std::strlen(socket_path);
  if (length >= sizeof address.sun_path || (socket_path[0] != '/' && socket_path[0] != '@')) {
    errno = EINVAL;
    return fail("NOTIFY_SOCKET");
  }
  std::memcpy(address.sun_path, socket_path, length);
  if (address.sun_path[0] == '@') address.sun_path[0] = '\0';
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail("socket");
  const auto size = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + length);
  if (::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<const sockaddr*>(&address), size) < 0) {
    fail("sendto");
  }
  ::close(fd);
}

}  // namespace muster::app
