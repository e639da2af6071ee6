#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "common/timers.hpp"

using namespace muster;

namespace {

constexpr TimeMs kTimersStart = 1'700'000'000'000;

/// Waits in real time, with a generous bound, until `done` holds; for the
/// real service only (the manual one never needs waiting).
class Waiter {
 public:
  /// REQUIRES: mutex() held, by the caller that changed what is waited for.
  void notify() { changed_.notify_all(); }
  template <class Predicate>
  bool wait_until(Predicate done, std::chrono::milliseconds bound = std::chrono::seconds(10)) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, bound, done);
  }
  std::mutex& mutex() { return mutex_; }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
};

}  // namespace

SCENARIO("a manual timer service runs timers only when advanced, in deadline order") {
  GIVEN("timers due in 30, 10 and 20 ms, two of them at 20") {
    ManualTimerService timers;
    std::vector<std::string> ran;
    std::vector<TimeMs> ran_at;
    auto record = [&](std::string name) {
      return [&, name] {
        ran.push_back(name);
        ran_at.push_back(timers.now_ms());
      };
    };
    timers.schedule_after(30, record("c"));
    timers.schedule_after(10, record("a"));
    timers.schedule_after(20, record("b1"));
    timers.schedule_at(kTimersStart + 20, record("b2"));
    CHECK(timers.pending() == 4);
    CHECK(ran.empty());

    WHEN("the time advances by 15 ms") {
      CHECK(timers.advance(15) == 1);
      THEN("only the first ran, at its deadline, and the time is where it was advanced to") {
        CHECK(ran == std::vector<std::string>{"a"});
        CHECK(ran_at == std::vector<TimeMs>{kTimersStart + 10});
        CHECK(timers.now_ms() == kTimersStart + 15);
        CHECK(timers.pending() == 3);
      }
      AND_WHEN("it advances to the last deadline") {
        CHECK(timers.advance_to(kTimersStart + 30) == 3);
        THEN("the rest ran in deadline order, ties in scheduling order") {
          CHECK(ran == std::vector<std::string>{"a", "b1", "b2", "c"});
          CHECK(ran_at == std::vector<TimeMs>{kTimersStart + 10, kTimersStart + 20, kTimersStart + 20,
                                              kTimersStart + 30});
          CHECK(timers.pending() == 0);
        }
      }
    }
    WHEN("the time advances by less than the first delay") {
      CHECK(timers.advance(9) == 0);
      THEN("nothing ran") {
        CHECK(ran.empty());
        CHECK(timers.now_ms() == kTimersStart + 9);
      }
    }
    WHEN("advance_to names a time in the past") {
      timers.advance(25);
      CHECK(timers.advance_to(kTimersStart) == 0);
      THEN("the time does not move backwards") {
        CHECK(timers.now_ms() == kTimersStart + 25);
      }
    }
  }
}

SCENARIO("timer ids are never 0 and never reused") {
  ManualTimerService timers;
  std::set<TimerService::TimerId> ids;
  for (int i = 0; i < 100; ++i) {
    const TimerService::TimerId id = timers.schedule_after(i % 3, [] {});
    CHECK(id != 0);
    ids.insert(id);
    if (i % 2 == 0) timers.advance(1);
  }
  CHECK(ids.size() == 100);
}

SCENARIO("callbacks schedule callbacks while the time advances") {
  GIVEN("a timer that re-arms itself every 10 ms") {
    ManualTimerService timers;
    std::vector<TimeMs> ticks;
    std::function<void()> tick = [&] {
      ticks.push_back(timers.now_ms());
      timers.schedule_after(10, tick);
    };
    timers.schedule_after(10, tick);
    WHEN("the time advances by 100 ms at once") {
      const std::size_t ran = timers.advance(100);
      THEN("every tick that fell due within the span ran, each at its own time") {
        CHECK(ran == 10);
        REQUIRE(ticks.size() == 10);
        for (std::size_t i = 0; i < ticks.size(); ++i) CHECK(ticks[i] == kTimersStart + 10 * TimeMs(i + 1));
        CHECK(timers.pending() == 1);
      }
    }
  }
  GIVEN("a callback that schedules one timer inside the span and one beyond it") {
    ManualTimerService timers;
    std::vector<std::string> ran;
    timers.schedule_after(10, [&] {
      ran.push_back("first");
      timers.schedule_after(5, [&] { ran.push_back("inside"); });
      timers.schedule_after(50, [&] { ran.push_back("beyond"); });
      timers.schedule_after(0, [&] { ran.push_back("now"); });
    });
    WHEN("the time advances by 20 ms") {
      CHECK(timers.advance(20) == 3);
      THEN("the one inside ran in the same advance, the other waits") {
        CHECK(ran == std::vector<std::string>{"first", "now", "inside"});
        CHECK(timers.pending() == 1);
        CHECK(timers.advance(40) == 1);
        CHECK(ran.back() == "beyond");
      }
    }
  }
}

SCENARIO("cancelling a timer") {
  ManualTimerService timers;
  int runs = 0;
  GIVEN("a pending timer") {
    const auto id = timers.schedule_after(10, [&] { ++runs; });
    WHEN("it is cancelled") {
      CHECK(timers.cancel(id));
      THEN("it never runs, is no longer pending, and a second cancel fails") {
        CHECK(timers.pending() == 0);
        CHECK(timers.advance(100) == 0);
        CHECK(runs == 0);
        CHECK_FALSE(timers.cancel(id));
      }
    }
    WHEN("it ran") {
      timers.advance(10);
      THEN("cancelling it fails") {
        CHECK(runs == 1);
        CHECK_FALSE(timers.cancel(id));
      }
    }
  }
  GIVEN("two timers due within one advance, the first cancelling the second") {
    TimerService::TimerId second = 0;
    bool cancelled = false;
    timers.schedule_after(10, [&] { cancelled = timers.cancel(second); });
    second = timers.schedule_after(20, [&] { ++runs; });
    WHEN("the time passes both") {
      CHECK(timers.advance(30) == 1);
      THEN("the second never runs") {
        CHECK(cancelled);
        CHECK(runs == 0);
      }
    }
  }
  GIVEN("an id that was never handed out") {
    THEN("cancel fails") {
      CHECK_FALSE(timers.cancel(0));
      CHECK_FALSE(timers.cancel(12345));
    }
  }
  GIVEN("a cancelled timer holding a resource") {
    auto resource = std::make_shared<int>(7);
    const auto id = timers.schedule_after(10, [resource] {});
    CHECK(resource.use_count() == 2);
    THEN("cancel destroys the callback") {
      CHECK(timers.cancel(id));
      CHECK(resource.use_count() == 1);
    }
  }
}

SCENARIO("a deadline in the past") {
  GIVEN("a manual service and a timer due a second ago") {
    ManualTimerService timers;
    bool ran = false;
    timers.schedule_at(timers.now_ms() - 1000, [&] { ran = true; });
    THEN("it does not run inside schedule_at") {
      CHECK_FALSE(ran);
    }
    WHEN("the time advances by nothing") {
      CHECK(timers.advance(0) == 1);
      THEN("it runs, and the time stays where it was") {
        CHECK(ran);
        CHECK(timers.now_ms() == kTimersStart);
      }
    }
  }
}

SCENARIO("stopping a manual timer service drops pending timers and refuses new ones") {
  GIVEN("a pending timer that holds a resource") {
    ManualTimerService timers;
    auto resource = std::make_shared<int>(1);
    bool ran = false;
    timers.schedule_after(10, [resource, &ran] { ran = true; });
    WHEN("the service stops") {
      timers.stop();
      THEN("the callback was destroyed without running") {
        CHECK(resource.use_count() == 1);
        CHECK(timers.pending() == 0);
        timers.advance(100);
        CHECK_FALSE(ran);
      }
      THEN("a new timer is refused with id 0 and its callback destroyed") {
        CHECK(timers.schedule_after(1, [resource] {}) == 0);
        CHECK(resource.use_count() == 1);
        CHECK(timers.pending() == 0);
      }
      THEN("stopping again does nothing") {
        timers.stop();
        CHECK(timers.pending() == 0);
      }
    }
  }
  GIVEN("a callback that stops the service that runs it") {
    ManualTimerService timers;
    bool later_ran = false;
    timers.schedule_after(10, [&] { timers.stop(); });
    timers.schedule_after(20, [&] { later_ran = true; });
    THEN("the advance ends without deadlock and the later timer never runs") {
      CHECK(timers.advance(30) == 1);
      CHECK_FALSE(later_ran);
    }
  }
}

SCENARIO("a manual timer service goes on after a callback throws or misbehaves") {
  ManualTimerService timers;
  std::vector<int> ran;
  timers.schedule_after(10, [] { throw std::runtime_error("broken timer (expected in this test)"); });
  timers.schedule_after(20, [&] {
    // Refused rather than deadlocking: advancing belongs to the test, not to callbacks.
    CHECK(timers.advance(1000) == 0);
    ran.push_back(2);
  });
  timers.schedule_after(30, [&] { ran.push_back(3); });
  CHECK(timers.advance(30) == 3);
  CHECK(ran == std::vector<int>{2, 3});
  CHECK(timers.now_ms() == kTimersStart + 30);
}

SCENARIO("a manual timer service is scheduled from other threads while it advances") {
  ManualTimerService timers;
  constexpr int kThreads = 4;
  constexpr int kPerThread = 2000;
  std::vector<int> runs(kThreads * kPerThread, 0);  // only touched by the advancing thread
  std::atomic<int> scheduled{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const int key = t * kPerThread + i;
        timers.schedule_after(1 + i % 7, [&runs, key] { ++runs[key]; });
        ++scheduled;
      }
    });
  }
  std::size_t ran = 0;
  while (scheduled.load() < kThreads * kPerThread) ran += timers.advance(1);
  for (auto& thread : threads) thread.join();
  ran += timers.advance(10);
  CHECK(ran == runs.size());
  for (int count : runs) REQUIRE(count == 1);
}

SCENARIO("the real timer service runs timers on its own thread") {
  GIVEN("a started service") {
    RealTimerService timers;
    REQUIRE(timers.start().ok());
    Waiter waiter;
    WHEN("two timers are scheduled a few milliseconds ahead, the later first") {
      std::vector<int> ran;
      std::thread::id ran_on;
      TimeMs ran_at = 0;
      const TimeMs before = timers.now_ms();
      timers.schedule_after(20, [&] {
        std::lock_guard<std::mutex> lock(waiter.mutex());
        ran.push_back(2);
        ran_on = std::this_thread::get_id();
        ran_at = timers.now_ms();
        waiter.notify();
      });
      timers.schedule_after(5, [&] {
        std::lock_guard<std::mutex> lock(waiter.mutex());
        ran.push_back(1);
      });
      THEN("both run, in deadline order, on another thread, not before their deadline") {
        REQUIRE(waiter.wait_until([&] { return ran.size() == 2; }));
        CHECK(ran == std::vector<int>{1, 2});
        const bool on_another_thread = ran_on != std::this_thread::get_id();
        CHECK(on_another_thread);
        CHECK(ran_at >= before + 20);
      }
    }
    WHEN("a callback schedules and cancels timers of the same service") {
      bool second_ran = false;
      bool cancelled = false;
      const auto far = timers.schedule_after(60'000, [] {});
      timers.schedule_after(1, [&] {
        cancelled = timers.cancel(far);
        timers.schedule_at(timers.now_ms() - 5, [&] {
          std::lock_guard<std::mutex> lock(waiter.mutex());
          second_ran = true;
          waiter.notify();
        });
      });
      THEN("it does not deadlock and the past deadline runs as soon as possible") {
        REQUIRE(waiter.wait_until([&] { return second_ran; }));
        CHECK(cancelled);
        CHECK(timers.pending() == 0);
      }
    }
    WHEN("a callback throws") {
      bool after_ran = false;
      timers.schedule_after(1, [] { throw std::runtime_error("broken timer (expected in this test)"); });
      timers.schedule_after(2, [&] {
        std::lock_guard<std::mutex> lock(waiter.mutex());
        after_ran = true;
        waiter.notify();
      });
      THEN("the service goes on") {
        CHECK(waiter.wait_until([&] { return after_ran; }));
      }
    }
  }
}

SCENARIO("the real timer service follows a clock that jumps") {
  GIVEN("a service reading a manual clock, with a timer an hour ahead") {
    ManualClock clock;
    RealTimerService timers(clock);
    REQUIRE(timers.start().ok());
    Waiter waiter;
    bool probed = false;
    bool ran = false;
    timers.schedule_after(3'600'000, [&] {
      std::lock_guard<std::mutex> lock(waiter.mutex());
      ran = true;
      waiter.notify();
    });
    // Once a timer due now ran, the thread goes on to wait for the one an hour
    // ahead; the short sleep lets it get there before the clock jumps.
    timers.schedule_after(0, [&] {
      std::lock_guard<std::mutex> lock(waiter.mutex());
      probed = true;
      waiter.notify();
    });
    REQUIRE(waiter.wait_until([&] { return probed; }));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    CHECK(timers.now_ms() == clock.now_ms());
    WHEN("the clock jumps past the deadline") {
      clock.advance_ms(3'600'000);
      THEN("the timer runs within about a second, without anything else waking the service") {
        CHECK(waiter.wait_until([&] { return ran; }, std::chrono::seconds(5)));
      }
    }
  }
}

SCENARIO("stopping the real timer service") {
  GIVEN("a started service with a timer an hour ahead holding a resource") {
    auto timers = std::make_unique<RealTimerService>();
    REQUIRE(timers->start().ok());
    auto resource = std::make_shared<int>(1);
    bool ran = false;
    timers->schedule_after(3'600'000, [resource, &ran] { ran = true; });
    WHEN("it stops") {
      timers->stop();
      THEN("the pending callback is destroyed, not run, and new timers are refused") {
        CHECK(resource.use_count() == 1);
        CHECK_FALSE(ran);
        CHECK(timers->pending() == 0);
        CHECK(timers->schedule_after(0, [resource] {}) == 0);
        CHECK(resource.use_count() == 1);
      }
      THEN("stop is idempotent and it cannot start again") {
        timers->stop();
        const Status restarted = timers->start();
        REQUIRE_FALSE(restarted.ok());
        CHECK(restarted.error().code == ErrorCode::conflict);
      }
    }
  }
  GIVEN("a callback that is running when stop() is called from another thread") {
    RealTimerService timers;
    REQUIRE(timers.start().ok());
    std::atomic<bool> entered{false};
    std::atomic<bool> stop_called{false};
    std::atomic<bool> finished{false};
    timers.schedule_after(0, [&] {
      entered = true;
      while (!stop_called.load()) std::this_thread::yield();
      // Long enough that a stop() which did not wait would return first.
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      finished = true;
    });
    while (!entered.load()) std::this_thread::yield();
    THEN("stop() returns only after the callback returned") {
      bool finished_when_stopped = false;
      std::thread stopper([&] {
        stop_called = true;
        timers.stop();
        finished_when_stopped = finished.load();
      });
      stopper.join();
      CHECK(finished_when_stopped);
    }
  }
  GIVEN("a callback that stops, then destroys, the service that runs it") {
    auto timers = std::make_unique<RealTimerService>();
    REQUIRE(timers->start().ok());
    Waiter waiter;
    bool done = false;
    RealTimerService* raw = timers.get();
    std::unique_ptr<RealTimerService> owned_by_callback;
    {
      std::lock_guard<std::mutex> lock(waiter.mutex());
      owned_by_callback = std::move(timers);
    }
    raw->schedule_after(0, [&] {
      std::unique_ptr<RealTimerService> mine;
      {
        std::lock_guard<std::mutex> lock(waiter.mutex());
        mine = std::move(owned_by_callback);
      }
      mine->stop();
      mine.reset();
      std::lock_guard<std::mutex> lock(waiter.mutex());
      done = true;
      waiter.notify();
    });
    THEN("neither deadlocks") {
      CHECK(waiter.wait_until([&] { return done; }));
    }
  }
  GIVEN("a service that was never started") {
    RealTimerService timers;
    bool ran = false;
    timers.schedule_after(0, [&] { ran = true; });
    CHECK(timers.pending() == 1);
    THEN("timers wait for start, and stop drops them") {
      timers.stop();
      CHECK(timers.pending() == 0);
      CHECK_FALSE(ran);
    }
  }
}

SCENARIO("the real timer service is a Service in a ServiceStack") {
  RealTimerService timers;
  CHECK(timers.name() == "timers");
  ServiceStack stack;
  stack.add(timers);
  REQUIRE(stack.start().ok());
  Waiter waiter;
  bool ran = false;
  timers.schedule_after(1, [&] {
    std::lock_guard<std::mutex> lock(waiter.mutex());
    ran = true;
    waiter.notify();
  });
  CHECK(waiter.wait_until([&] { return ran; }));
  stack.stop();
  CHECK(timers.schedule_after(1, [] {}) == 0);
}
