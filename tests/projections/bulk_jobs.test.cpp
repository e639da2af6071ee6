// The read model of bulk jobs: jobs folded with their own `apply`, listed
// newest first per organization, the unfinished ones found, and a snapshot
// plus the log's tail equal to a fold of the whole log.

#include <doctest/doctest.h>

#include "actors/bulk/bulk_decider.hpp"
#include "eventstore/memory_storage.hpp"
#include "projections/bulk_jobs.hpp"

using namespace muster;

namespace {

// A log of bulk jobs' events, as the store numbers them.
struct JobsLog {
  std::vector<Event> events;
  std::map<std::string, BulkJob> states;

  // Decides `command` for job `job_id`, appending what it decides.
  void run(const std::string& job_id, const BulkJobCommand& command) {
    BulkJob& job = states.try_emplace(job_id, BulkJobAggregate::initial_state(job_id)).first->second;
    runtime::DecideContext context{1000 + static_cast<TimeMs>(events.size())};
    auto decided = BulkJobAggregate::decide(job, command, context);
    REQUIRE(decided.ok());
    for (const BulkJobEvent& event : *decided) {
      const NewEvent proposed = encode_payload(event);
      events.push_back(Event{events.size() + 1, BulkJobAggregate::stream_of(job), job.version + 1,
                             proposed.type, context.now_ms, proposed.schema_version, proposed.data, "{}"});
      REQUIRE(apply(job, events.back()).ok());
    }
  }

  void create(const std::string& job_id, const std::string& org, std::size_t agents) {
    std::vector<AgentId> ids;
    for (std::size_t index = 0; index < agents; ++index) ids.push_back(AgentId::random());
    run(job_id, CreateBulkJob{org, BulkAction::deregister, {}, ids, "key:k"});
  }

  void progress(const std::string& job_id, std::uint64_t from, std::uint64_t count) {
    run(job_id, RecordBulkProgress{BulkJobProgressed{from, count, count, {}}});
  }

  std::vector<Event> slice(std::size_t from, std::size_t to) const {
    return std::vector<Event>(events.begin() + static_cast<std::ptrdiff_t>(from),
                              events.begin() + static_cast<std::ptrdiff_t>(to));
  }
};

std::vector<std::string> job_ids_of(const std::vector<BulkJob>& jobs) {
  std::vector<std::string> ids;
  for (const BulkJob& job : jobs) ids.push_back(job.job_id);
  return ids;
}

}  // namespace

TEST_CASE("bulk jobs are listed newest first per organization, and the unfinished ones are found") {
  JobsLog log;
  log.create("aaaaaaaaaaaaaaa1", "acme", 4);
  log.create("aaaaaaaaaaaaaaa2", "globex", 2);
  log.create("aaaaaaaaaaaaaaa3", "acme", 0);
  log.create("aaaaaaaaaaaaaaa4", "acme", 2);
  log.progress("aaaaaaaaaaaaaaa4", 0, 2);
  log.progress("aaaaaaaaaaaaaaa1", 0, 2);
  BulkJobs jobs;
  REQUIRE(jobs.apply(log.events).ok());
  CHECK(jobs.position() == log.events.size());
  CHECK(*jobs.find("aaaaaaaaaaaaaaa1") == log.states.at("aaaaaaaaaaaaaaa1"));
  CHECK_FALSE(jobs.find("nope"));

  const auto first = jobs.list("acme", 2, std::nullopt);
  REQUIRE(first.ok());
  CHECK(job_ids_of(first->jobs) == std::vector<std::string>{"aaaaaaaaaaaaaaa4", "aaaaaaaaaaaaaaa3"});
  REQUIRE(first->next_after);
  const auto second = jobs.list("acme", 2, first->next_after);
  REQUIRE(second.ok());
  CHECK(job_ids_of(second->jobs) == std::vector<std::string>{"aaaaaaaaaaaaaaa1"});
  CHECK_FALSE(second->next_after);
  CHECK(jobs.list("*", 10, std::nullopt)->jobs.size() == 4);
  CHECK(jobs.list("globex", 10, std::nullopt)->jobs.size() == 1);
  // Another organization's job is no cursor of this one.
  CHECK(jobs.list("globex", 10, std::string("aaaaaaaaaaaaaaa1")).error().field == "cursor");

  CHECK(job_ids_of(jobs.unfinished()) == std::vector<std::string>{"aaaaaaaaaaaaaaa1", "aaaaaaaaaaaaaaa2"});
}

TEST_CASE("a snapshot plus the log's tail folds to what the whole log folds to") {
  StoreOptions options;
  auto storage = std::move(*open_memory_storage(options));
  JobsLog log;
  log.create("bbbbbbbbbbbbbbb1", "acme", 5);
  log.progress("bbbbbbbbbbbbbbb1", 0, 2);
  log.create("bbbbbbbbbbbbbbb2", "acme", 1);
  const std::size_t snapshot_at = log.events.size();
  log.progress("bbbbbbbbbbbbbbb1", 2, 3);
  log.progress("bbbbbbbbbbbbbbb2", 0, 1);
  log.create("bbbbbbbbbbbbbbb3", "acme", 3);

  BulkJobs whole;
  REQUIRE(whole.apply(log.events).ok());

  BulkJobs before;
  REQUIRE(before.apply(log.slice(0, snapshot_at)).ok());
  REQUIRE(before.save_snapshot(storage->snapshots()).ok());
  BulkJobs restored;
  const auto position = restored.load_snapshot(storage->snapshots(), log.events.size());
  REQUIRE(position.ok());
  CHECK(*position == snapshot_at);
  // The whole log again: what the snapshot holds is skipped.
  REQUIRE(restored.apply(log.events).ok());
  for (const auto& entry : log.states) {
    const auto& job_id = entry.first;
    const auto& state = entry.second;
    CAPTURE(job_id);
    CHECK(*restored.find(job_id) == state);
    CHECK(*whole.find(job_id) == state);
  }
  CHECK(job_ids_of(restored.unfinished()) == job_ids_of(whole.unfinished()));
  CHECK(job_ids_of(restored.list("*", 10, std::nullopt)->jobs) ==
        job_ids_of(whole.list("*", 10, std::nullopt)->jobs));

  SUBCASE("a snapshot past the log's head, or damaged, is dropped") {
    BulkJobs ahead;
    CHECK(ahead.load_snapshot(storage->snapshots(), snapshot_at - 1).value() == 0);
    REQUIRE(storage->snapshots().write(BulkJobs::kSnapshotScope, {{"job:x", "{"}}, snapshot_at).ok());
    BulkJobs damaged;
    CHECK(damaged.load_snapshot(storage->snapshots(), log.events.size()).value() == 0);
    CHECK_FALSE(damaged.find("bbbbbbbbbbbbbbb1"));
  }
}
