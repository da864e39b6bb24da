// Live statistics: the coarse live histogram's error bound, Locust's response-time buckets,
// and snapshots read from another thread while a real Scheduler runs a (timer-driven) test
// protocol on two worker threads.
#include <utility>  // before Asio (Boost 1.74 trap)

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <random>
#include <thread>

#include "engine/timer_protocol.hpp"
#include "loaddensity/stats/live.hpp"

namespace ld::engine {
namespace {

using stats::LiveHistogram;
using testing::run_plan;
using testing::timer_plan;
using testing::TimerTasks;

TEST(LiveHistogramTest, PercentilesWithinThreePercent) {
  std::mt19937_64 rng(7);
  std::lognormal_distribution<double> dist(std::log(20e6), 1.0);  // ~20 ms median
  std::vector<std::int64_t> values;
  LiveHistogram h;
  for (int i = 0; i < 100000; ++i) {
    const auto v = static_cast<std::int64_t>(dist(rng));
    values.push_back(v);
    h.record(v);
  }
  std::sort(values.begin(), values.end());
  for (double p : {50.0, 90.0, 95.0, 99.0, 99.9}) {
    const auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * values.size())) - 1;
    const double exact = static_cast<double>(values[rank]);
    const double got = static_cast<double>(h.percentile(p));
    EXPECT_NEAR(got, exact, exact / 32 + 1000) << "p" << p;
  }
  EXPECT_EQ(h.count(), values.size());
  EXPECT_EQ(h.max_ns(), values.back());
}

TEST(LiveHistogramTest, BucketsTileTheRange) {
  for (std::size_t i = 0; i + 1 < LiveHistogram::kBucketCount; ++i) {
    EXPECT_EQ(LiveHistogram::bucket_lower_us(i) + LiveHistogram::bucket_width_us(i),
              LiveHistogram::bucket_lower_us(i + 1))
        << i;
    const std::int64_t lo_ns = LiveHistogram::bucket_lower_us(i) * 1000;
    EXPECT_EQ(LiveHistogram::bucket_index(lo_ns), i);
  }
  EXPECT_EQ(LiveHistogram::bucket_index(-5), 0u);
  EXPECT_EQ(LiveHistogram::bucket_index(std::int64_t{1} << 62), LiveHistogram::kBucketCount - 1);
}

TEST(LiveHistogramTest, LocustResponseTimesRoundAsLocustDoes) {
  LiveHistogram h;
  h.record(7'200'000);       // 7.2 ms -> 7
  h.record(7'300'000);       // -> 7
  h.record(154'000'000);     // 154 ms -> 150 or 160 (bucket midpoint within 3%)
  h.record(2'340'000'000);   // 2.34 s -> 2300 (or 2400)
  h.record(45'000'000'000);  // 45 s -> 45000 (or a neighbour)
  const auto rt = stats::locust_response_times(h);
  EXPECT_EQ(rt.at(7), 2u);
  std::uint64_t total = 0;
  for (const auto& [ms, n] : rt) {
    total += n;
    if (ms >= 100 && ms < 1000) {
      EXPECT_EQ(ms % 10, 0);
    } else if (ms >= 1000 && ms < 10000) {
      EXPECT_EQ(ms % 100, 0);
    } else if (ms >= 10000) {
      EXPECT_EQ(ms % 1000, 0);
    }
  }
  EXPECT_EQ(total, 5u);
}


// Task 1 always fails with HTTP 500; every operation moves 100 bytes in and 10 out.
class OkAndBadTasks final : public TimerTasks {
 public:
  explicit OkAndBadTasks(NameTable& names) : TimerTasks(names, {{"GET", "/ok"}, {"GET", "/bad"}}) {}

 protected:
  void before_record(WorkerContext&, std::size_t index, stats::Record& r) override {
    r.bytes_in = 100;
    r.bytes_out = 10;
    if (index == 1) r.error = {stats::ErrorKind::kHttpStatus, "HTTP", 500, false};
  }
};

class CountingObserver final : public stats::LiveObserver {
 public:
  void on_interval(const stats::LiveSnapshot& s) override {
    ++calls;
    if (s.final) ++finals;
  }
  int calls = 0, finals = 0;
};

TEST(LiveStatsTest, SnapshotsAreReadFromAnotherThreadDuringARun) {
  NameTable names;
  OkAndBadTasks tasks(names);
  stats::LiveFeed feed;
  CountingObserver observer;
  feed.add_observer(&observer);

  std::atomic<bool> done{false};
  std::vector<std::shared_ptr<const stats::LiveSnapshot>> seen;
  std::thread reader([&] {
    std::uint64_t last = 0;
    while (!done.load()) {
      auto s = feed.latest();
      if (s && s->sequence != last) {
        last = s->sequence;
        seen.push_back(std::move(s));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  RunOutcome out =
      run_plan(timer_plan(4, 3.2), tasks, names, [&](Scheduler& s) { s.set_live_feed(&feed); });
  done.store(true);
  reader.join();

  // The reader saw snapshots while the test ran, in order, with growing totals.
  ASSERT_GE(seen.size(), 2u);
  for (std::size_t i = 1; i < seen.size(); ++i) {
    EXPECT_GT(seen[i]->sequence, seen[i - 1]->sequence);
    EXPECT_GE(seen[i]->total[0].requests, seen[i - 1]->total[0].requests);
  }
  EXPECT_GT(seen.front()->total_requests, 0u) << "the first interval already had requests";
  const auto last = feed.latest();
  ASSERT_TRUE(last);
  EXPECT_TRUE(last->final);
  EXPECT_EQ(observer.finals, 1);
  EXPECT_EQ(static_cast<std::uint64_t>(observer.calls), last->sequence);
  ASSERT_EQ(last->names->size(), 2u);
  EXPECT_EQ(last->names->at(1).second, "/bad");

  // The running totals agree with the run's final metrics, name by name.
  std::uint64_t requests = 0;
  for (const auto& n : out.metrics.names) {
    const std::size_t id = n.name == "/ok" ? 0 : 1;
    EXPECT_EQ(last->total[id].requests, n.requests) << n.name;
    EXPECT_EQ(last->total[id].failures, n.failures) << n.name;
    EXPECT_EQ(last->total[id].bytes_in, n.bytes_in) << n.name;
    EXPECT_EQ(last->total[id].latency.count(), n.requests) << n.name;
    requests += n.requests;
  }
  EXPECT_EQ(last->total_requests, requests);
  EXPECT_EQ(last->total[1].failures, last->total[1].requests);
  EXPECT_EQ(last->total[1].by_kind[static_cast<std::size_t>(stats::ErrorKind::kHttpStatus)],
            last->total[1].requests);
  EXPECT_EQ(last->total[0].failures, 0u);
  // Each operation takes >= 2 ms: the live p50 says so (within the histogram's bound).
  EXPECT_GE(last->total[0].latency.percentile(50), 1'900'000);
}

// The first operation on worker 0 blocks its thread for 2.5 s (a driver without an async API
// called on the worker by mistake); every other operation takes 1 ms.
class BlockingTasks final : public TimerTasks {
 public:
  explicit BlockingTasks(NameTable& names) : TimerTasks(names, {{"GET", "/x"}}, 1) {}
  std::atomic<bool> blocked_once{false};

 protected:
  void before_record(WorkerContext& w, std::size_t, stats::Record&) override {
    if (w.thread_index == 0 && !blocked_once.exchange(true)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2500));
    }
  }
};

class TimingObserver final : public stats::LiveObserver {
 public:
  void on_interval(const stats::LiveSnapshot& s) override {
    at.push_back(steady_now());
    requests.push_back(s.interval_requests);
  }
  std::vector<Nanos> at;
  std::vector<std::uint64_t> requests;
};

TEST(LiveStatsTest, ABlockedWorkerDoesNotFreezeTheControlThread) {
  NameTable names;
  BlockingTasks tasks(names);
  stats::LiveFeed feed;
  TimingObserver observer;
  feed.add_observer(&observer);
  const Nanos start = steady_now();
  RunOutcome out =
      run_plan(timer_plan(4, 4.5), tasks, names, [&](Scheduler& s) { s.set_live_feed(&feed); });

  ASSERT_TRUE(tasks.blocked_once.load());
  EXPECT_LT(observer.at[0] - start, 2 * kNanosPerSecond) << "the first interval came on time";
  ASSERT_GE(observer.at.size(), 5u);
  // Intervals kept coming while worker 0 was blocked for 2.5 s (a blocking hand-off would
  // have left a gap of 2.5 s), and worker 1's requests were counted in them.
  for (std::size_t i = 1; i + 1 < observer.at.size(); ++i) {
    EXPECT_LT(observer.at[i] - observer.at[i - 1], 2 * kNanosPerSecond) << "interval " << i;
  }
  EXPECT_GT(observer.requests[0], 0u);
  EXPECT_GT(observer.requests[1], 0u);
  // Nothing was lost: the live totals agree with the run's metrics.
  const auto last = feed.latest();
  ASSERT_EQ(out.metrics.names.size(), 1u);
  EXPECT_EQ(last->total[0].requests, out.metrics.names[0].requests);
}

TEST(LiveStatsTest, AnExternalTargetSetsTheUserCountWhileTheTestRuns) {
  NameTable names;
  OkAndBadTasks tasks(names);
  ExternalUserTarget target;
  target.users = 2;
  target.spawn_rate = 1000;
  stats::LiveFeed feed;
  std::vector<std::uint32_t> users;
  class Users final : public stats::LiveObserver {
   public:
    Users(std::vector<std::uint32_t>& u, ExternalUserTarget& t) : u_(u), t_(t) {}
    void on_interval(const stats::LiveSnapshot& s) override {
      u_.push_back(s.users);
      if (s.sequence == 1) t_.users = 5;   // the master asks for more
      if (s.sequence == 2) t_.users = 50;  // more than user_count: capped at 8
    }

   private:
    std::vector<std::uint32_t>& u_;
    ExternalUserTarget& t_;
  } observer(users, target);
  feed.add_observer(&observer);
  run_plan(timer_plan(8 /* the ceiling */, 3.2), tasks, names, [&](Scheduler& s) {
    s.set_external_target(&target);
    s.set_live_feed(&feed);
  });
  ASSERT_GE(users.size(), 3u);
  EXPECT_EQ(users[0], 2u);
  EXPECT_EQ(users[1], 5u);
  EXPECT_EQ(users[2], 8u);
}

// A protocol that uses every lifecycle step and counts them.
class LifecycleTasks final : public TimerTasks {
 public:
  enum class Drain { kQuick, kHang, kBlockThread };
  explicit LifecycleTasks(NameTable& names, Drain drain = Drain::kQuick)
      : TimerTasks(names, {{"LC", "op"}}), flush_id_(names.intern("LC", "flush")), drain_(drain) {}

  struct WorkerState {
    unsigned thread = 0;
    std::atomic<int> users{0};
  };
  void start_run(unsigned threads) override {
    ++starts;
    run_threads = threads;
  }
  std::shared_ptr<void> new_worker_state(WorkerContext& w) override {
    ++worker_states;
    auto s = std::make_shared<WorkerState>();
    s->thread = w.thread_index;
    return s;
  }
  net::awaitable<void> drain_worker(WorkerContext& w, Nanos deadline) override {
    auto* s = static_cast<WorkerState*>(w.worker_state);
    if (s && s->thread == w.thread_index) ++drains_with_state;
    ++drains;
    drained_after_users_ended += s && s->users.load() == 0 ? 1 : 0;
    if (drain_ == Drain::kBlockThread && w.thread_index == 0) {
      std::this_thread::sleep_for(std::chrono::seconds(5));  // a flush that blocks its thread
    }
    net::steady_timer t(w.io);
    t.expires_after(drain_ == Drain::kHang ? std::chrono::hours(1) : std::chrono::milliseconds(20));
    boost::system::error_code ec;
    co_await t.async_wait(net::redirect_error(net::use_awaitable, ec));
    stats::Record flush;  // a flush's outcome counts in the run's results
    flush.name_id = flush_id_;
    flush.planned = flush.start = steady_now();
    flush.end = steady_now();
    w.record(flush);
  }
  void end_run() noexcept override { ++ends; }

  std::atomic<int> starts{0}, worker_states{0}, drains{0}, drains_with_state{0}, ends{0};
  std::atomic<int> drained_after_users_ended{0}, wrong_state{0};
  unsigned run_threads = 0;

 protected:
  void user_started(WorkerContext& w) override {
    auto* s = static_cast<WorkerState*>(w.worker_state);
    if (!s || s->thread != w.thread_index) ++wrong_state;
    if (s) ++s->users;
  }
  void user_ended(WorkerContext& w) override {
    if (auto* s = static_cast<WorkerState*>(w.worker_state)) --s->users;
  }

 private:
  std::uint32_t flush_id_;
  Drain drain_;
};

TEST(LifecycleTest, RunWorkerAndDrainStepsInOrder) {
  NameTable names;
  LifecycleTasks tasks(names);
  RunOutcome out = run_plan(timer_plan(6, 1), tasks, names);
  EXPECT_EQ(tasks.starts, 1);
  EXPECT_EQ(tasks.run_threads, 2u);
  EXPECT_EQ(tasks.worker_states, 2);  // one per worker, before its first user
  EXPECT_EQ(tasks.wrong_state, 0);    // every user saw its own worker's state
  EXPECT_EQ(tasks.drains, 2);
  EXPECT_EQ(tasks.drains_with_state, 2);
  EXPECT_EQ(tasks.drained_after_users_ended, 2);
  EXPECT_EQ(tasks.ends, 1);
  std::uint64_t flushes = 0;
  for (const auto& n : out.metrics.names) {
    if (n.name == "flush") flushes = n.requests;
  }
  EXPECT_EQ(flushes, 2u) << "records made while draining count";
}

TEST(LifecycleTest, ADrainThatNeverEndsIsCutAtItsTimeout) {
  NameTable names;
  LifecycleTasks tasks(names, LifecycleTasks::Drain::kHang);
  const Nanos start = steady_now();
  run_plan(timer_plan(6, 1), tasks, names);
  const Nanos took = steady_now() - start;
  EXPECT_EQ(tasks.drains, 2);
  EXPECT_EQ(tasks.ends, 1);
  // 1 s test + the drain timeout (5 s) + a second of slack; not the drain's hour.
  EXPECT_LT(took, 1 * kNanosPerSecond + kDrainTimeout + 3 * kNanosPerSecond);
}

TEST(LifecycleTest, AWorkerBlockedInItsDrainIsAbandonedWhenTheSchedulerSharesTheRun) {
  auto names = std::make_shared<NameTable>();
  auto tasks = std::make_shared<LifecycleTasks>(*names, LifecycleTasks::Drain::kBlockThread);
  const Nanos start = steady_now();
  RunOutcome out = run_plan_shared(timer_plan(6, 1), tasks, names);
  const Nanos took = steady_now() - start;
  // 1 s test, then worker 0 blocks in its drain for 5 s: it is left behind once it has not
  // come back to its event loop for Scheduler::kStuckAfter (1 s), not waited for.
  EXPECT_LT(took, 4 * kNanosPerSecond);
  EXPECT_EQ(out.stop_reason, "test_time");
  EXPECT_GT(out.metrics.requests(), 0u);
  EXPECT_EQ(tasks->ends, 0) << "end_run waits for the abandoned worker";
  const Nanos wait_until = steady_now() + 10 * kNanosPerSecond;
  while (abandoned_workers() > 0 && steady_now() < wait_until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(abandoned_workers(), 0u);
  EXPECT_EQ(tasks->drains, 2);
  EXPECT_EQ(tasks->ends, 1);  // called by the worker's thread as it let go of the run
}

}  // namespace
}  // namespace ld::engine
