#pragma once
/// Commands to agents: an operator asks one agent to do something (restart,
/// upgrade, run a diagnostic...), the agent fetches it, acknowledges it and
/// reports how it ended. Each command is a stream
/// "command:<org>/<command_id>", every change an event whose meta records
/// who made it:
///
///   CommandQueued        {command_id, org, agent_id, type, params, priority,
///                         not_before, expires_at, idempotency_key, batch_id, principal}
///   CommandDelivered     {}  (the agent fetched it; again after a redelivery)
///   CommandAcknowledged  {}
///   CommandCompleted     {status: succeeded|failed, exit_code?, output, output_truncated}
///   CommandExpired       {reason: not_delivered|not_finished}
///   CommandCancelled     {}
///
/// States: queued → delivered → acknowledged → succeeded | failed; or
/// expired (its expiry came first), cancelled (an operator, before it ended).
/// The last four are final.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include <nlohmann/json.hpp>

#include "actors/agent/agent_id.hpp"
#include "actors/runtime/payload_codec.hpp"
#include "common/clock.hpp"
#include "common/result.hpp"

namespace muster {

inline constexpr std::string_view kCommandKind = "command";

/// Bytes of a result's output kept, at most; the rest is cut and the
/// result says `output_truncated`.
inline constexpr std::size_t kMaxCommandOutputBytes = 64 * 1024;

enum class CommandPriority { normal, emergency };
const char* to_string(CommandPriority priority);
std::optional<CommandPriority> parse_command_priority(std::string_view text);

enum class CommandState { queued, delivered, acknowledged, succeeded, failed, expired, cancelled };
inline constexpr std::size_t kCommandStateCount = 7;
const char* to_string(CommandState state);
std::optional<CommandState> parse_command_state(std::string_view text);
/// succeeded, failed, expired, cancelled: nothing changes it any more.
bool is_final(CommandState state);

enum class ExpiryReason { not_delivered, not_finished };
const char* to_string(ExpiryReason reason);

/// How a command ended, as the agent reported it.
struct CommandResult {
  bool succeeded = false;
  std::optional<std::int64_t> exit_code;
  std::string output;  ///< At most kMaxCommandOutputBytes.
  bool output_truncated = false;
};
bool operator==(const CommandResult& left, const CommandResult& right);

/// `output` cut to kMaxCommandOutputBytes (at a UTF-8 character boundary),
/// flagged when cut.
CommandResult make_command_result(bool succeeded, std::optional<std::int64_t> exit_code, std::string output);

struct CommandQueued {
  static constexpr EventType kType{"CommandQueued", kCommandKind, 1};
  std::string command_id;
  std::string org;
  AgentId agent_id;
  std::string type;
  nlohmann::json params = nlohmann::json::object();
  CommandPriority priority = CommandPriority::normal;
  TimeMs not_before_ms = 0;  ///< Not delivered before; 0: at once.
  TimeMs expires_at_ms = 0;
  std::string idempotency_key;  ///< Empty: none.
  std::string batch_id;         ///< Empty: none.
  std::string principal;        ///< Who queued it ("key:<id>").

  nlohmann::json to_json() const;
  static Result<CommandQueued> from_json(const nlohmann::json& data, std::uint32_t schema_version);
};

struct CommandDelivered {
  static constexpr EventType kType{"CommandDelivered", kCommandKind, 1};
  nlohmann::json to_json() const { return nlohmann::json::object(); }
  static Result<CommandDelivered> from_json(const nlohmann::json&, std::uint32_t) { return CommandDelivered{}; }
};

struct CommandAcknowledged {
  static constexpr EventType kType{"CommandAcknowledged", kCommandKind, 1};
  nlohmann::json to_json() const { return nlohmann::json::object(); }
  static Result<CommandAcknowledged> from_json(const nlohmann::json&, std::uint32_t) {
    return CommandAcknowledged{};
  }
};

struct CommandCompleted {
  static constexpr EventType kType{"CommandCompleted", kCommandKind, 1};
  CommandResult result;

  nlohmann::json to_json() const;
  static Result<CommandCompleted> from_json(const nlohmann::json& data, std::uint32_t schema_version);
};

struct CommandExpired {
  static constexpr EventType kType{"CommandExpired", kCommandKind, 1};
  ExpiryReason reason = ExpiryReason::not_delivered;

  nlohmann::json to_json() const;
  static Result<CommandExpired> from_json(const nlohmann::json& data, std::uint32_t schema_version);
};

struct CommandCancelled {
  static constexpr EventType kType{"CommandCancelled", kCommandKind, 1};
  nlohmann::json to_json() const { return nlohmann::json::object(); }
  static Result<CommandCancelled> from_json(const nlohmann::json&, std::uint32_t) { return CommandCancelled{}; }
};

using CommandEvent = std::variant<CommandQueued, CommandDelivered, CommandAcknowledged, CommandCompleted,
                                  CommandExpired, CommandCancelled>;

/// A command's state. The read model keeps it without `params` and the
/// result's `output` (see `compact`); the command's actor keeps it whole.
struct CommandRecord {
  std::string command_id;
  std::string org;
  AgentId agent_id;
  std::string type;
  nlohmann::json params = nlohmann::json::object();
  CommandPriority priority = CommandPriority::normal;
  TimeMs not_before_ms = 0;
  TimeMs expires_at_ms = 0;
  std::string idempotency_key;
  std::string batch_id;
  std::string principal;
  CommandState state = CommandState::queued;
  TimeMs created_at_ms = 0;
  TimeMs delivered_at_ms = 0;  ///< The latest delivery; 0: never delivered.
  TimeMs acknowledged_at_ms = 0;
  TimeMs finished_at_ms = 0;  ///< When it reached its final state.
  std::uint32_t deliveries = 0;
  std::optional<CommandResult> result;  ///< Succeeded or failed.
  std::optional<ExpiryReason> expiry_reason;
  std::uint64_t created_position = 0;  ///< Of its CommandQueued: orders commands by age.
  std::uint64_t version = 0;
  std::uint64_t last_position = 0;

  bool exists() const { return version > 0; }
};

bool operator==(const CommandRecord& left, const CommandRecord& right);

/// The aggregate's instance id of a command: "<org>/<command_id>".
std::string command_instance_id(std::string_view org, std::string_view command_id);
/// "command:<org>/<command_id>".
std::string command_stream(std::string_view org, std::string_view command_id);

/// `record` without what only the full view shows: params and the result's
/// output (the read model holds every command; outputs take up to 64 KiB).
void compact(CommandRecord& record);

/// A command's state as JSON text (the read model's snapshots), and back.
/// Total: damage gives `corruption`.
std::string encode_command(const CommandRecord& record);
Result<CommandRecord> decode_command(std::string_view bytes);

/// Folds one event of a "command:" stream. Errors: `corruption`, state unchanged.
Status apply(CommandRecord& record, const Event& event);
Status apply(CommandRecord& record, const CommandEvent& event, const EventHeader& header);

}  // namespace muster
