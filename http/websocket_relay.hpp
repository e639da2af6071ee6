#pragma once
/// WebSockets a follower accepted and relays, message by message, to the
/// leader (http/forwarding.hpp), so that an agent behind a load balancer
/// keeps its WebSocket whichever node it reached: the leader holds the
/// conversation (OpAMP's sequence numbers live in its actors), the follower
/// only carries the messages.
///
/// The follower checked the upgrade's credential from its own read models
/// before it answered 101; the leader checks it again when the relay opens
/// its own WebSocket to it. What the client sends before that is held and
/// sent in order once it is open. If the leader cannot be reached or refuses,
/// or closes, the client's WebSocket closes: 1008 (policy) when the leader
/// refused the credential, else with the leader's close code, or 1013 (try
/// again later), and the agent reconnects.
///
/// Only a leader reached over plain HTTP (`http://` URLs): to a leader that
/// speaks TLS, the relay closes with 1013 at once.
///
/// All relays run on one thread of their own (asynchronous I/O). start()
/// once; stop() closes what is open and joins the thread. Thread-safe.

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/result.hpp"
#include "http/message_channel.hpp"

namespace muster::http {

class WebSocketRelays {
 public:
  WebSocketRelays();
  ~WebSocketRelays();
  WebSocketRelays(const WebSocketRelays&) = delete;
  WebSocketRelays& operator=(const WebSocketRelays&) = delete;

  Status start();
  void stop();

  /// Opens a relay of `client` (the accepted WebSocket) to `target` on the
  /// leader at `base_url` ("http://host:port"), its upgrade request carrying
  /// `headers`; returns the handler of the client's messages.
  std::shared_ptr<MessageHandler> open(const std::string& base_url, const std::string& target,
                                       std::vector<std::pair<std::string, std::string>> headers,
                                       std::shared_ptr<MessageChannel> client);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace muster::http
