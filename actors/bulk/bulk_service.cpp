#include "actors/bulk/bulk_service.hpp"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <set>
#include <unordered_set>

#include <fmt/format.h>

#include "actors/access/record_revocation.hpp"
#include "actors/bulk/bulk_decider.hpp"
#include "common/log.hpp"
#include "common/secrets.hpp"

namespace muster {
namespace {

bool is_group_action(BulkAction action) {
  return action == BulkAction::add_to_group || action == BulkAction::remove_from_group;
}

// A job this process runs: what its chunks need, read from its first event.
struct JobRun {
  std::string job_id;
  std::string org;
  BulkAction action = BulkAction::deregister;
  BulkParams params;
  std::vector<AgentId> agent_ids;
  RequestContext context;  ///< What the agents' events record as their cause.
  /// The first agent not done. Only the chain running the job's one chunk
  /// in flight touches it.
  std::uint64_t done = 0;
};

// One chunk in flight: agents [from, from + count) of its job, and what
// each answered. Its slots are the commands issued: one per agent, or one
// for all of them (a group's members).
struct Chunk {
  Chunk(std::shared_ptr<JobRun> job_in, Gate::Holder in_flight_in, std::uint64_t from_in,
        std::size_t count_in, std::size_t slots, TimeMs started_ms_in)
      : job(std::move(job_in)),
        in_flight(std::move(in_flight_in)),
        started_ms(started_ms_in),
        from(from_in),
        count(count_in),
        errors(count_in),
        attempts(slots, 0),
        pending(slots) {}

  std::shared_ptr<JobRun> job;
  Gate::Holder in_flight;  ///< Keeps the service's stop() waiting for this chunk.
  const TimeMs started_ms;
  const std::uint64_t from;
  const std::size_t count;
  std::vector<std::optional<Error>> errors;  ///< Per agent; written by its slot before `pending` drops.
  std::vector<std::size_t> attempts;         ///< Per slot; only its own chain touches it.
  std::atomic<std::size_t> pending;
  std::atomic<bool> abandoned{false};  ///< A slot was cut short by a stop: record nothing.
};
using ChunkPtr = std::shared_ptr<Chunk>;

}  // namespace

struct BulkService::Impl {
  Impl(runtime::Runtime& runtime, EventStore& store_in, AgentService& agents_in, GroupService& groups_in,
       CommandService& commands_in, const AgentRegistry& registry_in, const ConfigModel& configs_in,
       const BulkJobs& jobs_in, WhenFolded when_folded_in, BulkServiceOptions options_in)
      : store(store_in),
        agents(agents_in),
        groups(groups_in),
        commands(commands_in),
        registry(registry_in),
        configs(configs_in),
        jobs(jobs_in),
        when_folded(std::move(when_folded_in)),
        options(std::move(options_in)),
        timers(runtime.timers()),
        host(runtime, store_in, repository, host_options()) {
    options.chunk_size = std::max<std::size_t>(options.chunk_size, 1);
    options.max_attempts = std::max<std::size_t>(options.max_attempts, 1);
  }

  static runtime::AggregateHostOptions host_options() {
    runtime::AggregateHostOptions host_options;
    host_options.core.kind = "bulk job";
    return host_options;
  }

  // --- Creation -----------------------------------------------------------------

  // The agents `selector` picks in `org`, each once.
  Result<std::vector<AgentId>> resolve(const std::string& org, const BulkSelector& selector) const {
    if (selector.empty()) {
      return invalid_field("selector",
                           "must name at least one criterion: agent_ids, group, labels, status, "
                           "config_status or q");
    }
    if (selector.group) {
      if (auto group = groups.find(org, *selector.group); !group)
        return with_field(group.error(), "selector.group");
    }
    std::vector<AgentId> named;
    if (selector.agent_ids) {
      auto checked = named_agents(org, *selector.agent_ids);
      if (!checked) return checked.error();
      named = std::move(*checked);
      const bool ids_only = !selector.group && selector.labels.empty() && !selector.status &&
                            !selector.config_status && !selector.text;
      if (ids_only && too_many(named.size())) return too_many_bulk_agents(named.size());
      if (ids_only) return named;
    }
    AgentFilter filter;
    filter.org = org;
    filter.status = selector.status;
    filter.labels.assign(selector.labels.begin(), selector.labels.end());
    filter.text = selector.text;
    if (selector.agent_ids || selector.group || selector.config_status) {
      auto wanted = std::make_shared<std::set<AgentId>>(named.begin(), named.end());
      filter.also = [model = &configs, wanted, by_id = selector.agent_ids.has_value(), group = selector.group,
                     status = selector.config_status](const AgentState& state) {
        return (!by_id || wanted->count(state.agent_id) > 0) &&
               (!group || model->in_group(state.agent_id, *group)) &&
               (!status || model->config_status_of(state.agent_id) == *status);
      };
    }
    const AgentPage page = registry.list(filter, kMaxBulkAgents + 1, std::nullopt);
    if (too_many(page.total) || too_many(page.agents.size())) {
      return too_many_bulk_agents(std::max(page.total, page.agents.size()));
    }
    std::vector<AgentId> ids;
    ids.reserve(page.agents.size());
    for (const AgentView& agent : page.agents) ids.push_back(agent.state.agent_id);
    return ids;
  }

  // `ids` each once, in the order given, if every one is an agent of `org`.
  Result<std::vector<AgentId>> named_agents(const std::string& org, const std::vector<AgentId>& ids) const {
    if (Status known = require_agents_of(registry, org, ids, "selector.agent_ids"); !known) return known.error();
    std::vector<AgentId> distinct;
    std::unordered_set<AgentId, AgentIdHash> seen;
    for (const AgentId& id : ids) {
      if (seen.insert(id).second) distinct.push_back(id);
    }
    return distinct;
  }

  static bool too_many(std::size_t count) { return count > kMaxBulkAgents; }

  // What the action needs besides its params' shape (the route checked that).
  Status check_params(const std::string& org, const BulkRequest& request) const {
    if (is_group_action(request.action)) {
      if (auto group = groups.find(org, request.params.group); !group)
        return with_field(group.error(), "params.group");
    }
    if (request.action == BulkAction::assign && request.params.assignment) {
      if (Status checked = configs.check_assignment(org, *request.params.assignment); !checked) {
        const Error& error = checked.error();
        return with_field(error, error.field.empty() ? "params" : "params." + error.field);
      }
    }
    return Status::success();
  }

  // --- Running ------------------------------------------------------------------

  // Runs `job` from its first agent not done, unless this process runs it already.
  void start(std::shared_ptr<JobRun> job) {
    {
      std::lock_guard<std::mutex> lock(mutex);
      if (!running.insert(job->job_id).second) return;
    }
    Gate::Holder in_flight(gate);
    if (!in_flight) return forget(*job);
    log::info("running a bulk job", {{"job_id", job->job_id},
                                     {"action", to_string(job->action)},
                                     {"total", job->agent_ids.size()},
                                     {"done", job->done}});
    run_chunk(std::move(job), std::move(in_flight));
  }

  void forget(const JobRun& job) {
    std::lock_guard<std::mutex> lock(mutex);
    running.erase(job.job_id);
  }

  void run_chunk(std::shared_ptr<JobRun> job, Gate::Holder in_flight) {
    const std::uint64_t total = job->agent_ids.size();
    if (stopping || job->done >= total) return forget(*job);
    const std::size_t count =
        static_cast<std::size_t>(std::min<std::uint64_t>(options.chunk_size, total - job->done));
    const bool whole = is_group_action(job->action);
    auto chunk =
        std::make_shared<Chunk>(job, std::move(in_flight), job->done, count, whole ? 1 : count, timers.now_ms());
    if (whole) return act_on_members(chunk);
    for (std::size_t index = 0; index < count; ++index) act_on_agent(chunk, index);
  }

  // Acts on agent `index` of `chunk`, unless it already is as the job asks.
  void act_on_agent(const ChunkPtr& chunk, std::size_t index) {
    if (stopping) return abandon(chunk);
    const JobRun& job = *chunk->job;
    const AgentId& id = job.agent_ids[chunk->from + index];
    auto done = [this, chunk, index](Status outcome) {
      if (!outcome &&
          retry(chunk, index, outcome.error(), [this, chunk, index] { act_on_agent(chunk, index); })) {
        return;
      }
      if (!outcome) chunk->errors[index] = outcome.error();
      settle(chunk);
    };
    if (!send_agent_command(job, id, std::move(done))) settle(chunk);
  }

  // The one place that knows whether an agent already is as a job asks: if
  // it is, sends nothing and returns false; else sends the job's command.
  // A command needs no such look: its idempotency key (the job's id) makes
  // the second attempt find the command the first one queued.
  bool send_agent_command(const JobRun& job, const AgentId& id, std::function<void(Status)> answered) {
    const AgentAccess access{std::nullopt, job.org};
    auto done = [answered](Result<AgentOutcome> outcome) {
      answered(outcome ? Status::success() : Status(outcome.error()));
    };
    switch (job.action) {
      case BulkAction::assign: {
        const auto view = configs.agent(id);
        if (view && view->assignment == job.params.assignment) return false;
        agents.set_assignment(id, access, job.params.assignment, job.context, std::move(done));
        return true;
      }
      case BulkAction::set_settings: {
        const auto view = configs.agent(id);
        const std::optional<Assignment> own = view ? view->assignment : std::nullopt;
        Assignment merged = own.value_or(Assignment{});
        merge_settings(merged.settings, job.params.settings);
        std::optional<Assignment> wanted;
        if (!merged.empty()) wanted = std::move(merged);
        if (view && own == wanted) return false;
        agents.set_assignment(id, access, std::move(wanted), job.context, std::move(done));
        return true;
      }
      case BulkAction::set_labels: {
        const auto state = registry.state_of(id);
        if (state && state->profile.labels == InternedLabels::of(job.params.labels)) return false;
        agents.set_labels(id, access, job.params.labels, job.context, std::move(done));
        return true;
      }
      case BulkAction::deregister: {
        const auto state = registry.state_of(id);
        if (state && state->status == AgentStatus::deregistered) return false;
        agents.deregister(id, access, job.context, std::move(done));
        return true;
      }
      case BulkAction::send_command: {
        CommandRequest request;
        request.agent_id = id;
        request.type = job.params.command.type;
        request.params = job.params.command.params;
        request.priority = job.params.command.priority;
        request.not_before_ms = job.params.command.not_before_ms;
        request.expires_in_ms = job.params.command.expires_in_ms;
        request.idempotency_key = "batch:" + job.job_id;
        request.batch_id = job.job_id;
        commands.create(job.org, request, job.context, [answered](Result<CommandOutcome> outcome) {
          answered(outcome ? Status::success() : Status(outcome.error()));
        });
        return true;
      }
      case BulkAction::add_to_group:
      case BulkAction::remove_from_group: break;
    }
    done(make_error(ErrorCode::internal, "a group action sent to an agent"));
    return true;
  }

  // A group's members change with one command per chunk; the group's own
  // decision leaves out the agents already in (or out).
  void act_on_members(const ChunkPtr& chunk) {
    if (stopping) return abandon(chunk);
    const JobRun& job = *chunk->job;
    const auto first = job.agent_ids.begin() + static_cast<std::ptrdiff_t>(chunk->from);
    const std::vector<AgentId> ids(first, first + static_cast<std::ptrdiff_t>(chunk->count));
    auto done = [this, chunk](Result<GroupOutcome> outcome) {
      if (!outcome && retry(chunk, 0, outcome.error(), [this, chunk] { act_on_members(chunk); })) return;
      if (!outcome) std::fill(chunk->errors.begin(), chunk->errors.end(), outcome.error());
      settle(chunk);
    };
    if (job.action == BulkAction::add_to_group) {
      groups.add_members(job.org, job.params.group, ids, job.context, std::move(done));
    } else {
      groups.remove_members(job.org, job.params.group, ids, job.context, std::move(done));
    }
  }

  // True if slot `slot` answered `error` and is asked again later (a busy
  // agent or group) or gives up for a stop; false if `error` is its failure.
  bool retry(const ChunkPtr& chunk, std::size_t slot, const Error& error, std::function<void()> again) {
    if (error.code != ErrorCode::unavailable) return false;
    if (stopping || error.reason == "SHUTTING_DOWN") {
      abandon(chunk);
      return true;
    }
    if (++chunk->attempts[slot] >= options.max_attempts) return false;
    timers.schedule_after(options.retry_delay_ms, std::move(again));
    return true;
  }

  void abandon(const ChunkPtr& chunk) {
    chunk->abandoned = true;
    settle(chunk);
  }

  // One slot answered; the last one records the chunk.
  void settle(const ChunkPtr& chunk) {
    if (chunk->pending.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    if (chunk->abandoned) return forget(*chunk->job);  // run again after a restart
    BulkJobProgressed progress;
    progress.from = chunk->from;
    progress.count = chunk->count;
    for (std::size_t index = 0; index < chunk->count; ++index) {
      const auto& error = chunk->errors[index];
      if (!error) {
        ++progress.succeeded;
        continue;
      }
      progress.failures.push_back(BulkFailure{chunk->job->agent_ids[chunk->from + index],
                                              error->reason.empty() ? to_string(error->code) : error->reason,
                                              error->message});
    }
    record(chunk, std::move(progress));
  }

  void record(const ChunkPtr& chunk, BulkJobProgressed progress) {
    const std::string job_id = chunk->job->job_id;
    host.send(job_id, RecordBulkProgress{progress}, chunk->job->context,
              [this, chunk, progress](Result<runtime::Outcome<BulkJob>> outcome) mutable {
                JobRun& job = *chunk->job;
                if (!outcome) {
                  const ErrorCode code = outcome.error().code;
                  const bool transient = code == ErrorCode::unavailable || code == ErrorCode::io_error;
                  if (!transient || stopping) {
                    if (!stopping) {
                      log::error("cannot record a bulk job's progress; it resumes at the next start",
                                 {{"job_id", job.job_id}, {"error", outcome.error().message}});
                    }
                    return forget(job);
                  }
                  timers.schedule_after(options.retry_delay_ms, [this, chunk, progress]() mutable {
                    record(chunk, std::move(progress));
                  });
                  return;
                }
                job.done = outcome->state.done;
                if (outcome->state.finished) {
                  log::info("bulk job finished", {{"job_id", job.job_id},
                                                  {"total", outcome->state.total},
                                                  {"succeeded", outcome->state.succeeded},
                                                  {"failed", outcome->state.failed}});
                  return forget(job);
                }
                pause_then_run(chunk);
              });
  }

  // Runs the job's next chunk after a pause `pause_factor` times as long as
  // `done` took: a job of 100,000 agents then leaves the fleet's heartbeats
  // most of the machine (bench/run commands measures it). The pause holds no
  // place in the gate, so stop() does not wait for it.
  void pause_then_run(const ChunkPtr& done) {
    const TimeMs pause = (timers.now_ms() - done->started_ms) * options.pause_factor;
    std::shared_ptr<JobRun> job = done->job;
    if (pause <= 0) return run_chunk(std::move(job), std::move(done->in_flight));
    done->in_flight.release();
    timers.schedule_after(pause, [this, job]() mutable {
      Gate::Holder in_flight(gate);
      if (!in_flight || stopping) return forget(*job);
      run_chunk(std::move(job), std::move(in_flight));
    });
  }

  // The job `state` as this process runs it; its agents from its first event.
  Result<std::shared_ptr<JobRun>> load_run(const BulkJob& state) const {
    auto events = store.read_stream(BulkJobAggregate::stream_of(state), 1, 1);
    if (!events) return events.error();
    if (events->empty()) return make_error(ErrorCode::internal, "a bulk job's stream has no first event");
    const Event& first = events->front();
    auto decoded = decode_payload<BulkJobEvent>(first.type, first.schema_version, first.data);
    if (!decoded) return decoded.error();
    auto* created = std::get_if<BulkJobCreated>(&*decoded);
    if (created == nullptr)
      return make_error(ErrorCode::corruption, "a bulk job's first event is " + first.type);
    if (created->job_id != state.job_id) {
      return make_error(ErrorCode::corruption, "a bulk job's first event names another job");
    }
    auto job = run_of(std::move(*created));
    job->done = state.done;
    return job;
  }

  static std::shared_ptr<JobRun> run_of(BulkJobCreated created) {
    auto job = std::make_shared<JobRun>();
    job->job_id = std::move(created.job_id);
    job->org = std::move(created.org);
    job->action = created.action;
    job->params = std::move(created.params);
    job->agent_ids = std::move(created.agent_ids);
    job->context.principal = std::move(created.principal);
    job->context.cause = "bulk:" + job->job_id;
    return job;
  }

  EventStore& store;
  AgentService& agents;
  GroupService& groups;
  CommandService& commands;
  const AgentRegistry& registry;
  const ConfigModel& configs;
  const BulkJobs& jobs;
  const WhenFolded when_folded;
  BulkServiceOptions options;
  TimerService& timers;
  runtime::FoldRepository<BulkJobAggregate> repository;
  runtime::AggregateHost<BulkJobAggregate> host;
  /// Chunks in flight (and the creations starting jobs) hold it.
  Gate gate;
  std::atomic<bool> stopping{false};
  mutable std::mutex mutex;
  std::set<std::string> running;  ///< Guarded by `mutex`.
};

BulkService::BulkService(runtime::Runtime& runtime, EventStore& store, AgentService& agents,
                         GroupService& groups, CommandService& commands, const AgentRegistry& registry,
                         const ConfigModel& configs, const BulkJobs& jobs, WhenFolded when_folded,
                         BulkServiceOptions options)
    : impl_(std::make_unique<Impl>(runtime, store, agents, groups, commands, registry, configs, jobs,
                                   std::move(when_folded), std::move(options))) {}

BulkService::~BulkService() {
  stop();
}

void BulkService::stop() {
  impl_->stopping = true;
  impl_->gate.close();
  impl_->host.stop();
}

Status BulkService::resume() {
  Status first_failure;
  for (const BulkJob& state : impl_->jobs.unfinished()) {
    auto job = impl_->load_run(state);
    if (!job) {
      log::error("cannot resume a bulk job", {{"job_id", state.job_id}, {"error", job.error().message}});
      if (first_failure.ok()) first_failure = job.error();
      continue;
    }
    impl_->start(std::move(*job));
  }
  return first_failure;
}

void BulkService::create(const std::string& org, const BulkRequest& request, const RequestContext& context,
                         Done done) {
  if (Status checked = impl_->check_params(org, request); !checked) return done(checked.error());
  auto ids = impl_->resolve(org, request.selector);
  if (!ids) return done(ids.error());
  auto job_id = random_id();
  if (!job_id) return done(job_id.error());
  BulkJobCreated created{*job_id, org, request.action, request.params, std::move(*ids), context.principal};
  CreateBulkJob command{created.org, created.action, created.params, created.agent_ids, created.principal};
  impl_->host.send(*job_id, std::move(command), context,
                   [impl = impl_.get(), created = std::move(created),
                    done = std::move(done)](Result<runtime::Outcome<BulkJob>> outcome) mutable {
                     if (!outcome) return done(outcome.error());
                     if (!outcome->state.finished)
                       impl->start(Impl::run_of(std::move(created)));
                     auto job = std::make_shared<BulkJob>(std::move(outcome->state));
                     once_folded(impl->when_folded, outcome->position,
                                 [job, done = std::move(done)] { done(std::move(*job)); });
                   });
}

Result<BulkJob> BulkService::find(const Principal& caller, const std::string& job_id) const {
  auto job = impl_->jobs.find(job_id);
  if (!job || !org_visible(caller.org, job->org)) return bulk_job_not_found();
  return std::move(*job);
}

Result<BulkJobPage> BulkService::list(const Principal& caller, std::size_t limit,
                                      const std::optional<std::string>& after) const {
  return impl_->jobs.list(caller.org, limit, after);
}

std::size_t BulkService::running() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->running.size();
}

}  // namespace muster
