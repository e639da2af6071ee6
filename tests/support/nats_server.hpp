#pragma once
/// Real nats-server processes for tests of the JetStream backend: one
/// JetStream server, or a JetStream cluster of several on loopback. The
/// harness knows nats-server only as a process, its log file and its HTTP
/// monitoring port; it never speaks the NATS protocol itself.
///
/// Every server listens on 127.0.0.1 only, on ports chosen before it first
/// starts, below the ephemeral range (tests/support/ports.hpp says why);
/// restart() keeps them, and the store directory, so JetStream data survives
/// a restart. Waiting is always a bounded poll, never a fixed sleep.
///
/// The binary is $MUSTER_NATS_SERVER when set, else /usr/sbin/nats-server,
/// else `nats-server` from PATH (Debian 12's package is 2.9.10).
///
/// Thread safety: none; use an object from one thread. The servers are
/// killed when the thread that started them dies (PR_SET_PDEATHSIG), so a
/// crashed test leaves none behind.

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/support/temp_dir.hpp"

namespace muster::testing {

struct NatsServerOptions {
  /// `server_name`, also in the log and in `/jsz`'s meta leader. Default "nats-test".
  std::string name = "nats-test";
  /// JetStream's store directory. Empty (the default): a TempDir the server
  /// owns and removes when destroyed.
  std::string store_dir;
  /// Client and monitoring ports; 0 (the default): unused_loopback_ports()
  /// picks them, and picks again should another process bind one first.
  int port = 0;
  int monitor_port = 0;
  /// Cluster membership, set by NatsCluster: the cluster's name (empty: a
  /// standalone server), this server's route port and every member's route
  /// port (its own included; nats-server ignores a route to itself).
  std::string cluster_name;
  int cluster_port = 0;
  std::vector<int> route_ports;
  /// How long the constructor and restart() wait for readiness. Default 20 s.
  std::chrono::milliseconds ready_timeout{std::chrono::seconds(20)};
  /// What "ready" means. True (the default for a standalone server): the
  /// monitor's `/healthz` answers 200, i.e. JetStream is up and, in a
  /// cluster, current with a meta leader. False: `/healthz?js-enabled-only=true`
  /// answers 200 (JetStream is enabled), which a cluster member reaches
  /// before its peers are up; NatsCluster then waits for the whole cluster.
  bool wait_until_healthy = true;
};

/// What the monitoring port answered: status 0 when it could not be reached;
/// `json` is discarded when the body is not JSON.
struct MonitorAnswer {
  int status = 0;
  std::string body;
  nlohmann::json json;
};

/// One nats-server process with JetStream.
class NatsServer {
 public:
  /// Starts the server and waits until it is ready (see the options).
  /// Throws std::runtime_error, with the server's log, when nats-server is
  /// missing, exits, or is not ready in time (it is killed then).
  explicit NatsServer(NatsServerOptions options = {});
  /// Kills the server (SIGKILL) if it runs; removes the owned store directory.
  ~NatsServer();
  NatsServer(const NatsServer&) = delete;
  NatsServer& operator=(const NatsServer&) = delete;

  /// "nats://127.0.0.1:PORT".
  std::string url() const;
  int port() const { return port_; }
  int monitor_port() const { return monitor_port_; }
  /// The route port (0 for a standalone server).
  int cluster_port() const { return options_.cluster_port; }
  const std::string& name() const { return options_.name; }
  const std::string& store_dir() const { return options_.store_dir; }
  /// The running process, -1 when stopped.
  pid_t pid() const { return pid_; }
  /// True while the process runs (reaps it if it has exited on its own).
  bool running();

  /// SIGKILL, then reaps the process. No-op when stopped.
  void kill9();
  /// SIGTERM (nats-server shuts down cleanly), then waits for exit; the exit
  /// status (nats-server 2.9 exits 1 on SIGTERM) or -signal; -1 when stopped.
  int terminate();
  /// Stops the server if it runs (SIGTERM) and starts it again with the same
  /// ports, name, cluster and store directory, then waits as the
  /// constructor does. Throws as the constructor does.
  void restart();

  /// GET `path` (such as "/jsz" or "/healthz") on the monitoring port.
  MonitorAnswer monitor_get(const std::string& path) const;
  /// `/healthz` answers 200.
  bool healthy() const;
  /// The JetStream meta leader's server name as this server sees it
  /// (`/jsz` meta_cluster.leader); empty when none or unreachable.
  std::string meta_leader() const;

  const std::string& log_path() const { return log_path_; }
  /// Everything the server logged, over all its runs.
  std::string log_text() const;

 private:
  void start();
  void write_config() const;

  NatsServerOptions options_;
  std::unique_ptr<TempDir> owned_store_;
  TempDir work_dir_;  ///< Config, log and ports files.
  std::string log_path_;
  pid_t pid_ = -1;
  int port_ = 0;
  int monitor_port_ = 0;
};

struct NatsClusterOptions {
  /// Number of servers. Default 3.
  int size = 3;
  /// The cluster's name; servers are named `<cluster_name>-<i>`, i from 0.
  std::string cluster_name = "muster-test";
  /// How long the constructor waits for the cluster. Default 20 s.
  std::chrono::milliseconds ready_timeout{std::chrono::seconds(20)};
};

/// A JetStream cluster of nats-server processes on loopback, each with its
/// own store directory. The constructor returns once every server's
/// `/healthz` answers 200 and all agree on a meta leader (nats-server 2.9.10
/// on loopback: about 2 s).
class NatsCluster {
 public:
  /// Throws std::runtime_error with every server's log when the cluster does
  /// not form in time.
  explicit NatsCluster(NatsClusterOptions options = {});
  NatsCluster(const NatsCluster&) = delete;
  NatsCluster& operator=(const NatsCluster&) = delete;

  /// Every server's URL, comma-separated, in order (stopped ones included:
  /// clients skip them).
  std::string url() const;
  std::size_t size() const { return servers_.size(); }
  NatsServer& server(std::size_t index) { return *servers_.at(index); }
  const NatsServer& server(std::size_t index) const { return *servers_.at(index); }
  /// The meta leader's index as the running servers see it, when they all
  /// see the same one.
  std::optional<std::size_t> leader_index();
  /// The index of the running server leading JetStream stream `stream` (such as
  /// "KV_MUSTER_leader"), as the first running server that knows says (`/jsz?streams=true`).
  std::optional<std::size_t> stream_leader_index(const std::string& stream);
  /// Waits (at most `timeout`) until every running server is healthy and all
  /// agree on a meta leader among them; false on timeout.
  bool wait_until_healthy(std::chrono::milliseconds timeout = std::chrono::seconds(20));
  /// Every server's log, each under a header with its name.
  std::string log_text() const;

 private:
  /// The index of the running server named `name`.
  std::optional<std::size_t> running_index_of(const std::string& name);

  std::vector<std::unique_ptr<NatsServer>> servers_;
};

}  // namespace muster::testing
