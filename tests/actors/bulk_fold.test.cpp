// Bulk jobs: each decision stored as the log stores it and folded back, the
// progress that records nothing twice (a chunk run again after a restart),
// the refusals, the fold's own checks and the snapshot codec.

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "actors/bulk/bulk_decider.hpp"

using namespace muster;

namespace {

// `count` distinct agent ids.
std::vector<AgentId> agents(std::size_t count) {
  std::vector<AgentId> ids;
  for (std::size_t index = 0; index < count; ++index) ids.push_back(AgentId::random());
  return ids;
}

// A job's log: decisions stored as the store would (JSON, position,
// version, time) and folded back from the stored form.
struct JobLog {
  BulkJob job = BulkJobAggregate::initial_state("0123456789abcdef");
  std::uint64_t position = 40;
  std::vector<Event> events;

  // Decides `command`, stores and folds what it decided; returns the event types.
  std::vector<std::string> run(const BulkJobCommand& command, TimeMs time_ms = 1000) {
    runtime::DecideContext context{time_ms};
    auto decided = BulkJobAggregate::decide(job, command, context);
    REQUIRE_MESSAGE(decided.ok(), (decided.ok() ? "" : decided.error().message));
    std::vector<std::string> types;
    for (const BulkJobEvent& event : *decided) {
      const NewEvent proposed = encode_payload(event);
      events.push_back(Event{++position, BulkJobAggregate::stream_of(job), job.version + 1, proposed.type,
                             time_ms, proposed.schema_version, proposed.data, "{}"});
      REQUIRE(apply(job, events.back()).ok());
      types.push_back(proposed.type);
    }
    return types;
  }

  // The refusal `command` gets; REQUIREs one.
  Error refusal(const BulkJobCommand& command) {
    runtime::DecideContext context{1000};
    auto decided = BulkJobAggregate::decide(job, command, context);
    REQUIRE(!decided.ok());
    return decided.error();
  }

  // The whole log folded afresh.
  BulkJob refold() const {
    BulkJob fresh = BulkJobAggregate::initial_state(job.job_id);
    for (const Event& event : events) REQUIRE(apply(fresh, event).ok());
    return fresh;
  }
};

CreateBulkJob assign_to(const std::vector<AgentId>& ids) {
  BulkParams params;
  Assignment assignment;
  assignment.config = ConfigRef{"collector", 2};
  params.assignment = assignment;
  return CreateBulkJob{"acme", BulkAction::assign, params, ids, "key:5f2c0d1e9a8b7c6d"};
}

RecordBulkProgress chunk(std::uint64_t from, std::uint64_t count, std::vector<BulkFailure> failures = {}) {
  const std::uint64_t succeeded = count - failures.size();
  return RecordBulkProgress{BulkJobProgressed{from, count, succeeded, std::move(failures)}};
}

}  // namespace

SCENARIO("a bulk job's life folds into its state") {
  JobLog log;
  const std::vector<AgentId> ids = agents(5);
  GIVEN("a job of five agents") {
    REQUIRE(log.run(assign_to(ids), 1000) == std::vector<std::string>{"BulkJobCreated"});
    THEN("it runs, with its action, params, creator and agents counted, none done") {
      CHECK(log.job.exists());
      CHECK(log.job.org == "acme");
      CHECK(log.job.action == BulkAction::assign);
      REQUIRE(log.job.params.assignment);
      CHECK(log.job.params.assignment->config->name == "collector");
      CHECK(log.job.principal == "key:5f2c0d1e9a8b7c6d");
      CHECK(log.job.total == 5);
      CHECK(log.job.done == 0);
      CHECK_FALSE(log.job.finished);
      CHECK(log.job.created_at_ms == 1000);
      CHECK(log.job.created_position == 41);
    }
    WHEN("its chunks are recorded, the last with a failure") {
      CHECK(log.run(chunk(0, 2), 2000) == std::vector<std::string>{"BulkJobProgressed"});
      const BulkFailure failure{ids[4], "AGENT_NOT_REGISTERED", "the agent is deregistered"};
      CHECK(log.run(chunk(2, 3, {failure}), 3000) ==
            std::vector<std::string>{"BulkJobProgressed", "BulkJobFinished"});
      THEN("it is finished with every agent done, the failure kept, and a refold agrees") {
        CHECK(log.job.finished);
        CHECK(log.job.done == 5);
        CHECK(log.job.succeeded == 4);
        CHECK(log.job.failed == 1);
        CHECK(log.job.failures == std::vector<BulkFailure>{failure});
        CHECK(log.job.finished_at_ms == 3000);
        CHECK(log.refold() == log.job);
      }
      THEN("recording any chunk again records nothing") {
        CHECK(log.run(chunk(2, 3)).empty());
        CHECK(log.run(chunk(0, 2)).empty());
      }
    }
    WHEN("a chunk is recorded twice, as after a restart that cut its answer short") {
      REQUIRE(log.run(chunk(0, 2)).size() == 1);
      THEN("the second records nothing, and done counts it once") {
        CHECK(log.run(chunk(0, 2)).empty());
        CHECK(log.job.done == 2);
        CHECK(log.job.succeeded == 2);
      }
    }
    THEN("a chunk that does not start where the job stands is refused") {
      const Error gap = log.refusal(chunk(1, 2));
      CHECK(gap.code == ErrorCode::conflict);
      CHECK(gap.reason == "BULK_PROGRESS_OUT_OF_ORDER");
    }
    THEN("a chunk past the job's agents, or whose counts do not add up, is refused") {
      CHECK(log.refusal(chunk(0, 6)).code == ErrorCode::invalid_argument);
      CHECK(
          log.refusal(RecordBulkProgress{BulkJobProgressed{0, 2, 2, {BulkFailure{ids[0], "X", "x"}}}}).code ==
          ErrorCode::invalid_argument);
    }
    THEN("creating it again is refused") {
      CHECK(log.refusal(assign_to(ids)).reason == "BULK_JOB_EXISTS");
    }
  }
  GIVEN("a job that selects no agent") {
    THEN("it is created finished") {
      CHECK(log.run(assign_to({})) == std::vector<std::string>{"BulkJobCreated", "BulkJobFinished"});
      CHECK(log.job.finished);
      CHECK(log.job.total == 0);
    }
  }
  GIVEN("no job") {
    THEN("progress is refused as not found") {
      CHECK(log.refusal(chunk(0, 1)).reason == "BULK_JOB_NOT_FOUND");
    }
  }
}

TEST_CASE("a job of more agents than one job takes is refused, naming the selector") {
  JobLog log;
  const Error refused = log.refusal(assign_to(std::vector<AgentId>(kMaxBulkAgents + 1)));
  CHECK(refused.code == ErrorCode::invalid_argument);
  CHECK(refused.reason == "TOO_MANY_AGENTS");
  CHECK(refused.field == "selector");
}

TEST_CASE("a job keeps the first failures, counting them all") {
  JobLog log;
  const std::vector<AgentId> ids = agents(kMaxRecordedBulkFailures + 10);
  REQUIRE(log.run(assign_to(ids)).size() == 1);
  std::vector<BulkFailure> failures;
  for (const AgentId& id : ids)
    failures.push_back(BulkFailure{id, "AGENT_NOT_FOUND", "no agent with this id"});
  REQUIRE(log.run(chunk(0, ids.size(), failures)).size() == 2);
  CHECK(log.job.failed == ids.size());
  REQUIRE(log.job.failures.size() == kMaxRecordedBulkFailures);
  CHECK(log.job.failures.front().agent_id == ids.front());
}

TEST_CASE("the fold refuses what a decision never makes, leaving the state as it was") {
  JobLog log;
  const std::vector<AgentId> ids = agents(3);
  REQUIRE(log.run(assign_to(ids)).size() == 1);
  const BulkJob before = log.job;
  const auto stored = [&](const BulkJobEvent& event, std::uint64_t version) {
    const NewEvent proposed = encode_payload(event);
    return Event{99,  BulkJobAggregate::stream_of(log.job), version, proposed.type, 5000, 1, proposed.data,
                 "{}"};
  };
  const auto corrupt = [&](const Event& event) {
    const Status folded = apply(log.job, event);
    return !folded.ok() && folded.error().code == ErrorCode::corruption;
  };
  CHECK(corrupt(stored(BulkJobProgressed{1, 1, 1, {}}, 2)));  // not where the job stands
  CHECK(corrupt(stored(BulkJobProgressed{0, 4, 4, {}}, 2)));  // past its agents
  CHECK(corrupt(stored(BulkJobProgressed{0, 2, 2, {BulkFailure{ids[0], "X", "x"}}}, 2)));  // does not add up
  CHECK(corrupt(stored(BulkJobFinished{}, 2)));                                            // agents not done
  CHECK(corrupt(stored(BulkJobProgressed{0, 1, 1, {}}, 3)));  // out of version order
  CHECK(log.job == before);
  // A job created under another stream's id.
  BulkJob other = BulkJobAggregate::initial_state("fedcba9876543210");
  Event created = log.events.front();
  created.stream = BulkJobAggregate::stream_of(other);
  CHECK_FALSE(apply(other, created).ok());
}

TEST_CASE("each action's params read back what they wrote") {
  BulkParams params;
  params.settings = {{"log_level", "debug"}, {"limits", {{"cpu", 2}}}};
  params.labels = {{"env", "prod"}};
  params.group = "prod-eu";
  params.assignment = Assignment{};
  params.assignment->policies = {ConfigRef{"hardening", 0}};
  for (const BulkAction action :
       {BulkAction::assign, BulkAction::set_settings, BulkAction::add_to_group, BulkAction::remove_from_group,
        BulkAction::set_labels, BulkAction::deregister}) {
    CAPTURE(to_string(action));
    CHECK(parse_bulk_action(to_string(action)) == action);
    const nlohmann::json written = bulk_params_to_json(action, params);
    auto read = bulk_params_from_json(action, written);
    REQUIRE(read.ok());
    CHECK(bulk_params_to_json(action, *read) == written);
  }
  CHECK(bulk_params_to_json(BulkAction::assign, BulkParams{}) == nlohmann::json::object());
  CHECK_FALSE(bulk_params_from_json(BulkAction::assign, BulkParams{}.settings)->assignment);
  CHECK_FALSE(bulk_params_from_json(BulkAction::add_to_group, nlohmann::json::object()).ok());
  CHECK_FALSE(parse_bulk_action("reboot"));
}

TEST_CASE("a job's snapshot reads back the same state - damage is refused") {
  JobLog log;
  const std::vector<AgentId> ids = agents(4);
  REQUIRE(log.run(assign_to(ids)).size() == 1);
  REQUIRE(log.run(chunk(0, 2, {BulkFailure{ids[1], "AGENT_NOT_FOUND", "gone"}})).size() == 1);
  auto decoded = decode_bulk_job(encode_bulk_job(log.job));
  REQUIRE(decoded.ok());
  CHECK(*decoded == log.job);
  CHECK_FALSE(decode_bulk_job("{}").ok());
  CHECK_FALSE(decode_bulk_job("not json").ok());
}
