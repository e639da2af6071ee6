#include "actors/runtime/runtime.hpp"

#include <algorithm>

#include <caf/all.hpp>
#include <fmt/format.h>

#include "common/log.hpp"
#include "common/tsan_annotations.hpp"

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(muster::runtime::MessagePtr)

namespace muster::runtime {
namespace {

using idle_check_atom = caf::atom_constant<caf::atom("idlecheck")>;

// Idle checks need no precision: an instance lingers at most this much longer.
constexpr TimeMs kIdleCheckResolutionMs = 1000;

struct RuntimeConfig : caf::actor_system_config {
  explicit RuntimeConfig(const RuntimeOptions& options) {
    if (options.worker_threads > 0) set("scheduler.max-threads", options.worker_threads);
    // Work stealing keeps idle workers polling and sleeping in 50 us steps;
    // on two cores that took the CPU the HTTP threads needed. Sharing wakes
    // workers on a condition variable: measured +55% heartbeats/s, +55%
    // durable registrations/s (bench/RESULTS.md).
    set("scheduler.policy", caf::atom("sharing"));
  }
};

std::string describe(const std::exception_ptr& failure) {
  try {
    std::rethrow_exception(failure);
  } catch (const std::exception& error) {
    return error.what();
  } catch (...) {
    return "unknown exception";
  }
}

}  // namespace

struct Runtime::System {
  explicit System(const RuntimeOptions& options) : config(options), actors(config) {}
  RuntimeConfig config;
  caf::actor_system actors;
};

/// An active instance's entry in the directory, shared with its actor.
struct Slot {
  caf::actor actor;
  /// Messages delivered and not yet read: passivation waits for zero.
  std::atomic<std::uint32_t> unread{0};
  /// A passivation check is scheduled.
  std::atomic<bool> idle_check_armed{false};
};

struct HostCore::Shard {
  mutable std::mutex mutex;
  std::unordered_map<std::string, std::shared_ptr<Slot>> slots;
};

namespace {

constexpr std::size_t kShardCount = 64;

/// Tells the host once the actor's state, its instance included, is destroyed.
struct LiveToken {
  HostCore* host = nullptr;
  ~LiveToken() {
    if (host) host->actor_ended();
  }
};

/// The actor of one instance: its logic, and who it is for the failure hook.
struct InstanceActorState {
  LiveToken live;  ///< First, so destroyed last: after the instance.
  std::unique_ptr<Instance> instance;
  HostCore* host = nullptr;
  std::shared_ptr<Slot> slot;
  std::string id;
  static inline const char* name = "muster.aggregate";
};
using InstanceActor = caf::stateful_actor<InstanceActorState>;

caf::behavior instance_actor(InstanceActor* self, HostCore* host, std::shared_ptr<Slot> slot, std::string id) {
  self->state.live.host = host;
  self->state.host = host;
  self->state.slot = slot;
  self->state.id = id;
  self->state.instance = host->make_instance(InstanceHandle(host, std::move(slot), std::move(id)));
  self->set_exception_handler([](caf::scheduled_actor* failed, std::exception_ptr& failure) {
    auto& state = static_cast<InstanceActor*>(failed)->state;
    const std::string what = describe(failure);
    state.host->failed(state.id, state.slot, what);
    return caf::make_error(caf::sec::runtime_error, what);
  });
  tsan::release(self);  // the state set up here, for the first handler on a worker
  return {
      [self](const MessagePtr& message) {
        const tsan::Scope actor(self);
        tsan::acquire(message.get());
        if (!self->state.instance->receive(message)) self->quit();
      },
      [self](idle_check_atom) {
        const tsan::Scope actor(self);
        self->state.slot->idle_check_armed = false;
        if (!self->state.instance->check_idle(self->state.host->timers().now_ms())) self->quit();
      },
  };
}

}  // namespace

// --- Runtime -----------------------------------------------------------------------

Runtime::Runtime(TimerService& timers, RuntimeOptions options)
    : timers_(timers), system_(std::make_unique<System>(options)) {}

Runtime::~Runtime() {
  stop();
}

std::vector<HostCounts> Runtime::host_counts() const {
  std::lock_guard<std::mutex> lock(hosts_mutex_);
  std::vector<HostCounts> counts;
  counts.reserve(hosts_.size());
  for (const HostCore* host : hosts_) counts.push_back({host->options().kind, host->active(), host->passivated()});
  return counts;
}

void Runtime::enter(const HostCore* host) {
  std::lock_guard<std::mutex> lock(hosts_mutex_);
  hosts_.push_back(host);
}

void Runtime::leave(const HostCore* host) {
  std::lock_guard<std::mutex> lock(hosts_mutex_);
  hosts_.erase(std::remove(hosts_.begin(), hosts_.end(), host), hosts_.end());
}

void Runtime::stop() {
  if (system_) system_->actors.await_all_actors_done();
}

// --- InstanceHandle --------------------------------------------------------------

InstanceHandle::InstanceHandle(HostCore* host, std::shared_ptr<Slot> slot, std::string id)
    : host_(host), slot_(std::move(slot)), id_(std::move(id)) {}

void InstanceHandle::post(MessagePtr message) const {
  host_->post(slot_, std::move(message));
}

void InstanceHandle::check_idle_at(TimeMs deadline_ms) const {
  if (slot_->idle_check_armed.exchange(true)) return;
  host_->check_idle_at(id_, deadline_ms);
}

bool InstanceHandle::try_passivate() const {
  return host_->try_passivate(id_, slot_);
}

void InstanceHandle::mark_read() const {
  slot_->unread.fetch_sub(1);
}

// --- HostCore ------------------------------------------------------------------------

HostCore::HostCore(Runtime& runtime, HostOptions options, InstanceFactory factory, FailureHook on_failure)
    : runtime_(runtime),
      options_(std::move(options)),
      factory_(std::move(factory)),
      on_failure_(std::move(on_failure)),
      shards_(std::make_unique<Shard[]>(kShardCount)),
      idle_checks_(runtime.timers(), kIdleCheckResolutionMs,
                   [this](std::vector<std::string>& due) { fire_idle_checks(due); }) {
  runtime_.enter(this);
}

HostCore::~HostCore() {
  runtime_.leave(this);
  stop();
}

HostCore::Shard& HostCore::shard_for(const std::string& id) {
  return shards_[std::hash<std::string>{}(id) % kShardCount];
}

HostCore::Delivery HostCore::deliver(const std::string& id, MessagePtr message) {
  if (stopped_) return Delivery::stopped;
  caf::actor target;
  {
    Shard& shard = shard_for(id);
    std::lock_guard<std::mutex> lock(shard.mutex);
    std::shared_ptr<Slot>& slot = shard.slots[id];
    if (!slot) {
      slot = std::make_shared<Slot>();
      {
        std::lock_guard<std::mutex> live(live_mutex_);
        ++live_actors_;
      }
      slot->actor = runtime_.system().actors.spawn(instance_actor, this, slot, id);
    } else if (slot->unread.load() >= options_.max_unread) {
      return Delivery::busy;
    }
    // Counted under the lock: try_passivate, under the same lock, sees it.
    slot->unread.fetch_add(1);
    target = slot->actor;
  }
  tsan::release(message.get());
  caf::anon_send(target, std::move(message));
  return Delivery::delivered;
}

void HostCore::post(const std::shared_ptr<Slot>& slot, MessagePtr message) {
  tsan::release(message.get());
  caf::anon_send(slot->actor, std::move(message));
}

void HostCore::check_idle_at(const std::string& id, TimeMs deadline_ms) {
  idle_checks_.schedule(deadline_ms, id);
}

void HostCore::fire_idle_checks(std::vector<std::string>& due) {
  for (const std::string& id : due) {
    caf::actor target;
    {
      Shard& shard = shard_for(id);
      std::lock_guard<std::mutex> lock(shard.mutex);
      const auto found = shard.slots.find(id);
      if (found == shard.slots.end()) continue;
      target = found->second->actor;
    }
    caf::anon_send(target, idle_check_atom::value);
  }
}

bool HostCore::try_passivate(const std::string& id, const std::shared_ptr<Slot>& slot) {
  Shard& shard = shard_for(id);
  std::lock_guard<std::mutex> lock(shard.mutex);
  const auto found = shard.slots.find(id);
  if (found == shard.slots.end() || found->second != slot) return true;  // already out
  if (slot->unread.load() != 0) return false;
  shard.slots.erase(found);
  passivated_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

void HostCore::failed(const std::string& id, const std::shared_ptr<Slot>& slot, const std::string& what) {
  {
    Shard& shard = shard_for(id);
    std::lock_guard<std::mutex> lock(shard.mutex);
    const auto found = shard.slots.find(id);
    if (found != shard.slots.end() && found->second == slot) shard.slots.erase(found);
  }
  // Virtual actors restart lazily: the next message rebuilds this one from the log.
  log::warn(fmt::format("restarting {} actor", options_.kind), {{"id", id}, {"reason", what}});
  if (on_failure_) on_failure_(id, what);
}

std::size_t HostCore::active() const {
  std::size_t count = 0;
  for (std::size_t index = 0; index < kShardCount; ++index) {
    std::lock_guard<std::mutex> lock(shards_[index].mutex);
    count += shards_[index].slots.size();
  }
  return count;
}

void HostCore::stop() {
  if (stopped_.exchange(true)) return;
  idle_checks_.stop();
  std::vector<caf::actor> actors;
  for (std::size_t index = 0; index < kShardCount; ++index) {
    std::lock_guard<std::mutex> lock(shards_[index].mutex);
    for (auto& [id, slot] : shards_[index].slots) actors.push_back(slot->actor);
    shards_[index].slots.clear();
  }
  for (const caf::actor& actor : actors) caf::anon_send_exit(actor, caf::exit_reason::user_shutdown);
  actors.clear();
  std::unique_lock<std::mutex> lock(live_mutex_);
  live_ended_.wait(lock, [this] { return live_actors_ == 0; });
}

void HostCore::actor_ended() {
  std::lock_guard<std::mutex> lock(live_mutex_);
  --live_actors_;
  live_ended_.notify_all();
}

}  // namespace muster::runtime
