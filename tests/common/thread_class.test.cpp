#include <doctest/doctest.h>

#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <thread>

#include "common/thread_class.hpp"

using namespace muster;

namespace {

int own_nice() {
  return ::getpriority(PRIO_PROCESS, static_cast<id_t>(::syscall(SYS_gettid)));
}

}  // namespace

TEST_CASE("an agents' thread runs as SCHED_BATCH at nice 10 - other threads keep theirs") {
  const int main_nice = own_nice();
  // On its own thread, so the test runner's thread keeps its class.
  std::thread([] {
    CHECK(sched_getscheduler(0) == SCHED_OTHER);
    set_thread_class(ThreadClass::agent_traffic);
    CHECK(sched_getscheduler(0) == SCHED_BATCH);
    CHECK(own_nice() == 10);
    set_thread_class(ThreadClass::agent_traffic);
    CHECK(sched_getscheduler(0) == SCHED_BATCH);
    CHECK(own_nice() == 10);
  }).join();
  CHECK(sched_getscheduler(0) == SCHED_OTHER);
  CHECK(own_nice() == main_nice);
}
