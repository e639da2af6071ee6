#include "eventstore/nats_connection.hpp"

#include <nats/nats.h>

#include <algorithm>
#include <regex>
#include <vector>
#include <thread>

#include <fmt/format.h>

namespace muster {
namespace {

/// Owns a natsOptions while it is being filled.
struct OptionsHolder {
  natsOptions* options = nullptr;
  ~OptionsHolder() { natsOptions_Destroy(options); }
};

Status check(natsStatus status, std::string_view what) {
  if (status == NATS_OK) return Status::success();
  return make_error(ErrorCode::invalid_argument, fmt::format("{}: {}", what, nats_error_text(status)));
}

Status fill(natsOptions* options, const NatsConnectOptions& given) {
  // Reconnect for ever, quickly: a node that loses NATS answers writes
  // with 503 until it is back, and must not need a restart.
  constexpr int kReconnectWaitMs = 250;
  // nats.c takes several servers as a list, not as one comma-separated URL.
  std::vector<std::string> servers;
  for (std::size_t start = 0; start <= given.url.size();) {
    const std::size_t comma = std::min(given.url.find(',', start), given.url.size());
    if (comma > start) servers.push_back(given.url.substr(start, comma - start));
    start = comma + 1;
  }
  std::vector<const char*> server_list;
  for (const auto& server : servers) server_list.push_back(server.c_str());
  Status filled = server_list.empty()
                      ? make_error(ErrorCode::invalid_argument, "NATS URL: none given")
                      : check(natsOptions_SetServers(options, server_list.data(), static_cast<int>(server_list.size())),
                              "NATS URL");
  if (filled) filled = check(natsOptions_SetName(options, given.name.c_str()), "connection name");
  if (filled) filled = check(natsOptions_SetMaxReconnect(options, -1), "reconnects");
  if (filled) filled = check(natsOptions_SetReconnectWait(options, kReconnectWaitMs), "reconnect wait");
  if (filled) filled = check(natsOptions_SetTimeout(options, given.request_timeout.count()), "connect timeout");
  if (filled && !given.user.empty()) {
    filled = check(natsOptions_SetUserInfo(options, given.user.c_str(), given.password.c_str()), "user");
  }
  if (filled && !given.token.empty()) filled = check(natsOptions_SetToken(options, given.token.c_str()), "token");
  if (filled && !given.creds_file.empty()) {
    filled = check(natsOptions_SetUserCredentialsFromFiles(options, given.creds_file.c_str(), nullptr),
                   fmt::format("credentials file {}", given.creds_file));
  }
  const bool tls = !given.tls_ca_file.empty() || !given.tls_cert_file.empty() ||
                   given.url.find("tls://") != std::string::npos;
  if (filled && tls) filled = check(natsOptions_SetSecure(options, true), "TLS");
  if (filled && !given.tls_ca_file.empty()) {
    filled = check(natsOptions_LoadCATrustedCertificates(options, given.tls_ca_file.c_str()),
                   fmt::format("TLS CA file {}", given.tls_ca_file));
  }
  if (filled && !given.tls_cert_file.empty()) {
    filled = check(
        natsOptions_LoadCertificatesChain(options, given.tls_cert_file.c_str(), given.tls_key_file.c_str()),
        fmt::format("TLS certificate {} and key {}", given.tls_cert_file, given.tls_key_file));
  }
  return filled;
}

}  // namespace

std::string nats_error_text(int status) {
  std::string text = natsStatus_GetText(static_cast<natsStatus>(status));
  natsStatus last = NATS_OK;
  const char* detail = nats_GetLastError(&last);
  if (detail != nullptr && *detail != '\0' && text != detail) text += fmt::format(" ({})", detail);
  return text;
}

Result<std::shared_ptr<NatsConnection>> NatsConnection::connect(const NatsConnectOptions& options) {
  constexpr auto kRetryEvery = std::chrono::milliseconds(500);
  OptionsHolder holder;
  if (natsOptions_Create(&holder.options) != NATS_OK) {
    return make_error(ErrorCode::internal, "cannot create NATS options");
  }
  if (Status filled = fill(holder.options, options); !filled) return filled.error();
  const auto deadline = std::chrono::steady_clock::now() + options.connect_wait;
  natsConnection* connection = nullptr;
  for (;;) {
    const natsStatus status = natsConnection_Connect(&connection, holder.options);
    if (status == NATS_OK) break;
    if (std::chrono::steady_clock::now() + kRetryEvery > deadline) {
      NatsConnection shown(options, nullptr, nullptr);
      return make_error(ErrorCode::unavailable, fmt::format("cannot connect to NATS at {}: {}", shown.display_url(),
                                                            nats_error_text(status)));
    }
    std::this_thread::sleep_for(kRetryEvery);
  }
  jsOptions js_options;
  jsOptions_Init(&js_options);
  js_options.Wait = options.request_timeout.count();
  jsCtx* jetstream = nullptr;
  if (natsStatus status = natsConnection_JetStream(&jetstream, connection, &js_options); status != NATS_OK) {
    natsConnection_Destroy(connection);
    return make_error(ErrorCode::internal, fmt::format("cannot use JetStream: {}", nats_error_text(status)));
  }
  return std::shared_ptr<NatsConnection>(new NatsConnection(options, connection, jetstream));
}

NatsConnection::~NatsConnection() {
  if (jetstream_ != nullptr) jsCtx_Destroy(jetstream_);
  if (connection_ != nullptr) {
    natsConnection_Close(connection_);
    natsConnection_Destroy(connection_);
  }
}

std::string NatsConnection::display_url() const {
  // nats://user:secret@host: the password must not reach a log or an answer.
  static const std::regex kUserInfo(R"(([a-z]+://)[^@/,]*@)");
  return std::regex_replace(options_.url, kUserInfo, "$1");
}

Result<kvStore*> NatsConnection::open_bucket(const std::string& name, int replicas,
                                             std::chrono::milliseconds ttl) const {
  kvStore* bucket = nullptr;
  if (js_KeyValue(&bucket, jetstream_, name.c_str()) == NATS_OK) return bucket;
  kvConfig config;
  kvConfig_Init(&config);
  config.Bucket = name.c_str();
  config.History = 1;
  // nats.c 3.4 passes it on as the stream's MaxAge, in nanoseconds.
  config.TTL = std::chrono::nanoseconds(ttl).count();
  config.Replicas = replicas;
  config.StorageType = js_FileStorage;
  // A new bucket's stream elects its leader while the first requests wait:
  // on a fresh cluster that can outlast one short request, so retry a while.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (;;) {
    const natsStatus status = js_CreateKeyValue(&bucket, jetstream_, &config);
    if (status == NATS_OK) return bucket;
    if (js_KeyValue(&bucket, jetstream_, name.c_str()) == NATS_OK) return bucket;
    if (std::chrono::steady_clock::now() >= deadline) {
      return make_error(ErrorCode::unavailable, fmt::format("cannot create the key-value bucket {} at NATS {}: {}",
                                                            name, display_url(), nats_error_text(status)));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

}  // namespace muster
