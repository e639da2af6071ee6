#pragma once
/// One connection to a NATS server or cluster, with its JetStream context:
/// what the JetStream log (nats_storage.hpp) and the cluster's membership
/// share. Reconnects by itself for as long as it lives.

#include <chrono>
#include <memory>
#include <string>

#include "common/result.hpp"

struct __natsConnection;
struct __jsCtx;
struct __kvStore;

namespace muster {

struct NatsConnectOptions {
  /// Servers to connect to, comma-separated (`nats://127.0.0.1:4222`).
  std::string url = "nats://127.0.0.1:4222";
  /// Credentials, each optional: user and password, a token, or a `.creds` file.
  std::string user;
  std::string password;
  std::string token;
  std::string creds_file;
  /// TLS: a CA bundle to trust, and a client certificate and key. Any of
  /// them (or a `tls://` URL) turns TLS on.
  std::string tls_ca_file;
  std::string tls_cert_file;
  std::string tls_key_file;
  /// Shown by the server's monitoring (`connz`).
  std::string name = "muster";
  /// How long to keep trying to reach NATS at connect (0: one attempt).
  std::chrono::milliseconds connect_wait{0};
  /// How long one JetStream request (a publish, a read) waits for its answer.
  std::chrono::milliseconds request_timeout{5000};
};

class NatsConnection {
 public:
  /// Connects. Errors: `unavailable` naming the URL (unreachable, or
  /// refused the credentials), `invalid_argument` (unreadable TLS or creds files).
  static Result<std::shared_ptr<NatsConnection>> connect(const NatsConnectOptions& options);

  ~NatsConnection();
  NatsConnection(const NatsConnection&) = delete;
  NatsConnection& operator=(const NatsConnection&) = delete;

  __natsConnection* connection() const { return connection_; }
  __jsCtx* jetstream() const { return jetstream_; }
  const NatsConnectOptions& options() const { return options_; }
  /// The URLs as given, with any user information left out.
  std::string display_url() const;

  /// The key-value bucket `name`, created (with `replicas` and entries
  /// living `ttl`, 0 for ever, history 1) if missing. Destroy it with
  /// kvStore_Destroy. Errors: `unavailable`, naming the bucket and the URL.
  Result<__kvStore*> open_bucket(const std::string& name, int replicas, std::chrono::milliseconds ttl) const;

 private:
  NatsConnection(NatsConnectOptions options, __natsConnection* connection, __jsCtx* jetstream)
      : options_(std::move(options)), connection_(connection), jetstream_(jetstream) {}

  const NatsConnectOptions options_;
  __natsConnection* const connection_;
  __jsCtx* const jetstream_;
};

/// Why a nats.c call failed: its status text and the library's last error.
std::string nats_error_text(int status);

}  // namespace muster
