#pragma once
/// A client of a running muster's operators' API, for the command line:
/// where the server is, the API key sent as `Authorization: Bearer`, one
/// request in and one answer out, and the process exit code an answer means.
///
/// Every remote subcommand (`muster agents ...`, `muster keys ...`, and any
/// added later) goes through this one client, so the URL rules, timeouts,
/// credential handling and exit codes are the same everywhere.
///
/// The key is sent only in the Authorization header: nothing here prints,
/// logs or puts it into an error message.
///
/// Thread safety: an ApiClient is used by one thread at a time (it wraps one
/// cpp-httplib client, which keeps its connection alive between requests).

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <httplib.h>
#include <nlohmann/json.hpp>

namespace muster::app {

/// What `muster` exits with (README "Command line", `muster --help`).
enum ExitCode : int {
  kExitOk = 0,
  kExitUnavailable = 1,  ///< The server could not be reached, or it failed (5xx).
  kExitUsage = 2,        ///< Bad flags or arguments; nothing was sent.
  kExitAuth = 3,         ///< 401 or 403: the key is missing, wrong, revoked, or its role too low.
  kExitNotFound = 4,     ///< 404: the thing named does not exist (for this key).
  kExitRefused = 5,      ///< Any other 4xx: validation, conflict, precondition, throttling.
};

/// The operators' listener muster serves by default (`serve --listen`).
inline constexpr std::string_view kDefaultServerUrl = "http://127.0.0.1:8080";

struct ApiClientOptions {
  /// http://HOST[:PORT] or https://HOST[:PORT], no path (--server,
  /// $MUSTER_SERVER). Default: kDefaultServerUrl.
  std::string server_url{kDefaultServerUrl};
  /// The API key (--key, $MUSTER_KEY); empty: none is sent (the API answers 401).
  std::string key;
  /// PEM file of the certificate authority to trust for https (--ca-cert); empty: the system's.
  std::string ca_cert_path;
  /// How long connecting may take. Default: 10 s.
  std::chrono::seconds connect_timeout{10};
  /// How long the server may stay silent while answering (a stream's
  /// keep-alive comes every 15 s, so a live stream is never cut). Default: 60 s.
  std::chrono::seconds read_timeout{60};
};

/// Checks that `text` is a server URL as ApiClientOptions::server_url takes
/// it (a trailing '/' is allowed and dropped); returns the URL to use, or an
/// empty string when it is not one.
std::string normalize_server_url(const std::string& text);

/// One answer, or why there was none.
struct ApiAnswer {
  /// The HTTP status; 0 when no answer came (unreachable, TLS, timeout).
  int status = 0;
  /// The body parsed as JSON; a discarded value when it is not JSON.
  nlohmann::json body;
  /// The raw body (what is shown when it is not JSON).
  std::string text;
  /// When status is 0: what went wrong, e.g. "Connection".
  std::string transport_error;

  bool ok() const { return status >= 200 && status < 300; }
};

/// The exit code `answer` means: kExitOk for 2xx, else as ExitCode says.
int exit_code_of(const ApiAnswer& answer);

/// One line for stderr saying why `answer` failed, without the key: for an
/// API error its `error` and `code` (and `details`, compact), e.g.
/// "no agent with this id (404 AGENT_NOT_FOUND)"; for no answer, the server
/// URL and the transport error.
std::string describe_failure(const ApiAnswer& answer, const std::string& server_url);

class ApiClient {
 public:
  /// REQUIRES: options.server_url passed normalize_server_url.
  explicit ApiClient(ApiClientOptions options);
  ApiClient(const ApiClient&) = delete;
  ApiClient& operator=(const ApiClient&) = delete;

  const ApiClientOptions& options() const { return options_; }

  /// `method` (GET, POST, PUT, PATCH, DELETE) on `target` (a path with its
  /// query, already percent-encoded); `body`, when not null, is sent as JSON.
  ApiAnswer request(const std::string& method, const std::string& target,
                    const nlohmann::json* body = nullptr);

  ApiAnswer get(const std::string& target) { return request("GET", target); }

  /// GET `target` as a stream: calls `on_data` with each piece of the body
  /// as it arrives (2xx only) until the server ends it, the connection
  /// breaks, or `on_data` returns false. The answer holds the status; for
  /// an error status, the whole body as usual.
  ApiAnswer stream(const std::string& target, const std::function<bool(std::string_view)>& on_data);

 private:
  httplib::Headers headers() const;

  ApiClientOptions options_;
  std::unique_ptr<httplib::Client> client_;
};

}  // namespace muster::app
