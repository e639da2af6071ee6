// muster as a service: it tells systemd when it is ready and when it stops
// (Type=notify, app/service_manager.hpp), takes its settings from a config
// file and the environment (README "Configuration"), and says what it is.

#include <doctest/doctest.h>

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "common/build_info.hpp"
#include "tests/e2e/e2e_helpers.hpp"

namespace muster::e2e {
namespace {

// A datagram socket bound where $NOTIFY_SOCKET points while it lives, as
// systemd's end of the protocol.
class NotifySocket {
 public:
  explicit NotifySocket(std::string path) : path_(std::move(path)) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    REQUIRE(path_.size() < sizeof address.sun_path);
    std::copy(path_.begin(), path_.end(), address.sun_path);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    ::setenv("NOTIFY_SOCKET", path_.c_str(), 1);
  }
  ~NotifySocket() {
    ::unsetenv("NOTIFY_SOCKET");
    ::close(fd_);
  }

  /// The next datagram, or "" if none comes within `timeout`.
  std::string next(std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    pollfd ready{fd_, POLLIN, 0};
    if (::poll(&ready, 1, static_cast<int>(timeout.count())) <= 0) return {};
    char buffer[4096];
    const ssize_t got = ::recv(fd_, buffer, sizeof buffer, 0);
    return got > 0 ? std::string(buffer, static_cast<std::size_t>(got)) : std::string();
  }

 private:
  std::string path_;
  int fd_ = -1;
};

}  // namespace

TEST_CASE("service: muster tells systemd it is ready once it serves, and that it stops") {
  TempDir dir;
  NotifySocket notify(dir.file("notify"));
  MusterServer server(dir.file("data"));
  // MusterServer returns once /readyz answers 200; READY=1 was sent by then or comes at once.
  const std::string ready = notify.next();
  CHECK(ready.find("READY=1") != std::string::npos);
  CHECK(notify.next(std::chrono::milliseconds(200)).empty());
  CHECK(server.terminate() == 0);
  CHECK(notify.next().find("STOPPING=1") != std::string::npos);
}

TEST_CASE("service: settings come from the config file and the environment, the command line winning") {
  TempDir dir;
  {
    std::ofstream file(dir.file("muster.toml"));
    file << "heartbeat-timeout = \"7s\"\n";
  }
  // The server logs the heartbeat timeout it runs with.
  const auto timeout_in_log = [](const MusterServer& server) {
    const std::string text = server.log_text();
    const auto at = text.find("\"heartbeat_timeout_ms\":");
    return at == std::string::npos ? std::string() : text.substr(at + 23, text.find_first_of(",}", at) - at - 23);
  };
  {
    MusterServer from_file(dir.file("data"), {"--config", dir.file("muster.toml")});
    CHECK(timeout_in_log(from_file) == "7000");
  }
  ::setenv("MUSTER_HEARTBEAT_TIMEOUT", "9s", 1);
  {
    MusterServer from_environment(dir.file("data"), {"--config", dir.file("muster.toml")});
    CHECK(timeout_in_log(from_environment) == "9000");
  }
  {
    MusterServer from_command_line(dir.file("data"), {"--config", dir.file("muster.toml"), "--heartbeat-timeout", "11s"});
    CHECK(timeout_in_log(from_command_line) == "11000");
  }
  ::unsetenv("MUSTER_HEARTBEAT_TIMEOUT");
}

TEST_CASE("service: a bad setting stops muster with one line naming where it came from") {
  TempDir dir;
  {
    std::ofstream file(dir.file("muster.toml"));
    file << "# muster\nlisten = \"127.0.0.1:0\"\ncolour = \"blue\"\n";
  }
  const CommandResult refused =
      run_muster({"serve", "--data", dir.file("data"), "--config", dir.file("muster.toml")});
  CHECK(refused.exit_code == 2);
  CHECK(refused.err.find("config file " + dir.file("muster.toml") + " line 3: unknown setting 'colour'") !=
        std::string::npos);
}

TEST_CASE("service: muster version and GET /api/v1/version say which build answers") {
  const CommandResult printed = run_muster({"version"});
  CHECK(printed.exit_code == 0);
  CHECK(printed.out == "muster " + build_info().version + " (commit " + build_info().commit + ")\n");
  TempDir dir;
  MusterServer server(dir.file("data"));
  const HttpAnswer answer = server.get("/api/v1/version");
  CHECK(answer.status == 200);
  CHECK(answer.json["version"] == build_info().version);
  CHECK(answer.json["commit"] == build_info().commit);
  CHECK(server.send("GET", "/api/v1/version", "", {{"Authorization", "Bearer nope"}}).status == 401);
}

}  // namespace muster::e2e
