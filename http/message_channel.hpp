#pragma once
/// A conversation in messages over one connection (a WebSocket), seen from
/// both ends without naming the transport. The listener implements
/// `MessageChannel`; a route that speaks in messages (OpAMP) implements
/// `MessageHandler` and makes one per connection through its `Route::upgrade`
/// (http/call.hpp), after the pipeline admitted the upgrade request from its
/// head (authentication, throttle, readiness) like any other request.

#include <cstdint>
#include <memory>
#include <string>

namespace muster::http {

/// The close codes muster sends (RFC 6455 7.4.1).
enum class CloseCode : std::uint16_t {
  normal = 1000,
  going_away = 1001,     ///< The server stops.
  policy = 1008,         ///< The peer broke a rule of the conversation.
  too_big = 1009,        ///< A message over the route's limit.
  internal = 1011,
  try_again_later = 1013,  ///< Overloaded.
};

/// The listener's end. Thread safety: every method may be called from any
/// thread, also after the connection closed (then it does nothing).
class MessageChannel {
 public:
  virtual ~MessageChannel() = default;
  /// Queues one binary message; messages go out whole, in the order queued.
  /// False once the channel is closing or closed, or when the peer lets more
  /// than the listener's bound of messages pile up unread (then the channel
  /// closes with `try_again_later`).
  virtual bool send(std::string message) = 0;
  /// Sends the messages queued so far, then closes with `code`. Once.
  virtual void close(CloseCode code, std::string reason) = 0;
  /// The peer's address.
  virtual const std::string& remote_address() const = 0;
};

/// The route's end, one per connection. Called on the connection's own
/// thread, never two calls at once; must not block.
class MessageHandler {
 public:
  virtual ~MessageHandler() = default;
  /// One whole message (binary or text) of at most the route's limit, in
  /// the order received; the listener goes on reading meanwhile.
  virtual void on_message(std::string message) = 0;
  /// The connection ended: the peer closed, a timeout, an error, the
  /// listener stopping, or `close`. Called once, last.
  virtual void on_close() = 0;
};

}  // namespace muster::http
