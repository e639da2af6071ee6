#include <doctest/doctest.h>

#include <sched.h>

#include <thread>

#include "common/thread_class.hpp"

using namespace muster;

TEST_CASE("a thread moves between the interactive and the agent-traffic scheduling class") {
  // On its own thread, so the test runner's thread keeps its class.
  std::thread([] {
    CHECK(sched_getscheduler(0) == SCHED_OTHER);
    set_thread_class(ThreadClass::agent_traffic);
    CHECK(sched_getscheduler(0) == SCHED_BATCH);
    set_thread_class(ThreadClass::agent_traffic);
    CHECK(sched_getscheduler(0) == SCHED_BATCH);
    set_thread_class(ThreadClass::interactive);
    CHECK(sched_getscheduler(0) == SCHED_OTHER);
  }).join();
}
