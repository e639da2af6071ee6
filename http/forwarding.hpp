#pragma once
/// A node of a cluster that does not lead (eventstore/nats_cluster.hpp)
/// answers itself the routes marked `any_node` (reads of its read models,
/// probes, the dashboard's files), and hands every other request to the
/// leader as it came: same method, target, headers and body, the leader's
/// answer passed back unchanged. So a load balancer needs no stickiness, and
/// every write, agent or operator, is decided by the one node that runs the
/// fleet. A WebSocket (OpAMP's) opens on the follower, which checks its
/// upgrade like the leader would, and is relayed to the leader message by
/// message (http/websocket_relay.hpp).
///
/// Reading one's writes through one node: the leader's answer to a
/// forwarded request names its read models' position (kPositionHeader), and
/// the follower passes an operator's answer on once its own read models
/// hold that position too (or after `ForwarderOptions::fold_wait`).
///
/// Forwarding runs on a small pool of its own threads (the HTTP client
/// blocks), with a bounded queue: past it, 503 FORWARD_BUSY. With no leader
/// known, or the leader unreachable, 503 NO_LEADER with Retry-After.
///
/// Lifecycle: start() starts the pool and the relays, stop() answers what
/// is queued with 503 and joins them. Thread safety: any thread.

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/lifecycle.hpp"
#include "eventstore/nats_cluster.hpp"
#include "http/exchange.hpp"
#include "http/message_channel.hpp"
#include "http/websocket_relay.hpp"

namespace httplib {
class Client;
}

namespace muster::http {

class Call;
struct Route;

/// Who leads now, as this node last saw it.
struct LeaderView {
  std::function<bool()> is_leader;
  std::function<std::optional<NodeInfo>()> leader;
  /// This node's id: named in the forwarded request, which a node never forwards again.
  std::string node_id;
  /// Waits until this node's read models hold `position`, at most `within`.
  std::function<void(std::uint64_t position, std::chrono::milliseconds within)> wait_until_folded;
};

struct ForwarderOptions {
  std::size_t threads = 8;
  std::size_t max_queued = 4096;
  /// How long the leader may take to answer one forwarded request.
  std::chrono::milliseconds timeout{15'000};
  /// How long an operator's answer waits for this node's read models to
  /// catch up with the leader's (then it goes out anyway).
  std::chrono::milliseconds fold_wait{2'000};
};

class Forwarder final : public Service {
 public:
  Forwarder(LeaderView view, ForwarderOptions options);
  ~Forwarder() override;

  std::string_view name() const override { return "forwarder"; }
  Status start() override;
  void stop() override;

  /// True if a request for `route` is not this node's to answer: it does
  /// not lead, and the route is not `any_node`.
  bool forwards(const Route& route) const;
  /// Sends the call's request (head and body) to the leader and answers it
  /// with the leader's answer.
  void forward(std::shared_ptr<Call> call);
  /// The handler of `client`, a WebSocket the call's upgrade opened on this
  /// node, relaying it to the leader.
  std::shared_ptr<MessageHandler> relay(const Call& call, std::shared_ptr<MessageChannel> client);

 private:
  /// The call's headers as the leader is to see them: hop-by-hop fields and
  /// a WebSocket's handshake left out, this node and the client's address added.
  std::vector<std::pair<std::string, std::string>> headers_for_leader(const Call& call) const;
  void run();
  /// Forwards with `client`, made anew (for `client_base`) when the leader moved or the last send failed.
  void send(Call& call, std::unique_ptr<httplib::Client>& client, std::string& client_base);

  const LeaderView view_;
  const ForwarderOptions options_;
  std::mutex mutex_;
  std::condition_variable queued_cv_;
  std::deque<std::shared_ptr<Call>> queue_;  ///< Guarded by mutex_.
  bool running_ = false;                     ///< Guarded by mutex_.
  std::vector<std::thread> threads_;
  WebSocketRelays relays_;
};

/// The header a forwarded request carries: the node that forwarded it.
inline constexpr const char* kForwardedByHeader = "X-Muster-Forwarded-By";
/// The header of the leader's answer to a forwarded request: its read
/// models' position when it answered (the follower does not pass it on).
inline constexpr const char* kPositionHeader = "X-Muster-Position";
/// And the client's address as the forwarding node saw it (a client's own
/// header of that name is not passed on).
inline constexpr const char* kForwardedForHeader = "X-Forwarded-For";

/// The address a request forwarded by a node comes from: its
/// X-Forwarded-For, when it was forwarded (kForwardedByHeader) and its peer
/// is the host of one of `nodes`' URLs; else nullopt (the peer's address
/// stands). So the leader's failure throttle counts the client, not the
/// node in between, and no client can name an address of its choosing.
std::optional<std::string> forwarded_client_address(const RequestHead& head, const std::vector<NodeInfo>& nodes);

}  // namespace muster::http
