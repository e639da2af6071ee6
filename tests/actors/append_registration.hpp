#pragma once
// Test support for services on the runtime: an agent registered straight
// into the log, with the events its actor would decide, and folded by the
// read models before the test goes on.

#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <vector>

#include "actors/agent/agent_decider.hpp"
#include "eventstore/event_store.hpp"
#include "projections/projection_runner.hpp"

namespace muster::testing {

inline void append_registration(EventStore& store, const ProjectionRunner& projections, const AgentId& id,
                                const Registration& registration, const std::string& org) {
  Admission admission;
  admission.org = org;
  auto decided = decide_register(fresh_agent_state(id), registration, admission);
  REQUIRE(decided.ok());
  std::vector<NewEvent> events;
  for (const AgentEvent& event : *decided) events.push_back(encode_payload(event));
  auto appended = store.append("agent:" + id.to_string(), kNewStream, std::move(events));
  REQUIRE(appended.ok());
  REQUIRE(projections.wait_for_position(appended->last_position, std::chrono::seconds(10)));
}

}  // namespace muster::testing
