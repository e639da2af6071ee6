#pragma once
/// Bulk jobs: one change (an assignment, settings, a group membership,
/// labels, a deregistration, a command) applied to many agents of one
/// organization, in chunks, surviving restarts. A batch of commands
/// (POST /api/v1/commands) is such a job: its id is the batch id. Each job is a stream "bulk:<job_id>":
///
///   BulkJobCreated     {job_id, org, action, params, agent_ids: [..], principal}
///                      (the agents, resolved once at creation: a resumed job
///                      acts on the same ones)
///   BulkJobProgressed  {from, count, succeeded, failures: [{agent_id, code, error}]}
///                      (agents [from, from + count) of agent_ids are done;
///                      failures lists each of them that failed)
///   BulkJobFinished    {}  (every agent is done)
///
/// The state keeps no agent ids (a job may name 100,000): the read model of
/// jobs folds it for every job, and the service reads the ids from the
/// job's first event when it resumes one.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "actors/agent/agent_id.hpp"
#include "actors/command/command_state.hpp"
#include "actors/config/assignment.hpp"
#include "actors/runtime/payload_codec.hpp"
#include "common/clock.hpp"
#include "common/result.hpp"

namespace muster {

inline constexpr std::string_view kBulkJobKind = "bulk";

/// Agents one job may name, at most.
inline constexpr std::size_t kMaxBulkAgents = 100'000;
/// Failures a job keeps with their agent, code and error (the first ones);
/// `failed` counts them all.
inline constexpr std::size_t kMaxRecordedBulkFailures = 1000;

/// What a job does to each of its agents.
enum class BulkAction {
  assign,             ///< Sets the agent's own assignment (an empty one clears it).
  set_settings,       ///< Deep-merges settings into the agent's own assignment.
  add_to_group,       ///< Adds the agent to a group as an explicit member.
  remove_from_group,  ///< Removes the agent from a group's explicit members.
  set_labels,         ///< Replaces the agent's labels.
  deregister,         ///< Deregisters the agent.
  send_command,       ///< Queues a command for the agent (a batch of commands).
};

const char* to_string(BulkAction action);
std::optional<BulkAction> parse_bulk_action(std::string_view text);
/// "assign", "set_settings", ...: every action's name, for messages.
const char* bulk_action_names();

/// The command a batch queues for each of its agents.
struct BulkCommand {
  std::string type;
  nlohmann::json params = nlohmann::json::object();
  CommandPriority priority = CommandPriority::normal;
  TimeMs not_before_ms = 0;   ///< 0: at once.
  TimeMs expires_in_ms = 0;   ///< From when each agent's command is queued.
};

/// What an action takes; each action reads only its own members.
struct BulkParams {
  /// assign: the assignment (nullopt: clear the agent's own).
  std::optional<Assignment> assignment;
  /// set_settings: merged into the agent's own assignment's settings.
  nlohmann::json settings = nlohmann::json::object();
  /// add_to_group, remove_from_group: the group's name.
  std::string group;
  /// set_labels: the agent's labels from now on.
  std::map<std::string, std::string> labels;
  /// send_command: the command each agent gets (its agent_id, idempotency
  /// key and batch id are the job's to fill in).
  BulkCommand command;
};

/// The params of `action` as the API and the events show them: the
/// assignment itself for assign ({} clears); {settings}, {group}, {labels};
/// {} for deregister; {type, params, priority, not_before_ms, expires_in_ms}
/// for send_command.
nlohmann::json bulk_params_to_json(BulkAction action, const BulkParams& params);
/// Reads what `bulk_params_to_json` wrote. Errors: `corruption`.
Result<BulkParams> bulk_params_from_json(BulkAction action, const nlohmann::json& data);

/// An agent the job's action failed for, and why (the API's error code and message).
struct BulkFailure {
  AgentId agent_id;
  std::string code;
  std::string error;
};

bool operator==(const BulkFailure& left, const BulkFailure& right);

struct BulkJobCreated {
  static constexpr EventType kType{"BulkJobCreated", kBulkJobKind, 1};
  std::string job_id;
  std::string org;
  BulkAction action = BulkAction::deregister;
  BulkParams params;
  std::vector<AgentId> agent_ids;  ///< Distinct, in the order the job acts on them.
  std::string principal;           ///< Who made it ("key:<id>").

  nlohmann::json to_json() const;
  static Result<BulkJobCreated> from_json(const nlohmann::json& data, std::uint32_t schema_version);
};

struct BulkJobProgressed {
  static constexpr EventType kType{"BulkJobProgressed", kBulkJobKind, 1};
  std::uint64_t from = 0;   ///< Index in agent_ids of the chunk's first agent.
  std::uint64_t count = 0;  ///< Agents of the chunk.
  std::uint64_t succeeded = 0;
  std::vector<BulkFailure> failures;  ///< Every agent of the chunk that failed: count - succeeded.

  nlohmann::json to_json() const;
  static Result<BulkJobProgressed> from_json(const nlohmann::json& data, std::uint32_t schema_version);
};

struct BulkJobFinished {
  static constexpr EventType kType{"BulkJobFinished", kBulkJobKind, 1};
  nlohmann::json to_json() const { return nlohmann::json::object(); }
  static Result<BulkJobFinished> from_json(const nlohmann::json&, std::uint32_t) { return BulkJobFinished{}; }
};

using BulkJobEvent = std::variant<BulkJobCreated, BulkJobProgressed, BulkJobFinished>;

struct BulkJob {
  std::string job_id;
  std::string org;
  BulkAction action = BulkAction::deregister;
  BulkParams params;
  std::string principal;
  std::uint64_t total = 0;  ///< Agents the job names.
  std::uint64_t done = 0;   ///< Agents acted on: the first `done` of agent_ids.
  std::uint64_t succeeded = 0;
  std::uint64_t failed = 0;
  std::vector<BulkFailure> failures;  ///< The first kMaxRecordedBulkFailures.
  bool finished = false;
  TimeMs created_at_ms = 0;
  TimeMs finished_at_ms = 0;
  std::uint64_t created_position = 0;  ///< Of its BulkJobCreated: orders jobs by age.
  std::uint64_t version = 0;
  std::uint64_t last_position = 0;

  bool exists() const { return version > 0; }
};

bool operator==(const BulkJob& left, const BulkJob& right);

/// A job's state as JSON text (snapshots), and back. Total: damage gives `corruption`.
std::string encode_bulk_job(const BulkJob& job);
Result<BulkJob> decode_bulk_job(std::string_view bytes);

/// Folds one event of a "bulk:" stream. Errors: `corruption`, state unchanged.
Status apply(BulkJob& job, const Event& event);
Status apply(BulkJob& job, const BulkJobEvent& event, const EventHeader& header);

}  // namespace muster
