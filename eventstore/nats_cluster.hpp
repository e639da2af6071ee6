#pragma once
/// The nodes of a cluster sharing one NATS JetStream log (nats_storage.hpp),
/// and which one of them leads: the leader runs the fleet (agents' actors
/// and deadlines, rollouts, alerts, notifications, bulk jobs); the others
/// follow the log into their read models and hand every other request to
/// the leader. Both live in JetStream key-value buckets:
///
/// - `<prefix>_nodes`: one entry per node (its id, URLs, role and log
///   position), refreshed every third of the lease period and gone a lease
///   period after its node stopped refreshing it. A second live node with
///   the same id is refused at join.
/// - `<prefix>_leader`: the lease, one key, created by whoever finds it free
///   and kept by compare-and-set on its revision. A leader that cannot renew
///   it within the lease period loses it, and a lease nobody renews expires
///   after one period, so a dead leader's place is taken within one lease
///   period plus one poll.
///
/// - `<prefix>_terms`: one key, no expiry: the leaders' term, "<number>
///   <node id>". A node that takes the lease raises it before it leads (or
///   hands the lease back if it cannot), so the term tells whether anyone
///   led since a given leader.
///
/// A leader that loses its lease (NATS out of its reach for a whole period)
/// goes on trying for it. If it takes it again and the term is still its
/// own, no other node led meanwhile: it may go on where it stopped
/// (`LeaseEvents::promoted` says so).
///
/// Lifecycle: open() checks the node's id; join() registers it; start() runs the refresher thread
/// that also tries for the lease; stop() leaves (a leader hands the lease
/// back at once). Thread safety: every method may be called from any thread.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.hpp"
#include "common/result.hpp"
#include "eventstore/nats_connection.hpp"

struct __kvStore;

namespace muster {

struct ClusterOptions {
  /// This node's id (as `NatsOptions::node_id`).
  std::string node_id;
  /// Where the other nodes send the requests this node forwards to its
  /// leader: the operators' and the agents' listeners, as base URLs (set by `join`).
  std::string operators_url;
  std::string agents_url;
  /// How long a lease and a membership entry live without renewal.
  std::chrono::milliseconds lease_period{10'000};
  /// Replicas of the two buckets (as the stream's).
  int replicas = 3;
  /// The buckets are `<bucket_prefix>_nodes` and `<bucket_prefix>_leader`.
  std::string bucket_prefix = "muster";
  /// Directory of this node's data: a file there names the node's last
  /// run, so that a restart takes its own entry over at once.
  std::string data_dir;
};

/// What the refresher thread tells the node about the lease. Each runs on
/// that thread and must not block it for long (it renews the lease).
struct LeaseEvents {
  /// This node took the lease. `unbroken`: it led before in this run and
  /// the term is still the one it led in, so no other node led meanwhile.
  std::function<void(bool unbroken)> promoted;
  /// This node lost the lease: it must stop writing.
  std::function<void()> demoted;
  /// This node does not lead, and the lease names `leader_id`, another node
  /// (on every refresh that reads so).
  std::function<void(const std::string& leader_id)> led_elsewhere;
  /// How far the replica read.
  std::function<std::uint64_t()> log_position;
};

/// A node as its membership entry says.
struct NodeInfo {
  std::string node_id;
  std::string operators_url;
  std::string agents_url;
  bool leader = false;
  std::uint64_t log_position = 0;  ///< How far its replica had read at its last refresh.
  TimeMs started_ms = 0;
  TimeMs refreshed_ms = 0;
};

class ClusterMembership {
 public:
  /// Creates the buckets if needed and checks that no other live node has
  /// this id. Errors: `conflict` (another live node has it: the message
  /// names it), `unavailable`.
  static Result<std::unique_ptr<ClusterMembership>> open(std::shared_ptr<NatsConnection> connection,
                                                         ClusterOptions options);
  /// Registers this node, reachable at these base URLs (as
  /// `ClusterOptions::operators_url`, `agents_url`). Errors: `io_error`, `unavailable`.
  Status join(std::string operators_url, std::string agents_url);
  ~ClusterMembership();
  ClusterMembership(const ClusterMembership&) = delete;
  ClusterMembership& operator=(const ClusterMembership&) = delete;

  /// Starts refreshing this node's entry and trying for the lease, telling
  /// `events` as the lease comes and goes.
  void start(LeaseEvents events);
  /// Leaves: deletes this node's entry and, as leader, the lease. Idempotent.
  void stop();

  bool is_leader() const;
  /// The leader as last seen (this node included); nullopt if none.
  std::optional<NodeInfo> leader() const;
  /// Every live node as last seen, by id.
  std::vector<NodeInfo> nodes() const;
  const ClusterOptions& options() const { return options_; }

 private:
  ClusterMembership(std::shared_ptr<NatsConnection> connection, ClusterOptions options, __kvStore* nodes,
                    __kvStore* lease, __kvStore* terms, std::string instance);
  void run();
  /// False if this node leads and could not renew its lease.
  bool refresh();
  Status write_entry();
  void try_lease();
  /// Just after taking the lease: whether the term is still this node's
  /// (unbroken), else raises it to a term of this node's. Errors: `unavailable`.
  Result<bool> take_term();
  /// False if the renewal failed (whether or not the lease is lost by now).
  bool renew_lease();
  void read_nodes();

  const std::shared_ptr<NatsConnection> connection_;
  ClusterOptions options_;  ///< Its URLs are set once, by join(), before start().
  __kvStore* const nodes_bucket_;
  __kvStore* const lease_bucket_;
  __kvStore* const terms_bucket_;
  const std::string instance_;  ///< This run's id, in the entry.
  const TimeMs started_ms_;

  LeaseEvents events_;

  mutable std::mutex mutex_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;                 ///< Guarded by mutex_.
  bool leader_ = false;                   ///< Guarded by mutex_.
  std::uint64_t lease_revision_ = 0;      ///< Guarded by mutex_.
  std::uint64_t term_ = 0;                ///< The term this node led in (0: none yet). Refresher thread only.
  std::chrono::steady_clock::time_point lease_renewed_;  ///< Guarded by mutex_.
  std::uint64_t entry_revision_ = 0;      ///< Refresher thread only.
  bool renewal_failing_ = false;          ///< Refresher thread only.
  std::vector<NodeInfo> nodes_;           ///< Guarded by mutex_.
  std::string leader_id_;                 ///< Guarded by mutex_.
  std::thread refresher_;
};

}  // namespace muster
