#include <doctest/doctest.h>

#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "common/sanitizers.hpp"
#include "common/timeout_wheel.hpp"
#include "common/timers.hpp"

using namespace muster;

namespace {

// Not a multiple of any resolution below: bucket boundaries are absolute.
constexpr TimeMs kStart = 1'700'000'000'037;

/// A TimerService whose timers run only when the test says, from the thread
/// it chooses; take() plays a timer that the service has started running (so
/// it can no longer be cancelled) without running it yet.
class ScriptedTimerService final : public TimerService {
 public:
  TimeMs now_ms() const override { return now_.load(); }
  void set_now(TimeMs now_ms) { now_ = now_ms; }

  TimerId schedule_at(TimeMs deadline_ms, Callback callback) override {
    std::lock_guard<std::mutex> lock(mutex_);
    const TimerId id = next_id_++;
    timers_.emplace(id, Timer{deadline_ms, std::move(callback)});
    return id;
  }
  bool cancel(TimerId id) override {
    std::lock_guard<std::mutex> lock(mutex_);
    return timers_.erase(id) == 1;
  }
  std::size_t pending() const override {
    std::lock_guard<std::mutex> lock(mutex_);
    return timers_.size();
  }

  /// The pending timer with the earliest deadline, if any.
  std::optional<TimerId> earliest() const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::optional<TimerId> found;
    TimeMs deadline = 0;
    for (const auto& [id, timer] : timers_) {
      if (!found || timer.deadline_ms < deadline) {
        found = id;
        deadline = timer.deadline_ms;
      }
    }
    return found;
  }
  TimeMs deadline_of(TimerId id) const {
    std::lock_guard<std::mutex> lock(mutex_);
    return timers_.at(id).deadline_ms;
  }
  /// Removes timer `id` as if the service had started running it.
  Callback take(TimerId id) {
    std::lock_guard<std::mutex> lock(mutex_);
    Callback callback = std::move(timers_.at(id).callback);
    timers_.erase(id);
    return callback;
  }

 private:
  struct Timer {
    TimeMs deadline_ms;
    Callback callback;
  };
  std::atomic<TimeMs> now_{kStart};
  mutable std::mutex mutex_;
  std::map<TimerId, Timer> timers_;
  TimerId next_id_ = 1;
};

/// Bytes the allocator hands out now, where that can be read (not under the
/// sanitizers, which have allocators of their own).
std::optional<std::size_t> heap_in_use() {
#if defined(MUSTER_ASAN) || defined(MUSTER_TSAN)
  return std::nullopt;
#else
  const struct mallinfo2 info = mallinfo2();
  return info.uordblks + info.hblkhd;
#endif
}

}  // namespace

SCENARIO("the wheel never fires early and fires within its resolution") {
  GIVEN("a wheel of 100 ms and keys with deadlines all over the next second") {
    ManualTimerService timers(kStart);
    std::map<int, TimeMs> fired_at;
    TimeoutWheel<int> wheel(timers, 100, [&](std::vector<int>& due) {
      for (int key : due) {
        CHECK(fired_at.count(key) == 0);
        fired_at[key] = timers.now_ms();
      }
    });
    const std::vector<TimeMs> offsets = {1,   2,   50,  62,  63,  64,  99,  100,
                                         101, 150, 163, 164, 199, 200, 555, 999};
    for (std::size_t key = 0; key < offsets.size(); ++key) wheel.schedule(kStart + offsets[key], int(key));
    CHECK(wheel.size() == offsets.size());

    WHEN("the time moves a millisecond at a time") {
      for (TimeMs step = 0; step < 1200; ++step) timers.advance(1);
      THEN("every key fired once, at or after its deadline and less than a resolution after it") {
        REQUIRE(fired_at.size() == offsets.size());
        for (std::size_t key = 0; key < offsets.size(); ++key) {
          CAPTURE(offsets[key]);
          const TimeMs late = fired_at[int(key)] - (kStart + offsets[key]);
          CHECK(late >= 0);
          CHECK(late < 100);
        }
        CHECK(wheel.size() == 0);
      }
    }
    WHEN("the time jumps past every deadline at once") {
      timers.advance(1200);
      THEN("each bucket still fires at its own time, never early") {
        REQUIRE(fired_at.size() == offsets.size());
        for (std::size_t key = 0; key < offsets.size(); ++key) {
          CHECK(fired_at[int(key)] >= kStart + offsets[key]);
          CHECK(fired_at[int(key)] < kStart + offsets[key] + 100);
        }
      }
    }
    WHEN("the time stops one millisecond short of the first bucket") {
      // The deadlines +1 .. +63 share the bucket at the next multiple of 100.
      const TimeMs first_bucket = (kStart + 1 + 99) / 100 * 100;
      timers.advance_to(first_bucket - 1);
      THEN("nothing fired") {
        CHECK(fired_at.empty());
      }
      AND_WHEN("it reaches the bucket") {
        timers.advance(1);
        THEN("the bucket's keys (+1 .. +63) fired together") {
          CHECK(fired_at.size() == 5);
        }
      }
    }
  }
}

SCENARIO("the wheel keeps one timer armed, for its earliest bucket") {
  GIVEN("a wheel with keys in ten buckets") {
    ManualTimerService timers(kStart);
    std::vector<int> fired;
    TimeoutWheel<int> wheel(
        timers, 10, [&](std::vector<int>& due) { fired.insert(fired.end(), due.begin(), due.end()); });
    for (int key = 0; key < 100; ++key) wheel.schedule(kStart + 10 * (key % 10) + 5, key);
    THEN("one timer is pending for all of them") {
      CHECK(timers.pending() == 1);
    }
    WHEN("the buckets fire one after the other") {
      const TimeMs first_bucket = (kStart + 5 + 9) / 10 * 10;
      for (int bucket = 1; bucket <= 10; ++bucket) {
        timers.advance_to(first_bucket + 10 * (bucket - 1));
        CHECK(fired.size() == std::size_t(10 * bucket));
        CHECK(wheel.size() == std::size_t(100 - 10 * bucket));
        CHECK(timers.pending() == (bucket < 10 ? 1 : 0));
      }
      THEN("nothing is left armed") {
        CHECK(timers.pending() == 0);
      }
    }
  }
  GIVEN("a wheel armed for a key half a second ahead") {
    ManualTimerService timers(kStart);
    std::vector<std::pair<int, TimeMs>> fired;
    TimeoutWheel<int> wheel(timers, 10, [&](std::vector<int>& due) {
      for (int key : due) fired.emplace_back(key, timers.now_ms());
    });
    wheel.schedule(kStart + 500, 1);
    REQUIRE(timers.pending() == 1);
    WHEN("a key with an earlier deadline is scheduled") {
      wheel.schedule(kStart + 100, 2);
      THEN("the wheel re-arms earlier, still with one timer") {
        CHECK(timers.pending() == 1);
        timers.advance(105);
        REQUIRE(fired.size() == 1);
        CHECK(fired[0].first == 2);
        CHECK(fired[0].second < kStart + 110);
        CHECK(timers.pending() == 1);
        timers.advance(400);
        REQUIRE(fired.size() == 2);
        CHECK(fired[1].first == 1);
      }
    }
    WHEN("a key with a later deadline is scheduled") {
      wheel.schedule(kStart + 900, 3);
      THEN("the armed timer stays") {
        CHECK(timers.pending() == 1);
        timers.advance(510);
        CHECK(fired.size() == 1);
      }
    }
  }
}

SCENARIO("a deadline already past fires at the next tick") {
  GIVEN("a wheel of 100 ms") {
    ManualTimerService timers(kStart);
    std::vector<TimeMs> fired_at;
    TimeoutWheel<int> wheel(timers, 100, [&](std::vector<int>& due) {
      for (std::size_t i = 0; i < due.size(); ++i) fired_at.push_back(timers.now_ms());
    });
    WHEN("keys are scheduled for a second ago and for now") {
      wheel.schedule(kStart - 1000, 1);
      wheel.schedule(kStart, 2);
      THEN("they do not fire inside schedule(), nor with no time passing") {
        CHECK(fired_at.empty());
        timers.advance(0);
        CHECK(fired_at.empty());
      }
      THEN("they fire within one resolution") {
        timers.advance(100);
        REQUIRE(fired_at.size() == 2);
        CHECK(fired_at[0] > kStart);
        CHECK(fired_at[0] <= kStart + 100);
      }
    }
  }
}

SCENARIO("the handler schedules keys again") {
  GIVEN("a handler that re-schedules its key with a deadline that has passed") {
    ManualTimerService timers(kStart);
    int fired = 0;
    TimeoutWheel<int>* self = nullptr;
    TimeoutWheel<int> wheel(timers, 100, [&](std::vector<int>& due) {
      for (int key : due) {
        ++fired;
        self->schedule(timers.now_ms() - 1, key);
      }
    });
    self = &wheel;
    wheel.schedule(kStart + 1, 7);
    WHEN("a second passes") {
      timers.advance(1000);
      THEN("the key fired once per tick rather than again and again at one instant") {
        CHECK(fired == 10);
        CHECK(wheel.size() == 1);
        CHECK(timers.pending() == 1);
      }
    }
  }
  GIVEN("a handler that re-schedules its key 250 ms later, three times") {
    ManualTimerService timers(kStart);
    std::vector<TimeMs> fired_at;
    TimeoutWheel<int>* self = nullptr;
    TimeoutWheel<int> wheel(timers, 50, [&](std::vector<int>& due) {
      for (int key : due) {
        fired_at.push_back(timers.now_ms());
        if (fired_at.size() < 3) self->schedule(timers.now_ms() + 250, key);
      }
    });
    self = &wheel;
    wheel.schedule(kStart + 250, 1);
    WHEN("the time passes in one advance") {
      timers.advance(10'000);
      THEN("it fired three times, each within the resolution of its deadline") {
        REQUIRE(fired_at.size() == 3);
        TimeMs deadline = kStart + 250;
        for (TimeMs at : fired_at) {
          CHECK(at >= deadline);
          CHECK(at < deadline + 50);
          deadline = at + 250;
        }
        CHECK(timers.pending() == 0);
      }
    }
  }
}

SCENARIO("stopping a wheel") {
  GIVEN("a wheel with entries") {
    ManualTimerService timers(kStart);
    int fired = 0;
    auto wheel = std::make_unique<TimeoutWheel<int>>(
        timers, 10, [&](std::vector<int>& due) { fired += int(due.size()); });
    for (int key = 0; key < 10; ++key) wheel->schedule(kStart + 10 * key + 1, key);
    REQUIRE(timers.pending() == 1);
    WHEN("it stops") {
      wheel->stop();
      THEN("its entries are dropped, its timer cancelled, later keys ignored") {
        CHECK(wheel->size() == 0);
        CHECK(timers.pending() == 0);
        wheel->schedule(kStart + 5, 99);
        CHECK(wheel->size() == 0);
        CHECK(timers.pending() == 0);
        timers.advance(1000);
        CHECK(fired == 0);
        wheel->stop();
      }
    }
    WHEN("it is destroyed") {
      wheel.reset();
      THEN("its timer is cancelled") {
        CHECK(timers.pending() == 0);
        timers.advance(1000);
        CHECK(fired == 0);
      }
    }
  }
  GIVEN("a handler that stops its own wheel") {
    ManualTimerService timers(kStart);
    int calls = 0;
    TimeoutWheel<int>* self = nullptr;
    TimeoutWheel<int> wheel(timers, 10, [&](std::vector<int>&) {
      ++calls;
      self->stop();
    });
    self = &wheel;
    wheel.schedule(kStart + 5, 1);
    wheel.schedule(kStart + 50, 2);
    THEN("it does not deadlock and is not called again") {
      timers.advance(100);
      CHECK(calls == 1);
      CHECK(timers.pending() == 0);
    }
  }
}

SCENARIO("a handler that throws") {
  ManualTimerService timers(kStart);
  std::vector<int> fired;
  TimeoutWheel<int> wheel(timers, 10, [&](std::vector<int>& due) {
    fired.insert(fired.end(), due.begin(), due.end());
    if (due.front() == 1) throw std::runtime_error("broken handler (expected in this test)");
  });
  wheel.schedule(kStart + 5, 1);
  wheel.schedule(kStart + 50, 2);
  timers.advance(100);
  CHECK(fired == std::vector<int>{1, 2});
}

SCENARIO("the wheel survives a timer that fires after it was replaced") {
  GIVEN("a wheel armed for a key at +500 whose timer has started running") {
    ScriptedTimerService timers;
    std::vector<std::string> fired;
    TimeoutWheel<std::string> wheel(timers, 10, [&](std::vector<std::string>& due) {
      fired.insert(fired.end(), due.begin(), due.end());
    });
    wheel.schedule(kStart + 500, "late");
    const auto first = *timers.earliest();
    TimerService::Callback running = timers.take(first);
    WHEN("an earlier key arrives: the cancel fails and the wheel arms a second timer") {
      wheel.schedule(kStart + 100, "early");
      REQUIRE(timers.pending() == 1);
      const auto second = *timers.earliest();
      CHECK(timers.deadline_of(second) <= kStart + 110);
      timers.set_now(timers.deadline_of(second));
      timers.take(second)();
      THEN("the early key fires, and the wheel re-arms for the late one") {
        CHECK(fired == std::vector<std::string>{"early"});
        REQUIRE(timers.pending() == 1);
        const auto third = *timers.earliest();
        AND_WHEN("the replaced timer finally runs, then the re-armed one") {
          timers.set_now(timers.deadline_of(third));
          running();
          timers.take(third)();
          THEN("each key fired exactly once and nothing is left armed") {
            CHECK(fired == std::vector<std::string>{"early", "late"});
            CHECK(timers.pending() == 0);
            CHECK(wheel.size() == 0);
          }
        }
      }
    }
  }
}

SCENARIO("the handler is never called concurrently with itself") {
  GIVEN("a timer service that runs two of the wheel's timers on two threads at once") {
    ScriptedTimerService timers;
    std::atomic<int> inside{0};
    std::atomic<int> most_inside{0};
    std::atomic<bool> first_call{true};
    std::atomic<bool> third_key_scheduled{false};
    std::atomic<bool> second_returned{false};
    std::mutex fired_mutex;
    std::vector<int> fired;
    TimeoutWheel<int>* self = nullptr;
    TimeoutWheel<int> wheel(timers, 10, [&](std::vector<int>& due) {
      const int now_inside = ++inside;
      most_inside = std::max(most_inside.load(), now_inside);
      {
        std::lock_guard<std::mutex> lock(fired_mutex);
        fired.insert(fired.end(), due.begin(), due.end());
      }
      if (first_call.exchange(false)) {
        self->schedule(timers.now_ms(), 3);  // into the bucket after now
        third_key_scheduled = true;
        const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        while (!second_returned.load() && std::chrono::steady_clock::now() < give_up) {
          std::this_thread::yield();
        }
      }
      --inside;
    });
    self = &wheel;
    wheel.schedule(kStart + 100, 1);
    TimerService::Callback first = timers.take(*timers.earliest());
    wheel.schedule(kStart + 50, 2);  // the cancel fails: a second timer
    TimerService::Callback second = timers.take(*timers.earliest());
    timers.set_now(kStart + 110);
    WHEN("the second runs, with a key due, while the first one's handler is busy") {
      std::thread one(first);
      while (!third_key_scheduled.load()) std::this_thread::yield();
      timers.set_now(kStart + 160);  // the third key's bucket is due
      std::thread two([&] {
        second();
        second_returned = true;
      });
      one.join();
      two.join();
      THEN("the handler ran once at a time, and the wheel re-armed for the key it skipped") {
        CHECK(most_inside.load() == 1);
        CHECK(fired == std::vector<int>{2, 1});
        REQUIRE(timers.pending() == 1);
        timers.take (*timers.earliest())();
        CHECK(fired == std::vector<int>{2, 1, 3});
        CHECK(timers.pending() == 0);
      }
    }
  }
}

SCENARIO("keys scheduled from 8 threads at once each fire exactly once") {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 20'000;
  GIVEN("a manual timer service that advances while the threads schedule") {
    ManualTimerService timers(kStart);
    std::vector<TimeMs> deadline(kThreads * kPerThread, 0);
    std::vector<int> fired(kThreads * kPerThread, 0);
    int early = 0;
    TimeoutWheel<int> wheel(timers, 5, [&](std::vector<int>& due) {
      for (int key : due) {
        ++fired[key];
        // deadline[key] was written before schedule(): the wheel's lock orders it.
        if (timers.now_ms() < deadline[key]) ++early;
      }
    });
    std::atomic<int> threads_done{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kPerThread; ++i) {
          const int key = t * kPerThread + i;
          deadline[key] = timers.now_ms() + (i % 50) * 3;
          wheel.schedule(deadline[key], key);
        }
        ++threads_done;
      });
    }
    while (threads_done.load() < kThreads) timers.advance(1);
    for (auto& thread : threads) thread.join();
    timers.advance(1000);
    THEN("every key fired exactly once, none early") {
      CHECK(early == 0);
      CHECK(std::count(fired.begin(), fired.end(), 1) == kThreads * kPerThread);
      CHECK(wheel.size() == 0);
      CHECK(timers.pending() == 0);
    }
  }
  GIVEN("a real timer service") {
    RealTimerService timers;
    REQUIRE(timers.start().ok());
    constexpr int kRealPerThread = 5'000;
    std::mutex mutex;
    std::condition_variable all_fired;
    std::vector<int> fired(kThreads * kRealPerThread, 0);
    std::size_t total = 0;
    std::atomic<int> inside{0};
    bool overlapped = false;
    TimeoutWheel<int> wheel(timers, 5, [&](std::vector<int>& due) {
      if (++inside > 1) overlapped = true;
      std::lock_guard<std::mutex> lock(mutex);
      for (int key : due) ++fired[key];
      total += due.size();
      all_fired.notify_all();
      --inside;
    });
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kRealPerThread; ++i)
          wheel.schedule(timers.now_ms() + i % 20, t * kRealPerThread + i);
      });
    }
    for (auto& thread : threads) thread.join();
    THEN("every key fires exactly once, on the timer thread, one batch at a time") {
      std::unique_lock<std::mutex> lock(mutex);
      REQUIRE(all_fired.wait_for(lock, std::chrono::seconds(20), [&] { return total == fired.size(); }));
      CHECK(std::count(fired.begin(), fired.end(), 1) == kThreads * kRealPerThread);
      CHECK_FALSE(overlapped);
    }
    wheel.stop();
    timers.stop();
  }
}

SCENARIO("a million entries in one wheel") {
  GIVEN("a million keys over ten seconds in buckets of 100 ms") {
    constexpr std::uint64_t kKeys = 1'000'000;
    ManualTimerService timers(kStart);
    std::vector<std::uint8_t> fired(kKeys, 0);
    std::size_t batches = 0;
    TimeoutWheel<std::uint64_t> wheel(timers, 100, [&](std::vector<std::uint64_t>& due) {
      ++batches;
      for (std::uint64_t key : due) ++fired[key];
    });
    const std::optional<std::size_t> heap_before = heap_in_use();
    for (std::uint64_t key = 0; key < kKeys; ++key) wheel.schedule(kStart + TimeMs(key % 10'000), key);
    const std::optional<std::size_t> heap_after = heap_in_use();
    THEN("they cost about their own size, and use one timer") {
      CHECK(wheel.size() == kKeys);
      CHECK(timers.pending() == 1);
      if (heap_before && heap_after) {
        // A vector that grows by doubling holds at most twice its keys; a
        // std::function or a tree node per entry would cost 4 to 6 times more.
        CHECK(*heap_after - *heap_before < 3 * kKeys * sizeof(std::uint64_t));
      }
    }
    WHEN("ten seconds pass") {
      timers.advance(10'100);
      THEN("every key fired once, bucket by bucket") {
        CHECK(std::count(fired.begin(), fired.end(), 1) == std::ptrdiff_t(kKeys));
        CHECK(batches >= 100);
        CHECK(batches <= 101);
        CHECK(wheel.size() == 0);
      }
    }
  }
}
