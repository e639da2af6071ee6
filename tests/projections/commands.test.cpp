// The read model of commands: commands folded with their own `apply` and
// kept compact, each agent's open commands in delivery order and its
// pending count, counts per batch, lists with filters and cursors, the
// hook that wakes fetches, and a snapshot plus the log's tail equal to a
// fold of the whole log.

#include <doctest/doctest.h>

#include "actors/command/command_decider.hpp"
#include "eventstore/memory_storage.hpp"
#include "projections/commands.hpp"

using namespace muster;

namespace {

const AgentId kWebAgent = *AgentId::parse("3f6c9a1e-8d2b-4c1f-9e7a-0b5d4c3a2f10");
const AgentId kDbAgent = *AgentId::parse("9a1e3f6c-8d2b-4c1f-9e7a-0b5d4c3a2f10");

// A log of commands' events, as the store numbers them.
struct CommandsLog {
  std::vector<Event> events;
  std::map<std::string, CommandRecord> states;
  TimeMs now_ms = 1000;

  void run(const std::string& org, const std::string& command_id, const CommandCommand& command) {
    CommandRecord& record =
        states.try_emplace(command_id, CommandAggregate::initial_state(command_instance_id(org, command_id)))
            .first->second;
    runtime::DecideContext context{++now_ms};
    auto decided = CommandAggregate::decide(record, command, context);
    REQUIRE(decided.ok());
    for (const CommandEvent& event : *decided) {
      const NewEvent proposed = encode_payload(event);
      events.push_back(Event{events.size() + 1, CommandAggregate::stream_of(record), record.version + 1,
                             proposed.type, context.now_ms, proposed.schema_version, proposed.data, "{}"});
      REQUIRE(apply(record, events.back()).ok());
    }
  }

  void queue(const std::string& command_id, const AgentId& agent, const std::string& type,
             CommandPriority priority = CommandPriority::normal, const std::string& batch = "",
             const std::string& org = "acme") {
    CommandQueued queued;
    queued.command_id = command_id;
    queued.org = org;
    queued.agent_id = agent;
    queued.type = type;
    queued.params = {{"big", std::string(100, 'p')}};
    queued.priority = priority;
    queued.expires_at_ms = 1'000'000;
    queued.batch_id = batch;
    queued.principal = "key:k";
    run(org, command_id, QueueCommand{queued});
  }

  // The compact state the model should hold for `command_id`.
  CommandRecord compacted(const std::string& command_id) const {
    CommandRecord record = states.at(command_id);
    compact(record);
    return record;
  }

  std::vector<Event> slice(std::size_t from, std::size_t to) const {
    return std::vector<Event>(events.begin() + static_cast<std::ptrdiff_t>(from),
                              events.begin() + static_cast<std::ptrdiff_t>(to));
  }
};

std::vector<std::string> command_ids_of(const std::vector<CommandRecord>& records) {
  std::vector<std::string> ids;
  for (const CommandRecord& record : records) ids.push_back(record.command_id);
  return ids;
}

void fill(CommandsLog& log) {
  log.queue("c1", kWebAgent, "upgrade", CommandPriority::normal, "b1");
  log.queue("c2", kWebAgent, "restart", CommandPriority::normal, "b1");
  log.queue("c3", kDbAgent, "restart", CommandPriority::normal, "b1");
  log.queue("c4", kWebAgent, "shutdown", CommandPriority::emergency);
  log.queue("c5", kDbAgent, "restart", CommandPriority::normal, "", "globex");
  log.run("acme", "c3", DeliverCommand{60'000});
  log.run("acme", "c3", CompleteCommand{kDbAgent, make_command_result(false, 1, std::string(1000, 'o'))});
  log.run("acme", "c2", CancelCommand{});
}

}  // namespace

TEST_CASE("commands are kept compact, in delivery order per agent, counted per agent and batch") {
  CommandsLog log;
  fill(log);
  CommandQueue model;
  std::vector<AgentId> woken;
  model.set_on_queued([&](const std::vector<AgentId>& agents) { woken.insert(woken.end(), agents.begin(), agents.end()); });
  REQUIRE(model.apply(log.events).ok());
  CHECK(model.position() == log.events.size());
  CHECK(woken.size() == 2);  // each agent once per batch of the log
  CHECK(*model.find("c3") == log.compacted("c3"));
  CHECK(model.find("c3")->result->output.empty());
  CHECK(model.find("c1")->params == nlohmann::json::object());
  CHECK_FALSE(model.find("nope"));

  CHECK(model.pending_of(kWebAgent) == 2);
  CHECK(model.pending_of(kDbAgent) == 1);  // c5, of another organization
  CHECK(model.pending_of(AgentId::random()) == 0);
  CHECK(command_ids_of(model.deliverable(kWebAgent, 2000, 60'000, 10)) ==
        std::vector<std::string>{"c4", "c1"});
  CHECK(command_ids_of(model.deliverable(kWebAgent, 2000, 60'000, 1)) == std::vector<std::string>{"c4"});
  CHECK(model.deliverable(kWebAgent, 1'000'000, 60'000, 10).empty());  // expired by then

  const auto batch = model.batch_counts("b1");
  REQUIRE(batch);
  CHECK((*batch)[static_cast<std::size_t>(CommandState::queued)] == 1);
  CHECK((*batch)[static_cast<std::size_t>(CommandState::failed)] == 1);
  CHECK((*batch)[static_cast<std::size_t>(CommandState::cancelled)] == 1);
  CHECK_FALSE(model.batch_counts("b2"));
  CHECK(command_ids_of(model.open()) == std::vector<std::string>{"c1", "c4", "c5"});

  SUBCASE("lists: newest first, filtered, paged, per organization") {
    CHECK(command_ids_of(model.list("*", {}, 10, std::nullopt)->commands) ==
          std::vector<std::string>{"c5", "c4", "c3", "c2", "c1"});
    CommandFilter restarts;
    restarts.type = "restart";
    CHECK(command_ids_of(model.list("acme", restarts, 10, std::nullopt)->commands) ==
          std::vector<std::string>{"c3", "c2"});
    CommandFilter web;
    web.agent_id = kWebAgent;
    const auto first = model.list("acme", web, 2, std::nullopt);
    REQUIRE(first.ok());
    CHECK(command_ids_of(first->commands) == std::vector<std::string>{"c4", "c2"});
    REQUIRE(first->next_after);
    const auto second = model.list("acme", web, 2, first->next_after);
    CHECK(command_ids_of(second->commands) == std::vector<std::string>{"c1"});
    CHECK_FALSE(second->next_after);
    CommandFilter in_batch;
    in_batch.batch_id = "b1";
    in_batch.state = CommandState::queued;
    CHECK(command_ids_of(model.list("acme", in_batch, 10, std::nullopt)->commands) ==
          std::vector<std::string>{"c1"});
    CHECK(command_ids_of(model.list("globex", {}, 10, std::nullopt)->commands) ==
          std::vector<std::string>{"c5"});
    CHECK(model.list("globex", {}, 10, std::string("c1")).error().field == "cursor");
  }
}

TEST_CASE("a snapshot of the commands plus the log's tail folds to what the whole log folds to") {
  StoreOptions options;
  auto storage = std::move(*open_memory_storage(options));
  CommandsLog log;
  log.queue("d1", kWebAgent, "upgrade", CommandPriority::normal, "b1");
  log.queue("d2", kWebAgent, "restart", CommandPriority::emergency, "b1");
  log.run("acme", "d2", DeliverCommand{60'000});
  const std::size_t snapshot_at = log.events.size();
  fill(log);
  log.run("acme", "d2", AcknowledgeCommand{kWebAgent});
  log.now_ms = 1'000'000;
  log.run("acme", "d1", ExpireCommand{});

  CommandQueue whole;
  REQUIRE(whole.apply(log.events).ok());
  CommandQueue before;
  REQUIRE(before.apply(log.slice(0, snapshot_at)).ok());
  REQUIRE(before.save_snapshot(storage->snapshots()).ok());
  CommandQueue restored;
  const auto position = restored.load_snapshot(storage->snapshots(), log.events.size());
  REQUIRE(position.ok());
  CHECK(*position == snapshot_at);
  REQUIRE(restored.apply(log.events).ok());
  for (const auto& entry : log.states) {
    CAPTURE(entry.first);
    CHECK(*restored.find(entry.first) == log.compacted(entry.first));
    CHECK(*whole.find(entry.first) == log.compacted(entry.first));
  }
  CHECK(restored.pending_of(kWebAgent) == whole.pending_of(kWebAgent));
  CHECK(command_ids_of(restored.deliverable(kWebAgent, 2000, 60'000, 10)) ==
        command_ids_of(whole.deliverable(kWebAgent, 2000, 60'000, 10)));
  CHECK(restored.batch_counts("b1") == whole.batch_counts("b1"));
  CHECK(command_ids_of(restored.list("*", {}, 100, std::nullopt)->commands) ==
        command_ids_of(whole.list("*", {}, 100, std::nullopt)->commands));

  SUBCASE("a snapshot past the log's head, or damaged, is dropped") {
    CommandQueue ahead;
    CHECK(ahead.load_snapshot(storage->snapshots(), snapshot_at - 1).value() == 0);
    REQUIRE(storage->snapshots().write(CommandQueue::kSnapshotScope, {{"cmd:x", "{"}}, snapshot_at).ok());
    CommandQueue damaged;
    CHECK(damaged.load_snapshot(storage->snapshots(), log.events.size()).value() == 0);
    CHECK_FALSE(damaged.find("d1"));
  }
}
