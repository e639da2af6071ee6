// The report counts: agents' reports counted per organization and type over
// the current hour and the 23 before it, a bounded number of types, and a
// snapshot plus the log's tail equal to a fold of the whole log.

#include <doctest/doctest.h>

#include "actors/agent/agent_decider.hpp"
#include "eventstore/memory_storage.hpp"
#include "projections/agent_registry.hpp"
#include "projections/report_counts.hpp"

using namespace muster;

namespace {

constexpr TimeMs kHour = ReportCounts::kHourMs;
constexpr TimeMs kStart = 1000 * kHour;  // On an hour's boundary.

// A report of `type` the agent observed at `time_ms`, with no details.
AgentReported report_of(const std::string& type, TimeMs time_ms) {
  return AgentReported{type, time_ms, nlohmann::json::object()};
}

// A log of agents' events, as the store numbers them.
struct ReportsLog {
  std::vector<Event> events;
  std::map<AgentId, AgentState> states;

  void append(const AgentId& agent, const std::vector<AgentEvent>& decided, TimeMs time_ms) {
    AgentState& state = states.try_emplace(agent, fresh_agent_state(agent)).first->second;
    for (const AgentEvent& event : decided) {
      const NewEvent proposed = encode_payload(event);
      events.push_back(Event{events.size() + 1, state.stream(), state.version + 1, proposed.type, time_ms,
                             proposed.schema_version, proposed.data, "{}"});
      REQUIRE(apply(state, events.back()).ok());
    }
  }

  AgentId registered(const std::string& org) {
    const AgentId agent = AgentId::random();
    Registration registration;
    registration.instance_id = "host-" + agent.to_string();
    Admission admission;
    admission.org = org;
    append(agent, *decide_register(fresh_agent_state(agent), registration, admission), kStart);
    return agent;
  }

  void report(const AgentId& agent, const std::string& type, TimeMs time_ms) {
    append(agent, *decide_report(states.at(agent), report_of(type, time_ms), time_ms), time_ms);
  }

  std::vector<Event> slice(std::size_t from, std::size_t to) const {
    return std::vector<Event>(events.begin() + static_cast<std::ptrdiff_t>(from),
                              events.begin() + static_cast<std::ptrdiff_t>(to));
  }
};

using Counts = std::map<std::string, std::uint64_t>;

}  // namespace

TEST_CASE("reports are counted per organization and type over the current hour and the 23 before it") {
  ReportsLog log;
  const AgentId acme = log.registered("acme");
  const AgentId globex = log.registered("globex");
  log.report(acme, "termination", kStart);
  log.report(acme, "rebalance_recommendation", kStart + 10);
  log.report(acme, "rebalance_recommendation", kStart + 3 * kHour);
  log.report(globex, "crash", kStart + 5 * kHour);
  AgentRegistry registry;
  ReportCounts counts(registry);
  REQUIRE(registry.apply(log.events).ok());
  REQUIRE(counts.apply(log.events).ok());
  CHECK(counts.position() == log.events.size());

  const TimeMs now = kStart + 5 * kHour + 1;
  CHECK(counts.last_24h("acme", now) == Counts{{"termination", 1}, {"rebalance_recommendation", 2}});
  CHECK(counts.last_24h("globex", now) == Counts{{"crash", 1}});
  CHECK(counts.last_24h("*", now) ==
        Counts{{"termination", 1}, {"rebalance_recommendation", 2}, {"crash", 1}});
  CHECK(counts.last_24h("initech", now).empty());
  // The hour of kStart leaves the window 24 hours on; the others follow.
  CHECK(counts.last_24h("acme", kStart + 23 * kHour) ==
        Counts{{"termination", 1}, {"rebalance_recommendation", 2}});
  CHECK(counts.last_24h("acme", kStart + 24 * kHour) == Counts{{"rebalance_recommendation", 1}});
  CHECK(counts.last_24h("*", kStart + 30 * kHour).empty());

  SUBCASE("a slot counts a new hour from zero when the ring comes round to it") {
    log.report(acme, "termination", kStart + 24 * kHour);
    REQUIRE(counts.apply(log.slice(log.events.size() - 1, log.events.size())).ok());
    CHECK(counts.last_24h("acme", kStart + 24 * kHour) ==
          Counts{{"termination", 1}, {"rebalance_recommendation", 1}});
  }
}

TEST_CASE("an organization counts a bounded number of report types - more go under one name") {
  ReportsLog log;
  const AgentId agent = log.registered("acme");
  for (std::size_t index = 0; index < ReportCounts::kMaxTypesPerOrg + 2; ++index) {
    log.report(agent, "type-" + std::to_string(index), kStart);
  }
  AgentRegistry registry;
  ReportCounts counts(registry);
  REQUIRE(registry.apply(log.events).ok());
  REQUIRE(counts.apply(log.events).ok());
  const Counts now = counts.last_24h("acme", kStart);
  CHECK(now.size() == ReportCounts::kMaxTypesPerOrg);
  CHECK(now.at(std::string(ReportCounts::kOtherTypes)) == 3);

  SUBCASE("types whose counts aged out make room") {
    log.report(agent, "late", kStart + 25 * kHour);
    REQUIRE(counts.apply(log.slice(log.events.size() - 1, log.events.size())).ok());
    CHECK(counts.last_24h("acme", kStart + 25 * kHour) == Counts{{"late", 1}});
  }
}

TEST_CASE("the report counts' snapshot plus the log's tail counts what the whole log counts") {
  StoreOptions options;
  auto storage = std::move(*open_memory_storage(options));
  ReportsLog log;
  const AgentId agent = log.registered("acme");
  log.report(agent, "termination", kStart);
  log.report(agent, "crash", kStart + kHour);
  const std::size_t snapshot_at = log.events.size();
  log.report(agent, "crash", kStart + 2 * kHour);
  AgentRegistry registry;
  REQUIRE(registry.apply(log.events).ok());

  ReportCounts whole(registry);
  REQUIRE(whole.apply(log.events).ok());
  ReportCounts before(registry);
  REQUIRE(before.apply(log.slice(0, snapshot_at)).ok());
  REQUIRE(before.save_snapshot(storage->snapshots()).ok());
  ReportCounts restored(registry);
  const auto position = restored.load_snapshot(storage->snapshots(), log.events.size());
  REQUIRE(position.ok());
  CHECK(*position == snapshot_at);
  // The whole log again: what the snapshot holds is skipped.
  REQUIRE(restored.apply(log.events).ok());
  const TimeMs now = kStart + 2 * kHour;
  CHECK(restored.last_24h("*", now) == whole.last_24h("*", now));
  CHECK(restored.last_24h("*", now) == Counts{{"termination", 1}, {"crash", 2}});

  SUBCASE("a damaged snapshot is dropped: the model folds the whole log") {
    REQUIRE(storage->snapshots().write(ReportCounts::kSnapshotScope, {{"counts", "[1,2"}}, snapshot_at).ok());
    ReportCounts damaged(registry);
    const auto from = damaged.load_snapshot(storage->snapshots(), log.events.size());
    REQUIRE(from.ok());
    CHECK(*from == 0);
  }
}
