#pragma once
/// A TCP relay on loopback that a test can cut: a process connected through
/// it loses its peer while the rest of the world keeps it. The cluster tests
/// use it to cut one muster node off NATS while another still reaches it (a
/// partition), which killing nats-server cannot do.
///
/// It listens on 127.0.0.1 (a port of the kernel's choice, held for its
/// whole life) and relays every connection to 127.0.0.1:`target_port`.
/// cut() closes every relayed connection and, until restore(), closes each
/// new one as soon as it is accepted, so the client sees its connection
/// refused rather than hanging.
///
/// Thread safety: every method may be called from any thread.

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace muster::testing {

class TcpProxy {
 public:
  /// Starts relaying to `target_port`. Throws std::runtime_error if it cannot listen.
  explicit TcpProxy(int target_port);
  /// Stops listening and closes every connection.
  ~TcpProxy();
  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;

  int port() const { return port_; }
  /// "nats://127.0.0.1:PORT".
  std::string nats_url() const;

  void cut();
  void restore();

 private:
  struct Pair;
  void accept_loop();
  void close_pairs();

  const int target_port_;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> cut_{false};
  std::atomic<bool> stopping_{false};
  std::mutex mutex_;
  std::vector<std::shared_ptr<Pair>> pairs_;  ///< Guarded by mutex_.
  std::thread acceptor_;
};

}  // namespace muster::testing
