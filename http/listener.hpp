#pragma once
/// One HTTP/1.1 listener on Boost.Beast: accepts connections, reads
/// requests strictly (RFC 9112 framing; see `check_header_block`), bounds
/// every request before doing work for it, and hands each to the API's
/// pipeline (http/api.hpp). Answers come back on the connection's own
/// thread; no thread waits for one.
///
/// Threads: `threads` event loops, each with its own `io_context` and its
/// own acceptor on the same port (SO_REUSEPORT: the kernel spreads
/// connections). An idle connection costs memory (a few KB), no CPU.
///
/// WebSocket (RFC 6455): an upgrade request is admitted like any other
/// request (from its head); to a route with `Route::upgrade` the listener
/// accepts the handshake on the same connection, plain or TLS, and carries
/// messages between the peer and the route's `MessageHandler` on the
/// connection's own thread (http/message_channel.hpp). A message over the
/// route's limit closes with 1009; a peer silent past
/// `websocket_idle_timeout_ms` is closed. An idle WebSocket holds no thread
/// and no HTTP buffers (a few KB in all).
///
/// Streamed answers (http/stream_channel.hpp, Server-Sent Events): a
/// response with a `stream` is written as a chunked body, one piece of the
/// route's source at a time, the next asked for once the previous one is
/// written; the connection closes after the stream. A stream holds no
/// thread and at most one piece; the route decides when a peer is too slow.
///
/// Lifecycle: `start()` binds and serves; `stop()` stops accepting, lets
/// requests in flight finish, closes WebSockets with 1001 (going away) and
/// ends streams after their source's farewell, for up to `drain_ms`, then
/// closes every connection and joins the threads. Every WebSocket's and
/// stream's `on_close` has run when stop() returns.

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "common/clock.hpp"
#include "common/lifecycle.hpp"
#include "common/result.hpp"
#include "common/thread_class.hpp"
#include "http/exchange.hpp"

namespace muster::http {

class Api;

/// Bounds on what one client may make a listener hold.
struct ListenerLimits {
  /// Largest request body, however it is framed; larger answer 413. Default: 1 MiB.
  std::size_t max_body_bytes = 1 << 20;
  /// The request line and headers together; more answer 431. Default: 16 KiB.
  std::size_t max_header_bytes = 16 * 1024;
  /// Header fields per request; more answer 431. Default: 100.
  std::size_t max_header_fields = 100;
  /// Receiving a request's whole header block (the first on a connection;
  /// later ones get `idle_timeout_ms`), then its whole body, then writing
  /// the answer: each may take this long. Default: 10 s.
  TimeMs io_timeout_ms = 10'000;
  /// A keep-alive connection may wait this long for its next request. Default: 5 s.
  TimeMs idle_timeout_ms = 5'000;
  /// Requests on one connection before it is closed. Default: 10,000.
  std::size_t max_requests_per_connection = 10'000;
  /// Open connections from one address; beyond, new ones get 503 and are
  /// closed. Default: 10,000.
  std::size_t max_connections_per_address = 10'000;
  /// A WebSocket that receives nothing for this long is closed: after half
  /// of it the listener pings, and a live peer's pong counts as received.
  /// Default: 90 s (OpAMP clients heartbeat every 30 s by default, so a
  /// client that is alive but quiet is pinged, not closed).
  TimeMs websocket_idle_timeout_ms = 90'000;
};

struct ListenerOptions {
  Listener kind = Listener::operators;
  std::string host = "127.0.0.1";
  /// 0 picks a free port (see `HttpListener::port()`).
  int port = 8080;
  /// Event loops. Default: one.
  std::size_t threads = 1;
  ThreadClass thread_class = ThreadClass::interactive;
  ListenerLimits limits;
  /// PEM certificate (chain) and private key: HTTPS when both are set.
  std::string tls_cert_path;
  std::string tls_key_path;
  /// How long stop() lets requests in flight finish. Default: 5 s.
  TimeMs drain_ms = 5'000;
};

/// The first RFC 9112 rule `block` (a request line and header fields, each
/// ending in CRLF, then an empty line) breaks, or nullopt: bare CR or LF,
/// obsolete line folding, a space before a colon, a name that is not a
/// token, NUL in a value, more than `max_fields` fields (then `too_many`),
/// a Content-Length that is not one run of digits or appears twice,
/// Transfer-Encoding other than exactly "chunked" or twice, both framings.
struct HeaderBlockError {
  std::string why;
  bool too_many = false;  ///< 431 rather than 400.
};
std::optional<HeaderBlockError> check_header_block(std::string_view block, std::size_t max_fields);

class HttpListener : public Service {
 public:
  /// `api` must outlive the listener.
  HttpListener(ListenerOptions options, Api& api);
  ~HttpListener() override;
  HttpListener(const HttpListener&) = delete;
  HttpListener& operator=(const HttpListener&) = delete;

  std::string_view name() const override;
  /// Errors: `invalid_argument` if the TLS certificate or key cannot be
  /// loaded, `unavailable` if the address cannot be bound.
  Status start() override;
  void stop() override;
  /// The bound port (after start()).
  int port() const;

 struct Impl;  ///< Public so that listener.cpp's connections may name it.

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace muster::http
