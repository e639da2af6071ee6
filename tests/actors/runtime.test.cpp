// The aggregate runtime, on a toy aggregate (a tally) and the in-memory
// store: virtual actors activated by a command and rebuilt from the log,
// passivated when idle, supervised, bounded, batching what waits behind an
// append, and deciding again after a conflict.

#include "actors/runtime/aggregate_host.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

#include "actors/runtime/stream_id.hpp"
#include "eventstore/memory_storage.hpp"

namespace muster {
namespace {

struct Added {
  static constexpr EventType kType{"TallyAdded", "tally", 1};
  std::int64_t amount = 0;
  nlohmann::json to_json() const { return {{"amount", amount}}; }
  static Result<Added> from_json(const nlohmann::json& data, std::uint32_t) {
    Added added;
    if (!payload::read(data, "amount", added.amount)) return payload_error("bad TallyAdded");
    return added;
  }
};
using TallyEvent = std::variant<Added>;

struct Tally {
  std::string id;
  std::int64_t total = 0;
  std::uint64_t version = 0;
  std::uint64_t last_position = 0;
};

struct Add {
  std::int64_t amount = 0;
  std::int64_t limit = 1'000'000;  ///< Refused if the total would pass it.
};
struct Boom {};
using TallyCommand = std::variant<Add, Boom>;

struct TallyAggregate {
  static constexpr std::string_view kKind = "tally";
  using State = Tally;
  using Payload = TallyEvent;
  using Command = TallyCommand;
  using Context = runtime::DecideContext;
  static Tally initial_state(const std::string& id) { return Tally{id, 0, 0, 0}; }
  static std::string stream_of(const Tally& state) { return stream_name(kKind, state.id); }
  static Result<std::vector<TallyEvent>> decide(const Tally& state, const TallyCommand& command, Context&) {
    if (std::holds_alternative<Boom>(command)) throw std::runtime_error("boom");
    const Add& add = std::get<Add>(command);
    if (state.total + add.amount > add.limit) return make_error(ErrorCode::conflict, "over the limit", "LIMIT");
    if (add.amount == 0) return std::vector<TallyEvent>{};
    return std::vector<TallyEvent>{Added{add.amount}};
  }
  static Status apply(Tally& state, const TallyEvent& event, const EventHeader& header) {
    if (header.version != state.version + 1) return payload_error("out of order");
    state.total += std::get<Added>(event).amount;
    state.version = header.version;
    state.last_position = header.position;
    return Status::success();
  }
  static Status apply(Tally& state, const Event& event) {
    auto payload = decode_payload<TallyEvent>(event.type, event.schema_version, event.data);
    if (!payload) return payload.error();
    return apply(state, *payload, header_of(event));
  }
};

// Counts what the repository sees.
struct CountingRepository : runtime::FoldRepository<TallyAggregate> {
  Result<Tally> load(const std::string& id) override {
    ++loads;
    return FoldRepository::load(id);
  }
  void end(const Tally&, const runtime::DecideContext&, std::size_t appended) override {
    ++decisions;
    appended_events += appended;
  }
  void failed(const std::string&) override { ++failures; }
  std::atomic<int> loads{0};
  std::atomic<int> decisions{0};
  std::atomic<std::size_t> appended_events{0};
  std::atomic<int> failures{0};
};

struct RuntimeFixture {
  ManualTimerService timers;
  std::unique_ptr<Storage> storage;
  CountingRepository repository;
  std::unique_ptr<runtime::Runtime> actors;
  std::unique_ptr<runtime::AggregateHost<TallyAggregate>> host;

  RuntimeFixture() : RuntimeFixture(runtime::AggregateHostOptions()) {}
  explicit RuntimeFixture(runtime::AggregateHostOptions options) {
    StoreOptions store_options;
    store_options.clock = &timers;
    storage = std::move(*open_memory_storage(store_options));
    actors = std::make_unique<runtime::Runtime>(timers, runtime::RuntimeOptions{1});
    options.core.kind = "tally";
    host = std::make_unique<runtime::AggregateHost<TallyAggregate>>(*actors, storage->events(), repository,
                                                                     options);
  }
  ~RuntimeFixture() {
    host->stop();
    actors->stop();
    storage->stop();
  }

  Result<runtime::Outcome<Tally>> add(const std::string& id, std::int64_t amount,
                                      std::int64_t limit = 1'000'000) {
    return host->call(id, Add{amount, limit}, {});
  }

  std::uint64_t stream_version(const std::string& id) {
    return storage->events().stream_version(stream_name("tally", id)).value();
  }
};

}  // namespace

SCENARIO("a command activates its instance, which decides, appends and answers once durable") {
  RuntimeFixture fixture;
  const auto first = fixture.add("a", 5);
  REQUIRE(first.ok());
  CHECK(first->state.total == 5);
  CHECK(first->appended == 1);
  CHECK(first->position == 1);
  CHECK(fixture.stream_version("a") == 1);
  CHECK(fixture.host->active() == 1);

  WHEN("a command decides nothing") {
    const auto same = fixture.add("a", 0);
    THEN("nothing is appended and the answer is the state as it is") {
      REQUIRE(same.ok());
      CHECK(same->appended == 0);
      CHECK(same->position == 1);
      CHECK(fixture.storage->events().head_position().value() == 1);
    }
  }
  WHEN("a command is refused") {
    const auto refused = fixture.add("a", 10, 10);
    THEN("its error is the answer and nothing is appended") {
      REQUIRE_FALSE(refused.ok());
      CHECK(refused.error().reason == "LIMIT");
      CHECK(fixture.stream_version("a") == 1);
    }
  }
}

SCENARIO("an idle instance is passivated, and the next command rebuilds it from the log") {
  runtime::AggregateHostOptions options;
  options.core.passivate_after_ms = 10'000;
  RuntimeFixture fixture(options);
  REQUIRE(fixture.add("a", 5).ok());
  REQUIRE(fixture.add("a", 7).ok());
  CHECK(fixture.repository.loads == 1);

  fixture.timers.advance(9'000);
  CHECK(fixture.host->active() == 1);
  // The idle check runs on the instance's actor: wait for it, bounded.
  fixture.timers.advance(2'000);
  for (int attempt = 0; attempt < 500 && fixture.host->active() != 0; ++attempt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  CHECK(fixture.host->active() == 0);

  const auto again = fixture.add("a", 1);
  REQUIRE(again.ok());
  CHECK(again->state.total == 13);
  CHECK(fixture.repository.loads == 2);
}

TEST_CASE("a failing instance answers 503 to the command caught in it and is rebuilt by the next") {
  runtime::AggregateHostOptions options;
  options.failed_code = "TALLY_FAILED";
  RuntimeFixture fixture(options);
  REQUIRE(fixture.add("a", 5).ok());
  const auto caught = fixture.host->call("a", Boom{}, {});
  REQUIRE_FALSE(caught.ok());
  CHECK(caught.error().code == ErrorCode::unavailable);
  CHECK(caught.error().reason == "TALLY_FAILED");
  CHECK(fixture.repository.failures == 1);
  const auto rebuilt = fixture.add("a", 1);
  REQUIRE(rebuilt.ok());
  CHECK(rebuilt->state.total == 6);
  CHECK(fixture.repository.loads == 2);
}

TEST_CASE("commands waiting behind an append are decided and appended together, in order") {
  RuntimeFixture fixture;
  constexpr int kCommands = 40;
  std::vector<std::thread> senders;
  std::atomic<int> succeeded{0};
  std::atomic<int> refused{0};
  for (int index = 0; index < kCommands; ++index) {
    senders.emplace_back([&] {
      // The limit lets exactly 30 of the 40 through, however they batch.
      const auto outcome = fixture.add("hot", 1, 30);
      (outcome.ok() ? succeeded : refused)++;
    });
  }
  for (auto& sender : senders) sender.join();
  CHECK(succeeded == 30);
  CHECK(refused == 10);
  CHECK(fixture.stream_version("hot") == 30);
  // Fewer decisions than commands: some went together in one append.
  CHECK(fixture.repository.appended_events == 30);
  CHECK(fixture.repository.decisions <= kCommands);
}

TEST_CASE("too many commands waiting at one instance answer busy at once") {
  runtime::AggregateHostOptions options;
  options.max_queued_commands = 2;
  options.core.max_unread = 4;
  options.busy_code = "TALLY_BUSY";
  RuntimeFixture fixture(options);
  std::atomic<int> busy{0};
  std::atomic<int> done{0};
  std::vector<std::thread> senders;
  for (int index = 0; index < 32; ++index) {
    senders.emplace_back([&] {
      const auto outcome = fixture.add("hot", 1);
      if (!outcome.ok() && outcome.error().reason == "TALLY_BUSY") ++busy;
      ++done;
    });
  }
  for (auto& sender : senders) sender.join();
  CHECK(done == 32);
  // What was not refused was appended, once each.
  CHECK(fixture.stream_version("hot") == static_cast<std::uint64_t>(32 - busy));
}

TEST_CASE("an append that meets a conflict folds the stream's tail and decides again") {
  RuntimeFixture fixture;
  REQUIRE(fixture.add("a", 5).ok());
  // Another writer appends behind the instance's back.
  NewEvent foreign = encode_payload(TallyEvent{Added{100}});
  foreign.meta = "{}";
  REQUIRE(fixture.storage->events().append(stream_name("tally", "a"), 1, {foreign}).ok());
  const auto decided_again = fixture.add("a", 1);
  REQUIRE(decided_again.ok());
  CHECK(decided_again->state.total == 106);
  CHECK(fixture.stream_version("a") == 3);
}

TEST_CASE("a stopped host refuses commands, after answering those in flight") {
  RuntimeFixture fixture;
  REQUIRE(fixture.add("a", 5).ok());
  fixture.host->stop();
  const auto refused = fixture.add("a", 1);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().reason == "SHUTTING_DOWN");
  CHECK(fixture.stream_version("a") == 1);
}

// An instance whose one handler waits until the test lets it finish, and
// that says when it is destroyed.
struct HeldInstance final : runtime::Instance {
  HeldInstance(std::promise<void>& entered, std::shared_future<void> finish, std::atomic<bool>& destroyed)
      : entered_(entered), finish_(std::move(finish)), destroyed_(destroyed) {}
  ~HeldInstance() override { destroyed_ = true; }
  bool receive(const runtime::MessagePtr&) override {
    entered_.set_value();
    finish_.wait();
    return true;
  }
  bool check_idle(TimeMs) override { return true; }
  std::promise<void>& entered_;
  std::shared_future<void> finish_;
  std::atomic<bool>& destroyed_;
};

TEST_CASE("stopping a host waits until an instance still in a handler has ended") {
  // A handler may go on after its answer released the host's gate (it arms
  // its passivation check): a host gone by then was read after it was freed.
  ManualTimerService timers;
  runtime::Runtime actors(timers, runtime::RuntimeOptions{1});
  std::promise<void> entered;
  std::promise<void> finish;
  std::atomic<bool> destroyed{false};
  auto core = std::make_unique<runtime::HostCore>(
      actors, runtime::HostOptions{"held"},
      [&](runtime::InstanceHandle) -> std::unique_ptr<runtime::Instance> {
        return std::make_unique<HeldInstance>(entered, finish.get_future().share(), destroyed);
      },
      nullptr);
  REQUIRE(core->deliver("a", std::make_shared<runtime::Message>()) == runtime::HostCore::Delivery::delivered);
  entered.get_future().wait();

  std::atomic<bool> stop_returned{false};
  bool destroyed_when_stopped = false;
  std::thread stopper([&] {
    core->stop();
    destroyed_when_stopped = destroyed.load();
    stop_returned = true;
  });
  // Stop must not return while the handler runs; give a wrong stop the time
  // to show itself before the handler is let go.
  for (int step = 0; step < 100 && !stop_returned; ++step) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  CHECK_FALSE(stop_returned.load());
  finish.set_value();
  stopper.join();
  CHECK(destroyed_when_stopped);
  core.reset();
  actors.stop();
}

}  // namespace muster
