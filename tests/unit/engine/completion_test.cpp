// Completion from other threads: OneShot (deadline, late completion dropped), Inbox (order,
// overflow, deadline) and OffloadPool (results on the worker, blocked time), on a real
// io_context with a DeadlineSweeper ticking as the scheduler's does.
#include "loaddensity/protocol/completion.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <thread>

#include "stats/recorder.hpp"

namespace ld::engine {
namespace {

using namespace std::chrono_literals;

// One worker: its io_context, sweeper and context, as the scheduler sets them up.
struct Worker {
  net::io_context io{1};
  stats::WorkerStats stats{1};
  DeadlineSweeper sweeper;
  std::vector<char> scratch = std::vector<char>(1024);
  bool aborting = false;
  WorkerContext ctx{io, stats, sweeper, std::span<char>(scratch), &aborting};
  bool done = false;

  // Runs `body` as a user coroutine with the sweeper ticking; returns when it finished.
  void run(std::function<net::awaitable<void>()> body) {
    net::co_spawn(io, [this, body]() -> net::awaitable<void> {
      co_await body();
      done = true;
    }, net::detached);
    net::co_spawn(io, [this]() -> net::awaitable<void> {
      net::steady_timer t(io);
      while (!done) {
        t.expires_after(std::chrono::nanoseconds(DeadlineSweeper::kTick));
        boost::system::error_code ec;
        co_await t.async_wait(net::redirect_error(net::use_awaitable, ec));
        sweeper.sweep(steady_now());
      }
    }, net::detached);
    io.run();
    io.restart();
  }
};

TEST(OneShotTest, CompletedFromAnotherThread) {
  Worker w;
  std::optional<int> got;
  std::thread producer;
  std::thread::id resumed_on;
  w.run([&]() -> net::awaitable<void> {
    OneShot<int> shot(w.ctx);
    producer = std::thread([c = shot.completer()] {
      std::this_thread::sleep_for(20ms);
      EXPECT_TRUE(c.complete(42));
      EXPECT_FALSE(c.complete(43)) << "a result is delivered once";
    });
    got = co_await shot.wait(steady_now() + 5 * kNanosPerSecond);
    resumed_on = std::this_thread::get_id();
  });
  producer.join();
  EXPECT_EQ(got, 42);
  EXPECT_EQ(resumed_on, std::this_thread::get_id()) << "the user resumes on its worker";
}

TEST(OneShotTest, CompletedBeforeTheWait) {
  Worker w;
  std::optional<std::string> got;
  w.run([&]() -> net::awaitable<void> {
    OneShot<std::string> shot(w.ctx);
    std::thread([c = shot.completer()] { c.complete("early"); }).join();
    got = co_await shot.wait(steady_now() + kNanosPerSecond);
  });
  EXPECT_EQ(got, "early");
}

TEST(OneShotTest, ExpiresAtItsDeadlineAndDropsALateCompletion) {
  Worker w;
  std::optional<int> got = 0;
  OneShot<int>::Completer late;
  Nanos waited = 0;
  w.run([&]() -> net::awaitable<void> {
    OneShot<int> shot(w.ctx);
    late = shot.completer();
    const Nanos start = steady_now();
    got = co_await shot.wait(start + 30 * kNanosPerMilli);
    waited = steady_now() - start;
  });
  EXPECT_EQ(got, std::nullopt);
  EXPECT_GE(waited, 30 * kNanosPerMilli);
  // The user moved on (its OneShot is gone): the completion is refused, nothing resumes.
  EXPECT_FALSE(late.complete(7));
  EXPECT_EQ(w.io.poll(), 0u);
}

TEST(ParkTest, SingleThreadWakeLaterOrResumeNow) {
  Worker w;
  Park park;
  std::vector<int> steps;
  net::co_spawn(
      w.io,
      [&]() -> net::awaitable<void> {
        steps.push_back(1);
        co_await park.wait();
        steps.push_back(2);
        co_await park.wait();
        steps.push_back(3);
      },
      net::detached);
  w.io.poll();
  EXPECT_TRUE(park.parked());
  EXPECT_EQ(steps, std::vector<int>({1}));
  park.wake(w.io);  // from a callback: resumes later, from the event loop
  EXPECT_FALSE(park.parked());
  EXPECT_EQ(steps, std::vector<int>({1})) << "wake does not run the coroutine on this stack";
  w.io.poll();
  EXPECT_EQ(steps, std::vector<int>({1, 2}));
  EXPECT_TRUE(park.parked());
  park.resume_now();  // runs it here, until it suspends or ends
  EXPECT_EQ(steps, std::vector<int>({1, 2, 3}));
  EXPECT_FALSE(park.parked());
  park.resume_now();  // nothing parked: nothing happens
  park.wake(w.io);
  w.io.poll();
  EXPECT_EQ(steps, std::vector<int>({1, 2, 3}));
}

TEST(InboxTest, MessagesFromAnotherThreadInOrderWithOverflowCounted) {
  Worker w;
  std::vector<int> got;
  std::uint64_t dropped = 0;
  std::thread producer;
  w.run([&]() -> net::awaitable<void> {
    Inbox<int> inbox(w.ctx, 64);
    producer = std::thread([s = inbox.sender()] {
      for (int i = 0; i < 2000; ++i) {
        while (!s.push(i)) std::this_thread::sleep_for(100us);  // full: try again
      }
    });
    while (got.size() < 2000) {
      auto m = co_await inbox.next(steady_now() + 5 * kNanosPerSecond);
      if (!m) break;
      got.push_back(*m);
    }
    dropped = inbox.dropped();
    // Nothing more comes: the deadline ends the wait.
    auto none = co_await inbox.next(steady_now() + 20 * kNanosPerMilli);
    EXPECT_FALSE(none.has_value());
  });
  producer.join();
  ASSERT_EQ(got.size(), 2000u);
  for (int i = 0; i < 2000; ++i) ASSERT_EQ(got[i], i);
  // Refused pushes (the inbox was full; the producer retried them) are counted, not lost.
  EXPECT_LE(dropped, 2000u * 1000u);
}

TEST(InboxTest, FullInboxDropsAndCounts) {
  Worker w;
  w.run([&]() -> net::awaitable<void> {
    Inbox<int> inbox(w.ctx, 2);
    auto s = inbox.sender();
    EXPECT_TRUE(s.push(1));
    EXPECT_TRUE(s.push(2));
    EXPECT_FALSE(s.push(3));
    EXPECT_EQ(inbox.dropped(), 1u);
    EXPECT_EQ(*(co_await inbox.next(steady_now() + kNanosPerSecond)), 1);
    inbox.close();
    EXPECT_FALSE(s.push(4)) << "closed";
    EXPECT_EQ(*(co_await inbox.next(steady_now() + kNanosPerSecond)), 2);
    EXPECT_FALSE((co_await inbox.next(steady_now() + kNanosPerSecond)).has_value());
  });
}

TEST(OffloadPoolTest, BlockingCallsRunOnThePoolAndResumeOnTheWorker) {
  OffloadPool pool(2);
  Worker w;
  const auto worker_thread = std::this_thread::get_id();
  std::vector<std::thread::id> ran_on(4);
  std::vector<int> results(4, -1);
  std::vector<Nanos> blocked(4, -1);
  int finished = 0;
  const Nanos start = steady_now();
  w.run([&]() -> net::awaitable<void> {
    // Four users each make one 50 ms blocking call on a two-thread pool.
    for (int u = 0; u < 4; ++u) {
      net::co_spawn(w.io, [&, u]() -> net::awaitable<void> {
        results[u] = co_await pool.run(w.ctx, [&, u] {
          ran_on[u] = std::this_thread::get_id();
          std::this_thread::sleep_for(50ms);
          return u * 10;
        }, &blocked[u]);
        EXPECT_EQ(std::this_thread::get_id(), worker_thread);
        ++finished;
      }, net::detached);
    }
    net::steady_timer t(w.io);
    while (finished < 4) {
      t.expires_after(5ms);
      boost::system::error_code ec;
      co_await t.async_wait(net::redirect_error(net::use_awaitable, ec));
    }
  });
  const Nanos elapsed = steady_now() - start;
  for (int u = 0; u < 4; ++u) {
    EXPECT_EQ(results[u], u * 10);
    EXPECT_NE(ran_on[u], worker_thread);
  }
  // Two of the four waited for a pool thread about one call's length.
  std::sort(blocked.begin(), blocked.end());
  EXPECT_LT(blocked[1], 40 * kNanosPerMilli);
  EXPECT_GE(blocked[3], 40 * kNanosPerMilli);
  EXPECT_GE(elapsed, 100 * kNanosPerMilli);  // two rounds of 50 ms on two threads
  pool.stop();
  EXPECT_EQ(pool.threads(), 0u);
}

}  // namespace
}  // namespace ld::engine
