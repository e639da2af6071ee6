#pragma once
/// One way to start and stop what runs: a `Gate` refuses new work and drains
/// the work in flight; a `Service` is started once and stopped once; a
/// `ServiceStack` starts services in order and stops them in reverse, the one
/// teardown path of `muster serve`.

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace muster {

/// Refuses new work once closed and lets close() wait for the work inside.
/// Each unit of work enters (try_enter) before it starts and leaves when it is
/// done; a service's stop() closes its gate, which waits until the last unit
/// left, before releasing what that work uses.
///
/// Thread-safe. try_enter never blocks, and neither does leave, except the
/// last one out of a closed gate, which briefly takes the mutex close() sleeps
/// on. Once close() returned, the gate may be destroyed. REQUIRES: nobody is
/// inside when the gate is destroyed (close() it first).
class Gate {
 public:
  Gate() = default;
  Gate(const Gate&) = delete;
  Gate& operator=(const Gate&) = delete;

  /// True if the gate was open: the caller is now inside and must leave()
  /// (or let a Holder do it). False once the gate is closed. Never blocks.
  [[nodiscard]] bool try_enter() noexcept;
  /// Leaves after a successful try_enter. REQUIRES: the caller is inside.
  void leave() noexcept;
  /// Closes the gate (later try_enter calls fail) and waits until every holder
  /// has left. Idempotent; several threads may close at once and each returns
  /// once the gate is empty. REQUIRES: the caller is not inside (it would wait
  /// for itself forever).
  void close();
  bool is_closed() const noexcept;
  /// How many are inside now.
  std::size_t inside() const noexcept;

  /// Inside the gate for the holder's lifetime, if it was open. Movable: the
  /// moved-from holder no longer leaves.
  class Holder {
   public:
    explicit Holder(Gate& gate) noexcept : gate_(gate.try_enter() ? &gate : nullptr) {}
    ~Holder() { release(); }
    Holder(Holder&& other) noexcept : gate_(other.gate_) { other.gate_ = nullptr; }
    Holder& operator=(Holder&& other) noexcept {
      if (this != &other) {
        release();
        gate_ = other.gate_;
        other.gate_ = nullptr;
      }
      return *this;
    }
    Holder(const Holder&) = delete;
    Holder& operator=(const Holder&) = delete;

    /// True if the gate was open: the work may go on.
    bool entered() const noexcept { return gate_ != nullptr; }
    explicit operator bool() const noexcept { return entered(); }
    /// Leaves now rather than at destruction (no-op if not inside).
    void release() noexcept {
      if (gate_ != nullptr) gate_->leave();
      gate_ = nullptr;
    }

   private:
    Gate* gate_;
  };

 private:
  // The count of holders, with kClosed set once closed: entering is one
  // compare-and-swap that fails on a closed gate, so a close() that saw the
  // count reach zero can never see it rise again.
  static constexpr std::uint64_t kClosed = std::uint64_t{1} << 63;

  std::atomic<std::uint64_t> state_{0};
  // Only for close() to sleep on; the count itself is never under the mutex.
  std::mutex mutex_;
  std::condition_variable drained_;
};

/// Something that runs: started once, stopped once. start() returns an error
/// rather than throwing, and leaves nothing running when it fails. stop()
/// refuses new work, drains what is in flight and flushes; it is idempotent,
/// never fails (problems are logged) and is safe to call whether or not
/// start() ran or succeeded.
class Service {
 public:
  virtual ~Service() = default;
  /// A short name for logs and error messages, e.g. "timers".
  virtual std::string_view name() const = 0;
  virtual Status start() = 0;
  virtual void stop() = 0;
};

/// Starts services in the order added and stops them in reverse: the one
/// teardown path of `serve`. Each start and stop is logged at debug level with
/// its duration.
///
/// add() and start() are for one thread (the one setting up); stop() may be
/// called from any thread, several at once, and also while start() runs (it
/// then waits for start() to finish and stops what it started). An exception
/// from a service (a bug: services return errors) is caught here: from
/// start(), it is that service's failure; from stop(), it is logged and the
/// remaining services are still stopped.
class ServiceStack {
 public:
  ServiceStack() = default;
  /// stop(), then destroys the owned services in reverse order of addition.
  ~ServiceStack();
  ServiceStack(const ServiceStack&) = delete;
  ServiceStack& operator=(const ServiceStack&) = delete;

  /// Adds a service the stack does not own; it must outlive the stack.
  /// REQUIRES: start() has not been called.
  void add(Service& service);
  /// Adds a service the stack owns and returns it. REQUIRES: start() has not
  /// been called, `service` is not null.
  Service& add(std::unique_ptr<Service> service);

  /// Starts every service in the order added. If one fails, stops those
  /// already started (in reverse) and returns its error, the message prefixed
  /// with its name ("store: cannot open ..."); the code is kept. A stack starts
  /// once: a second call returns `conflict`.
  Status start();
  /// Stops every started service, in reverse order of starting. Idempotent.
  void stop();

  /// How many services were added.
  std::size_t size() const { return services_.size(); }

 private:
  void stop_started_locked();

  std::vector<Service*> services_;
  std::vector<std::unique_ptr<Service>> owned_;
  // Serializes start() and stop(), so a stop() racing a start() waits for it.
  std::mutex mutex_;
  bool start_called_ = false;
  // How many services of services_ (a prefix) are started and not yet stopped.
  std::size_t started_ = 0;
};

/// A Service made of two callables, for small parts. start_fn may be empty
/// (start succeeds); stop_fn may be empty. stop_fn runs at most once, on the
/// first stop() after a successful start() (a start that failed cleans up after
/// itself); concurrent stop() calls return once it returned. A start() after
/// start() or stop() returns `conflict`.
class FunctionService final : public Service {
 public:
  FunctionService(std::string name, std::function<Status()> start_fn, std::function<void()> stop_fn);

  std::string_view name() const override { return name_; }
  Status start() override;
  void stop() override;

 private:
  const std::string name_;
  std::function<Status()> start_fn_;
  std::function<void()> stop_fn_;
  std::mutex mutex_;
  bool start_called_ = false;
  bool started_ = false;
  bool stopped_ = false;
};

}  // namespace muster
