// Commands: each decision stored as the log stores it and folded back, the
// states a command goes through, redelivery, not_before and expiry, the
// refusals, idempotency, the output cap, the snapshot codec and the gate
// that settings close.

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "actors/command/command_decider.hpp"
#include "actors/command/command_gate.hpp"

using namespace muster;

namespace {

const AgentId kCommandAgent = *AgentId::parse("3f6c9a1e-8d2b-4c1f-9e7a-0b5d4c3a2f10");
const AgentId kOther = *AgentId::parse("9a1e3f6c-8d2b-4c1f-9e7a-0b5d4c3a2f10");

// A command's log: decisions stored as the store would (JSON, position,
// version, time) and folded back from the stored form.
struct CommandLog {
  CommandRecord record = CommandAggregate::initial_state("acme/0123456789abcdef");
  std::uint64_t position = 40;
  std::vector<Event> events;

  // Decides `command` at `time_ms`, stores and folds what it decided; returns the event types.
  std::vector<std::string> run(const CommandCommand& command, TimeMs time_ms) {
    runtime::DecideContext context{time_ms};
    auto decided = CommandAggregate::decide(record, command, context);
    REQUIRE_MESSAGE(decided.ok(), (decided.ok() ? "" : decided.error().message));
    std::vector<std::string> types;
    for (const CommandEvent& event : *decided) {
      const NewEvent proposed = encode_payload(event);
      events.push_back(Event{++position, CommandAggregate::stream_of(record), record.version + 1, proposed.type,
                             time_ms, proposed.schema_version, proposed.data, "{}"});
      REQUIRE(apply(record, events.back()).ok());
      types.push_back(proposed.type);
    }
    return types;
  }

  Error refusal(const CommandCommand& command, TimeMs time_ms = 5000) {
    runtime::DecideContext context{time_ms};
    auto decided = CommandAggregate::decide(record, command, context);
    REQUIRE(!decided.ok());
    return decided.error();
  }

  CommandRecord refold() const {
    CommandRecord fresh = CommandAggregate::initial_state("acme/0123456789abcdef");
    for (const Event& event : events) REQUIRE(apply(fresh, event).ok());
    return fresh;
  }
};

QueueCommand restart(std::string key = "", TimeMs not_before_ms = 0) {
  CommandQueued queued;
  queued.command_id = "0123456789abcdef";
  queued.org = "acme";
  queued.agent_id = kCommandAgent;
  queued.type = "restart";
  queued.params = {{"graceful", true}};
  queued.not_before_ms = not_before_ms;
  queued.expires_at_ms = 100'000;
  queued.idempotency_key = std::move(key);
  queued.principal = "key:5f2c0d1e9a8b7c6d";
  return QueueCommand{queued};
}

using Types = std::vector<std::string>;

}  // namespace

SCENARIO("a command's whole life folds into its state") {
  CommandLog log;
  REQUIRE(log.run(restart(), 1000) == Types{"CommandQueued"});
  CHECK(log.record.state == CommandState::queued);
  CHECK(log.record.created_at_ms == 1000);
  CHECK(log.record.principal == "key:5f2c0d1e9a8b7c6d");
  CHECK(log.record.params == nlohmann::json{{"graceful", true}});

  WHEN("it is delivered, acknowledged and reported") {
    CHECK(log.run(DeliverCommand{60'000}, 2000) == Types{"CommandDelivered"});
    CHECK(log.record.state == CommandState::delivered);
    CHECK(log.record.delivered_at_ms == 2000);
    CHECK(log.run(AcknowledgeCommand{kCommandAgent}, 3000) == Types{"CommandAcknowledged"});
    THEN("a repeated acknowledgement records nothing") {
      CHECK(log.run(AcknowledgeCommand{kCommandAgent}, 3500).empty());
    }
    CHECK(log.run(CompleteCommand{kCommandAgent, make_command_result(true, 0, "ok")}, 4000) ==
          Types{"CommandCompleted"});
    CHECK(log.record.state == CommandState::succeeded);
    CHECK(log.record.finished_at_ms == 4000);
    REQUIRE(log.record.result);
    CHECK(log.record.result->output == "ok");
    CHECK(log.record.result->exit_code == 0);
    THEN("the same result again records nothing; another is refused") {
      CHECK(log.run(CompleteCommand{kCommandAgent, make_command_result(true, 0, "ok")}, 4500).empty());
      CHECK(log.refusal(CompleteCommand{kCommandAgent, make_command_result(false, 1, "")}).reason ==
            kCommandFinished);
    }
    THEN("a finished command cannot be cancelled, acknowledged or delivered") {
      CHECK(log.refusal(CancelCommand{}).reason == kCommandFinished);
      CHECK(log.refusal(AcknowledgeCommand{kCommandAgent}).reason == kCommandFinished);
      CHECK(log.run(DeliverCommand{0}, 5000).empty());
      CHECK(log.run(ExpireCommand{}, 200'000).empty());
    }
    THEN("the log folds back to the same state") { CHECK(log.refold() == log.record); }
  }
  WHEN("the agent reports failure straight after delivery") {
    log.run(DeliverCommand{60'000}, 2000);
    CHECK(log.run(CompleteCommand{kCommandAgent, make_command_result(false, 3, "boom")}, 2500) ==
          Types{"CommandCompleted"});
    CHECK(log.record.state == CommandState::failed);
    CHECK(log.refold() == log.record);
  }
}

SCENARIO("delivery waits for not_before, and happens again when not acknowledged in time") {
  CommandLog log;
  log.run(restart("", 10'000), 1000);
  CHECK(log.run(DeliverCommand{60'000}, 9999).empty());
  CHECK(log.run(DeliverCommand{60'000}, 10'000) == Types{"CommandDelivered"});
  THEN("a second fetch soon after gets nothing; after the interval it is delivered again") {
    CHECK(log.run(DeliverCommand{60'000}, 20'000).empty());
    CHECK(log.run(DeliverCommand{60'000}, 70'000) == Types{"CommandDelivered"});
    CHECK(log.record.deliveries == 2);
    CHECK(log.record.delivered_at_ms == 70'000);
  }
  THEN("once acknowledged it is never delivered again") {
    log.run(AcknowledgeCommand{kCommandAgent}, 11'000);
    CHECK(log.run(DeliverCommand{0}, 90'000).empty());
  }
}

SCENARIO("a command expires when its expiry comes first") {
  CommandLog log;
  log.run(restart(), 1000);
  CHECK(log.run(ExpireCommand{}, 99'999).empty());
  WHEN("it was never delivered") {
    CHECK(log.run(ExpireCommand{}, 100'000) == Types{"CommandExpired"});
    CHECK(log.record.state == CommandState::expired);
    CHECK(log.record.expiry_reason == ExpiryReason::not_delivered);
  }
  WHEN("it was delivered but never finished") {
    log.run(DeliverCommand{60'000}, 2000);
    log.run(AcknowledgeCommand{kCommandAgent}, 3000);
    CHECK(log.run(ExpireCommand{}, 100'000) == Types{"CommandExpired"});
    CHECK(log.record.expiry_reason == ExpiryReason::not_finished);
    CHECK(log.refusal(CompleteCommand{kCommandAgent, make_command_result(true, 0, "")}).reason ==
          kCommandFinished);
  }
  WHEN("a fetch comes after its expiry") {
    CHECK(log.run(DeliverCommand{60'000}, 100'000) == Types{"CommandExpired"});
    CHECK(log.record.state == CommandState::expired);
  }
  THEN("the log folds back to the same state") { CHECK(log.refold() == log.record); }
}

SCENARIO("cancelling, and the refusals of agents' reports") {
  CommandLog log;
  CHECK(log.refusal(CancelCommand{}).reason == kCommandNotFound);
  CHECK(log.refusal(DeliverCommand{}).reason == kCommandNotFound);
  log.run(restart(), 1000);
  CHECK(log.refusal(AcknowledgeCommand{kCommandAgent}).reason == kCommandNotDelivered);
  CHECK(log.refusal(CompleteCommand{kCommandAgent, {}}).reason == kCommandNotDelivered);
  log.run(DeliverCommand{60'000}, 2000);
  CHECK(log.refusal(AcknowledgeCommand{kOther}).reason == kCommandNotFound);
  CHECK(log.refusal(CompleteCommand{kOther, {}}).reason == kCommandNotFound);
  CHECK(log.run(CancelCommand{}, 3000) == Types{"CommandCancelled"});
  CHECK(log.record.state == CommandState::cancelled);
  CHECK(log.refusal(CancelCommand{}).reason == kCommandFinished);
  CHECK(log.refusal(AcknowledgeCommand{kCommandAgent}).reason == kCommandFinished);
  CHECK(log.refold() == log.record);
}

SCENARIO("an idempotency key answers the command it made") {
  CommandLog log;
  log.run(restart("deploy-42"), 1000);
  CHECK(log.run(restart("deploy-42"), 2000).empty());
  QueueCommand other = restart("deploy-42");
  other.queued.params = {{"graceful", false}};
  const Error reused = log.refusal(other);
  CHECK(reused.code == ErrorCode::conflict);
  CHECK(reused.reason == kIdempotencyKeyReused);
  CHECK(reused.field == "idempotency_key");
  CHECK(log.refusal(restart("")).reason == kCommandExists);
}

TEST_CASE("the fold refuses what no decision makes") {
  CommandLog log;
  const NewEvent delivered = encode_payload(CommandEvent{CommandDelivered{}});
  Event orphan{1, "command:acme/0123456789abcdef", 1, delivered.type, 1000, 1, delivered.data, "{}"};
  CHECK(apply(log.record, orphan).error().code == ErrorCode::corruption);
  QueueCommand queue = restart();
  queue.queued.org = "other";
  const NewEvent queued = encode_payload(CommandEvent{queue.queued});
  Event misplaced{1, "command:acme/0123456789abcdef", 1, queued.type, 1000, 1, queued.data, "{}"};
  CHECK(!apply(log.record, misplaced).ok());
  CHECK(!log.record.exists());
}

TEST_CASE("output past 64 KiB is cut at a character boundary and flagged") {
  const CommandResult small = make_command_result(true, 0, "fine");
  CHECK(!small.output_truncated);
  std::string long_output(kMaxCommandOutputBytes - 1, 'x');
  long_output += "\xC3\xA9tail";  // "é" straddles the limit
  const CommandResult cut = make_command_result(false, std::nullopt, long_output);
  CHECK(cut.output_truncated);
  CHECK(cut.output.size() == kMaxCommandOutputBytes - 1);
  CHECK(!cut.exit_code);
}

TEST_CASE("a command's snapshot reads back what it wrote") {
  CommandLog log;
  log.run(restart("k"), 1000);
  log.run(DeliverCommand{60'000}, 2000);
  log.run(CompleteCommand{kCommandAgent, make_command_result(false, -9, "killed")}, 3000);
  auto decoded = decode_command(encode_command(log.record));
  REQUIRE(decoded.ok());
  CHECK(*decoded == log.record);
  CHECK(!decode_command("{\"command_id\": 3}").ok());
  CHECK(!decode_command("not json").ok());
  CommandRecord small = log.record;
  compact(small);
  CHECK(small.params == nlohmann::json::object());
  CHECK(small.result->output.empty());
  CHECK(small.result->exit_code == -9);
}

TEST_CASE("types, and the settings that disable a command") {
  CHECK(is_valid_command_type("restart"));
  CHECK(is_valid_command_type("vendor.rotate-logs_2"));
  CHECK(!is_valid_command_type(""));
  CHECK(!is_valid_command_type("Restart"));
  CHECK(!is_valid_command_type("1restart"));
  CHECK(!is_valid_command_type(std::string(65, 'a')));
  CHECK(is_valid_command_type(std::string(64, 'a')));
  CHECK(is_known_command_type("request_diagnostics"));
  CHECK(!is_known_command_type("vendor.rotate"));

  CHECK(check_command_enabled(nullptr, "restart").ok());
  const nlohmann::json settings = {{"commands", {{"restart", {{"enabled", false}}}, {"upgrade", {{"enabled", true}}}}},
                                   {"auto_switch_enabled", false}};
  const Status restart = check_command_enabled(&settings, "restart");
  REQUIRE(!restart.ok());
  CHECK(restart.error().code == ErrorCode::permission_denied);
  CHECK(restart.error().reason == kCommandDisabled);
  CHECK(restart.error().field == "commands.restart.enabled");
  CHECK(check_command_enabled(&settings, "upgrade").ok());
  CHECK(check_command_enabled(&settings, "shutdown").ok());
  const Status switched = check_command_enabled(&settings, "switch");
  REQUIRE(!switched.ok());
  CHECK(switched.error().field == "auto_switch_enabled");
  const nlohmann::json loose = {{"commands", {{"restart", {{"enabled", "no"}}}}}, {"auto_switch_enabled", true}};
  CHECK(check_command_enabled(&loose, "restart").ok());
  CHECK(check_command_enabled(&loose, "switch").ok());
}
