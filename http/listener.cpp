#include "http/listener.hpp"

#include <sys/socket.h>

#include <array>
#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>

#include "common/log.hpp"
#include "http/api.hpp"
#include "http/forwarding.hpp"

namespace muster::http {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace websocket = boost::beast::websocket;
using tcp = net::ip::tcp;

namespace {

bool is_token_char(char c) {
  constexpr std::string_view kTokenSymbols = "!#$%&'*+-.^_`|~";
  return std::isalnum(static_cast<unsigned char>(c)) || kTokenSymbols.find(c) != std::string_view::npos;
}

// Where a request's head ends: the empty line, also when a client ends its
// lines with a bare LF (so that check_header_block can refuse it, rather than
// the connection waiting for a CRLF that never comes).
std::pair<net::buffers_iterator<net::const_buffers_1>, bool> end_of_head(
    net::buffers_iterator<net::const_buffers_1> begin, net::buffers_iterator<net::const_buffers_1> end) {
  for (auto at = begin; at != end; ++at) {
    if (*at != '\n') continue;
    auto next = at + 1;
    if (next != end && *next == '\r') ++next;
    if (next == end) return {begin + (at - begin), false};
    if (*next == '\n') return {next + 1, true};
  }
  return {end, false};
}

// A refused request's body up to this size is read and dropped to keep the
// connection; a larger one ends it.
constexpr std::size_t kDroppedBodyBytes = 64 * 1024;

// How long, and for how many bytes, a closing connection's input is drained,
// read this many at a time.
constexpr TimeMs kLingerMs = 2'000;
constexpr std::size_t kLingerBytes = 64 << 20;
constexpr std::size_t kScratchBytes = 16 * 1024;

// What the buffer may hold beyond the header block while a body is read.
constexpr std::size_t kBodyReadBytes = 64 * 1024;

std::chrono::milliseconds ms(TimeMs value) {
  return std::chrono::milliseconds(value);
}

// Messages a WebSocket may have queued and not yet written; one more closes
// it with 1013 (a peer that does not read must not make the server hold
// unbounded memory for it).
constexpr std::size_t kMaxQueuedMessages = 64;

// A close frame's reason, at most (RFC 6455 5.5: a control frame's payload
// is 125 bytes, two of them the code).
constexpr std::size_t kMaxCloseReasonBytes = 123;

}  // namespace

// What the listener needs of a connection that outlives its request (an open
// WebSocket, a streamed answer), whatever its stream: ending it when the
// listener stops, and finishing it. Linked into its loop's list (touched
// only on that loop's thread, or after the threads joined).
class LongLivedLink {
 public:
  virtual ~LongLivedLink() = default;
  /// The listener stops: a WebSocket closes with 1001, a stream says its
  /// farewell and ends (on the connection's thread).
  virtual void go_away() = 0;
  /// The connection ended (or the listener's threads are gone): on_close, once.
  virtual void finish() = 0;

  void link_after(LongLivedLink& head) {
    previous_ = &head;
    next_ = head.next_;
    if (next_ != nullptr) next_->previous_ = this;
    head.next_ = this;
  }
  void unlink() {
    if (previous_ != nullptr) previous_->next_ = next_;
    if (next_ != nullptr) next_->previous_ = previous_;
    previous_ = next_ = nullptr;
  }
  LongLivedLink* next() const { return next_; }

 private:
  LongLivedLink* previous_ = nullptr;
  LongLivedLink* next_ = nullptr;
};

// The head of a loop's list of long-lived connections.
class LongLivedList final : public LongLivedLink {
 public:
  void go_away() override {}
  void finish() override {}
};

std::optional<HeaderBlockError> check_header_block(std::string_view block, std::size_t max_fields) {
  for (std::size_t index = 0; index < block.size(); ++index) {
    if (block[index] == '\n' && (index == 0 || block[index - 1] != '\r')) return HeaderBlockError{"bare LF"};
    if (block[index] == '\r' && (index + 1 == block.size() || block[index + 1] != '\n')) {
      return HeaderBlockError{"bare CR"};
    }
  }
  std::size_t line_end = block.find("\r\n");
  if (line_end == std::string_view::npos) return HeaderBlockError{"no request line"};
  std::size_t fields = 0;
  std::size_t content_lengths = 0;
  std::string_view content_length;
  std::size_t transfer_encodings = 0;
  for (std::size_t start = line_end + 2; start < block.size();) {
    line_end = block.find("\r\n", start);
    const std::string_view line = block.substr(start, line_end - start);
    start = line_end + 2;
    if (line.empty()) break;
    if (line.front() == ' ' || line.front() == '\t') return HeaderBlockError{"obsolete line folding"};
    if (++fields > max_fields) return HeaderBlockError{"too many header fields", true};
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return HeaderBlockError{"a header field without a name"};
    const std::string_view name = line.substr(0, colon);
    for (char c : name) {
      if (!is_token_char(c)) return HeaderBlockError{"a header name with a space or separator"};
    }
    const std::string_view value = trim_whitespace(line.substr(colon + 1));
    if (value.find('\0') != std::string_view::npos) return HeaderBlockError{"NUL in a header value"};
    if (equals_ignoring_case(name, "Content-Length")) {
      if (value.empty() || value.size() > 18 || value.find_first_not_of("0123456789") != std::string_view::npos) {
        return HeaderBlockError{"Content-Length must be one decimal number"};
      }
      // The same length twice (some clients repeat it) is one length (RFC 9112 6.3).
      if (content_lengths > 0 && value != content_length) {
        return HeaderBlockError{"two different Content-Lengths"};
      }
      content_length = value;
      ++content_lengths;
    } else if (equals_ignoring_case(name, "Transfer-Encoding")) {
      ++transfer_encodings;
      if (!equals_ignoring_case(value, "chunked")) {
        return HeaderBlockError{"only Transfer-Encoding: chunked is accepted"};
      }
    }
  }
  if (transfer_encodings > 1) return HeaderBlockError{"Transfer-Encoding appears more than once"};
  if (content_lengths > 0 && transfer_encodings > 0) {
    return HeaderBlockError{"both Content-Length and Transfer-Encoding"};
  }
  return std::nullopt;
}

// Open connections per address, over all of a listener's threads.
class ConnectionCounter {
 public:
  explicit ConnectionCounter(std::size_t max_per_address) : max_(max_per_address) {}
  bool acquire(const std::string& address) {
    std::lock_guard lock(mutex_);
    std::size_t& open = open_[address];
    if (open >= max_) return false;
    ++open;
    return true;
  }
  void release(const std::string& address) {
    std::lock_guard lock(mutex_);
    auto found = open_.find(address);
    if (found != open_.end() && --found->second == 0) open_.erase(found);
  }

 private:
  const std::size_t max_;
  std::mutex mutex_;
  std::unordered_map<std::string, std::size_t> open_;
};

struct HttpListener::Impl {
  Impl(ListenerOptions options_in, Api& api_in)
      : options(std::move(options_in)), api(api_in), connections(options.limits.max_connections_per_address) {}

  struct Loop {
    /// The loop's open WebSockets and streams; declared first so that it
    /// outlives the connections destroyed with `context`.
    LongLivedList long_lived;
    net::io_context context{1};  ///< Destroyed with the listener, with the connections' handlers.
    /// Keeps run() going while nothing is pending on the loop: once the
    /// acceptor is closed, a connection waiting for its answer from another
    /// thread has no operation pending, and the answer would never be run.
    net::executor_work_guard<net::io_context::executor_type> busy = net::make_work_guard(context);
    std::unique_ptr<tcp::acceptor> acceptor;
    std::thread thread;
  };

  void accept(Loop& loop);
  const ListenerOptions options;
  Api& api;
  ConnectionCounter connections;
  std::unique_ptr<net::ssl::context> tls;
  std::vector<std::unique_ptr<Loop>> loops;
  int bound_port = 0;
  std::atomic<bool> stopping{false};
  std::atomic<std::size_t> in_flight{0};        ///< Requests admitted and not yet answered (or upgraded).
  std::atomic<std::size_t> websockets_open{0};  ///< WebSockets whose on_close has not run.
  std::atomic<std::size_t> streams_open{0};     ///< Streamed answers whose on_close has not run.
  std::atomic<bool> stopped{false};
};

namespace {

// What a route's channel reaches: the open WebSocket, whatever its stream.
class WebSocketBase : public LongLivedLink, public std::enable_shared_from_this<WebSocketBase> {
 public:
  virtual bool send(std::string message) = 0;
  virtual void close(CloseCode code, std::string reason) = 0;
};

// The route's handle on its connection. It refers to the connection weakly:
// a handler keeping its channel keeps no connection (nor itself) alive.
class Channel final : public MessageChannel {
 public:
  Channel(std::weak_ptr<WebSocketBase> session, std::string address)
      : session_(std::move(session)), address_(std::move(address)) {}
  bool send(std::string message) override {
    const auto session = session_.lock();
    return session != nullptr && session->send(std::move(message));
  }
  void close(CloseCode code, std::string reason) override {
    if (const auto session = session_.lock()) session->close(code, std::move(reason));
  }
  const std::string& remote_address() const override { return address_; }

 private:
  const std::weak_ptr<WebSocketBase> session_;
  const std::string address_;
};

// One WebSocket, after its upgrade request was admitted: the handshake, then
// a read of whole messages at a time handed to the route's handler, and the
// channel's queue written one message at a time. Lean on purpose (an idle
// one holds Beast's stream, an empty read buffer and these few fields):
// the HTTP session that read the upgrade request is gone.
//
// Threads: everything runs on the connection's loop, except `send` and
// `close`, which post to it.
template <class Stream>
class WebSocketSession final : public WebSocketBase {
 public:
  WebSocketSession(Stream stream, std::string address, HttpListener::Impl& listener,
                   HttpListener::Impl::Loop& loop, std::shared_ptr<Call> call, std::size_t message_max_bytes)
      : socket_(std::move(stream)),
        executor_(loop.context.get_executor()),
        address_(std::move(address)),
        listener_(&listener),
        loop_(&loop),
        call_(std::move(call)) {
    socket_.read_message_max(message_max_bytes);
  }
  // Also when the listener is destroyed with the connection open.
  ~WebSocketSession() override {
    finish();
    listener_->connections.release(address_);
  }

  // Answers the upgrade request (101), then reads.
  void start(bhttp::request<bhttp::string_body> request) {
    link_after(loop_->long_lived);
    ++listener_->websockets_open;
    const ListenerLimits& limits = listener_->options.limits;
    // Beast's WebSocket timeouts replace the TCP stream's (one timer, not two).
    beast::get_lowest_layer(socket_).expires_never();
    websocket::stream_base::timeout timeout;
    timeout.handshake_timeout = ms(limits.io_timeout_ms);  // also bounds a close handshake
    timeout.idle_timeout = ms(limits.websocket_idle_timeout_ms);
    timeout.keep_alive_pings = true;  // a ping after half the idle time; a pong counts as received
    socket_.set_option(timeout);
    socket_.auto_fragment(false);
    socket_.binary(true);
    auto held = std::make_shared<bhttp::request<bhttp::string_body>>(std::move(request));
    socket_.async_accept(*held,
                         [self = typed_self(), held](beast::error_code error) { self->on_accept(error); });
  }

  bool send(std::string message) override {
    if (closing_) return false;
    if (queued_.fetch_add(1) >= kMaxQueuedMessages) {
      --queued_;
      close(CloseCode::try_again_later, "too many messages wait for the peer to read them");
      return false;
    }
    net::post(executor_, [self = typed_self(), message = std::move(message)]() mutable {
      self->enqueue(std::move(message));
    });
    return true;
  }

  void close(CloseCode code, std::string reason) override {
    if (closing_.exchange(true)) return;
    if (reason.size() > kMaxCloseReasonBytes) reason.resize(kMaxCloseReasonBytes);
    net::post(executor_, [self = typed_self(), code, reason = std::move(reason)]() mutable {
      self->want_close(code, std::move(reason));
    });
  }

  void go_away() override {
    // Still in its handshake: the 101 may already be on its way, so closing
    // the socket now would end a WebSocket its peer saw open without a close
    // frame. on_accept sees the listener stopping and closes with 1001; a
    // peer that never reads the 101 is cut off at the drain deadline.
    if (!open_) return;
    close(CloseCode::going_away, "the server stops");
  }

  void finish() override {
    if (finished_) return;
    finished_ = true;
    closing_ = true;
    unlink();
    --listener_->websockets_open;
    auto handler = std::move(handler_);
    if (handler != nullptr) handler->on_close();
  }

 private:
  std::shared_ptr<WebSocketSession> typed_self() {
    return std::static_pointer_cast<WebSocketSession>(shared_from_this());
  }

  void on_accept(beast::error_code error) {
    // The upgrade request is answered: no longer in flight for stop().
    --listener_->in_flight;
    auto call = std::move(call_);
    if (error) return end(error);
    open_ = true;
    auto channel = std::make_shared<Channel>(weak_from_this(), address_);
    // On a follower, the leader holds the conversation: this node relays it.
    handler_ = call->forwarded ? call->services.forwarder->relay(*call, std::move(channel))
                               : call->route->upgrade(call, std::move(channel));
    call.reset();
    if (handler_ == nullptr) {
      close(CloseCode::internal, "the route refused the connection");
    } else if (listener_->stopping) {
      close(CloseCode::going_away, "the server stops");
    }
    read();
  }

  void read() {
    socket_.async_read(input_,
                       [self = typed_self()](beast::error_code error, std::size_t) { self->on_read(error); });
  }

  void on_read(beast::error_code error) {
    if (error) return end(error);
    std::string message(static_cast<const char*>(input_.data().data()), input_.size());
    // An idle connection keeps no message-sized buffer.
    input_.clear();
    input_.shrink_to_fit();
    if (handler_ != nullptr) handler_->on_message(std::move(message));
    if (!finished_) read();
  }

  // The connection is over: a close handshake done (Beast answered the
  // peer's, or the peer answered ours, or Beast closed with 1009 for an
  // oversized message), a timeout, a reset or the listener's cancel.
  void end(beast::error_code error) {
    if (error != websocket::error::closed) {
      beast::get_lowest_layer(socket_).close();
    }
    finish();
  }

  void enqueue(std::string message) {
    if (finished_ || close_started_) {
      --queued_;
      return;
    }
    pending_.push_back(std::move(message));
    if (!writing_) write_next();
  }

  void write_next() {
    if (pending_.empty()) {
      pending_ = {};  // releases the queue's memory
      if (close_wanted_) start_close();
      return;
    }
    // Out of the queue, so that the queue may grow (and move its strings) during the write.
    writing_message_ = std::move(pending_.front());
    pending_.erase(pending_.begin());
    writing_ = true;
    socket_.async_write(
        net::buffer(writing_message_),
        [self = typed_self()](beast::error_code error, std::size_t) { self->on_written(error); });
  }

  void on_written(beast::error_code error) {
    writing_ = false;
    writing_message_ = std::string();
    --queued_;
    if (error) {
      // The read side sees the connection end; what is queued is dropped.
      queued_ -= pending_.size();
      pending_ = {};
      return;
    }
    write_next();
  }

  void want_close(CloseCode code, std::string reason) {
    if (finished_) return;
    close_wanted_ = true;
    close_code_ = code;
    close_reason_ = std::move(reason);
    if (!writing_) start_close();
  }

  void start_close() {
    if (close_started_ || finished_) return;
    close_started_ = true;
    socket_.async_close(
        websocket::close_reason(static_cast<websocket::close_code>(close_code_), close_reason_),
        [self = typed_self()](beast::error_code error) {
          if (error) beast::get_lowest_layer(self->socket_).close();
        });
  }

  websocket::stream<Stream> socket_;
  /// The loop's: what `send` and `close` post to from any thread (they
  /// touch nothing of the stream itself).
  const net::io_context::executor_type executor_;
  const std::string address_;
  HttpListener::Impl* const listener_;    ///< Outlives every session (~HttpListener).
  HttpListener::Impl::Loop* const loop_;  ///< The loop whose thread runs this session.
  std::shared_ptr<Call> call_;            ///< The upgrade request's, until the route has it.
  std::shared_ptr<MessageHandler> handler_;
  beast::flat_buffer input_;          ///< The message being read; emptied after each.
  std::vector<std::string> pending_;  ///< Messages waiting for the one being written.
  std::string writing_message_;
  std::atomic<std::size_t> queued_{0};  ///< Sent and not yet written (any thread).
  std::atomic<bool> closing_{false};    ///< close() was called, or the connection ended (any thread).
  CloseCode close_code_ = CloseCode::normal;
  std::string close_reason_;
  bool open_ = false;  ///< The handshake succeeded.
  bool writing_ = false;
  bool close_wanted_ = false;   ///< Close once the queue is written.
  bool close_started_ = false;  ///< The close frame is on its way.
  bool finished_ = false;       ///< on_close ran (or there was no handler).
};

// What a route's stream channel reaches: the streamed answer, whatever its stream.
class StreamBase : public LongLivedLink, public std::enable_shared_from_this<StreamBase> {
 public:
  virtual void wake() = 0;
  virtual void close(std::string last_words) = 0;
  virtual void abort() = 0;
};

// The route's handle on its streamed answer. Weak, like `Channel`: a source
// keeping its channel keeps no connection alive.
class StreamHandle final : public StreamChannel {
 public:
  explicit StreamHandle(std::weak_ptr<StreamBase> session) : session_(std::move(session)) {}
  void wake() override {
    if (const auto session = session_.lock()) session->wake();
  }
  void close(std::string last_words) override {
    if (const auto session = session_.lock()) session->close(std::move(last_words));
  }
  void abort() override {
    if (const auto session = session_.lock()) session->abort();
  }

 private:
  const std::weak_ptr<StreamBase> session_;
};

// One streamed answer (http/stream_channel.hpp), after its route answered
// with a source: the head (chunked), then one piece at a time from the
// source, the next asked for only once the previous one is written, so the
// connection holds at most one piece however slowly the peer reads. The
// peer's side is read (and dropped) only to notice at once when it goes.
// The connection closes after the stream, never taking another request.
//
// Threads: everything runs on the connection's loop, except `wake`,
// `close` and `abort`, which post to it.
template <class Stream>
class StreamSession final : public StreamBase {
 public:
  StreamSession(Stream stream, std::string address, HttpListener::Impl& listener,
                HttpListener::Impl::Loop& loop, std::shared_ptr<StreamSource> source)
      : stream_(std::move(stream)),
        executor_(loop.context.get_executor()),
        address_(std::move(address)),
        listener_(&listener),
        loop_(&loop),
        source_(std::move(source)) {}
  // Also when the listener is destroyed with the connection open.
  ~StreamSession() override {
    finish();
    listener_->connections.release(address_);
  }

  // Writes the answer's head; the body follows from the source.
  void start(Response response) {
    link_after(loop_->long_lived);
    ++listener_->streams_open;
    head_.version(11);
    head_.result(static_cast<unsigned>(response.status));
    head_.set(bhttp::field::content_type, response.content_type);
    for (auto& [name, value] : response.headers) head_.insert(name, value);
    head_.chunked(true);
    head_.keep_alive(false);
    // The source says when a peer is too slow; a dead peer fails a write.
    beast::get_lowest_layer(stream_).expires_never();
    serializer_.emplace(head_);
    writing_ = true;
    bhttp::async_write_header(stream_, *serializer_, [self = typed_self()](beast::error_code error, std::size_t) {
      self->on_head_written(error);
    });
  }

  void wake() override {
    if (wake_posted_.exchange(true)) return;
    net::post(executor_, [self = typed_self()] {
      self->wake_posted_ = false;
      self->pull();
    });
  }

  void close(std::string last_words) override {
    net::post(executor_, [self = typed_self(), last_words = std::move(last_words)]() mutable {
      self->end_with(std::move(last_words));
    });
  }

  void abort() override {
    net::post(executor_, [self = typed_self()] { self->drop(); });
  }

  void go_away() override {
    if (!opened_) {
      // Still writing its head: it ends there (not here: stop() is walking the list).
      beast::get_lowest_layer(stream_).close();
      return;
    }
    end_with(source_->farewell());
  }

  void finish() override {
    if (finished_) return;
    finished_ = true;
    unlink();
    --listener_->streams_open;
    auto source = std::move(source_);
    if (opened_ && source != nullptr) source->on_close();
  }

 private:
  std::shared_ptr<StreamSession> typed_self() {
    return std::static_pointer_cast<StreamSession>(shared_from_this());
  }

  void on_head_written(beast::error_code error) {
    // The answer is on its way: no longer in flight for stop().
    --listener_->in_flight;
    writing_ = false;
    serializer_.reset();
    if (error) return end_connection();
    opened_ = true;
    source_->open(std::make_shared<StreamHandle>(weak_from_this()));
    read_peer();
    if (listener_->stopping) return end_with(source_->farewell());
    pull();
  }

  // The peer sends nothing after its request; what comes is dropped. The
  // read ends when the peer closes or the connection is dropped: the end.
  void read_peer() {
    beast::get_lowest_layer(stream_).socket().async_read_some(
        net::buffer(scratch_), [self = typed_self()](beast::error_code error, std::size_t) {
          if (error) return self->end_connection();
          self->read_peer();
        });
  }

  void pull() {
    if (writing_ || ending_ || finished_ || !opened_) return;
    std::string piece = source_->next();
    if (!piece.empty()) write_piece(std::move(piece));
  }

  void write_piece(std::string piece) {
    piece_ = std::move(piece);
    writing_ = true;
    net::async_write(stream_, bhttp::make_chunk(net::buffer(piece_)),
                     [self = typed_self()](beast::error_code error, std::size_t) { self->on_written(error); });
  }

  void on_written(beast::error_code error) {
    writing_ = false;
    piece_ = std::string();  // a stream waiting for news holds no piece
    if (error) return end_connection();
    if (ending_) return write_last();
    pull();
  }

  void end_with(std::string last_words) {
    if (ending_ || finished_) return;
    ending_ = true;
    last_words_ = std::move(last_words);
    if (!writing_ && opened_) write_last();
  }

  // The last words (if any), then the last chunk, then the close.
  void write_last() {
    if (!last_words_.empty()) return write_piece(std::exchange(last_words_, std::string()));
    writing_ = true;
    net::async_write(stream_, bhttp::make_chunk_last(),
                     [self = typed_self()](beast::error_code, std::size_t) { self->end_connection(); });
  }

  // Our side first, so that what was written reaches the peer before the close.
  void end_connection() {
    beast::error_code ignored;
    beast::get_lowest_layer(stream_).socket().shutdown(tcp::socket::shutdown_send, ignored);
    drop();
  }

  // Closing the socket ends the pending read (and write); the session then
  // finishes once its handlers have run (when the last reference goes).
  void drop() {
    beast::get_lowest_layer(stream_).close();
    finish();
  }

  Stream stream_;
  const net::io_context::executor_type executor_;
  const std::string address_;
  HttpListener::Impl* const listener_;    ///< Outlives every session (~HttpListener).
  HttpListener::Impl::Loop* const loop_;  ///< The loop whose thread runs this session.
  std::shared_ptr<StreamSource> source_;  ///< Until finished.
  bhttp::response<bhttp::empty_body> head_;
  std::optional<bhttp::response_serializer<bhttp::empty_body>> serializer_;  ///< While the head is written.
  std::string piece_;       ///< The piece being written.
  std::string last_words_;  ///< Written after `piece_` once ending.
  std::array<char, 64> scratch_{};
  std::atomic<bool> wake_posted_{false};  ///< A pull is posted (any thread).
  bool opened_ = false;                   ///< The head is written and the source opened.
  bool writing_ = false;
  bool ending_ = false;    ///< No more pieces: the last words, then the end.
  bool finished_ = false;  ///< on_close ran (or the source was never opened).
};

// An upgrade request's answer goes through this link rather than holding
// its HTTP session: once upgraded, the link is cut and the route's call
// (which the handler may keep) no longer keeps the session's buffers alive.
template <class SessionType>
struct ReplyLink {
  std::mutex mutex;
  std::shared_ptr<SessionType> session;
};

// One connection: reads a request, answers it, reads the next (requests
// sent back to back are answered in order), until the client closes, a
// limit is hit, or the listener stops.
template <class Stream>
class Session : public std::enable_shared_from_this<Session<Stream>> {
 public:
  Session(Stream stream, std::string address, HttpListener::Impl& listener, HttpListener::Impl::Loop& loop)
      : stream_(std::move(stream)),
        address_(std::move(address)),
        listener_(&listener),
        loop_(&loop),
        limits_(listener_->options.limits) {}
  ~Session() {
    if (counted_) listener_->connections.release(address_);
  }

  void start() {
    if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
      read_head();
    } else {
      beast::get_lowest_layer(stream_).expires_after(ms(limits_.io_timeout_ms));
      stream_.async_handshake(net::ssl::stream_base::server,
                              [self = this->shared_from_this()](beast::error_code error) {
                                if (!error) self->read_head();
                              });
    }
  }

 private:
  void read_head() {
    if (listener_->stopping) return close();
    beast::get_lowest_layer(stream_).expires_after(ms(served_ == 0 ? limits_.io_timeout_ms : limits_.idle_timeout_ms));
    // The header block is read whole and checked before Beast parses it.
    // (Asio copies a dynamic buffer it is given: a view of `input_`, then.)
    net::async_read_until(stream_, net::dynamic_buffer(input_, limits_.max_header_bytes), end_of_head,
                          [self = this->shared_from_this()](beast::error_code error, std::size_t size) {
                            self->on_head(error, size);
                          });
  }

  void on_head(beast::error_code error, std::size_t size) {
    if (error == net::error::not_found) {
      if (input_.find('\n') == std::string::npos) {
        return refuse(error_response(414, "the request line is too long", "URI_TOO_LONG"));
      }
      return refuse(error_response(431, "the request's header block is too large", "HEADERS_TOO_LARGE"));
    }
    if (error) return close();  // EOF, timeout, reset: nothing to answer.
    const std::string_view block(input_.data(), size);
    if (auto broken = check_header_block(block, limits_.max_header_fields)) {
      if (broken->too_many) return refuse(error_response(431, broken->why, "HEADERS_TOO_LARGE"));
      return refuse(error_response(400, "malformed HTTP request: " + broken->why, "BAD_REQUEST"));
    }
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(limits_.max_header_bytes + 1));
    // The route, known after admit, may take more than the listener's limit (OpAMP).
    parser_->body_limit(listener_->api.largest_body_bytes(limits_.max_body_bytes));
    beast::error_code parse_error;
    parser_->put(net::buffer(block.data(), block.size()), parse_error);
    input_.erase(0, size);
    if (parse_error == bhttp::error::body_limit) {
      return refuse(error_response(413, "request body too large", "PAYLOAD_TOO_LARGE"));
    }
    if (parse_error || !parser_->is_header_done()) {
      return refuse(error_response(400, "malformed HTTP request: " + parse_error.message(), "BAD_REQUEST"));
    }
    const auto& message = parser_->get();
    keep_alive_ = parser_->keep_alive();
    RequestHead head;
    // (Beast's string_view is Boost's, 1.74's not convertible to std's: copy by data and size.)
    const auto text = [](auto view) { return std::string(view.data(), view.size()); };
    head.method = text(message.method_string());
    const std::string target_text = text(message.target());
    const std::string_view target = target_text;
    head.path = std::string(target.substr(0, target.find('?')));
    head.query = parse_query_string(target);
    for (const auto& field : message) head.headers.add(text(field.name_string()), text(field.value()));
    head.remote_address = address_;
    head.listener = listener_->options.kind;
    head.has_body = parser_->chunked() || parser_->content_length().value_or(0) > 0;
    head.websocket = websocket::is_upgrade(message);
    head_request_ = head.method == "HEAD";
    const bool has_body = head.has_body;
    const bool upgrade_asked = head.websocket;
    ++served_;
    expect_answer();
    call_ = listener_->api.admit(std::move(head), reply_function(upgrade_asked));
    if (!call_) {
      // Refused from the head: its body is never parsed. A small one is read
      // and dropped after the answer, so that the connection can go on;
      // otherwise the connection ends with the answer.
      if (has_body) {
        const bool small = !parser_->chunked() && *parser_->content_length() <= kDroppedBodyBytes;
        (small ? drop_body_ : keep_alive_) = small;
      }
      return;
    }
    // Admitted: the pipeline refuses an upgrade to a route that has no `upgrade`.
    if (upgrade_asked) return upgrade(has_body);
    const std::size_t body_limit =
        call_->max_body_bytes != 0 ? call_->max_body_bytes : limits_.max_body_bytes;
    if (parser_->content_length().value_or(0) > body_limit) {
      keep_alive_ = false;
      auto call = std::move(call_);
      return call->reply_error(413, "request body too large", "PAYLOAD_TOO_LARGE");
    }
    parser_->body_limit(body_limit);
    if (parser_->is_done()) return handle("");
    read_body([self = this->shared_from_this()](beast::error_code error) { self->on_body(error); });
  }

  // Reads the body `parser_` announced: what followed the header block in
  // `input_` first, then the socket (the parser holds the body limit).
  template <class Then>
  void read_body(Then then) {
    body_input_.emplace(input_, limits_.max_header_bytes + kBodyReadBytes);
    beast::get_lowest_layer(stream_).expires_after(ms(limits_.io_timeout_ms));
    bhttp::async_read(stream_, *body_input_, *parser_,
                      [then = std::move(then)](beast::error_code error, std::size_t) mutable { then(error); });
  }

  void on_body(beast::error_code error) {
    if (error) {
      keep_alive_ = false;
      auto call = std::move(call_);
      if (error == bhttp::error::body_limit) {
        return call->reply_error(413, "request body too large", "PAYLOAD_TOO_LARGE");
      }
      if (error == beast::error::timeout) {
        return call->reply_error(408, "request body not received in time", "REQUEST_TIMEOUT");
      }
      if (error == net::error::eof || error == bhttp::error::end_of_stream ||
          error == net::error::connection_reset) {
        return call->reply_error(400, "the connection ended inside the request body", "BAD_REQUEST");
      }
      return call->reply_error(400, "malformed HTTP request body: " + error.message(), "BAD_REQUEST");
    }
    handle(std::move(parser_->get().body()));
  }

  void handle(std::string body) {
    auto call = std::move(call_);
    listener_->api.handle(call, std::move(body));
  }

  // An admitted upgrade: what Beast would refuse with a text answer is
  // refused here in JSON; otherwise the socket moves to a WebSocket session
  // and this session ends (with its buffers) once this handler returns.
  void upgrade(bool has_body) {
    auto call = std::move(call_);
    const auto& message = parser_->get();
    const auto key = message[bhttp::field::sec_websocket_key];
    const auto version = message[bhttp::field::sec_websocket_version];
    if (has_body || !input_.empty()) {
      keep_alive_ = false;
      return call->reply_error(400, "a WebSocket upgrade request carries nothing after its head",
                               "BAD_REQUEST");
    }
    if (key.empty() || key.size() > 24) {
      keep_alive_ = false;
      return call->reply_error(400, "a WebSocket upgrade needs a Sec-WebSocket-Key of 16 bytes in base64",
                               "BAD_REQUEST");
    }
    if (version != "13") {
      keep_alive_ = false;
      Response response = error_response(426, "only WebSocket version 13 is spoken", "UPGRADE_REQUIRED");
      response.headers.emplace_back("Sec-WebSocket-Version", "13");
      return call->reply(std::move(response));
    }
    if (auto link = reply_link_.lock()) {
      std::lock_guard lock(link->mutex);
      link->session.reset();
    }
    const std::size_t message_max = call->max_body_bytes != 0 ? call->max_body_bytes : limits_.max_body_bytes;
    auto request = parser_->release();
    parser_.reset();
    counted_ = false;  // the WebSocket session holds the address's count now
    auto session = std::make_shared<WebSocketSession<Stream>>(std::move(stream_), address_, *listener_,
                                                              *loop_, std::move(call), message_max);
    session->start(std::move(request));
  }

  // A streamed answer: the socket moves to a stream session, which writes
  // the head and the body (and counts as in flight until its head is
  // written); this session ends once this handler returns.
  void stream(Response response) {
    counted_ = false;  // the stream session holds the address's count now
    auto source = std::move(response.stream);
    auto session = std::make_shared<StreamSession<Stream>>(std::move(stream_), address_, *listener_, *loop_,
                                                           std::move(source));
    session->start(std::move(response));
  }

  // The answer may come from any thread: it is carried back to this
  // connection's loop (posted, also from the loop itself, so that whoever
  // answers has finished with the session first). The session stays alive
  // until it is written (for an upgrade request, until it is upgraded).
  Reply reply_function(bool upgrade_asked) {
    auto self = this->shared_from_this();
    if (!upgrade_asked) {
      return [self](Response response) {
        auto executor = self->stream_.get_executor();
        net::post(executor,
                  [self, response = std::move(response)]() mutable { self->write(std::move(response)); });
      };
    }
    auto link = std::make_shared<ReplyLink<Session>>();
    link->session = self;
    reply_link_ = link;
    return [link](Response response) {
      std::shared_ptr<Session> session;
      {
        std::lock_guard lock(link->mutex);
        session = std::move(link->session);
      }
      if (session == nullptr) return;  // upgraded: nothing to answer in HTTP
      auto executor = session->stream_.get_executor();
      net::post(executor,
                [session, response = std::move(response)]() mutable { session->write(std::move(response)); });
    };
  }

  // A request is in flight from here until its answer is written.
  void expect_answer() {
    ++listener_->in_flight;
    awaiting_ = true;
  }

  void refuse(Response response) {
    keep_alive_ = false;
    expect_answer();
    write(std::move(response));
  }

  void write(Response response) {
    if (!awaiting_) return;
    awaiting_ = false;
    if (response.stream != nullptr && !head_request_) return stream(std::move(response));
    // The last request a connection may carry, or the listener stopping: say
    // so in this answer (closing silently before the next request would fail
    // a client that already sent it).
    if (listener_->stopping || served_ >= limits_.max_requests_per_connection) keep_alive_ = false;
    auto answer = std::make_shared<bhttp::response<bhttp::string_body>>();
    answer->version(11);
    answer->result(static_cast<unsigned>(response.status));
    answer->set(bhttp::field::content_type, response.content_type);
    for (auto& [name, value] : response.headers) answer->insert(name, value);
    const std::size_t length = response.body.size();
    if (!head_request_) answer->body() = std::move(response.body);
    answer->content_length(length);
    answer->keep_alive(keep_alive_);
    beast::get_lowest_layer(stream_).expires_after(ms(limits_.io_timeout_ms));
    bhttp::async_write(stream_, *answer,
                       [self = this->shared_from_this(), answer](beast::error_code error, std::size_t) {
                         // In flight until written: stop() waits for this.
                         --self->listener_->in_flight;
                         if (error) return self->close();
                         if (!self->keep_alive_) return self->linger();
                         if (self->drop_body_) return self->drop_body();
                         self->read_head();
                       });
  }

  void drop_body() {
    drop_body_ = false;
    read_body([self = this->shared_from_this()](beast::error_code error) {
      if (error) return self->close();
      self->read_head();
    });
  }

  // Ends the connection after an answer that may have left the client
  // still sending (a 413 before its body): our side is shut down first and
  // what still arrives is read and dropped for a while, so that the client
  // can finish sending and read the answer instead of meeting a reset.
  void linger() {
    beast::error_code ignored;
    beast::get_lowest_layer(stream_).socket().shutdown(tcp::socket::shutdown_send, ignored);
    beast::get_lowest_layer(stream_).expires_after(ms(kLingerMs));
    if (scratch_ == nullptr) scratch_ = std::make_unique<char[]>(kScratchBytes);
    linger_read();
  }

  void linger_read() {
    beast::get_lowest_layer(stream_).async_read_some(
        net::buffer(scratch_.get(), kScratchBytes),
        [self = this->shared_from_this()](beast::error_code error, std::size_t size) {
          self->lingered_ += size;
          if (error || self->lingered_ > kLingerBytes) return self->close();
          self->linger_read();
        });
  }

  void close() {
    beast::error_code ignored;
    auto& socket = beast::get_lowest_layer(stream_).socket();
    // Shut down our side first so that a client still sending gets our
    // answer before the reset, then drop the connection.
    socket.shutdown(tcp::socket::shutdown_send, ignored);
    beast::get_lowest_layer(stream_).close();
  }

  Stream stream_;
  const std::string address_;
  HttpListener::Impl* const listener_;  ///< Outlives every session (~HttpListener).
  HttpListener::Impl::Loop* const loop_;  ///< The loop whose thread runs this session.
  const ListenerLimits& limits_;
  bool counted_ = true;                           ///< Holds its address's connection count (until upgraded).
  std::weak_ptr<ReplyLink<Session>> reply_link_;  ///< An upgrade request's answer path.
  /// Bytes received and not yet parsed (a pipelined request's too).
  std::string input_;
  /// The view of `input_` the body is read through (Beast keeps a reference).
  std::optional<net::dynamic_string_buffer<char, std::char_traits<char>, std::allocator<char>>> body_input_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::shared_ptr<Call> call_;
  bool head_request_ = false;  ///< A HEAD request: its answer has headers only.
  std::size_t served_ = 0;
  bool keep_alive_ = true;
  bool awaiting_ = false;
  bool drop_body_ = false;  ///< After the answer, read the refused request's body and drop it.
  /// Where lingering input goes; allocated only by a connection that
  /// lingers (an idle or upgraded one holds none).
  std::unique_ptr<char[]> scratch_;
  std::size_t lingered_ = 0;
};

// A connection over its address's limit: a short answer, our side shut,
// and what the client already sent drained for a moment before the close.
// Closing with its request unread would reset the connection, and a reset
// can discard the answer before the client reads it.
class Refusal : public std::enable_shared_from_this<Refusal> {
 public:
  explicit Refusal(tcp::socket socket) : stream_(std::move(socket)) {}

  void start() {
    static const std::string kBusy = [] {
      const std::string body =
          error_response(503, "too many connections from this address", "TOO_MANY_CONNECTIONS").body;
      return fmt::format("HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                         "Connection: close\r\nRetry-After: 1\r\nContent-Length: {}\r\n\r\n{}",
                         body.size(), body);
    }();
    // Best effort and without waiting: a full send buffer drops the answer.
    ::send(stream_.socket().native_handle(), kBusy.data(), kBusy.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.expires_after(ms(kRefusalLingerMs));
    drain();
  }

 private:
  // Short and small: a refused address must not hold more than a moment.
  static constexpr TimeMs kRefusalLingerMs = 1'000;
  static constexpr std::size_t kRefusalLingerBytes = 64 * 1024;

  void drain() {
    stream_.async_read_some(net::buffer(scratch_), [self = shared_from_this()](beast::error_code error,
                                                                                 std::size_t size) {
      self->drained_ += size;
      if (error || self->drained_ > kRefusalLingerBytes) return self->stream_.close();
      self->drain();
    });
  }

  beast::tcp_stream stream_;
  std::array<char, 1024> scratch_;
  std::size_t drained_ = 0;
};

}  // namespace

void HttpListener::Impl::accept(Loop& loop) {
  loop.acceptor->async_accept([self = this, &loop](beast::error_code error, tcp::socket socket) {
    if (error == net::error::operation_aborted || self->stopping) return;
    if (!error) {
      beast::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      const auto endpoint = socket.remote_endpoint(ignored);
      std::string address = ignored ? std::string("unknown") : endpoint.address().to_string();
      if (!self->connections.acquire(address)) {
        std::make_shared<Refusal>(std::move(socket))->start();
      } else if (self->tls) {
        using TlsStream = beast::ssl_stream<beast::tcp_stream>;
        std::make_shared<Session<TlsStream>>(TlsStream(beast::tcp_stream(std::move(socket)), *self->tls),
                                             std::move(address), *self, loop)
            ->start();
      } else {
        std::make_shared<Session<beast::tcp_stream>>(beast::tcp_stream(std::move(socket)), std::move(address),
                                                     *self, loop)
            ->start();
      }
    }
    self->accept(loop);
  });
}

HttpListener::HttpListener(ListenerOptions options, Api& api)
    : impl_(std::make_unique<Impl>(std::move(options), api)) {}

HttpListener::~HttpListener() {
  stop();
  // Destroying the loops destroys the connections still open (their
  // pending handlers hold them); they refer to the listener, so first.
  impl_->loops.clear();
}

std::string_view HttpListener::name() const {
  return impl_->options.kind == Listener::agents ? "http-agents" : "http";
}

Status HttpListener::start() {
  Impl& impl = *impl_;
  const ListenerOptions& options = impl.options;
  if (!options.tls_cert_path.empty()) {
    impl.tls = std::make_unique<net::ssl::context>(net::ssl::context::tls_server);
    beast::error_code error;
    impl.tls->set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                          net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 | net::ssl::context::no_tlsv1_1);
    impl.tls->use_certificate_chain_file(options.tls_cert_path, error);
    if (!error) impl.tls->use_private_key_file(options.tls_key_path, net::ssl::context::pem, error);
    if (error) {
      return make_error(ErrorCode::invalid_argument,
                        fmt::format("cannot load the TLS certificate {} or its key {}", options.tls_cert_path,
                                    options.tls_key_path));
    }
  }
  beast::error_code error;
  const auto address = net::ip::make_address(options.host, error);
  if (error) {
    return make_error(ErrorCode::invalid_argument, fmt::format("{} is not an IP address", options.host));
  }
  int port = options.port;
  for (std::size_t index = 0; index < std::max<std::size_t>(options.threads, 1); ++index) {
    auto loop = std::make_unique<Impl::Loop>();
    loop->acceptor = std::make_unique<tcp::acceptor>(loop->context);
    const tcp::endpoint endpoint(address, static_cast<unsigned short>(port));
    auto& acceptor = *loop->acceptor;
    acceptor.open(endpoint.protocol(), error);
    if (!error) acceptor.set_option(net::socket_base::reuse_address(true), error);
    if (!error) {
      const int on = 1;
      if (::setsockopt(acceptor.native_handle(), SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0) {
        error = beast::error_code(errno, boost::system::system_category());
      }
    }
    if (!error) acceptor.bind(endpoint, error);
    if (!error) acceptor.listen(net::socket_base::max_listen_connections, error);
    if (error) {
      stop();
      return make_error(ErrorCode::unavailable,
                        fmt::format("cannot listen on {}:{}: {}", options.host, port, error.message()));
    }
    port = acceptor.local_endpoint().port();
    impl.loops.push_back(std::move(loop));
  }
  impl.bound_port = port;
  for (auto& loop : impl.loops) {
    impl.accept(*loop);
    loop->thread = std::thread([&context = loop->context, thread_class = options.thread_class] {
      set_thread_class(thread_class);
      context.run();
    });
  }
  return Status::success();
}

int HttpListener::port() const {
  return impl_->bound_port;
}

void HttpListener::stop() {
  Impl& impl = *impl_;
  if (impl.stopped.exchange(true)) return;
  impl.stopping = true;
  for (auto& loop : impl.loops) {
    net::post(loop->context, [&acceptor = *loop->acceptor, &long_lived = loop->long_lived] {
      beast::error_code ignored;
      acceptor.close(ignored);
      for (LongLivedLink* link = long_lived.next(); link != nullptr; link = link->next()) link->go_away();
    });
  }
  // Requests in flight get their answers and WebSockets their close
  // handshakes (1001), bounded.
  const auto deadline = std::chrono::steady_clock::now() + ms(impl.options.drain_ms);
  while ((impl.in_flight > 0 || impl.websockets_open > 0 || impl.streams_open > 0) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  for (auto& loop : impl.loops) {
    loop->busy.reset();
    loop->context.stop();
  }
  for (auto& loop : impl.loops) {
    if (loop->thread.joinable()) loop->thread.join();
  }
  // WebSockets whose peers did not finish closing in time: their handlers
  // hear of it now (the loops' threads are gone, so this thread may).
  for (auto& loop : impl.loops) {
    while (LongLivedLink* link = loop->long_lived.next()) link->finish();
  }
}

}  // namespace muster::http
