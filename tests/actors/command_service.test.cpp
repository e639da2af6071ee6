// Commands on the runtime, with a manual clock: a command's whole life
// through the service, delivery order, the long poll woken by a new command
// and ending empty, not_before and expiry on the timer wheel, redelivery,
// idempotency keys, gating by settings, the agents that refuse commands,
// timers armed again after a restart, and a stop that answers parked fetches.

#include <doctest/doctest.h>

#include <chrono>
#include <future>
#include <thread>

#include "actors/agent/agent_decider.hpp"
#include "actors/agent/agent_service.hpp"
#include "actors/command/command_decider.hpp"
#include "actors/command/command_gate.hpp"
#include "actors/command/command_service.hpp"
#include "actors/runtime/await.hpp"
#include "eventstore/memory_storage.hpp"
#include "projections/projection_runner.hpp"
#include "tests/actors/append_registration.hpp"
#include "tests/actors/await_limit.hpp"
#include "tests/support/eventually.hpp"

using namespace muster;

namespace {

using testing::kWaitMs;

using Fetched = Result<std::vector<CommandRecord>>;

struct CommandFixture {
  ManualTimerService timers;
  std::unique_ptr<Storage> storage;
  AgentRegistry registry;
  ConfigModel configs;
  CommandQueue queue;
  std::unique_ptr<ProjectionRunner> projections;
  std::unique_ptr<runtime::Runtime> actors;
  std::unique_ptr<AgentService> agents;
  std::unique_ptr<CommandService> commands;
  int instances = 0;

  CommandFixture() {
    StoreOptions options;
    options.clock = &timers;
    storage = std::move(*open_memory_storage(options));
    projections = std::make_unique<ProjectionRunner>(storage->events(), storage->snapshots(),
                                                     std::vector<ReadModel*>{&registry, &configs, &queue}, timers);
    REQUIRE(projections->start().ok());
    actors = std::make_unique<runtime::Runtime>(timers, runtime::RuntimeOptions{});
    agents = std::make_unique<AgentService>(*actors, storage->events(), storage->last_seen(), registry,
                                            AgentServiceOptions{});
    REQUIRE(agents->start().ok());
    start_commands();
  }

  ~CommandFixture() {
    commands->stop();
    agents->stop();
    actors->stop();
    projections->stop();
    storage->stop();
  }

  // A new command service on the same log, as after a restart.
  void start_commands() {
    if (commands) commands->stop();
    commands.reset();
    commands = std::make_unique<CommandService>(
        *actors, storage->events(), registry, configs, queue,
        [this](std::uint64_t position, std::function<void()> then) {
          projections->when_folded(position, std::move(then));
        });
    REQUIRE(commands->start().ok());
    REQUIRE(commands->resume().ok());
  }

  // An agent of "acme", registered straight into the log and folded.
  AgentId register_agent() {
    const AgentId id = AgentId::random();
    Registration registration;
    registration.instance_id = "host-" + std::to_string(++instances);
    testing::append_registration(storage->events(), *projections, id, registration, "acme");
    return id;
  }

  Result<CommandOutcome> create(const CommandRequest& request, const std::string& org_scope = "acme") {
    RequestContext context;
    context.principal = "key:0123456789abcdef";
    return await_result<CommandOutcome>(
        [&](auto done) { commands->create(org_scope, request, context, std::move(done)); }, kWaitMs, "BUSY");
  }

  // Starts a fetch; its answer arrives in the future returned.
  std::future<Fetched> start_fetch(const AgentId& agent_id, TimeMs wait_ms) {
    auto answer = std::make_shared<std::promise<Fetched>>();
    auto ready = answer->get_future();
    RequestContext context;
    context.principal = "agent:" + agent_id.to_string();
    commands->fetch(agent_id, wait_ms, context, [answer](Fetched fetched) { answer->set_value(std::move(fetched)); });
    return ready;
  }

  // A fetch that answers at once; REQUIREs an answer.
  std::vector<CommandRecord> fetch_now(const AgentId& agent_id) { return wait(start_fetch(agent_id, 0)); }

  static std::vector<CommandRecord> wait(std::future<Fetched> answer) {
    REQUIRE(answer.wait_for(std::chrono::milliseconds(kWaitMs)) == std::future_status::ready);
    Fetched fetched = answer.get();
    REQUIRE(fetched.ok());
    return std::move(*fetched);
  }

  // Waits (in real time, bounded) until `ready` holds: work the manual clock set off runs on other threads.

  CommandOutcome acknowledge(const AgentId& agent_id, const std::string& command_id) {
    auto outcome = await_result<CommandOutcome>(
        [&](auto done) { commands->acknowledge(agent_id, command_id, {}, std::move(done)); }, kWaitMs, "BUSY");
    REQUIRE_MESSAGE(outcome.ok(), (outcome.ok() ? "" : outcome.error().message));
    return *outcome;
  }

  Result<CommandOutcome> complete(const AgentId& agent_id, const std::string& command_id, CommandResult result) {
    return await_result<CommandOutcome>(
        [&](auto done) { commands->complete(agent_id, command_id, result, {}, std::move(done)); }, kWaitMs,
        "BUSY");
  }

  CommandState state_of(const std::string& command_id) {
    const auto record = queue.find(command_id);
    REQUIRE(record);
    return record->state;
  }
};

CommandRequest request_for(const AgentId& agent_id, std::string type = "restart") {
  CommandRequest request;
  request.agent_id = agent_id;
  request.type = std::move(type);
  request.params = {{"reason", "test"}};
  return request;
}

std::vector<std::string> ids_of(const std::vector<CommandRecord>& records) {
  std::vector<std::string> ids;
  for (const CommandRecord& record : records) ids.push_back(record.command_id);
  return ids;
}

}  // namespace

SCENARIO("a command goes from queued to delivered, acknowledged and succeeded") {
  CommandFixture fixture;
  const AgentId agent = fixture.register_agent();
  const auto created = fixture.create(request_for(agent));
  REQUIRE(created.ok());
  CHECK(created->created);
  CHECK(created->command.state == CommandState::queued);
  CHECK(created->command.org == "acme");
  CHECK(created->command.principal == "key:0123456789abcdef");
  CHECK(fixture.commands->pending_of(agent) == 1);
  const std::string id = created->command.command_id;

  const auto delivered = fixture.fetch_now(agent);
  REQUIRE(delivered.size() == 1);
  CHECK(delivered[0].command_id == id);
  CHECK(delivered[0].state == CommandState::delivered);
  CHECK(delivered[0].params == nlohmann::json{{"reason", "test"}});
  CHECK(fixture.commands->pending_of(agent) == 0);
  CHECK(fixture.fetch_now(agent).empty());

  CHECK(fixture.acknowledge(agent, id).command.state == CommandState::acknowledged);
  const auto finished = fixture.complete(agent, id, make_command_result(true, 0, "restarted"));
  REQUIRE(finished.ok());
  CHECK(finished->command.state == CommandState::succeeded);
  CHECK(fixture.state_of(id) == CommandState::succeeded);

  const auto detail = fixture.commands->find(Principal{"k", Role::viewer, "acme"}, id);
  REQUIRE(detail.ok());
  CHECK(detail->command.result->output == "restarted");
  REQUIRE(detail->history.size() == 4);
  CHECK(detail->history[0].type == "CommandQueued");
  CHECK(detail->history[0].principal == "key:0123456789abcdef");
  CHECK(detail->history[3].type == "CommandCompleted");
  CHECK(fixture.commands->find(Principal{"k", Role::viewer, "other"}, id).error().reason == kCommandNotFound);

  THEN("another agent cannot report on it") {
    const AgentId other = fixture.register_agent();
    CHECK(fixture.complete(other, id, make_command_result(true, 0, "")).error().reason == kCommandNotFound);
  }
}

SCENARIO("an emergency command is delivered before older normal ones") {
  CommandFixture fixture;
  const AgentId agent = fixture.register_agent();
  const std::string first = fixture.create(request_for(agent, "upgrade"))->command.command_id;
  const std::string second = fixture.create(request_for(agent, "request_diagnostics"))->command.command_id;
  CommandRequest urgent = request_for(agent, "shutdown");
  urgent.priority = CommandPriority::emergency;
  const std::string third = fixture.create(urgent)->command.command_id;
  CHECK(fixture.commands->pending_of(agent) == 3);
  CHECK(ids_of(fixture.fetch_now(agent)) == std::vector<std::string>{third, first, second});
}

SCENARIO("a long poll is woken by a new command, and ends empty when its wait ends") {
  CommandFixture fixture;
  const AgentId agent = fixture.register_agent();
  auto parked = fixture.start_fetch(agent, 30'000);
  REQUIRE(testing::eventually([&] { return fixture.commands->waiting() == 1; }));
  const std::string id = fixture.create(request_for(agent))->command.command_id;
  const auto delivered = CommandFixture::wait(std::move(parked));
  CHECK(ids_of(delivered) == std::vector<std::string>{id});
  CHECK(fixture.commands->waiting() == 0);

  auto empty = fixture.start_fetch(agent, 5'000);
  REQUIRE(testing::eventually([&] { return fixture.commands->waiting() == 1; }));
  fixture.timers.advance(4'999);
  CHECK(empty.wait_for(std::chrono::milliseconds(0)) == std::future_status::timeout);
  fixture.timers.advance(1);
  CHECK(CommandFixture::wait(std::move(empty)).empty());
}

SCENARIO("not_before holds a command back and wakes the agent's poll when it comes") {
  CommandFixture fixture;
  const AgentId agent = fixture.register_agent();
  CommandRequest later = request_for(agent);
  later.not_before_ms = fixture.timers.now_ms() + 10'000;
  const std::string id = fixture.create(later)->command.command_id;
  CHECK(fixture.commands->pending_of(agent) == 1);
  CHECK(fixture.fetch_now(agent).empty());
  auto parked = fixture.start_fetch(agent, 60'000);
  REQUIRE(testing::eventually([&] { return fixture.commands->waiting() == 1; }));
  fixture.timers.advance(11'000);
  CHECK(ids_of(CommandFixture::wait(std::move(parked))) == std::vector<std::string>{id});
}

SCENARIO("a command expires on the timer wheel, also after a restart") {
  CommandFixture fixture;
  const AgentId agent = fixture.register_agent();
  CommandRequest brief = request_for(agent);
  brief.expires_in_ms = 2'000;
  const std::string id = fixture.create(brief)->command.command_id;
  WHEN("its expiry comes") {
    fixture.timers.advance(3'000);
    REQUIRE(testing::eventually([&] { return fixture.state_of(id) == CommandState::expired; }));
    CHECK(fixture.queue.find(id)->expiry_reason == ExpiryReason::not_delivered);
    CHECK(fixture.commands->pending_of(agent) == 0);
    CHECK(fixture.fetch_now(agent).empty());
  }
  WHEN("the service restarts before it comes") {
    fixture.start_commands();
    fixture.timers.advance(3'000);
    REQUIRE(testing::eventually([&] { return fixture.state_of(id) == CommandState::expired; }));
  }
}

SCENARIO("a command delivered but not acknowledged is delivered again after the interval") {
  CommandFixture fixture;
  const AgentId agent = fixture.register_agent();
  const std::string id = fixture.create(request_for(agent))->command.command_id;
  REQUIRE(fixture.fetch_now(agent).size() == 1);
  CHECK(fixture.fetch_now(agent).empty());
  fixture.timers.advance(60'000);
  const auto again = fixture.fetch_now(agent);
  REQUIRE(again.size() == 1);
  CHECK(again[0].command_id == id);
  CHECK(again[0].deliveries == 2);
  fixture.acknowledge(agent, id);
  fixture.timers.advance(120'000);
  CHECK(fixture.fetch_now(agent).empty());
}

SCENARIO("two fetches of one agent at once never deliver a command twice") {
  CommandFixture fixture;
  const AgentId agent = fixture.register_agent();
  for (int index = 0; index < 5; ++index) REQUIRE(fixture.create(request_for(agent)).ok());
  auto first = fixture.start_fetch(agent, 0);
  auto second = fixture.start_fetch(agent, 0);
  const auto one = CommandFixture::wait(std::move(first));
  const auto two = CommandFixture::wait(std::move(second));
  CHECK(one.size() + two.size() == 5);
  for (const CommandRecord& record : one) {
    for (const CommandRecord& other : two) CHECK(record.command_id != other.command_id);
  }
}

SCENARIO("an idempotency key answers the command it made, and refuses other content") {
  CommandFixture fixture;
  const AgentId agent = fixture.register_agent();
  CommandRequest keyed = request_for(agent);
  keyed.idempotency_key = "deploy-42";
  const auto first = fixture.create(keyed);
  REQUIRE(first.ok());
  CHECK(first->created);
  CHECK(first->command.command_id == CommandService::derived_command_id("acme", agent, "deploy-42"));
  const auto again = fixture.create(keyed);
  REQUIRE(again.ok());
  CHECK(!again->created);
  CHECK(again->command.command_id == first->command.command_id);
  CHECK(fixture.commands->pending_of(agent) == 1);
  keyed.params = {{"reason", "other"}};
  CHECK(fixture.create(keyed).error().reason == kIdempotencyKeyReused);
}

SCENARIO("settings disable a type, and agents that cannot take commands refuse them") {
  CommandFixture fixture;
  const AgentId agent = fixture.register_agent();
  Assignment assignment;
  assignment.settings = {{"commands", {{"restart", {{"enabled", false}}}}}, {"auto_switch_enabled", false}};
  REQUIRE(fixture.agents
              ->wait([&](auto done) {
                fixture.agents->set_assignment(agent, AgentAccess{std::nullopt, "acme"}, assignment, {},
                                               std::move(done));
              })
              .ok());
  REQUIRE(testing::eventually([&] {
    const DesiredSummary desired = fixture.configs.desired_of(agent);
    return desired.desired != nullptr;
  }));
  const auto refused = fixture.create(request_for(agent, "restart"));
  REQUIRE(!refused.ok());
  CHECK(refused.error().reason == kCommandDisabled);
  CHECK(refused.error().field == "commands.restart.enabled");
  CHECK(fixture.create(request_for(agent, "switch")).error().field == "auto_switch_enabled");
  CHECK(fixture.create(request_for(agent, "upgrade")).ok());
  CHECK(fixture.commands->pending_of(agent) == 1);

  CHECK(fixture.create(request_for(AgentId::random())).error().reason == kAgentNotFound);
  CHECK(fixture.create(request_for(agent, "upgrade"), "other").error().reason == kAgentNotFound);
  REQUIRE(fixture.agents
              ->wait([&](auto done) {
                fixture.agents->decommission(agent, AgentAccess{std::nullopt, "acme"}, {}, std::move(done));
              })
              .ok());
  REQUIRE(testing::eventually(
      [&] { return fixture.registry.state_of(agent)->status == AgentStatus::decommissioned; }));
  CHECK(fixture.create(request_for(agent, "upgrade")).error().reason == kAgentDecommissioned);
}

SCENARIO("stopping answers parked fetches with no command") {
  CommandFixture fixture;
  const AgentId agent = fixture.register_agent();
  auto parked = fixture.start_fetch(agent, 60'000);
  REQUIRE(testing::eventually([&] { return fixture.commands->waiting() == 1; }));
  fixture.commands->stop();
  CHECK(CommandFixture::wait(std::move(parked)).empty());
  CHECK(fixture.create(request_for(agent)).error().reason == "SHUTTING_DOWN");
}
