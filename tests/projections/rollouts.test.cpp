// The rollouts' read model: folded with the rollout's own apply, listed
// newest first per organization, the active ones found for the service,
// and a snapshot (plus the log's tail) that gives back what the fold built.

#include "projections/rollouts.hpp"

#include <doctest/doctest.h>

#include <map>

#include "eventstore/memory_storage.hpp"

using namespace muster;

namespace {

struct RolloutLog {
  std::uint64_t position = 0;
  std::map<std::string, std::uint64_t> versions;
  std::vector<Event> events;

  void append(const std::string& org, const std::string& id, const RolloutEvent& payload) {
    const NewEvent encoded = encode_payload(payload);
    const std::string stream = "rollout:" + org + "/" + id;
    events.push_back(Event{++position, stream, ++versions[stream], encoded.type,
                           static_cast<TimeMs>(1000 + position), encoded.schema_version, encoded.data, "{}"});
  }
  void create(const std::string& org, const std::string& id) {
    RolloutCreated created;
    created.rollout_id = id;
    created.org = org;
    created.name = "rollout " + id;
    created.target.selector = {{"env", "prod"}};
    created.change.kind = RolloutChangeKind::settings;
    created.change.assignment.settings = {{"a", 1}};
    created.stages = {{100.0, std::nullopt, 1000}};
    append(org, id, created);
    append(org, id, RolloutStageStarted{0, kWholeTarget, 3});
  }
};

std::vector<std::string> rollout_ids_of(const RolloutPage& page) {
  std::vector<std::string> ids;
  for (const Rollout& rollout : page.rollouts) ids.push_back(rollout.rollout_id);
  return ids;
}

}  // namespace

TEST_CASE("rollouts are listed newest first per organization - running and paused ones are active") {
  RolloutLog log;
  log.create("acme", "aaaaaaaaaaaaaaaa");
  log.create("acme", "bbbbbbbbbbbbbbbb");
  log.create("globex", "cccccccccccccccc");
  log.append("acme", "aaaaaaaaaaaaaaaa", RolloutPaused{"paused by key:k", "", {}});
  log.append("acme", "bbbbbbbbbbbbbbbb", RolloutRolledBack{"rolled back by key:k", "", {}});
  Rollouts model;
  REQUIRE(model.apply(log.events).ok());

  CHECK(rollout_ids_of(*model.list("*", 10, std::nullopt)) ==
        std::vector<std::string>{"cccccccccccccccc", "bbbbbbbbbbbbbbbb", "aaaaaaaaaaaaaaaa"});
  const auto first = model.list("acme", 1, std::nullopt);
  REQUIRE(first.ok());
  CHECK(rollout_ids_of(*first) == std::vector<std::string>{"bbbbbbbbbbbbbbbb"});
  REQUIRE(first->next_after.has_value());
  CHECK(rollout_ids_of(*model.list("acme", 1, first->next_after)) ==
        std::vector<std::string>{"aaaaaaaaaaaaaaaa"});
  CHECK_FALSE(model.list("globex", 1, std::string("aaaaaaaaaaaaaaaa")).ok());
  CHECK(model.find("aaaaaaaaaaaaaaaa")->status == RolloutStatus::paused);
  CHECK_FALSE(model.find("dddddddddddddddd").has_value());

  const auto active = model.active();
  REQUIRE(active.size() == 2);
  CHECK(active[0].rollout_id == "aaaaaaaaaaaaaaaa");
  CHECK(active[1].rollout_id == "cccccccccccccccc");
  CHECK(model.active("acme").size() == 1);
}

TEST_CASE("the rollouts' snapshot plus the log's tail is the whole fold") {
  RolloutLog log;
  log.create("acme", "aaaaaaaaaaaaaaaa");
  log.create("acme", "bbbbbbbbbbbbbbbb");
  Rollouts live;
  REQUIRE(live.apply(log.events).ok());
  auto storage = std::move(*open_memory_storage(StoreOptions{}));
  REQUIRE(live.save_snapshot(storage->snapshots()).ok());

  Rollouts loaded;
  const auto position = loaded.load_snapshot(storage->snapshots(), log.position);
  REQUIRE(position.ok());
  CHECK(*position == log.position);
  log.append("acme", "aaaaaaaaaaaaaaaa", RolloutStageBaking{0, 5000});
  log.append("acme", "bbbbbbbbbbbbbbbb", RolloutAborted{"aborted by key:k"});
  REQUIRE(live.apply(log.events).ok());
  REQUIRE(loaded.apply(log.events).ok());
  for (const char* id : {"aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbb"}) {
    CAPTURE(id);
    CHECK(*loaded.find(id) == *live.find(id));
  }
  CHECK(loaded.position() == live.position());

  // A snapshot past the log's head is dropped, never trusted.
  Rollouts ahead;
  const auto dropped = ahead.load_snapshot(storage->snapshots(), 1);
  REQUIRE(dropped.ok());
  CHECK(*dropped == 0);
}
