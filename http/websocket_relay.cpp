#include "http/websocket_relay.hpp"

#include <chrono>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <fmt/format.h>

#include "common/log.hpp"

namespace muster::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

// What the client may send while the leader's end opens (or is slow to
// take it) before the relay gives up on it: an agent sends a message or two.
constexpr std::size_t kMaxHeld = 64;
// The leader's largest message: a config for an agent, far under this.
constexpr std::size_t kMaxLeaderMessage = 64u << 20;
constexpr auto kConnectTimeout = std::chrono::seconds(5);

// The close code to pass on for the leader's `code`: one muster sends, else 1011.
CloseCode passed_on(std::uint16_t code) {
  switch (static_cast<CloseCode>(code)) {
    case CloseCode::normal:
    case CloseCode::going_away:
    case CloseCode::policy:
    case CloseCode::too_big:
    case CloseCode::internal:
    case CloseCode::try_again_later: return static_cast<CloseCode>(code);
  }
  return CloseCode::internal;
}

// One relayed WebSocket. Every member is touched on the relays' thread only;
// the client's calls (on its connection's thread) are posted there.
class Relay final : public MessageHandler, public std::enable_shared_from_this<Relay> {
 public:
  Relay(asio::io_context& io, std::shared_ptr<MessageChannel> client)
      : io_(io), resolver_(io), leader_(io), client_(std::move(client)) {}

  void open(std::string host, std::string port, std::string target,
            std::vector<std::pair<std::string, std::string>> headers) {
    asio::post(io_, [self = shared_from_this(), host = std::move(host), port = std::move(port),
                     target = std::move(target), headers = std::move(headers)]() mutable {
      self->resolve(std::move(host), std::move(port), std::move(target), std::move(headers));
    });
  }

  void on_message(std::string message) override {
    asio::post(io_, [self = shared_from_this(), message = std::move(message)]() mutable {
      self->hold(std::move(message));
    });
  }

  void on_close() override {
    asio::post(io_, [self = shared_from_this()] { self->client_closed(); });
  }

 private:
  void resolve(std::string host, std::string port, std::string target,
               std::vector<std::pair<std::string, std::string>> headers) {
    if (ended_) return;
    resolver_.async_resolve(
        host, port,
        [self = shared_from_this(), host, port, target = std::move(target), headers = std::move(headers)](
            beast::error_code error, tcp::resolver::results_type found) mutable {
          if (error) return self->end(CloseCode::try_again_later, "the leader cannot be reached", error);
          const bool v6 = host.find(':') != std::string::npos;
          self->connect(found, v6 ? "[" + host + "]:" + port : host + ":" + port, std::move(target),
                        std::move(headers));
        });
  }

  void connect(const tcp::resolver::results_type& found, std::string host, std::string target,
               std::vector<std::pair<std::string, std::string>> headers) {
    if (ended_) return;
    beast::get_lowest_layer(leader_).expires_after(kConnectTimeout);
    beast::get_lowest_layer(leader_).async_connect(
        found, [self = shared_from_this(), host = std::move(host), target = std::move(target),
                headers = std::move(headers)](beast::error_code error, const tcp::endpoint&) mutable {
          if (error) return self->end(CloseCode::try_again_later, "the leader cannot be reached", error);
          self->handshake(std::move(host), std::move(target), std::move(headers));
        });
  }

  void handshake(std::string host, std::string target, std::vector<std::pair<std::string, std::string>> headers) {
    if (ended_) return;
    beast::get_lowest_layer(leader_).expires_never();
    leader_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::client));
    leader_.set_option(websocket::stream_base::decorator([headers = std::move(headers)](websocket::request_type& request) {
      for (const auto& [name, value] : headers) request.insert(name, value);
    }));
    leader_.read_message_max(kMaxLeaderMessage);
    leader_.async_handshake(answer_, host, target, [self = shared_from_this()](beast::error_code error) {
      if (error == websocket::error::upgrade_declined) {
        // The leader's refusal of the credential is the client's: it must not retry as it is.
        const unsigned status = self->answer_.result_int();
        const bool refused = status == 401 || status == 403;
        return self->end(refused ? CloseCode::policy : CloseCode::try_again_later,
                         fmt::format("the leader answered {}", status), error);
      }
      if (error) return self->end(CloseCode::try_again_later, "the leader cannot be reached", error);
      self->leader_.binary(true);
      self->open_ = true;
      self->read();
      self->write_next();
    });
  }

  void hold(std::string message) {
    if (ended_) return;
    if (held_.size() >= kMaxHeld) {
      return end(CloseCode::try_again_later, "too many messages wait for the leader", {});
    }
    held_.push_back(std::move(message));
    write_next();
  }

  void write_next() {
    if (!open_ || writing_ || ended_) return;
    if (held_.empty()) {
      if (client_gone_) close_leader();
      return;
    }
    writing_ = true;
    leader_.async_write(asio::buffer(held_.front()), [self = shared_from_this()](beast::error_code error, std::size_t) {
      self->writing_ = false;
      if (error) return self->end(CloseCode::try_again_later, "the leader's end failed", error);
      self->held_.pop_front();
      self->write_next();
    });
  }

  void read() {
    leader_.async_read(incoming_, [self = shared_from_this()](beast::error_code error, std::size_t) {
      if (error == websocket::error::closed) {
        const auto& reason = self->leader_.reason();
        return self->end(passed_on(reason.code), std::string(reason.reason.data(), reason.reason.size()), {});
      }
      if (error) return self->end(CloseCode::try_again_later, "the leader's end failed", error);
      std::string message = beast::buffers_to_string(self->incoming_.data());
      self->incoming_.consume(self->incoming_.size());
      if (!self->client_->send(std::move(message))) return self->end(CloseCode::try_again_later, "", {});
      self->read();
    });
  }

  // The client is gone: what it sent goes on to the leader, then the leader's end closes.
  void client_closed() {
    client_gone_ = true;
    if (!open_) return end(CloseCode::normal, "", {});
    write_next();
  }

  void close_leader() {
    if (closing_) return;
    closing_ = true;
    leader_.async_close(websocket::close_code::normal, [self = shared_from_this()](beast::error_code) {});
  }

  // Ends both sides once: the client's with `code`, the leader's as it stands.
  void end(CloseCode code, const std::string& reason, beast::error_code error) {
    if (ended_) return;
    ended_ = true;
    if (error && !client_gone_) {
      log::warn("a relayed WebSocket ended", {{"error", error.message()}, {"close", static_cast<int>(code)}});
    }
    if (!client_gone_) client_->close(code, reason);
    resolver_.cancel();
    if (open_) {
      close_leader();
    } else {
      beast::error_code ignored;
      beast::get_lowest_layer(leader_).socket().close(ignored);
    }
  }

  asio::io_context& io_;
  tcp::resolver resolver_;
  websocket::stream<beast::tcp_stream> leader_;
  websocket::response_type answer_;
  beast::flat_buffer incoming_;
  const std::shared_ptr<MessageChannel> client_;
  std::deque<std::string> held_;
  bool open_ = false;         ///< The leader's end is open.
  bool writing_ = false;
  bool closing_ = false;      ///< The leader's end is being closed.
  bool client_gone_ = false;  ///< The client's end closed.
  bool ended_ = false;
};

}  // namespace

struct WebSocketRelays::Impl {
  asio::io_context io{1};
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::thread thread;
};

WebSocketRelays::WebSocketRelays() : impl_(std::make_unique<Impl>()) {}

WebSocketRelays::~WebSocketRelays() { stop(); }

Status WebSocketRelays::start() {
  impl_->work.emplace(asio::make_work_guard(impl_->io));
  impl_->thread = std::thread([this] { impl_->io.run(); });
  return Status::success();
}

void WebSocketRelays::stop() {
  if (!impl_->thread.joinable()) return;
  // The listener closed its WebSockets before this stops; what is left is dropped.
  impl_->work.reset();
  impl_->io.stop();
  impl_->thread.join();
}

std::shared_ptr<MessageHandler> WebSocketRelays::open(const std::string& base_url, const std::string& target,
                                                      std::vector<std::pair<std::string, std::string>> headers,
                                                      std::shared_ptr<MessageChannel> client) {
  auto relay = std::make_shared<Relay>(impl_->io, client);
  constexpr std::string_view kScheme = "http://";
  std::string_view authority = base_url;
  if (authority.substr(0, kScheme.size()) != kScheme) {
    log::warn("cannot relay a WebSocket to a leader that speaks TLS; the agent reconnects", {{"url", base_url}});
    client->close(CloseCode::try_again_later, "this node cannot relay to the leader; reconnect");
    return relay;
  }
  authority.remove_prefix(kScheme.size());
  const auto colon = authority.rfind(':');
  std::string host(authority.substr(0, colon));
  if (host.size() >= 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  relay->open(std::move(host), std::string(authority.substr(colon + 1)), target, std::move(headers));
  return relay;
}

}  // namespace muster::http
