#pragma once
/// A real HTTP receiver for notification tests: cpp-httplib's server on
/// 127.0.0.1 with an ephemeral port, recording every request, answering 500
/// to the first `fail_first` requests and 200 after, and checking each
/// body's X-Muster-Signature against the secret it was given. `hold()`
/// makes it hang: requests wait, unanswered, until `release()`.

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <httplib.h>

namespace muster::testing {

class WebhookReceiver {
 public:
  struct Request {
    std::string notification_id;
    std::string signature;
    bool signature_ok = false;
    std::string body;
    std::map<std::string, std::string> headers;
    int answered = 0;
  };

  explicit WebhookReceiver(std::string secret, int fail_first = 0)
      : secret_(std::move(secret)), fail_first_(fail_first) {
    server_.Post("/hook", [this](const httplib::Request& request, httplib::Response& response) {
      {
        std::unique_lock<std::mutex> lock(mutex_);
        ++arrived_;
        changed_.notify_all();
        changed_.wait(lock, [this] { return !held_; });
      }
      Request seen;
      seen.notification_id = request.get_header_value("X-Muster-Notification-Id");
      seen.signature = request.get_header_value("X-Muster-Signature");
      seen.signature_ok = seen.signature == sign(request.body);
      seen.body = request.body;
      for (const auto& header : request.headers) seen.headers[header.first] = header.second;
      std::lock_guard<std::mutex> lock(mutex_);
      seen.answered = fail_first_ > 0 ? 500 : 200;
      if (fail_first_ > 0) --fail_first_;
      response.status = seen.answered;
      response.set_content("{}", "application/json");
      requests_.push_back(std::move(seen));
      changed_.notify_all();
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    // listen_after_bind marks the server running as it starts its loop;
    // connections made before are queued by the bound socket anyway.
    for (int tries = 0; tries < 1000 && !server_.is_running(); ++tries) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  ~WebhookReceiver() {
    release();
    server_.stop();
    if (thread_.joinable()) thread_.join();
  }
  WebhookReceiver(const WebhookReceiver&) = delete;
  WebhookReceiver& operator=(const WebhookReceiver&) = delete;

  void hold() {
    std::lock_guard<std::mutex> lock(mutex_);
    held_ = true;
  }
  void release() {
    std::lock_guard<std::mutex> lock(mutex_);
    held_ = false;
    changed_.notify_all();
  }
  /// Waits (up to `timeout`) until at least `count` requests arrived, answered or not.
  bool wait_for_arrivals(std::size_t count,
                         std::chrono::milliseconds timeout = std::chrono::seconds(10)) const {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return arrived_ >= count; });
  }

  std::string url() const { return fmt::format("http://127.0.0.1:{}/hook", port_); }
  void fail_next(int count) {
    std::lock_guard<std::mutex> lock(mutex_);
    fail_first_ = count;
  }
  std::vector<Request> requests() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return requests_;
  }
  /// Waits (up to `timeout`) until at least `count` requests came; true if they did.
  bool wait_for(std::size_t count, std::chrono::milliseconds timeout = std::chrono::seconds(10)) const {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return requests_.size() >= count; });
  }
  /// The ids answered 200, in order.
  std::vector<std::string> accepted_ids() const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<std::string> ids;
    for (const Request& request : requests_) {
      if (request.answered == 200) ids.push_back(request.notification_id);
    }
    return ids;
  }

  std::string sign(const std::string& body) const {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    HMAC(EVP_sha256(), secret_.data(), static_cast<int>(secret_.size()),
         reinterpret_cast<const unsigned char*>(body.data()), body.size(), digest, &length);
    std::string hex = "sha256=";
    for (unsigned int index = 0; index < length; ++index) hex += fmt::format("{:02x}", digest[index]);
    return hex;
  }

 private:
  const std::string secret_;
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  int fail_first_ = 0;
  bool held_ = false;
  std::size_t arrived_ = 0;
  std::vector<Request> requests_;
};

}  // namespace muster::testing
