#include "common/thread_class.hpp"

#include <pthread.h>
#include <sched.h>

namespace muster {

void set_thread_class(ThreadClass thread_class) {
  thread_local ThreadClass current = ThreadClass::interactive;
  if (thread_class == current) return;
  const sched_param normal{0};
  const int policy = thread_class == ThreadClass::agent_traffic ? SCHED_BATCH : SCHED_OTHER;
  if (pthread_setschedparam(pthread_self(), policy, &normal) == 0) current = thread_class;
}

}  // namespace muster
