#include "actors/bulk/bulk_decider.hpp"

#include <fmt/format.h>

namespace muster {

Error bulk_job_not_found() {
  return make_error(ErrorCode::not_found, "no bulk job with this id", "BULK_JOB_NOT_FOUND");
}

Error too_many_bulk_agents(std::size_t count) {
  return invalid_field("selector",
                       fmt::format("selects {} agents; a job takes at most {}", count, kMaxBulkAgents),
                       "TOO_MANY_AGENTS");
}

Result<std::vector<BulkJobEvent>> decide_create(const BulkJob& job, const CreateBulkJob& command) {
  if (job.exists()) return make_error(ErrorCode::conflict, "this bulk job exists already", "BULK_JOB_EXISTS");
  if (command.agent_ids.size() > kMaxBulkAgents) return too_many_bulk_agents(command.agent_ids.size());
  std::vector<BulkJobEvent> events{BulkJobCreated{job.job_id, command.org, command.action, command.params,
                                                  command.agent_ids, command.principal}};
  if (command.agent_ids.empty()) events.emplace_back(BulkJobFinished{});
  return events;
}

Result<std::vector<BulkJobEvent>> decide_progress(const BulkJob& job, const RecordBulkProgress& command) {
  const BulkJobProgressed& chunk = command.chunk;
  if (!job.exists()) return bulk_job_not_found();
  if (job.finished || chunk.from + chunk.count <= job.done) return std::vector<BulkJobEvent>{};
  if (chunk.from != job.done) {
    return make_error(
        ErrorCode::conflict,
        fmt::format("a chunk from agent {} cannot be recorded: the job stands at {}", chunk.from, job.done),
        "BULK_PROGRESS_OUT_OF_ORDER");
  }
  if (chunk.count > job.total - job.done || chunk.succeeded > chunk.count ||
      chunk.failures.size() != chunk.count - chunk.succeeded) {
    return make_error(ErrorCode::invalid_argument, "a chunk's counts do not add up to the job's agents");
  }
  std::vector<BulkJobEvent> events{chunk};
  if (job.done + chunk.count == job.total) events.emplace_back(BulkJobFinished{});
  return events;
}

Result<std::vector<BulkJobEvent>> BulkJobAggregate::decide(const State& state, const Command& command,
                                                           Context& /*context*/) {
  if (const auto* create = std::get_if<CreateBulkJob>(&command)) return decide_create(state, *create);
  return decide_progress(state, std::get<RecordBulkProgress>(command));
}

}  // namespace muster
