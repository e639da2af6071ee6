#pragma once
/// Which threads the kernel should favour when the CPU is saturated.
///
/// A big fleet can keep every core busy with heartbeats; an operator's query
/// should still be answered in milliseconds. Threads doing agents' work
/// (their HTTP requests and their actors) run as SCHED_BATCH, which never
/// preempts on wakeup, so ordinary threads (operators' requests) wake up
/// ahead of them. Either switch is allowed without privileges.

namespace muster {

enum class ThreadClass {
  interactive,    ///< SCHED_OTHER: operators' requests, everything by default.
  agent_traffic,  ///< SCHED_BATCH: heartbeats, registrations, agent actors.
};

/// Puts the calling thread in `thread_class`; a no-op when it is there
/// already, so it may be called per request.
void set_thread_class(ThreadClass thread_class);

}  // namespace muster
