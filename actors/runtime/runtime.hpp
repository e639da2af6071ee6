#pragma once
/// The actor runtime every aggregate runs on: one CAF actor system, shared
/// by one `AggregateHost` per aggregate type (aggregate_host.hpp). This
/// header is the untyped core the hosts are built from; it hides CAF.
///
/// Each aggregate instance (an agent, an API key, ...) is a *virtual* actor:
/// activated by the first message sent to its id, passivated when idle,
/// activated again (rebuilt from the log) by the next. `HostCore` keeps the
/// directory of active instances and the message counts that make
/// passivation safe: an instance leaves only when nothing sent to it is
/// still unread.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/lifecycle.hpp"
#include "common/result.hpp"
#include "common/timeout_wheel.hpp"
#include "common/timers.hpp"

namespace muster::runtime {

/// What instances receive. Messages cross threads: the sender gives up the
/// message when it sends it.
class Message {
 public:
  virtual ~Message() = default;
};
using MessagePtr = std::shared_ptr<Message>;

class HostCore;
struct Slot;

/// An instance's way back to its actor: messages to itself (an append's
/// result, from the store's writer thread) and passivation.
class InstanceHandle {
 public:
  InstanceHandle(HostCore* host, std::shared_ptr<Slot> slot, std::string id);

  const std::string& id() const { return id_; }
  /// Sends `message` to this instance. Any thread. Dropped if the instance has ended.
  void post(MessagePtr message) const;
  /// Schedules a passivation check at `deadline_ms` (see Instance::idle_since).
  void check_idle_at(TimeMs deadline_ms) const;
  /// True if the instance may end now: nothing sent to it is unread. It is
  /// then out of the directory, and the next message to its id activates a
  /// new instance.
  bool try_passivate() const;
  /// Counts one command sent through `HostCore::deliver` as read.
  void mark_read() const;

 private:
  HostCore* host_;
  std::shared_ptr<Slot> slot_;
  std::string id_;
};

/// The typed logic of one instance (aggregate_host.hpp), living in its actor.
class Instance {
 public:
  virtual ~Instance() = default;
  /// Handles one message on the instance's actor. Returns false to end the
  /// instance (after a successful `try_passivate`). Whatever it throws ends
  /// the instance as failed.
  virtual bool receive(const MessagePtr& message) = 0;
  /// Called when a passivation check comes due; returns false to end.
  virtual bool check_idle(TimeMs now_ms) = 0;
};

/// One aggregate type's instances, for /metrics.
struct HostCounts {
  std::string kind;              ///< HostOptions::kind ("agent").
  std::size_t active = 0;        ///< Instances active now.
  std::uint64_t passivated = 0;  ///< Instances passivated since start.
};

struct RuntimeOptions {
  /// Scheduler threads; 0: one per core.
  std::size_t worker_threads = 0;
};

/// The actor system. Start hosts on it after constructing it; stop them
/// before `stop()`.
class Runtime {
 public:
  Runtime(TimerService& timers, RuntimeOptions options);
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  TimerService& timers() { return timers_; }

  /// Each host's counts, in the order the hosts were made. Takes each
  /// host's directory locks in turn (as `HostCore::active` does): for a
  /// scrape, not a hot path. Thread-safe.
  std::vector<HostCounts> host_counts() const;

  /// Waits until every actor has ended. The hosts must be stopped first.
  void stop();

  // Internal: each HostCore enters itself on construction, leaves on destruction.
  void enter(const HostCore* host);
  void leave(const HostCore* host);

  struct System;  ///< Internal: the CAF actor system.
  System& system() { return *system_; }

 private:
  TimerService& timers_;
  std::unique_ptr<System> system_;
  mutable std::mutex hosts_mutex_;
  std::vector<const HostCore*> hosts_;  ///< Guarded by hosts_mutex_.
};

struct HostOptions {
  /// The kind of the aggregates, for logs ("agent").
  std::string kind;
  /// An instance idle this long is passivated (its memory freed). Default: 30 s.
  TimeMs passivate_after_ms = 30'000;
  /// Messages sent to one instance and not yet read, at most; beyond,
  /// `deliver` answers `busy` at once, so one hot instance cannot queue
  /// without bound. Default: 1024.
  std::uint32_t max_unread = 1024;
};

/// The untyped part of an `AggregateHost`: the directory of active
/// instances, their actors, passivation and failure. Thread-safe.
class HostCore {
 public:
  /// Makes the logic of a newly activated instance (on its actor's thread).
  using InstanceFactory = std::function<std::unique_ptr<Instance>(InstanceHandle handle)>;
  /// Told (on the failed actor's thread) that an instance ended by an exception.
  using FailureHook = std::function<void(const std::string& id, const std::string& what)>;

  HostCore(Runtime& runtime, HostOptions options, InstanceFactory factory, FailureHook on_failure);
  ~HostCore();
  HostCore(const HostCore&) = delete;
  HostCore& operator=(const HostCore&) = delete;

  enum class Delivery { delivered, busy, stopped };
  /// Sends `message` to the instance `id`, activating it if needed.
  /// `busy`: too many unread messages there; `stopped`: the host stopped.
  /// Either way the message was not sent.
  Delivery deliver(const std::string& id, MessagePtr message);

  /// Instances active now.
  std::size_t active() const;
  /// Instances passivated (idle, ended to free their memory) since start.
  std::uint64_t passivated() const { return passivated_.load(std::memory_order_relaxed); }

  /// Refuses new messages, drops passivation checks, ends every instance
  /// and waits until each instance's actor is gone, so no instance outlives
  /// the host it points to. Call it once every command sent was answered
  /// (the typed host's gate sees to that), and not from an instance's actor:
  /// a message still unread when its instance ends is destroyed unread,
  /// which answers its caller `unavailable`. Idempotent.
  void stop();

  // Internal, for InstanceHandle and the actor glue.
  struct Shard;
  void post(const std::shared_ptr<Slot>& slot, MessagePtr message);
  void check_idle_at(const std::string& id, TimeMs deadline_ms);
  bool try_passivate(const std::string& id, const std::shared_ptr<Slot>& slot);
  void failed(const std::string& id, const std::shared_ptr<Slot>& slot, const std::string& what);
  /// An instance's actor is gone (its state destroyed): `stop` waits for all.
  void actor_ended();
  std::unique_ptr<Instance> make_instance(InstanceHandle handle) { return factory_(std::move(handle)); }
  const HostOptions& options() const { return options_; }
  TimerService& timers() { return runtime_.timers(); }

 private:
  Shard& shard_for(const std::string& id);
  void fire_idle_checks(std::vector<std::string>& due);

  Runtime& runtime_;
  const HostOptions options_;
  InstanceFactory factory_;
  FailureHook on_failure_;
  std::unique_ptr<Shard[]> shards_;
  std::atomic<bool> stopped_{false};
  std::atomic<std::uint64_t> passivated_{0};
  /// Actors spawned and not yet gone: an instance's last handler may still
  /// run after its answer released the gate, so stopping waits for this.
  std::mutex live_mutex_;
  std::condition_variable live_ended_;
  std::size_t live_actors_ = 0;
  TimeoutWheel<std::string> idle_checks_;
};

}  // namespace muster::runtime
