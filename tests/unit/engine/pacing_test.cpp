#include "engine/pacing.hpp"

#include <gtest/gtest.h>

#include "loaddensity/core/error.hpp"

using namespace ld;
using namespace ld::engine;

TEST(Pacer, ConstantRateHasAbsoluteScheduleWithoutDrift) {
  const Pacer p = Pacer::constant(100, 10);  // 100/s for 10 s
  EXPECT_EQ(*p.hit_time(0), 0);
  EXPECT_EQ(*p.hit_time(1), 10'000'000);
  EXPECT_EQ(*p.hit_time(999), 9'990'000'000);
  EXPECT_FALSE(p.hit_time(1001).has_value());
  EXPECT_DOUBLE_EQ(p.total_hits(), 1000);
  // pace(): wait until the next planned time; nothing to wait for when behind.
  EXPECT_EQ(p.pace(0, 0).wait, 0);
  EXPECT_EQ(p.pace(5'000'000, 1).wait, 5'000'000);
  EXPECT_EQ(p.pace(50'000'000, 2).wait, 0);
  EXPECT_TRUE(p.pace(11'000'000'000, 1001).stop);
}

TEST(Pacer, RampingRateIntegratesTheRate) {
  // 0 -> 100/s over 10 s (500 iterations), then 100/s for 5 s (500 more).
  const Pacer p = Pacer::ramping(0, {{10, 100}, {5, 100}});
  EXPECT_DOUBLE_EQ(p.total_hits(), 1000);
  EXPECT_DOUBLE_EQ(p.duration_s(), 15);
  struct Row {
    std::uint64_t hit;
    double t;
  };
  // Integral of 10*t up to T is 5*T^2 = k  =>  T = sqrt(k/5).
  for (const Row& r : {Row{0, 0}, Row{5, 1}, Row{20, 2}, Row{125, 5}, Row{500, 10}, Row{750, 12.5}}) {
    ASSERT_TRUE(p.hit_time(r.hit).has_value()) << r.hit;
    EXPECT_NEAR(static_cast<double>(*p.hit_time(r.hit)) / 1e9, r.t, 1e-6) << "hit " << r.hit;
  }
  // Ramping down: 100 -> 0 over 2 s plans 100 iterations, denser at the start.
  const Pacer down = Pacer::ramping(100, {{2, 0}});
  EXPECT_DOUBLE_EQ(down.total_hits(), 100);
  EXPECT_LT(*down.hit_time(50), 1'000'000'000);
}

TEST(LoadShape, StagesAreCumulative) {
  const LoadShape s = LoadShape::make(
      "stages", Json::parse(R"({"stages": [{"duration": 10, "users": 5, "spawn_rate": 2},
                                          {"duration": 20, "users": 20}]})"));
  EXPECT_EQ(s.tick(0)->users, 5u);
  EXPECT_DOUBLE_EQ(s.tick(9.9)->spawn_rate, 2);
  EXPECT_EQ(s.tick(10)->users, 20u);
  EXPECT_DOUBLE_EQ(s.tick(15)->spawn_rate, 1);  // default
  EXPECT_FALSE(s.tick(20).has_value());
  EXPECT_EQ(s.max_users(), 20u);
}

TEST(LoadShape, SpikeAndSoakFollowTheOriginal) {
  const LoadShape spike = LoadShape::make(
      "spike", Json::parse(R"({"baseline_users": 2, "spike_users": 10, "pre_seconds": 1,
                               "spike_seconds": 2, "post_seconds": 1})"));
  EXPECT_EQ(spike.tick(0.5)->users, 2u);
  EXPECT_EQ(spike.tick(1.5)->users, 10u);
  EXPECT_EQ(spike.tick(3.5)->users, 2u);
  EXPECT_FALSE(spike.tick(4.1));
  const LoadShape soak = LoadShape::make(
      "soak", Json::parse(R"({"users": 100, "ramp_seconds": 10, "hold_seconds": 10,
                              "cooldown_seconds": 10})"));
  EXPECT_EQ(soak.tick(0)->users, 1u);   // max(1, ...)
  EXPECT_EQ(soak.tick(5)->users, 50u);
  EXPECT_EQ(soak.tick(15)->users, 100u);
  EXPECT_EQ(soak.tick(25)->users, 50u);
  EXPECT_DOUBLE_EQ(soak.tick(0)->spawn_rate, 10);  // users // 10
  EXPECT_FALSE(soak.tick(30));
}

TEST(LoadShape, BadConfigsNameTheKey) {
  try {
    LoadShape::make("ramp", Json::object());
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown load shape: 'ramp'"), std::string::npos);
  }
  try {
    LoadShape::make("stages", Json::parse(R"({"stages": [{"duration": 5, "users": 1},
                                                        {"duration": 3, "users": 2}]})"));
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.pointer(), "/stages/1/duration");
  }
  try {
    LoadShape::make("spike", Json::parse(R"({"spike_user": 3})"));
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.pointer(), "/spike_user");
  }
}

TEST(Sequencer, SaturatedUsersAreCountedAsBlockedThenDropped) {
  Sequencer s(/*max_users=*/2, /*max_backlog=*/2);
  // Two iterations due: each creates a user.
  EXPECT_EQ(s.due(0).kind, Sequencer::Kind::kSpawn);
  EXPECT_EQ(s.due(10).kind, Sequencer::Kind::kSpawn);
  // Both busy: the next two wait in the backlog, the fifth is dropped.
  EXPECT_EQ(s.due(20).kind, Sequencer::Kind::kQueue);
  EXPECT_EQ(s.due(30).kind, Sequencer::Kind::kQueue);
  EXPECT_EQ(s.due(40).kind, Sequencer::Kind::kDrop);
  EXPECT_EQ(s.queued(), 2u);
  EXPECT_EQ(s.dropped(), 1u);
  // User 0 finishes: it takes the oldest waiting iteration, in planned order.
  EXPECT_EQ(s.release(0), std::optional<Nanos>(20));
  EXPECT_EQ(s.release(1), std::optional<Nanos>(30));
  // Nothing waits any more: users go idle and are reused before new ones are created.
  EXPECT_FALSE(s.release(0).has_value());
  EXPECT_EQ(s.idle(), 1u);
  const auto d = s.due(50);
  EXPECT_EQ(d.kind, Sequencer::Kind::kAssign);
  EXPECT_EQ(d.user, 0u);
  EXPECT_EQ(s.users(), 2u);
}
