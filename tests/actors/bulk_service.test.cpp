// Bulk jobs on the runtime: a job works through its agents chunk by chunk,
// records each chunk once, resumes a job cut short from the first agent not
// done without acting twice on an agent already as asked, runs again
// without appending an agent event, and refuses what it cannot select.

#include <doctest/doctest.h>

#include <chrono>
#include <thread>

#include "actors/agent/agent_decider.hpp"
#include "actors/bulk/bulk_decider.hpp"
#include "actors/bulk/bulk_service.hpp"
#include "eventstore/memory_storage.hpp"
#include "projections/access_projection.hpp"
#include "projections/projection_runner.hpp"
#include "tests/actors/append_registration.hpp"
#include "tests/actors/await_limit.hpp"

using namespace muster;

namespace {

using testing::kWaitMs;

struct BulkFixture {
  ManualTimerService timers;
  std::unique_ptr<Storage> storage;
  AgentRegistry registry;
  AccessProjection access;
  ConfigModel configs;
  BulkJobs jobs;
  CommandQueue command_queue;
  std::unique_ptr<ProjectionRunner> projections;
  std::unique_ptr<runtime::Runtime> actors;
  std::unique_ptr<AgentService> agents;
  std::unique_ptr<GroupService> groups;
  std::unique_ptr<CommandService> commands;
  std::unique_ptr<BulkService> bulk;
  int instances = 0;

  BulkFixture() {
    StoreOptions options;
    options.clock = &timers;
    storage = std::move(*open_memory_storage(options));
    projections = std::make_unique<ProjectionRunner>(
        storage->events(), storage->snapshots(), std::vector<ReadModel*>{&registry, &access, &configs, &jobs, &command_queue},
        timers);
    REQUIRE(projections->start().ok());
    actors = std::make_unique<runtime::Runtime>(timers, runtime::RuntimeOptions{});
    agents = std::make_unique<AgentService>(*actors, storage->events(), storage->last_seen(), registry,
                                            AgentServiceOptions{});
    REQUIRE(agents->start().ok());
    groups = std::make_unique<GroupService>(*actors, storage->events(), storage->snapshots(), configs,
                                            registry, when_folded());
    commands = std::make_unique<CommandService>(*actors, storage->events(), registry, configs, command_queue,
                                                when_folded());
    REQUIRE(commands->start().ok());
    start_bulk();
  }

  ~BulkFixture() {
    bulk->stop();
    commands->stop();
    groups->stop();
    agents->stop();
    actors->stop();
    projections->stop();
    storage->stop();
  }

  WhenFolded when_folded() {
    return [this](std::uint64_t position, std::function<void()> then) {
      projections->when_folded(position, std::move(then));
    };
  }

  // A new bulk service on the same log, as after a restart.
  void start_bulk() {
    if (bulk) bulk->stop();
    BulkServiceOptions options;
    options.chunk_size = 3;
    bulk = std::make_unique<BulkService>(*actors, storage->events(), *agents, *groups, *commands, registry,
                                         configs, jobs, when_folded(), options);
    REQUIRE(bulk->start().ok());
  }

  // An agent of "acme", registered straight into the log and folded.
  AgentId register_agent() {
    const AgentId id = AgentId::random();
    Registration registration;
    registration.instance_id = "host-" + std::to_string(++instances);
    registration.labels = std::map<std::string, std::string>{{"env", "prod"}};
    testing::append_registration(storage->events(), *projections, id, registration, "acme");
    return id;
  }

  std::vector<AgentId> register_agents(std::size_t count) {
    std::vector<AgentId> ids;
    for (std::size_t index = 0; index < count; ++index) ids.push_back(register_agent());
    return ids;
  }

  Result<BulkJob> create(const BulkRequest& request) {
    RequestContext context;
    context.principal = "key:0123456789abcdef";
    return await_result<BulkJob>([&](auto done) { bulk->create("acme", request, context, std::move(done)); },
                                 kWaitMs, "BUSY");
  }

  // The job once the read model shows it finished and the service has let it
  // go (the service forgets a job just after appending its last event, so the
  // read model may fold that event first); REQUIREs both within kWaitMs.
  BulkJob wait_finished(const std::string& job_id) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kWaitMs);
    for (;;) {
      const auto job = jobs.find(job_id);
      if (job && job->finished && bulk->running() == 0) return *job;
      REQUIRE(std::chrono::steady_clock::now() < deadline);
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }

  // The types of the events of `stream`.
  std::vector<std::string> stream_types(const std::string& stream) {
    auto events = storage->events().read_stream(stream, 1, 10'000);
    REQUIRE(events.ok());
    std::vector<std::string> types;
    for (const Event& event : *events) types.push_back(event.type);
    return types;
  }

  std::size_t count_of(const AgentId& id, const std::string& type) {
    const auto types = stream_types("agent:" + id.to_string());
    return static_cast<std::size_t>(std::count(types.begin(), types.end(), type));
  }
};

BulkRequest settings_for(const std::vector<AgentId>& ids) {
  BulkRequest request;
  request.selector.agent_ids = ids;
  request.action = BulkAction::assign;
  Assignment assignment;
  assignment.settings = {{"log_level", "debug"}};
  request.params.assignment = assignment;
  return request;
}

}  // namespace

SCENARIO("a bulk job acts on each agent it selects once, chunk by chunk") {
  BulkFixture fixture;
  const std::vector<AgentId> ids = fixture.register_agents(7);
  const auto created = fixture.create(settings_for(ids));
  REQUIRE(created.ok());
  CHECK(created->total == 7);
  CHECK(created->principal == "key:0123456789abcdef");
  const BulkJob job = fixture.wait_finished(created->job_id);
  THEN("every agent got the assignment once, and the job counts them in chunks of three") {
    CHECK(job.done == 7);
    CHECK(job.succeeded == 7);
    CHECK(job.failed == 0);
    for (const AgentId& id : ids) {
      CHECK(fixture.count_of(id, "AgentAssignmentSet") == 1);
      const auto view = fixture.configs.agent(id);
      REQUIRE(view);
      REQUIRE(view->assignment);
      CHECK(view->assignment->settings == nlohmann::json{{"log_level", "debug"}});
    }
    CHECK(fixture.stream_types("bulk:" + job.job_id) ==
          std::vector<std::string>{"BulkJobCreated", "BulkJobProgressed", "BulkJobProgressed",
                                   "BulkJobProgressed", "BulkJobFinished"});
  }
  WHEN("the same job runs again") {
    const std::uint64_t before = fixture.storage->events().head_position().value();
    const auto again = fixture.create(settings_for(ids));
    REQUIRE(again.ok());
    const BulkJob second = fixture.wait_finished(again->job_id);
    THEN("it succeeds for every agent and appends only its own events") {
      CHECK(second.succeeded == 7);
      auto after = fixture.storage->events().read_log(before + 1, 100);
      REQUIRE(after.ok());
      for (const Event& event : *after) CHECK(event.stream == "bulk:" + second.job_id);
    }
  }
  WHEN("one of its agents is deregistered and a job sets labels on all") {
    REQUIRE(fixture.agents
                ->wait([&](auto done) {
                  fixture.agents->deregister(ids[4], AgentAccess{std::nullopt, "acme"}, {}, std::move(done));
                })
                .ok());
    BulkRequest labels;
    labels.selector.agent_ids = ids;
    labels.action = BulkAction::set_labels;
    labels.params.labels = {{"env", "staging"}};
    const auto relabel = fixture.create(labels);
    REQUIRE(relabel.ok());
    const BulkJob relabelled = fixture.wait_finished(relabel->job_id);
    THEN("that agent is a failure with its error, the others succeed") {
      CHECK(relabelled.succeeded == 6);
      CHECK(relabelled.failed == 1);
      REQUIRE(relabelled.failures.size() == 1);
      CHECK(relabelled.failures[0].agent_id == ids[4]);
      CHECK(relabelled.failures[0].code == "AGENT_NOT_REGISTERED");
    }
  }
}

TEST_CASE("a job cut short resumes from the first agent not done, acting on no agent twice") {
  BulkFixture fixture;
  const std::vector<AgentId> ids = fixture.register_agents(7);
  const BulkRequest request = settings_for(ids);
  // As a crash leaves it: the first chunk recorded, the second chunk's first
  // agent changed, but the chunk not recorded.
  REQUIRE(fixture.agents
              ->wait([&](auto done) {
                fixture.agents->set_assignment(ids[3], AgentAccess{std::nullopt, "acme"},
                                               request.params.assignment, {}, std::move(done));
              })
              .ok());
  const std::string job_id = "fedcba9876543210";
  std::vector<NewEvent> events{encode_payload(BulkJobEvent{BulkJobCreated{job_id, "acme", request.action,
                                                                          request.params, ids, "key:k"}}),
                               encode_payload(BulkJobEvent{BulkJobProgressed{0, 3, 3, {}}})};
  auto appended = fixture.storage->events().append("bulk:" + job_id, kNewStream, std::move(events));
  REQUIRE(appended.ok());
  REQUIRE(fixture.projections->wait_for_position(appended->last_position, std::chrono::seconds(10)));
  REQUIRE(fixture.jobs.unfinished().size() == 1);

  fixture.start_bulk();
  REQUIRE(fixture.bulk->resume().ok());
  const BulkJob job = fixture.wait_finished(job_id);
  CHECK(job.done == 7);
  CHECK(job.succeeded == 7);
  // The first chunk's agents were never acted on here (recorded as done);
  // the rest each got exactly one assignment, ids[3] the one from before.
  for (std::size_t index = 0; index < ids.size(); ++index) {
    CAPTURE(index);
    CHECK(fixture.count_of(ids[index], "AgentAssignmentSet") == (index < 3 ? 0 : 1));
  }
  auto progress = fixture.storage->events().read_stream("bulk:" + job_id, 3, 10);
  REQUIRE(progress.ok());
  REQUIRE(progress->size() == 3);
  auto decoded = decode_payload<BulkJobEvent>((*progress)[0].type, 1, (*progress)[0].data);
  REQUIRE(decoded.ok());
  CHECK(std::get<BulkJobProgressed>(*decoded).from == 3);
}

TEST_CASE("a batch of commands queues one per agent, refuses the agents whose settings forbid it, and "
          "queues none twice when a chunk runs again") {
  BulkFixture fixture;
  const std::vector<AgentId> ids = fixture.register_agents(5);
  // ids[1]'s settings close the command type.
  Assignment closed;
  closed.settings = {{"commands", {{"restart", {{"enabled", false}}}}}};
  REQUIRE(fixture.agents
              ->wait([&](auto done) {
                fixture.agents->set_assignment(ids[1], AgentAccess{std::nullopt, "acme"}, closed, {},
                                               std::move(done));
              })
              .ok());
  REQUIRE(fixture.projections->wait_for_position(fixture.storage->events().head_position().value(),
                                                 std::chrono::seconds(10)));
  BulkRequest request;
  request.selector.agent_ids = ids;
  request.action = BulkAction::send_command;
  request.params.command.type = "restart";
  request.params.command.params = {{"grace", "10s"}};
  request.params.command.priority = CommandPriority::emergency;
  request.params.command.expires_in_ms = 3'600'000;
  const auto created = fixture.create(request);
  REQUIRE(created.ok());
  const BulkJob job = fixture.wait_finished(created->job_id);
  CHECK(job.succeeded == 4);
  REQUIRE(job.failures.size() == 1);
  CHECK(job.failures[0].agent_id == ids[1]);
  CHECK(job.failures[0].code == "COMMAND_DISABLED");
  REQUIRE(fixture.projections->wait_for_position(fixture.storage->events().head_position().value(),
                                                 std::chrono::seconds(10)));
  const auto counts = fixture.commands->batch_counts(job.job_id);
  REQUIRE(counts);
  CHECK((*counts)[static_cast<std::size_t>(CommandState::queued)] == 4);
  for (std::size_t index = 0; index < ids.size(); ++index) {
    CAPTURE(index);
    CHECK(fixture.commands->pending_of(ids[index]) == (index == 1 ? 0 : 1));
  }
  CommandFilter filter;
  filter.batch_id = job.job_id;
  const auto page = fixture.command_queue.list("*", filter, 100, std::nullopt);
  REQUIRE(page.ok());
  REQUIRE(page->commands.size() == 4);
  for (const CommandRecord& command : page->commands) {
    CHECK(command.type == "restart");
    CHECK(command.priority == CommandPriority::emergency);
    CHECK(command.batch_id == job.job_id);
  }

  // As a crash leaves a batch: its first event, two commands queued, no
  // progress recorded. Run again, the chunk finds those two by their
  // idempotency key (the batch) and queues only the others.
  const std::string cut_id = "0123456789abcdef";
  std::vector<NewEvent> events{encode_payload(BulkJobEvent{
      BulkJobCreated{cut_id, "acme", request.action, request.params, ids, "key:k"}})};
  REQUIRE(fixture.storage->events().append("bulk:" + cut_id, kNewStream, std::move(events)).ok());
  for (std::size_t index : {0, 2}) {
    CommandRequest early;
    early.agent_id = ids[index];
    early.type = request.params.command.type;
    early.params = request.params.command.params;
    early.priority = request.params.command.priority;
    early.expires_in_ms = request.params.command.expires_in_ms;
    early.idempotency_key = "batch:" + cut_id;
    early.batch_id = cut_id;
    REQUIRE(await_result<CommandOutcome>(
                [&](auto done) { fixture.commands->create("acme", early, {}, std::move(done)); }, kWaitMs, "BUSY")
                .ok());
  }
  fixture.start_bulk();
  REQUIRE(fixture.bulk->resume().ok());
  const BulkJob resumed = fixture.wait_finished(cut_id);
  CHECK(resumed.succeeded == 4);
  REQUIRE(fixture.projections->wait_for_position(fixture.storage->events().head_position().value(),
                                                 std::chrono::seconds(10)));
  const auto cut_counts = fixture.commands->batch_counts(cut_id);
  REQUIRE(cut_counts);
  CHECK((*cut_counts)[static_cast<std::size_t>(CommandState::queued)] == 4);
  for (std::size_t index = 0; index < ids.size(); ++index) {
    CAPTURE(index);
    CHECK(fixture.commands->pending_of(ids[index]) == (index == 1 ? 0 : 2));
  }
}

TEST_CASE("a job's selector and params are checked before anything is recorded") {
  BulkFixture fixture;
  const std::vector<AgentId> ids = fixture.register_agents(2);
  const std::uint64_t before = fixture.storage->events().head_position().value();
  const auto refused = [&](BulkRequest request) {
    const auto created = fixture.create(request);
    REQUIRE_FALSE(created.ok());
    return created.error();
  };
  BulkRequest empty = settings_for(ids);
  empty.selector = BulkSelector{};
  CHECK(refused(empty).field == "selector");

  BulkRequest strangers = settings_for({AgentId::random()});
  const Error unknown = refused(strangers);
  CHECK(unknown.reason == "UNKNOWN_AGENTS");
  CHECK(unknown.field == "selector.agent_ids");

  BulkRequest no_group = settings_for(ids);
  no_group.selector.group = "nope";
  CHECK(refused(no_group).field == "selector.group");

  BulkRequest add = settings_for(ids);
  add.action = BulkAction::add_to_group;
  add.params.group = "nope";
  const Error group = refused(add);
  CHECK(group.reason == "GROUP_NOT_FOUND");
  CHECK(group.field == "params.group");

  BulkRequest config = settings_for(ids);
  config.params.assignment->config = ConfigRef{"nope", 0};
  CHECK(refused(config).field == "params.config");

  CHECK(fixture.storage->events().head_position().value() == before);
  CHECK(fixture.jobs.unfinished().empty());
}

TEST_CASE("criteria other than agent ids pick among the org's listed agents, every one matching") {
  BulkFixture fixture;
  const std::vector<AgentId> ids = fixture.register_agents(3);
  BulkRequest request;
  request.selector.labels = {{"env", "prod"}};
  request.selector.agent_ids = std::vector<AgentId>{ids[0], ids[2]};
  request.action = BulkAction::deregister;
  const auto created = fixture.create(request);
  REQUIRE(created.ok());
  CHECK(created->total == 2);
  fixture.wait_finished(created->job_id);
  CHECK(fixture.registry.state_of(ids[0])->status == AgentStatus::deregistered);
  CHECK(fixture.registry.state_of(ids[1])->status != AgentStatus::deregistered);
}
