#include "http/forwarding.hpp"

#include <httplib.h>

#include <charconv>

#include <fmt/format.h>

#include "common/log.hpp"
#include "common/percent_encoding.hpp"
#include "http/call.hpp"

namespace muster::http {
namespace {

/// Hop-by-hop fields (RFC 9110 7.6.1) and those the client sets itself.
bool is_hop_by_hop(std::string_view name) {
  static const std::vector<std::string_view> kFields = {"Connection", "Keep-Alive", "Transfer-Encoding", "TE",
                                                        "Trailer",    "Upgrade",    "Host",              "Content-Length",
                                                        "Proxy-Connection"};
  for (std::string_view field : kFields) {
    if (equals_ignoring_case(name, field)) return true;
  }
  return false;
}

/// The request's target again: its path and its query, as parsed.
std::string target_of(const RequestHead& head) {
  std::string target = head.path;
  char separator = '?';
  for (const auto& [name, value] : head.query) {
    target += separator;
    target += url_encode(name);
    target += '=';
    target += url_encode(value);
    separator = '&';
  }
  return target;
}

/// The handler of a WebSocket closed as it opened: it hears nothing more.
class NoMessages final : public MessageHandler {
 public:
  void on_message(std::string) override {}
  void on_close() override {}
};

/// (The call's reply adds Retry-After to a 503.)
Response no_leader(const std::string& message) {
  return error_response(503, message, "NO_LEADER");
}

/// The decimal position of a kPositionHeader; nullopt if absent or malformed.
std::optional<std::uint64_t> parse_position(const std::string& text) {
  std::uint64_t position = 0;
  const char* end = text.data() + text.size();
  const auto [parsed_to, error] = std::from_chars(text.data(), end, position);
  if (text.empty() || error != std::errc() || parsed_to != end) return std::nullopt;
  return position;
}

/// "host" of "scheme://host:port" or "scheme://[v6]:port".
std::string_view host_of(std::string_view url) {
  const auto scheme = url.find("://");
  if (scheme != std::string_view::npos) url.remove_prefix(scheme + 3);
  if (!url.empty() && url.front() == '[') return url.substr(1, url.find(']') - 1);
  return url.substr(0, url.rfind(':'));
}

}  // namespace

Forwarder::Forwarder(LeaderView view, ForwarderOptions options)
    : view_(std::move(view)), options_(options) {}

Forwarder::~Forwarder() {
  stop();
}

Status Forwarder::start() {
  if (Status started = relays_.start(); !started) return started;
  std::lock_guard lock(mutex_);
  running_ = true;
  for (std::size_t index = 0; index < options_.threads; ++index) threads_.emplace_back([this] { run(); });
  return Status::success();
}

void Forwarder::stop() {
  std::deque<std::shared_ptr<Call>> left;
  {
    std::lock_guard lock(mutex_);
    running_ = false;
    left.swap(queue_);
  }
  queued_cv_.notify_all();
  for (auto& thread : threads_) thread.join();
  threads_.clear();
  for (auto& call : left) call->reply(no_leader("this node is stopping; retry on another"));
  relays_.stop();
}

std::optional<std::string> forwarded_client_address(const RequestHead& head, const std::vector<NodeInfo>& nodes) {
  const auto client = head.headers.find(kForwardedForHeader);
  if (!head.headers.find(kForwardedByHeader) || !client || client->empty() ||
      head.headers.count(kForwardedForHeader) != 1) {
    return std::nullopt;
  }
  for (const NodeInfo& node : nodes) {
    if (host_of(node.operators_url) == head.remote_address || host_of(node.agents_url) == head.remote_address) {
      return std::string(*client);
    }
  }
  return std::nullopt;
}

std::vector<std::pair<std::string, std::string>> Forwarder::headers_for_leader(const Call& call) const {
  std::vector<std::pair<std::string, std::string>> headers;
  for (const auto& [name, value] : call.head.headers.fields()) {
    // A relayed WebSocket's handshake with the leader is the relay's own.
    const bool handshake = name.size() > 14 && equals_ignoring_case(name.substr(0, 14), "Sec-WebSocket-");
    if (!is_hop_by_hop(name) && !handshake && !equals_ignoring_case(name, kForwardedForHeader) &&
        !equals_ignoring_case(name, "X-Request-Id")) {
      headers.emplace_back(name, value);
    }
  }
  // One id for the request in both nodes' logs (and the client's answer).
  headers.emplace_back("X-Request-Id", call.context.request_id);
  headers.emplace_back(kForwardedByHeader, view_.node_id);
  headers.emplace_back(kForwardedForHeader, call.head.remote_address);
  return headers;
}

std::shared_ptr<MessageHandler> Forwarder::relay(const Call& call, std::shared_ptr<MessageChannel> client) {
  const auto leader = view_.leader();
  const std::string base = !leader || leader->node_id == view_.node_id ? std::string()
                           : call.head.listener == Listener::agents   ? leader->agents_url
                                                                      : leader->operators_url;
  if (base.empty()) {
    // The leader moved between the upgrade's admission and now: the agent reconnects.
    client->close(CloseCode::try_again_later, "the cluster is changing leaders; reconnect");
    return std::make_shared<NoMessages>();
  }
  return relays_.open(base, target_of(call.head), headers_for_leader(call), std::move(client));
}

bool Forwarder::forwards(const Route& route) const {
  return !route.any_node && !view_.is_leader();
}

void Forwarder::forward(std::shared_ptr<Call> call) {
  if (call->head.headers.find(kForwardedByHeader)) {
    // Sent here as to the leader, which this node no longer is: another
    // hop could go round in circles while the cluster changes leaders.
    return call->reply(no_leader("the node this request was forwarded to does not lead any more; retry"));
  }
  {
    std::lock_guard lock(mutex_);
    if (running_ && queue_.size() < options_.max_queued) {
      queue_.push_back(std::move(call));
      queued_cv_.notify_one();
      return;
    }
  }
  call->reply(error_response(503, "too many requests are waiting for the leader; retry shortly", "FORWARD_BUSY"));
}

void Forwarder::run() {
  // Each thread keeps one connection to the leader open for the requests it forwards.
  std::unique_ptr<httplib::Client> client;
  std::string client_base;
  for (;;) {
    std::shared_ptr<Call> call;
    {
      std::unique_lock lock(mutex_);
      queued_cv_.wait(lock, [&] { return !queue_.empty() || !running_; });
      if (!running_) return;
      call = std::move(queue_.front());
      queue_.pop_front();
    }
    send(*call, client, client_base);
  }
}

void Forwarder::send(Call& call, std::unique_ptr<httplib::Client>& client, std::string& client_base) {
  const auto leader = view_.leader();
  if (!leader) return call.reply(no_leader("the cluster has no leader right now; retry shortly"));
  const std::string& base =
      call.head.listener == Listener::agents ? leader->agents_url : leader->operators_url;
  if (base.empty() || leader->node_id == view_.node_id) {
    return call.reply(no_leader("the cluster is changing leaders; retry shortly"));
  }
  if (!client || client_base != base) {
    client = std::make_unique<httplib::Client>(base);
    client_base = base;
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(options_.timeout).count();
    client->set_keep_alive(true);
    // A request's head and body go out in two writes: with Nagle's algorithm
    // the body waits for the leader's delayed ACK, 40 ms a request.
    client->set_tcp_nodelay(true);
    // The leader's bytes pass through as they are, compressed or not, with their Content-Encoding.
    client->set_decompress(false);
    client->set_connection_timeout(2);
    client->set_read_timeout(seconds);
    client->set_write_timeout(seconds);
  }
  httplib::Request request;
  request.method = call.head.method;
  request.path = target_of(call.head);
  for (auto& [name, value] : headers_for_leader(call)) request.headers.emplace(std::move(name), std::move(value));
  request.body = call.body;
  httplib::Response answer;
  httplib::Error error = httplib::Error::Success;
  if (!client->send(request, answer, error)) {
    client.reset();  // A fresh connection for the next request.
    log::warn("cannot forward a request to the leader",
              {{"leader", leader->node_id}, {"url", base}, {"error", httplib::to_string(error)}});
    return call.reply(no_leader(fmt::format("the leader ({}) did not answer; retry shortly", leader->node_id)));
  }
  Response response;
  response.status = answer.status;
  response.body = std::move(answer.body);
  response.content_type = answer.get_header_value("Content-Type");
  // The call's reply adds its own X-Request-Id (the same one).
  for (const auto& [name, value] : answer.headers) {
    if (!is_hop_by_hop(name) && !equals_ignoring_case(name, "Content-Type") &&
        !equals_ignoring_case(name, "X-Request-Id") && !equals_ignoring_case(name, kPositionHeader)) {
      response.headers.emplace_back(name, value);
    }
  }
  // An operator who wrote through this node reads the write here next; an
  // agent reads nothing of the read models.
  const auto position = parse_position(answer.get_header_value(kPositionHeader));
  if (position && call.head.listener == Listener::operators && view_.wait_until_folded) {
    view_.wait_until_folded(*position, options_.fold_wait);
  }
  call.reply(std::move(response));
}

}  // namespace muster::http
