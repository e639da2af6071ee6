#pragma once
/// Runs the real `muster` binary for end-to-end tests: `serve` on 127.0.0.1
/// with an ephemeral port and a given data directory, or a one-shot command
/// such as `replay`. Waits on conditions with deadlines, never fixed sleeps.

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "tests/support/eventually.hpp"

namespace muster::testing {

/// The answer to one HTTP call, with the body parsed when it is JSON.
struct HttpAnswer {
  int status = 0;  ///< 0 when the connection failed.
  std::string body;
  nlohmann::json json;  ///< Discarded value when the body is not JSON.
  httplib::Headers headers;
};

class MusterServer {
 public:
  /// Starts `muster serve --data data_dir --listen 127.0.0.1:0 --agent-listen
  /// 127.0.0.1:0 extra_args...` (without the latter if extra_args has its own)
  /// and waits (up to 30 s) until /readyz answers 200. With "--tls-cert FILE"
  /// among the arguments it speaks HTTPS and trusts FILE as the CA. Throws on failure,
  /// which fails the calling test.
  MusterServer(std::string data_dir, std::vector<std::string> extra_args = {});
  /// Kills the server if it is still running.
  ~MusterServer();
  MusterServer(const MusterServer&) = delete;
  MusterServer& operator=(const MusterServer&) = delete;

  /// The operators' listener (every route).
  int port() const { return port_; }
  /// The agents' listener (0 with --agent-listen off).
  int agent_port() const { return agent_port_; }
  /// Where get/post/del/send go from now on: the agents' listener (true) or
  /// the operators' (false, the default).
  void use_agents_listener(bool agents) { request_port_ = agents ? agent_port_ : port_; }
  pid_t pid() const { return pid_; }
  /// The bootstrap admin key the server wrote to <data>/admin.key.
  const std::string& admin_key() const { return admin_key_; }
  const std::string& log_path() const { return log_path_; }
  /// Everything the server wrote to stderr so far.
  std::string log_text() const;

  HttpAnswer get(const std::string& path) const;
  HttpAnswer post(const std::string& path, const std::string& body,
                  const std::string& content_type = "application/json") const;
  HttpAnswer del(const std::string& path) const;
  /// Any method, raw headers and body. Unless `headers` has an Authorization
  /// header of its own, sends the credential the route takes: for
  /// registration an enrollment token (`enrollment_token()`), for an agent's
  /// heartbeat, token rotation and config reports the agent token its registration (through
  /// any MusterServer of this process) answered, else the admin key.
  HttpAnswer send(const std::string& method, const std::string& path, const std::string& body,
                  const httplib::Headers& headers) const;

  /// An enrollment token of the default organization, made with the admin
  /// key on first use.
  const std::string& enrollment_token() const;

  /// The latest agent token a registration or rotation answered for
  /// `agent_id` (empty if none).
  static std::string agent_token_of(const std::string& agent_id);

  /// SIGTERM, then waits for exit; returns the exit status (or -signal).
  int terminate();
  /// SIGKILL, then reaps the process.
  void kill9();

 private:
  std::string data_dir_;
  std::string log_path_;
  pid_t pid_ = -1;
  int port_ = 0;
  int agent_port_ = 0;
  int request_port_ = 0;
  std::string admin_key_;
  std::string tls_ca_path_;  ///< Empty: plain HTTP.
  mutable std::once_flag enrollment_token_made_;
  mutable std::string enrollment_token_;
};

/// The exit status, stdout and stderr of a finished command.
struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

/// Runs `muster args...` to completion (at most `timeout`), with `input` as
/// its stdin when given (else the test's own).
CommandResult run_muster(const std::vector<std::string>& args,
                         std::chrono::seconds timeout = std::chrono::seconds(60),
                         const std::optional<std::string>& input = std::nullopt);

}  // namespace muster::testing

