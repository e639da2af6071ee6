#pragma once
/// Which threads the kernel should favour when the CPU is saturated.
///
/// A big fleet can keep every core busy with heartbeats; an operator's query
/// should still be answered in milliseconds. The agents' listener's threads
/// run as SCHED_BATCH (never preempting on wakeup) at nice 10, so that
/// ordinary threads (the operators' listener) get the CPU first. SCHED_BATCH
/// alone was not enough: on an EEVDF kernel (6.x) a batch thread of the same
/// weight still takes its fair share and preempted the operators' thread
/// mid-answer (list p99 7 ms at a million agents; with nice 10, 2-4 ms).
///
/// Both are allowed without privileges in that direction; going back to
/// nice 0 needs CAP_SYS_NICE (or RLIMIT_NICE), so a thread is meant to be
/// put in its class once, when it starts.

namespace muster {

enum class ThreadClass {
  interactive,    ///< SCHED_OTHER, nice 0: operators' requests, everything by default.
  agent_traffic,  ///< SCHED_BATCH, nice 10: the agents' listener.
};

/// Puts the calling thread in `thread_class` (best effort: a setting the
/// process may not make is left as it was).
void set_thread_class(ThreadClass thread_class);

}  // namespace muster
