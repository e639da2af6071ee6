#pragma once
/// OpAMP (the Open Agent Management Protocol) on muster's services: one
/// conversation logic for both transports, HTTP (a request, an answer) and
/// WebSocket (messages both ways, pushes). http/routes/opamp.cpp admits the
/// requests; this decides what each AgentToServer means and answers it.
///
/// What an AgentToServer does, in order:
/// - Identity. The agent's own token names it; with an enrollment token the
///   message's instance_uid does (as remembered here), and a message with an
///   agent_description registers an unknown instance in the token's
///   organization: `service.instance.id` (else the uid as a UUID) is its
///   instance_id, `service.name` its type, `service.version` its version,
///   `host.name` its hostname, other non-identifying attributes labels under
///   "opamp/" (kAttributeLabelPrefix). A registration's new agent token is
///   offered in ConnectionSettingsOffers to agents that accept OpAMP
///   connection settings. An unknown uid without a description is asked for
///   its full state.
/// - A heartbeat (the agent's last seen; ONLINE, or DEGRADED while its
///   ComponentHealth says unhealthy), then the agent's remote config status
///   and effective config (the same events as the REST reports, skipped when
///   they repeat), an AgentDisconnect (OFFLINE at once), and a CustomMessage
///   answering a command.
/// - The answer: the instance_uid echoed, the server's capabilities, the
///   desired config as AgentRemoteConfig when the agent accepts remote config
///   and reported another hash, ReportFullState when a sequence_num gap shows
///   lost status or nothing is known of the agent (after a restart: once,
///   never on every answer), a new instance_uid on RequestInstanceUid or a
///   duplicate live WebSocket, and the agent's deliverable commands (restart
///   as ServerToAgentCommand, other types as CustomMessage to agents that
///   declared the capability "io.muster.command.<type>").
///
/// What is remembered per agent (sequence numbers, capabilities, component
/// health, the live WebSocket) lives in memory, keyed by agent, not by
/// connection: an HTTP agent is the same agent between requests. After a
/// restart muster asks each agent once for its full state.
///
/// Thread safety: every method may be called from any thread. Answers and
/// pushes leave through the caller's `Reply` or the connection's channel.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "actors/agent/agent_id.hpp"
#include "common/clock.hpp"
#include "http/message_channel.hpp"

namespace muster::http {

class Call;
struct Services;

/// The custom capability an agent declares to take commands of `type` as
/// CustomMessages: "io.muster.command.<type>".
inline constexpr std::string_view kCommandCapabilityPrefix = "io.muster.command.";

struct OpampOptions {
  /// The heartbeat interval offered to agents that report heartbeats.
  /// Default: 30 s (a quarter of the default heartbeat timeout).
  TimeMs heartbeat_interval_ms = 30'000;
  /// A remote config offered but not yet reported back is offered again
  /// after this long (an HTTP answer may have been lost). Default: 30 s.
  TimeMs reoffer_after_ms = 30'000;
  /// How long a WebSocket agent's wait for commands lasts before it is
  /// renewed. Default: 60 s (the longest a command fetch waits).
  TimeMs command_wait_ms = 60'000;
  /// Messages of one WebSocket waiting for the one in progress; beyond, the
  /// agent is told to retry (ServerErrorResponse Unavailable). Default: 16.
  std::size_t max_queued_messages = 16;
  /// What an overloaded answer tells the agent to wait. Default: 5 s.
  TimeMs retry_after_ms = 5'000;
  /// An effective config's file bodies, in total, at most (as
  /// `ApiOptions::max_config_bytes`); a larger one is not recorded.
  std::size_t max_config_bytes = 1 << 20;
};

class OpampServer {
 public:
  /// Each service `services` points to must outlive the server and every
  /// callback it makes (the struct itself is copied).
  OpampServer(const Services& services, OpampOptions options);
  ~OpampServer();
  OpampServer(const OpampServer&) = delete;
  OpampServer& operator=(const OpampServer&) = delete;

  /// Follows the config model (pushes to WebSockets). stop() stops that and
  /// refuses new messages with Unavailable.
  void start();
  void stop();

  /// One message over HTTP: `call` was admitted by the pipeline (an agent
  /// or enrollment token) and its body is the AgentToServer, decompressed.
  /// Answers through the call: 200 with a ServerToAgent, 400 with one
  /// carrying BadRequest for a body that does not parse, 503 with one
  /// carrying Unavailable and Retry-After when a service is overloaded;
  /// gzipped (Content-Encoding: gzip) with `gzip_answer`.
  void handle_http(const std::shared_ptr<Call>& call, std::string message, bool gzip_answer);

  /// The handler of a WebSocket the pipeline admitted on /v1/opamp.
  std::shared_ptr<MessageHandler> open_websocket(const std::shared_ptr<Call>& call,
                                                 std::shared_ptr<MessageChannel> channel);

  /// What operators see of the agent's conversation ({transport, connected,
  /// capabilities, custom_capabilities, sequence_num, health,
  /// effective_config}); nullopt if the agent has not spoken OpAMP since
  /// start-up.
  std::optional<nlohmann::json> describe(const AgentId& agent_id) const;

  /// Open WebSockets (tests, benchmarks).
  std::size_t connections() const;

  struct Impl;  ///< Public so that opamp_server.cpp's helpers may name it.

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace muster::http
