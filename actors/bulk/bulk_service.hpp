#pragma once
/// Bulk jobs: what the API asks of them, and the process that runs them.
/// Each job is an aggregate on the runtime (bulk_decider.hpp); reads come
/// from the jobs' read model (projections/bulk_jobs.hpp).
///
/// Creating a job resolves its selector to agent ids once, in the caller's
/// organization, and records them in the job's first event. The job then
/// runs chunk by chunk: the chunk's commands are issued together (one per
/// agent; one per chunk for a group's members), and once every one has
/// answered, one BulkJobProgressed records the chunk. Before it acts on an
/// agent, the service checks whether the agent already is as asked (the
/// same own assignment, the same labels, deregistered already) and then
/// sends nothing; a group's own decision leaves out members already in (or
/// already out). Running a chunk twice therefore applies nothing twice,
/// which is what makes resuming safe: a chunk cut short by a stop or a crash
/// is simply run again.
///
/// A batch of commands is a job of action send_command: each agent's command
/// carries the job's id as its batch id and idempotency key, so a chunk run
/// again finds the commands it queued; an agent whose settings refuse the
/// command (COMMAND_DISABLED) is one of the job's failures.
///
/// Lifecycle: start() does nothing; `resume`, once the read models hold the
/// log as it was at start-up, runs every job not finished. stop() starts no
/// new chunk, lets the chunks in flight finish (recording their progress),
/// then stops the jobs' actors. Stop it before the services it calls
/// (agents, groups, commands).
///
/// Thread safety: every method may be called from any thread. `done` runs
/// on the job's actor, the projection runner's thread or the caller's
/// (refusals), never blocking.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "actors/access/principal.hpp"
#include "actors/agent/agent_service.hpp"
#include "actors/bulk/bulk_state.hpp"
#include "actors/command/command_service.hpp"
#include "actors/config/desired_config.hpp"
#include "actors/group/group_service.hpp"
#include "actors/runtime/request_context.hpp"
#include "actors/runtime/runtime.hpp"
#include "actors/runtime/when_folded.hpp"
#include "common/lifecycle.hpp"
#include "eventstore/event_store.hpp"
#include "projections/agent_registry.hpp"
#include "projections/bulk_jobs.hpp"
#include "projections/config_model.hpp"

namespace muster {

/// Which agents of the organization a job acts on: every criterion given
/// must match (at least one must be given). `agent_ids` alone may name any
/// agent of the organization, deregistered ones included; the other
/// criteria select among listed agents (online, degraded, offline), as
/// `GET /api/v1/agents` does.
struct BulkSelector {
  std::optional<std::vector<AgentId>> agent_ids;
  std::optional<std::string> group;  ///< In the group (selected by labels or an explicit member).
  LabelSelector labels;              ///< Each pair present.
  std::optional<AgentStatus> status;
  std::optional<ConfigStatus> config_status;
  std::optional<std::string> text;  ///< Substring of name or hostname (`q`).

  bool empty() const { return !agent_ids && !group && labels.empty() && !status && !config_status && !text; }
};

struct BulkRequest {
  BulkSelector selector;
  BulkAction action = BulkAction::deregister;
  BulkParams params;
};

struct BulkServiceOptions {
  /// Agents acted on together, then recorded as one BulkJobProgressed. Default: 200.
  std::size_t chunk_size = 200;
  /// How long an agent that answered `unavailable` (busy) waits before it is
  /// asked again, and a failed progress append before it is retried. Default: 200 ms.
  TimeMs retry_delay_ms = 200;
  /// Times an agent is asked before its `unavailable` answer counts as its failure. Default: 5.
  std::size_t max_attempts = 5;
  /// After each chunk a job waits this many times as long as the chunk
  /// took, so that it works at most 1 / (1 + factor) of the time and
  /// heartbeats keep the rest (0: no pause). Default: 4.
  std::int64_t pause_factor = 4;
};

class BulkService : public Service {
 public:
  /// References must outlive the service.
  BulkService(runtime::Runtime& runtime, EventStore& store, AgentService& agents, GroupService& groups,
              CommandService& commands, const AgentRegistry& registry, const ConfigModel& configs,
              const BulkJobs& jobs, WhenFolded when_folded, BulkServiceOptions options = {});
  ~BulkService() override;

  std::string_view name() const override { return "bulk"; }
  Status start() override { return Status::success(); }
  void stop() override;

  /// Runs every job not finished, each from its first agent not done. Call
  /// once the read models hold the log as it was at start-up. Errors: those
  /// of reading a job's first event (the jobs read are run anyway).
  Status resume();

  using Done = std::function<void(Result<BulkJob>)>;
  /// Makes a job in `org` and starts it; answers the job as created, once
  /// the read models hold it. Refused before anything is recorded:
  /// `invalid_argument` (field "selector": no criterion; TOO_MANY_AGENTS
  /// past kMaxBulkAgents; "selector.agent_ids" / UNKNOWN_AGENTS naming ids
  /// that are no agents of `org`), `not_found` / GROUP_NOT_FOUND (field
  /// "selector.group" or "params.group"), and for assign the refusals of
  /// `ConfigModel::check_assignment` with the field under "params."
  /// (CONFIG_NOT_FOUND, VERSION_NOT_FOUND).
  void create(const std::string& org, const BulkRequest& request, const RequestContext& context, Done done);

  /// The job `job_id` if `caller` may see it; `not_found` / BULK_JOB_NOT_FOUND otherwise.
  Result<BulkJob> find(const Principal& caller, const std::string& job_id) const;
  /// The jobs `caller` may see, newest first (see BulkJobs::list).
  Result<BulkJobPage> list(const Principal& caller, std::size_t limit,
                           const std::optional<std::string>& after) const;

  /// Jobs running in this process now.
  std::size_t running() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace muster
