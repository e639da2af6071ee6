#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "common/lifecycle.hpp"

using namespace muster;

static_assert(std::is_nothrow_move_constructible_v<Gate::Holder>);
static_assert(std::is_nothrow_move_assignable_v<Gate::Holder>);
static_assert(!std::is_copy_constructible_v<Gate::Holder>);
static_assert(noexcept(std::declval<Gate&>().try_enter()));
static_assert(noexcept(std::declval<Gate&>().leave()));

SCENARIO("a gate lets work in until it closes") {
  GIVEN("an open gate") {
    Gate gate;
    CHECK_FALSE(gate.is_closed());
    CHECK(gate.inside() == 0);
    WHEN("work enters and leaves") {
      REQUIRE(gate.try_enter());
      REQUIRE(gate.try_enter());
      CHECK(gate.inside() == 2);
      gate.leave();
      gate.leave();
      THEN("nobody is inside") {
        CHECK(gate.inside() == 0);
      }
    }
    WHEN("it closes with nobody inside") {
      gate.close();
      THEN("close returned at once and new work is refused") {
        CHECK(gate.is_closed());
        CHECK_FALSE(gate.try_enter());
        CHECK(gate.inside() == 0);
        gate.close();  // idempotent
      }
    }
  }
}

SCENARIO("a gate's holder leaves when it goes") {
  Gate gate;
  GIVEN("a holder on an open gate") {
    {
      Gate::Holder holder(gate);
      CHECK(holder.entered());
      CHECK(static_cast<bool>(holder));
      CHECK(gate.inside() == 1);
      WHEN("it is moved") {
        Gate::Holder moved(std::move(holder));
        THEN("the gate is held once, by the new holder") {
          CHECK(moved.entered());
          CHECK_FALSE(holder.entered());
          CHECK(gate.inside() == 1);
        }
      }
      WHEN("another holder is move-assigned onto it") {
        Gate::Holder other(gate);
        CHECK(gate.inside() == 2);
        holder = std::move(other);
        THEN("the overwritten holder left") {
          CHECK(gate.inside() == 1);
        }
      }
      WHEN("it releases early") {
        holder.release();
        THEN("it left, once") {
          CHECK(gate.inside() == 0);
          holder.release();
          CHECK(gate.inside() == 0);
        }
      }
    }
    THEN("the gate is empty after the holder's scope") {
      CHECK(gate.inside() == 0);
    }
  }
  GIVEN("a closed gate") {
    gate.close();
    THEN("a holder does not enter, and does not leave when destroyed") {
      {
        Gate::Holder holder(gate);
        CHECK_FALSE(holder);
      }
      CHECK(gate.inside() == 0);
    }
  }
}

SCENARIO("closing a gate waits for the work inside") {
  GIVEN("four workers inside the gate") {
    Gate gate;
    constexpr int kWorkers = 4;
    std::atomic<int> entered{0};
    std::atomic<bool> close_returned{false};
    std::atomic<int> saw_close_return_early{0};
    std::vector<std::thread> workers;
    for (int i = 0; i < kWorkers; ++i) {
      workers.emplace_back([&] {
        Gate::Holder holder(gate);
        CHECK(holder.entered());
        ++entered;
        while (!gate.is_closed()) std::this_thread::yield();
        // Gives a close() that did not wait the time to return.
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        if (close_returned.load()) ++saw_close_return_early;
      });
    }
    while (entered.load() < kWorkers) std::this_thread::yield();
    WHEN("three threads close it at once") {
      std::vector<std::thread> closers;
      std::atomic<int> closed{0};
      for (int i = 0; i < 3; ++i) {
        closers.emplace_back([&] {
          gate.close();
          close_returned = true;
          CHECK(gate.inside() == 0);
          ++closed;
        });
      }
      while (!gate.is_closed()) std::this_thread::yield();
      const bool refused = !gate.try_enter();
      for (auto& worker : workers) worker.join();
      for (auto& closer : closers) closer.join();
      THEN("new work was refused at once, and every close returned only after the last worker left") {
        CHECK(refused);
        CHECK(saw_close_return_early.load() == 0);
        CHECK(closed.load() == 3);
        CHECK(gate.inside() == 0);
      }
    }
  }
  GIVEN("many threads entering and leaving while the gate closes") {
    Gate gate;
    std::atomic<bool> go{true};
    std::atomic<long> entered_after_close{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i) {
      threads.emplace_back([&] {
        while (go.load()) {
          const bool was_closed = gate.is_closed();
          if (gate.try_enter()) {
            if (was_closed) ++entered_after_close;
            gate.leave();
          }
        }
      });
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    gate.close();
    THEN("nobody is inside once close returned, and nobody gets in afterwards") {
      CHECK(gate.inside() == 0);
      CHECK_FALSE(gate.try_enter());
      go = false;
      for (auto& thread : threads) thread.join();
      CHECK(entered_after_close.load() == 0);
      CHECK(gate.inside() == 0);
    }
  }
}

namespace {

/// FunctionServices that write what they do into one journal.
struct Journal {
  std::vector<std::string> entries;

  std::unique_ptr<Service> service(const std::string& name, bool fails = false) {
    return std::make_unique<FunctionService>(
        name,
        [this, name, fails]() -> Status {
          entries.push_back("start " + name);
          if (fails) return make_error(ErrorCode::io_error, "disk full", "DISK_FULL");
          return Status::success();
        },
        [this, name] { entries.push_back("stop " + name); });
  }
};

}  // namespace

SCENARIO("a service stack starts in order and stops in reverse") {
  GIVEN("three services") {
    Journal journal;
    ServiceStack stack;
    stack.add(journal.service("store"));
    stack.add(journal.service("actors"));
    stack.add(journal.service("http"));
    CHECK(stack.size() == 3);
    WHEN("it starts") {
      REQUIRE(stack.start().ok());
      THEN("they started in the order added") {
        CHECK(journal.entries == std::vector<std::string>{"start store", "start actors", "start http"});
      }
      AND_WHEN("it stops, twice") {
        journal.entries.clear();
        stack.stop();
        stack.stop();
        THEN("they stopped once each, in reverse") {
          CHECK(journal.entries == std::vector<std::string>{"stop http", "stop actors", "stop store"});
        }
      }
      AND_WHEN("it starts again") {
        const Status again = stack.start();
        THEN("that is refused") {
          REQUIRE_FALSE(again.ok());
          CHECK(again.error().code == ErrorCode::conflict);
          CHECK(journal.entries.size() == 3);
        }
      }
    }
    WHEN("it is destroyed after starting") {
      {
        ServiceStack scoped;
        scoped.add(journal.service("a"));
        scoped.add(journal.service("b"));
        REQUIRE(scoped.start().ok());
      }
      THEN("the destructor stopped them in reverse") {
        CHECK(journal.entries == std::vector<std::string>{"start a", "start b", "stop b", "stop a"});
      }
    }
  }
}

SCENARIO("a service stack rolls back when a service fails to start") {
  GIVEN("four services, the third of which fails") {
    Journal journal;
    ServiceStack stack;
    stack.add(journal.service("store"));
    stack.add(journal.service("actors"));
    stack.add(journal.service("http", /*fails=*/true));
    stack.add(journal.service("metrics"));
    WHEN("it starts") {
      const Status started = stack.start();
      THEN("the error names the service and keeps its code and reason") {
        REQUIRE_FALSE(started.ok());
        CHECK(started.error().code == ErrorCode::io_error);
        CHECK(started.error().message == "http: disk full");
        CHECK(started.error().reason == "DISK_FULL");
      }
      THEN("those already started were stopped in reverse, and the rest never started") {
        CHECK(journal.entries == std::vector<std::string>{"start store", "start actors", "start http",
                                                          "stop actors", "stop store"});
      }
      AND_WHEN("it is stopped afterwards") {
        journal.entries.clear();
        stack.stop();
        THEN("nothing is stopped twice") {
          CHECK(journal.entries.empty());
        }
      }
    }
  }
  GIVEN("a service whose start throws, after one that started") {
    Journal journal;
    FunctionService throwing(
        "broken", []() -> Status { throw std::runtime_error("bug"); }, nullptr);
    ServiceStack stack;  // after `throwing`, which it must not outlive
    stack.add(journal.service("store"));
    stack.add(throwing);
    THEN("the exception becomes that service's error and the stack rolls back") {
      const Status started = stack.start();
      REQUIRE_FALSE(started.ok());
      CHECK(started.error().code == ErrorCode::internal);
      CHECK(started.error().message == "broken: start threw: bug");
      CHECK(journal.entries == std::vector<std::string>{"start store", "stop store"});
    }
  }
}

SCENARIO("a service stack stops the rest when one stop throws") {
  Journal journal;
  FunctionService throwing("broken", nullptr,
                           [] { throw std::runtime_error("stop failed (expected in this test)"); });
  ServiceStack stack;
  stack.add(journal.service("store"));
  stack.add(throwing);
  stack.add(journal.service("http"));
  REQUIRE(stack.start().ok());
  stack.stop();
  CHECK(journal.entries == std::vector<std::string>{"start store", "start http", "stop http", "stop store"});
}

SCENARIO("a stop() racing a start() waits for it and stops what it started") {
  std::atomic<bool> store_starting{false};
  std::atomic<bool> release{false};
  std::atomic<int> stops{0};
  FunctionService slow(
      "store",
      [&]() -> Status {
        store_starting = true;
        while (!release.load()) std::this_thread::yield();
        return Status::success();
      },
      [&] { ++stops; });
  ServiceStack stack;
  stack.add(slow);
  std::thread starter([&] { CHECK(stack.start().ok()); });
  while (!store_starting.load()) std::this_thread::yield();
  std::thread stopper([&] { stack.stop(); });
  release = true;
  starter.join();
  stopper.join();
  stack.stop();
  CHECK(stops.load() == 1);
}

SCENARIO("a function service") {
  GIVEN("one with a start and a stop") {
    int starts = 0;
    int stops = 0;
    FunctionService service(
        "part",
        [&]() -> Status {
          ++starts;
          return Status::success();
        },
        [&] { ++stops; });
    CHECK(service.name() == "part");
    WHEN("stopped before it started") {
      service.stop();
      THEN("stop did nothing and it cannot start any more") {
        CHECK(stops == 0);
        CHECK_FALSE(service.start().ok());
        CHECK(starts == 0);
      }
    }
    WHEN("started and stopped twice") {
      REQUIRE(service.start().ok());
      service.stop();
      service.stop();
      THEN("each ran once") {
        CHECK(starts == 1);
        CHECK(stops == 1);
        CHECK(service.start().error().code == ErrorCode::conflict);
      }
    }
  }
  GIVEN("one whose start fails") {
    int stops = 0;
    FunctionService service(
        "part", []() -> Status { return make_error(ErrorCode::unavailable, "no"); }, [&] { ++stops; });
    THEN("its stop does not run: a failed start cleans up after itself") {
      CHECK_FALSE(service.start().ok());
      service.stop();
      CHECK(stops == 0);
    }
  }
  GIVEN("one without callables") {
    FunctionService service("empty", nullptr, nullptr);
    THEN("it starts and stops") {
      CHECK(service.start().ok());
      service.stop();
    }
  }
}
