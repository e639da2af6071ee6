#pragma once
/// The runtime's typed face: every aggregate type (agent, API key,
/// enrollment token, ...) runs on an `AggregateHost<Aggregate>`, which gives
/// each instance a virtual, supervised actor. actors/README.md says how to
/// add an aggregate; this is what it plugs into.
///
/// An aggregate type declares:
///
///   struct ApiKeyAggregate {
///     static constexpr std::string_view kKind = "apikey";
///     using State = ApiKey;            // compares with ==
///     using Payload = ApiKeyEvent;     // std::variant of event structs (payload_codec.hpp)
///     using Command = ApiKeyCommand;   // std::variant of commands
///     using Context = DecideContext;   // what a decision reads besides state and command
///     static State initial_state(const std::string& id);   // no events yet
///     static std::string stream_of(const State& state);    // "apikey:<id>"
///     static Result<std::vector<Payload>> decide(const State&, const Command&, Context&);  // pure
///     static Status apply(State&, const Payload&, const EventHeader&);  // the one fold
///     static Status apply(State&, const Event&);                        // the same, from the log
///   };
///
/// A command's life: the host delivers it to the instance's actor
/// (activating it: `Repository::load` gives the latest snapshot, the host
/// folds the stream's tail after it); the actor decides, appends the events
/// with the stream's expected version, folds them once they are durable, and
/// only then answers. Commands that arrive while an append is in flight wait
/// (at most `max_queued_commands`, then `busy`) and are then decided and
/// appended together, as one batch: a hot instance (one enrollment token
/// admitting a whole rollout) shares one durable write among many commands.
/// A conflict (another writer got ahead) folds the tail and decides again,
/// once. An instance idle for `passivate_after_ms` leaves memory. An
/// exception thrown while handling a command ends the instance: the caller
/// caught in it and every command waiting there answer `unavailable` (never
/// hang), and the next command rebuilds it from the log.
///
/// Thread safety: `send`, `call`, `active` and `stop` may be called from any
/// thread. `done` callbacks run on the instance's actor (or, for refusals
/// before delivery, on the caller's thread); they must not block.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "actors/runtime/await.hpp"
#include "actors/runtime/payload_codec.hpp"
#include "actors/runtime/request_context.hpp"
#include "actors/runtime/runtime.hpp"
#include "common/lifecycle.hpp"
#include "common/log.hpp"
#include "common/result.hpp"
#include "eventstore/event_store.hpp"

namespace muster::runtime {

/// The context most decisions need: the time.
struct DecideContext {
  TimeMs now_ms = 0;
};

/// What a command left behind.
template <class State>
struct Outcome {
  State state;                 ///< The instance's state after the command.
  std::uint64_t position = 0;  ///< The log position the state reflects (its latest event).
  std::size_t appended = 0;    ///< Events this command appended.
};

/// A callback that runs exactly once: with the result, or, if it is
/// destroyed unrun (its actor failed, the runtime stopped), with `dropped`.
template <class T>
class Reply {
 public:
  using Callback = std::function<void(Result<T>)>;

  Reply(Callback done, Error dropped, Gate::Holder in_flight)
      : done_(std::move(done)), dropped_(std::move(dropped)), in_flight_(std::move(in_flight)) {}
  // Moves explicitly: a moved-from std::function need not be empty, and a
  // moved-from reply must not answer.
  Reply(Reply&& other) noexcept
      : done_(std::exchange(other.done_, nullptr)),
        dropped_(std::move(other.dropped_)),
        in_flight_(std::move(other.in_flight_)) {}
  Reply& operator=(Reply&&) = delete;
  Reply(const Reply&) = delete;
  Reply& operator=(const Reply&) = delete;
  ~Reply() {
    if (done_) done_(dropped_);
  }

  void operator()(Result<T> result) {
    if (auto done = std::exchange(done_, nullptr)) done(std::move(result));
    in_flight_.release();
  }

 private:
  Callback done_;
  Error dropped_;
  Gate::Holder in_flight_;  ///< Keeps the host's stop() waiting until answered.
};

/// Where an instance's activation starts from, and what else sees its
/// decisions. Called on the instance's actor.
template <class Aggregate>
class Repository {
 public:
  using State = typename Aggregate::State;
  using Context = typename Aggregate::Context;

  virtual ~Repository() = default;

  /// The latest snapshot of `id`: a state at some version (the initial
  /// state if there is none). The host folds the stream's tail after it.
  virtual Result<State> load(const std::string& id) = 0;

  /// Starts a decision on `state`: the context the decider reads.
  virtual Context begin(const State& /*state*/, TimeMs now_ms) {
    Context context;
    context.now_ms = now_ms;
    return context;
  }

  /// Ends a decision: `appended` events were appended (0 when none, or the
  /// append failed) and are already folded into `state`. Runs before the
  /// commands are answered.
  virtual void end(const State& /*state*/, const Context& /*context*/, std::size_t /*appended*/) {}

  /// The instance's actor failed (its state is gone).
  virtual void failed(const std::string& /*id*/) {}
};

/// A repository without snapshots: every activation folds the whole stream.
/// Right for aggregates whose streams stay short (API keys).
template <class Aggregate>
class FoldRepository : public Repository<Aggregate> {
 public:
  Result<typename Aggregate::State> load(const std::string& id) override {
    return Aggregate::initial_state(id);
  }
};

struct AggregateHostOptions {
  /// The directory and passivation (kind, passivate_after_ms, max_unread).
  HostOptions core;
  /// Commands waiting at one instance behind its append in flight, at most;
  /// beyond, a command answers `busy` at once. Default: 64.
  std::size_t max_queued_commands = 64;
  /// How long `call` waits for an answer. Default: 10 s.
  TimeMs call_timeout_ms = 10'000;
  /// The API codes of `unavailable` answers: too many commands waiting, or
  /// no answer in time; the instance failed while handling the command.
  std::string busy_code = "BUSY";
  std::string failed_code = "UNAVAILABLE";
  /// Test-only: runs on the instance's actor before each command, with its
  /// id. Whatever it throws fails the instance (to test supervision).
  std::function<void(const std::string& id)> TEST_before_command;
};

template <class Aggregate>
class AggregateHost {
 public:
  using State = typename Aggregate::State;
  using Payload = typename Aggregate::Payload;
  using Command = typename Aggregate::Command;
  using Context = typename Aggregate::Context;
  using OutcomeResult = Result<Outcome<State>>;
  using Done = std::function<void(OutcomeResult)>;

  /// `store`, `repository` and `runtime` must outlive the host.
  AggregateHost(Runtime& runtime, EventStore& store, Repository<Aggregate>& repository,
                AggregateHostOptions options)
      : store_(store),
        repository_(repository),
        timers_(runtime.timers()),
        options_(std::move(options)),
        core_(
            runtime, options_.core,
            [this](InstanceHandle handle) -> std::unique_ptr<Instance> {
              return std::make_unique<Logic>(*this, std::move(handle));
            },
            [this](const std::string& id, const std::string&) { repository_.failed(id); }) {}

  ~AggregateHost() { stop(); }
  AggregateHost(const AggregateHost&) = delete;
  AggregateHost& operator=(const AggregateHost&) = delete;

  /// Sends `command` to instance `id`; `done` gets its outcome. Refusals
  /// before any decision (`unavailable`): SHUTTING_DOWN once stopping,
  /// `busy_code` when too many commands wait there.
  void send(const std::string& id, Command command, const RequestContext& context, Done done) {
    Gate::Holder in_flight(gate_);
    if (!in_flight) return done(shutting_down());
    auto message = std::make_shared<CommandMessage>(
        std::move(command), event_meta(context),
        Reply<Outcome<State>>(std::move(done), failed_error(), std::move(in_flight)));
    switch (core_.deliver(id, message)) {
      case HostCore::Delivery::delivered: return;
      case HostCore::Delivery::busy: return message->reply(busy_error());
      case HostCore::Delivery::stopped: return message->reply(shutting_down());
    }
  }

  /// Blocking form of `send`, for tests, the CLI and blocking front ends:
  /// waits at most `call_timeout_ms`, then answers `busy_code`.
  OutcomeResult call(const std::string& id, Command command, const RequestContext& context) {
    return await_result<Outcome<State>>(
        [&](Done done) { send(id, std::move(command), context, std::move(done)); }, options_.call_timeout_ms,
        options_.busy_code);
  }

  /// Instances active now.
  std::size_t active() const { return core_.active(); }

  /// Refuses new commands, waits until every command sent was answered, then
  /// ends every instance. Idempotent.
  void stop() {
    gate_.close();
    core_.stop();
  }

 private:
  struct CommandMessage final : Message {
    CommandMessage(Command command_in, std::string meta_in, Reply<Outcome<State>> reply_in)
        : command(std::move(command_in)), meta(std::move(meta_in)), reply(std::move(reply_in)) {}
    Command command;
    std::string meta;
    Reply<Outcome<State>> reply;
  };
  using CommandPtr = std::shared_ptr<CommandMessage>;

  struct AppendDone final : Message {
    explicit AppendDone(Result<AppendResult> result_in) : result(std::move(result_in)) {}
    Result<AppendResult> result;
  };

  /// A batch being appended: each command with its slice of the events.
  struct Entry {
    CommandPtr command;
    std::size_t first_event = 0;
    std::size_t event_count = 0;
    std::optional<Error> refusal;
    std::optional<Outcome<State>> outcome;  ///< Set once its events are folded.
  };
  struct Batch {
    std::vector<Entry> entries;
    std::vector<Payload> events;
    Context context{};
    bool retried = false;
  };

  Error busy_error() const {
    return make_error(ErrorCode::unavailable, "too many requests for this " + options_.core.kind +
                                                  " are in flight; retry shortly",
                      options_.busy_code);
  }
  Error failed_error() const {
    return make_error(ErrorCode::unavailable,
                      "the " + options_.core.kind +
                          "'s actor failed while handling this request and is rebuilt from the log; retry",
                      options_.failed_code);
  }

  /// One instance: its state and the commands at it. Lives on its actor.
  class Logic final : public Instance {
   public:
    Logic(AggregateHost& host, InstanceHandle handle)
        : host_(host), handle_(std::move(handle)), state_(Aggregate::initial_state(handle_.id())) {}

    bool receive(const MessagePtr& message) override {
      if (auto command = std::dynamic_pointer_cast<CommandMessage>(message)) {
        handle_.mark_read();
        on_command(std::move(command));
      } else {
        on_append_done(static_cast<AppendDone&>(*message).result);
      }
      arm_idle_check();
      return true;
    }

    bool check_idle(TimeMs now_ms) override {
      const TimeMs idle_at = last_activity_ms_ + host_.options_.core.passivate_after_ms;
      if (append_in_flight_ || !waiting_.empty() || now_ms < idle_at) {
        handle_.check_idle_at(std::max(idle_at, now_ms + 1));
        return true;
      }
      if (handle_.try_passivate()) return false;
      handle_.check_idle_at(now_ms + host_.options_.core.passivate_after_ms);  // messages are on their way
      return true;
    }

   private:
    void on_command(CommandPtr command) {
      last_activity_ms_ = host_.timers_.now_ms();
      if (host_.options_.TEST_before_command) host_.options_.TEST_before_command(handle_.id());
      if (!loaded_) {
        if (Status loaded = load(); !loaded) return command->reply(loaded.error());
      }
      if (append_in_flight_) {
        if (waiting_.size() >= host_.options_.max_queued_commands) return command->reply(host_.busy_error());
        waiting_.push_back(std::move(command));
        return;
      }
      std::vector<CommandPtr> batch;
      batch.push_back(std::move(command));
      decide_and_append(std::move(batch), /*retried=*/false);
    }

    Status load() {
      auto snapshot = host_.repository_.load(handle_.id());
      if (!snapshot) return snapshot.error();
      state_ = std::move(*snapshot);
      if (Status caught_up = fold_tail(); !caught_up) return caught_up;
      loaded_ = true;
      return Status::success();
    }

    // Folds the stream's events after the state's version.
    Status fold_tail() {
      const std::string stream = Aggregate::stream_of(state_);
      for (;;) {
        auto batch = host_.store_.read_stream(stream, state_.version + 1, 1024);
        if (!batch) return batch.error();
        if (batch->empty()) return Status::success();
        for (const Event& event : *batch) {
          if (Status folded = Aggregate::apply(state_, event); !folded) return folded;
        }
      }
    }

    void decide_and_append(std::vector<CommandPtr> commands, bool retried) {
      Batch batch;
      batch.retried = retried;
      batch.context = host_.repository_.begin(state_, host_.timers_.now_ms());
      const std::string stream = Aggregate::stream_of(state_);
      // Later commands of a batch decide on the state the earlier ones leave
      // (folded here ahead of the append, with the real positions unknown).
      std::optional<State> ahead;
      if (commands.size() > 1) ahead = state_;
      std::vector<NewEvent> to_append;
      for (CommandPtr& command : commands) {
        Entry entry{std::move(command), batch.events.size(), 0, std::nullopt, std::nullopt};
        auto decision = Aggregate::decide(ahead ? *ahead : state_, entry.command->command, batch.context);
        if (!decision) {
          entry.refusal = decision.error();
        } else {
          for (Payload& event : *decision) {
            if (ahead) {
              const EventHeader header{0, stream, ahead->version + 1, batch.context.now_ms};
              if (Status folded = Aggregate::apply(*ahead, event, header); !folded) {
                log::error("a decision made an event its own fold refuses",
                           {{"kind", host_.options_.core.kind}, {"error", folded.error().message}});
              }
            }
            NewEvent stored = encode_payload(event);
            stored.meta = entry.command->meta;
            to_append.push_back(std::move(stored));
            batch.events.push_back(std::move(event));
            ++entry.event_count;
          }
        }
        batch.entries.push_back(std::move(entry));
      }
      if (to_append.empty()) {
        host_.repository_.end(state_, batch.context, 0);
        return answer(batch);
      }
      append_in_flight_ = true;
      in_flight_ = std::move(batch);
      host_.store_.append_async(stream, state_.version, std::move(to_append),
                                [handle = handle_](Result<AppendResult> result) {
                                  handle.post(std::make_shared<AppendDone>(std::move(result)));
                                });
    }

    void on_append_done(Result<AppendResult>& result) {
      append_in_flight_ = false;
      Batch batch = std::move(in_flight_);
      if (!result) {
        host_.repository_.end(state_, batch.context, 0);
        // Another writer got ahead (a failed instance's append landing after
        // its rebuild): catch up with the stream and decide again, once.
        if (result.error().code == ErrorCode::conflict && !batch.retried) {
          if (Status caught_up = fold_tail(); caught_up) {
            std::vector<CommandPtr> commands;
            for (Entry& entry : batch.entries) commands.push_back(std::move(entry.command));
            return decide_and_append(std::move(commands), /*retried=*/true);
          }
          loaded_ = false;  // the next command reloads from the snapshot
        }
        for (Entry& entry : batch.entries) entry.command->reply(entry.refusal ? *entry.refusal : result.error());
      } else {
        fold_committed(batch, *result);
        host_.repository_.end(state_, batch.context, batch.events.size());
        answer(batch);
      }
      if (!waiting_.empty() && !append_in_flight_) {
        std::vector<CommandPtr> next;
        next.swap(waiting_);
        decide_and_append(std::move(next), /*retried=*/false);
      }
    }

    // Folds what was appended, with the positions and time the store gave;
    // each entry's answer is the state after its own events.
    void fold_committed(Batch& batch, const AppendResult& appended) {
      const std::string stream = Aggregate::stream_of(state_);
      for (Entry& entry : batch.entries) {
        for (std::size_t index = entry.first_event; index < entry.first_event + entry.event_count; ++index) {
          const EventHeader header{appended.first_position + index, stream, state_.version + 1, appended.time_ms};
          if (Status folded = Aggregate::apply(state_, batch.events[index], header); !folded) {
            // Durable, yet this instance cannot fold it: a bug. Rebuild from the log.
            log::error("cannot fold own event",
                       {{"kind", host_.options_.core.kind}, {"error", folded.error().message}});
            loaded_ = false;
            entry.refusal = folded.error();
          }
        }
        if (!entry.refusal) entry.outcome = Outcome<State>{state_, state_.last_position, entry.event_count};
      }
    }

    void answer(Batch& batch) {
      for (Entry& entry : batch.entries) {
        if (entry.refusal) {
          entry.command->reply(*entry.refusal);
        } else if (entry.outcome) {
          entry.command->reply(std::move(*entry.outcome));
        } else {
          entry.command->reply(Outcome<State>{state_, state_.last_position, 0});
        }
      }
    }

    void arm_idle_check() {
      handle_.check_idle_at(last_activity_ms_ + host_.options_.core.passivate_after_ms);
    }

    AggregateHost& host_;
    InstanceHandle handle_;
    State state_;
    bool loaded_ = false;
    bool append_in_flight_ = false;
    Batch in_flight_;
    std::vector<CommandPtr> waiting_;
    TimeMs last_activity_ms_ = 0;
  };

  EventStore& store_;
  Repository<Aggregate>& repository_;
  TimerService& timers_;
  const AggregateHostOptions options_;
  Gate gate_;
  HostCore core_;
};

}  // namespace muster::runtime
