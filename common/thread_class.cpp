#include "common/thread_class.hpp"

#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace muster {

void set_thread_class(ThreadClass thread_class) {
  constexpr int kAgentNice = 10;
  const bool agents = thread_class == ThreadClass::agent_traffic;
  const sched_param normal{0};
  pthread_setschedparam(pthread_self(), agents ? SCHED_BATCH : SCHED_OTHER, &normal);
  // On Linux a nice value is per thread: PRIO_PROCESS with a thread id.
  const auto thread_id = static_cast<id_t>(::syscall(SYS_gettid));
  ::setpriority(PRIO_PROCESS, thread_id, agents ? kAgentNice : 0);
}

}  // namespace muster
