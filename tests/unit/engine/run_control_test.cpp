// The control loop on simulated time: stop conditions (test_time, hard_timeout, interrupt,
// failure budget), user drivers (closed, shaped, external, paced) and shape transitions run
// against a ManualClock and fake workers, so a "30 s" test takes microseconds and every
// moment is exact.
#include "engine/run_control.hpp"

#include <gtest/gtest.h>

#include <map>

namespace ld::engine {
namespace {

constexpr Nanos kT0 = 10 * kNanosPerSecond;
constexpr Nanos kS = kNanosPerSecond;

// Fake workers: users start at once and never end on their own; each interval reports what
// `intervals` says (the last entry repeats).
struct FakeWorkers {
  std::uint32_t running = 0;
  std::vector<IntervalCounts> intervals{{0, 0}};
  std::vector<Nanos> collected_at;
  std::map<Nanos, std::uint32_t> target_at;  // the driver's target at each tick
  std::uint32_t spawn_calls = 0;
  const ManualClock* clock = nullptr;
  std::function<void()> on_collect;

  ControlHooks hooks() {
    ControlHooks h;
    h.spawn = [this](std::uint32_t target, std::uint32_t max_new) {
      ++spawn_calls;
      target_at[clock->now() - kT0] = target;
      if (running > target) running = target;  // users past the limit end
      const std::uint32_t n = std::min(max_new, target - running);
      running += n;
      return n;
    };
    h.collect = [this](Nanos now) {
      collected_at.push_back(now - kT0);
      if (on_collect) on_collect();
      const std::size_t i = std::min(collected_at.size() - 1, intervals.size() - 1);
      return intervals[i];
    };
    return h;
  }
};

struct LoopEnd {
  std::string reason;
  Nanos ended_at = 0;  // since t0
};

LoopEnd run_loop(ManualClock& clock, FakeWorkers& w, std::unique_ptr<UserDriver> driver,
                 StopConditions stops, std::uint32_t cap = 1000) {
  w.clock = &clock;
  ControlLoop loop(clock, kT0, cap, std::move(driver), std::move(stops), w.hooks());
  LoopEnd r;
  r.reason = loop.run();
  r.ended_at = clock.now() - kT0;
  return r;
}

TEST(ControlLoopTest, TestTimeStopsExactlyAtItsDeadline) {
  ManualClock clock(kT0);
  FakeWorkers w;
  std::atomic<bool> interrupt{false};
  StopConditions stops;
  stops.push_back(stop_on_interrupt(interrupt));
  stops.push_back(stop_at(kT0 + 30 * kS, "test_time"));
  const LoopEnd r = run_loop(clock, w, closed_users(10, 5), std::move(stops));
  EXPECT_EQ(r.reason, "test_time");
  EXPECT_EQ(r.ended_at, 30 * kS);
  // One interval a second, on the second; the one due at the deadline is not taken.
  ASSERT_EQ(w.collected_at.size(), 29u);
  for (std::size_t i = 0; i < w.collected_at.size(); ++i) {
    EXPECT_EQ(w.collected_at[i], static_cast<Nanos>(i + 1) * kS);
  }
  // 5 users a second after the first, who starts at once: all 10 by 1.8 s.
  EXPECT_EQ(w.running, 10u);
}

TEST(ControlLoopTest, SpawnRateIsKeptOnSimulatedTime) {
  ManualClock clock(kT0);
  FakeWorkers w;
  std::map<Nanos, std::uint32_t> running_at;
  w.on_collect = [&] { running_at[clock.now() - kT0] = w.running; };
  StopConditions stops;
  stops.push_back(stop_at(kT0 + 5 * kS, "test_time"));
  run_loop(clock, w, closed_users(100, 10), std::move(stops));
  // 1 at once, then 10 a second (the allowance is a sum of 20 ms steps: +-1 for rounding).
  EXPECT_NEAR(running_at[1 * kS], 11, 1);
  EXPECT_NEAR(running_at[2 * kS], 21, 1);
  EXPECT_NEAR(running_at[4 * kS], 41, 1);
}

TEST(ControlLoopTest, HardTimeoutBeforeTestTimeWins) {
  ManualClock clock(kT0);
  FakeWorkers w;
  std::atomic<bool> interrupt{false};
  StopConditions stops;
  stops.push_back(stop_on_interrupt(interrupt));
  stops.push_back(stop_at(kT0 + 2 * kS + 500 * kNanosPerMilli, "hard_timeout"));
  stops.push_back(stop_at(kT0 + 60 * kS, "test_time"));
  const LoopEnd r = run_loop(clock, w, closed_users(4, 100), std::move(stops));
  EXPECT_EQ(r.reason, "hard_timeout");
  EXPECT_EQ(r.ended_at, 2 * kS + 500 * kNanosPerMilli);
  EXPECT_EQ(w.collected_at.size(), 2u);
}

TEST(ControlLoopTest, AnInterruptStopsAtTheNextTick) {
  ManualClock clock(kT0);
  FakeWorkers w;
  std::atomic<bool> interrupt{false};
  w.on_collect = [&] {
    if (w.collected_at.size() == 3) interrupt = true;
  };
  StopConditions stops;
  stops.push_back(stop_on_interrupt(interrupt));
  stops.push_back(stop_at(kT0 + 60 * kS, "test_time"));
  const LoopEnd r = run_loop(clock, w, closed_users(4, 100), std::move(stops));
  EXPECT_EQ(r.reason, "interrupted");
  EXPECT_EQ(r.ended_at, 3 * kS + ControlLoop::kTick);
}

// test_time at `end`, then a failure budget over a 2 s window of at least 50 requests.
StopConditions budget_stops(double threshold, Nanos end) {
  FailureBudget b;
  b.threshold = threshold;
  b.window_s = 2;
  b.min_samples = 50;
  StopConditions stops;
  stops.push_back(stop_at(kT0 + end, "test_time"));
  stops.push_back(stop_on_failure_budget(b));
  return stops;
}

TEST(ControlLoopTest, FailureBudgetBreachesOverItsWindow) {
  ManualClock clock(kT0);
  FakeWorkers w;
  // Three clean seconds, then 60% failures: a 2 s window breaches on the second bad second.
  w.intervals = {{100, 0}, {100, 0}, {100, 0}, {100, 60}};
  const LoopEnd r = run_loop(clock, w, closed_users(4, 100), budget_stops(0.5, 60 * kS));
  EXPECT_EQ(r.ended_at, 5 * kS);
  EXPECT_EQ(r.reason,
            "failure_budget: failure rate 0.600 > 0.500 over the last 2 s (200 requests)");
}

TEST(ControlLoopTest, FailureBudgetWaitsForItsMinimumSamples) {
  ManualClock clock(kT0);
  FakeWorkers w;
  w.intervals = {{10, 10}};  // all failing, but 20 requests per 2 s window < 50
  EXPECT_EQ(run_loop(clock, w, closed_users(4, 100), budget_stops(0.1, 20 * kS)).reason,
            "test_time");
}

TEST(ControlLoopTest, ShapeStagesChangeTheTargetAndEndTheTest) {
  ManualClock clock(kT0);
  FakeWorkers w;
  const LoadShape shape = LoadShape::make(
      "stages", Json::parse(R"({"stages": [{"duration": 10, "users": 5, "spawn_rate": 100},
                                           {"duration": 20, "users": 20, "spawn_rate": 100},
                                           {"duration": 25, "users": 2, "spawn_rate": 100}]})"));
  const LoopEnd r = run_loop(clock, w, shaped_users(shape, 8), {});
  EXPECT_EQ(r.reason, "load_shape");
  EXPECT_EQ(r.ended_at, 25 * kS);  // the shape's own end: no test_time needed
  EXPECT_EQ(w.target_at.at(0), 5u);
  EXPECT_EQ(w.target_at.at(10 * kS - ControlLoop::kTick), 5u);
  EXPECT_EQ(w.target_at.at(10 * kS), 8u);  // 20 capped at user_count
  EXPECT_EQ(w.target_at.at(20 * kS), 2u);
  EXPECT_EQ(w.running, 2u);  // users past the new limit ended
}

TEST(ControlLoopTest, AnExternalTargetIsFollowedAtTheNextTick) {
  ManualClock clock(kT0);
  FakeWorkers w;
  ExternalUserTarget target;
  target.users = 3;
  target.spawn_rate = 1000;
  w.on_collect = [&] {
    if (w.collected_at.size() == 2) target.users = 50;  // capped at 6
  };
  StopConditions stops;
  stops.push_back(stop_at(kT0 + 4 * kS, "test_time"));
  run_loop(clock, w, external_users(target, 6), std::move(stops), 6);
  EXPECT_EQ(w.target_at.at(2 * kS), 3u);  // the tick that collected still spawned first
  EXPECT_EQ(w.target_at.at(2 * kS + ControlLoop::kTick), 6u);
  EXPECT_EQ(w.running, 6u);
}

TEST(ControlLoopTest, AnExternalStopEndsTheRunWithItsReason) {
  // A Locust master's stop/quit: the RPC thread raises the target's flag; with no test_time
  // the run ends at the next tick with the flag's reason.
  ManualClock clock(kT0);
  FakeWorkers w;
  ExternalUserTarget target;
  target.users = 2;
  target.spawn_rate = 1e9;
  w.on_collect = [&] {
    if (w.collected_at.size() == 5) target.stop = true;
  };
  StopConditions stops;
  stops.push_back(stop_on_flag(target.stop, "stopped_by_master"));
  const LoopEnd r = run_loop(clock, w, external_users(target, 10), std::move(stops));
  EXPECT_EQ(r.reason, "stopped_by_master");
  EXPECT_EQ(r.ended_at, 5 * kS + ControlLoop::kTick);
  EXPECT_EQ(w.running, 2u);
}

TEST(ControlLoopTest, TheOpenModelStartsNoUsersFromTheControlThread) {
  ManualClock clock(kT0);
  FakeWorkers w;
  StopConditions stops;
  stops.push_back(stop_at(kT0 + 3 * kS, "test_time"));
  EXPECT_EQ(run_loop(clock, w, paced_users(), std::move(stops)).reason, "test_time");
  EXPECT_EQ(w.spawn_calls, 0u);
  EXPECT_EQ(w.collected_at.size(), 2u);
}

}  // namespace
}  // namespace ld::engine
