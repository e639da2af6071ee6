#pragma once
/// A bulk job's commands and decisions, and the job as the runtime runs it.
///
/// Progress is recorded chunk by chunk, each naming where it starts, so a
/// chunk recorded already (a retried append, a chunk run again after a
/// restart) records nothing the second time, and a chunk can never be
/// counted twice.

#include <string>
#include <variant>
#include <vector>

#include "actors/bulk/bulk_state.hpp"
#include "actors/runtime/aggregate_host.hpp"
#include "actors/runtime/stream_id.hpp"

namespace muster {

/// `not_found` / BULK_JOB_NOT_FOUND.
Error bulk_job_not_found();
/// `invalid_argument` / TOO_MANY_AGENTS (field "selector"): a job of `count`
/// agents, past kMaxBulkAgents.
Error too_many_bulk_agents(std::size_t count);

struct CreateBulkJob {
  std::string org;
  BulkAction action = BulkAction::deregister;
  BulkParams params;
  std::vector<AgentId> agent_ids;  ///< Distinct.
  std::string principal;
};
struct RecordBulkProgress {
  BulkJobProgressed chunk;
};
using BulkJobCommand = std::variant<CreateBulkJob, RecordBulkProgress>;

/// BulkJobCreated, and BulkJobFinished with it when the job names no agent.
/// Refused: `conflict` / BULK_JOB_EXISTS (ids are random: only a retried
/// creation meets one); `invalid_argument` / TOO_MANY_AGENTS (field
/// "selector") past kMaxBulkAgents.
Result<std::vector<BulkJobEvent>> decide_create(const BulkJob& job, const CreateBulkJob& command);
/// BulkJobProgressed, and BulkJobFinished with the job's last chunk; nothing
/// for a chunk recorded already (it ends at or before `done`) or a finished
/// job. Refused: `not_found` / BULK_JOB_NOT_FOUND; `conflict` /
/// BULK_PROGRESS_OUT_OF_ORDER for a chunk that starts elsewhere than `done`;
/// `invalid_argument` for one that does not add up or runs past the job's agents.
Result<std::vector<BulkJobEvent>> decide_progress(const BulkJob& job, const RecordBulkProgress& command);

struct BulkJobAggregate {
  static constexpr std::string_view kKind = kBulkJobKind;
  using State = BulkJob;
  using Payload = BulkJobEvent;
  using Command = BulkJobCommand;
  using Context = runtime::DecideContext;

  static State initial_state(const std::string& id) {
    BulkJob job;
    job.job_id = id;
    return job;
  }
  static std::string stream_of(const State& state) { return stream_name(kKind, state.job_id); }
  static Result<std::vector<Payload>> decide(const State& state, const Command& command, Context& context);
  static Status apply(State& state, const Payload& event, const EventHeader& header) {
    return muster::apply(state, event, header);
  }
  static Status apply(State& state, const Event& event) { return muster::apply(state, event); }
};

}  // namespace muster
