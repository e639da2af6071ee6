#pragma once
/// An answer whose body is written as it comes, over one connection, for as
/// long as the connection lasts (Server-Sent Events), seen from both ends
/// without naming the transport. A route answers with a `Response` whose
/// `stream` is set (http/exchange.hpp); the listener writes the head, then
/// pulls the body from the route's `StreamSource` one piece at a time, and
/// asks for the next piece only once the peer took the previous one. So a
/// peer that reads slowly holds at most one piece in the server, and the
/// route decides what to do about it (read on from where it is, or end).
///
/// The Beast listener (http/listener.hpp) writes the body in chunks
/// (Transfer-Encoding: chunked) and closes the connection after the last.

#include <memory>
#include <string>

namespace muster::http {

/// The listener's end. Thread safety: every method may be called from any
/// thread, also after the stream ended (then it does nothing).
class StreamChannel {
 public:
  virtual ~StreamChannel() = default;
  /// More may be available: the listener calls `StreamSource::next` again
  /// as soon as nothing is being written (at once if idle). Cheap: wakes
  /// that come while a call is pending fold into it.
  virtual void wake() = 0;
  /// Ends the stream: `last_words` are written after the piece being
  /// written (no more `next`), then the body ends and the connection
  /// closes. Once; later calls do nothing.
  virtual void close(std::string last_words) = 0;
  /// Drops the connection now, whatever is still unwritten (a peer that did
  /// not even take the last words).
  virtual void abort() = 0;
};

/// The route's end, one per streamed answer. Called on the connection's own
/// thread, never two calls at once; must not block (bounded work only).
class StreamSource {
 public:
  virtual ~StreamSource() = default;
  /// The head is on its way: the channel to wake and end the stream with.
  /// Called once, first. A source never opened (a HEAD request, a
  /// connection gone before its answer) hears nothing more.
  virtual void open(std::shared_ptr<StreamChannel> channel) = 0;
  /// The next piece of the body, asked for after `open` and each time the
  /// previous piece was written whole; empty: nothing now (the listener
  /// asks again after `StreamChannel::wake`).
  virtual std::string next() = 0;
  /// The listener stops: the last piece to write before the stream ends
  /// (may be empty).
  virtual std::string farewell() = 0;
  /// The stream ended (the peer closed, an error, `close`, `abort`, the
  /// listener stopping). After `open`, once, last.
  virtual void on_close() = 0;
};

}  // namespace muster::http
