#include "actors/notification/senders.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cstring>
#include <mutex>

#include <fmt/format.h>

#include "actors/notification/notification_body.hpp"

namespace muster {
namespace {

void initialize_curl_once() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct Easy {
  Easy() : handle(curl_easy_init()) {}
  ~Easy() {
    if (handle) curl_easy_cleanup(handle);
  }
  Easy(const Easy&) = delete;
  Easy& operator=(const Easy&) = delete;
  CURL* handle;
};

struct Slist {
  ~Slist() {
    if (list) curl_slist_free_all(list);
  }
  void add(const std::string& line) { list = curl_slist_append(list, line.c_str()); }
  curl_slist* list = nullptr;
};

size_t discard(char* /*data*/, size_t size, size_t count, void* /*user*/) {
  return size * count;
}

struct Upload {
  const std::string* text;
  std::size_t offset = 0;
};

size_t read_upload(char* buffer, size_t size, size_t count, void* user) {
  auto* upload = static_cast<Upload*>(user);
  const std::size_t left = upload->text->size() - upload->offset;
  const std::size_t taken = std::min(left, size * count);
  std::memcpy(buffer, upload->text->data() + upload->offset, taken);
  upload->offset += taken;
  return taken;
}

void set_timeouts(CURL* handle, const SenderOptions& options) {
  curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options.connect_timeout_ms));
  curl_easy_setopt(handle, CURLOPT_TIMEOUT_MS, static_cast<long>(options.timeout_ms));
}

// The error without the URL (a URL may carry credentials).
std::string curl_error(CURLcode code) {
  return curl_easy_strerror(code);
}

}  // namespace

SendOutcome send_webhook(const NotificationQueued& notification, const ChannelSettings& channel,
                         const ChannelSecret& secret, const SenderOptions& options) {
  initialize_curl_once();
  Easy easy;
  if (!easy.handle) return SendOutcome{false, 0, "cannot start an HTTP client"};
  const std::string body = webhook_body(notification, channel.format);
  Slist headers;
  headers.add("Content-Type: application/json");
  headers.add("User-Agent: muster");
  headers.add("X-Muster-Notification-Id: " + notification.notification_id);
  headers.add("Expect:");
  if (!secret.secret.empty()) headers.add("X-Muster-Signature: " + webhook_signature(secret.secret, body));
  for (const auto& [name, value] : secret.headers) headers.add(name + ": " + value);
  CURL* handle = easy.handle;
  const std::string& url = secret.url.empty() ? channel.url : secret.url;
  curl_easy_setopt(handle, CURLOPT_URL, url.c_str());
  curl_easy_setopt(handle, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(handle, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(handle, CURLOPT_POST, 1L);
  curl_easy_setopt(handle, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(handle, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  curl_easy_setopt(handle, CURLOPT_HTTPHEADER, headers.list);
  curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, discard);
  set_timeouts(handle, options);
  const CURLcode code = curl_easy_perform(handle);
  if (code != CURLE_OK) return SendOutcome{false, 0, curl_error(code)};
  long status = 0;
  curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &status);
  const bool ok = status >= 200 && status < 300;
  return SendOutcome{ok, static_cast<int>(status), ok ? "" : fmt::format("the receiver answered {}", status)};
}

SendOutcome send_email(const NotificationQueued& notification, TimeMs queued_at_ms,
                       const ChannelSettings& channel, const ChannelSecret& secret,
                       const SenderOptions& options) {
  initialize_curl_once();
  Easy easy;
  if (!easy.handle) return SendOutcome{false, 0, "cannot start an SMTP client"};
  const std::string message = email_message(notification, channel, queued_at_ms);
  Upload upload{&message};
  Slist recipients;
  for (const std::string& address : channel.to) recipients.add("<" + address + ">");
  CURL* handle = easy.handle;
  curl_easy_setopt(handle, CURLOPT_URL, channel.smtp_url.c_str());
  curl_easy_setopt(handle, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
  curl_easy_setopt(handle, CURLOPT_MAIL_FROM, ("<" + channel.from + ">").c_str());
  curl_easy_setopt(handle, CURLOPT_MAIL_RCPT, recipients.list);
  curl_easy_setopt(handle, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(handle, CURLOPT_READFUNCTION, read_upload);
  curl_easy_setopt(handle, CURLOPT_READDATA, &upload);
  curl_easy_setopt(handle, CURLOPT_INFILESIZE, static_cast<long>(message.size()));
  if (channel.starttls) curl_easy_setopt(handle, CURLOPT_USE_SSL, static_cast<long>(CURLUSESSL_ALL));
  if (!channel.smtp_username.empty()) {
    curl_easy_setopt(handle, CURLOPT_USERNAME, channel.smtp_username.c_str());
    curl_easy_setopt(handle, CURLOPT_PASSWORD, secret.smtp_password.c_str());
  }
  set_timeouts(handle, options);
  const CURLcode code = curl_easy_perform(handle);
  if (code != CURLE_OK) {
    long status = 0;
    curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &status);
    return SendOutcome{false, 0,
                       status > 0 ? fmt::format("{} (SMTP {})", curl_error(code), status) : curl_error(code)};
  }
  return SendOutcome{true, 0, ""};
}

}  // namespace muster
