#pragma once
/// Happens-before edges for ThreadSanitizer where the synchronization is in
/// a library it cannot see: Debian's libcaf_core is not built with TSan, so
/// a message handed to an actor through CAF's mailbox, and an actor moving
/// between scheduler threads, look like races to it. The sender releases the
/// message, the receiver acquires it; every handler of an actor acquires the
/// actor on entry and releases it on exit. Without TSan these are nothing.

#include "common/sanitizers.hpp"

namespace muster::tsan {

#ifdef MUSTER_TSAN
extern "C" void __tsan_acquire(void* address);
extern "C" void __tsan_release(void* address);
inline void acquire(const void* address) {
  __tsan_acquire(const_cast<void*>(address));
}
inline void release(const void* address) {
  __tsan_release(const_cast<void*>(address));
}
#else
inline void acquire(const void*) {}
inline void release(const void*) {}
#endif

/// Acquires `address` now and releases it when the scope ends.
class Scope {
 public:
  explicit Scope(const void* address) : address_(address) { acquire(address_); }
  ~Scope() { release(address_); }
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

 private:
  const void* address_;
};

}  // namespace muster::tsan
