#pragma once
// The control thread's decisions, apart from the workers: how many closed-model users should
// run (a UserDriver), when the test stops (a list of StopConditions, checked in order) and how
// time passes (an injected Clock). The Scheduler runs a ControlLoop over real workers and the
// steady clock; tests run the same loop over a simulated clock and fake workers, so stop
// conditions, shape transitions and the failure budget are exercised without sleeping.
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/pacing.hpp"
#include "loaddensity/core/clock.hpp"

namespace ld::engine {

// LD_install_failure_budget: stop when the failure rate over the sliding window breaches.
struct FailureBudget {
  double threshold = 0.05;
  double window_s = 30;
  std::uint64_t min_samples = 50;
};

// A closed-model user count set from outside while the test runs (the Locust worker's
// master says "spawn N users at rate R"). Any thread may store; the control loop reads it
// every tick. Ignored by the open model and by load shapes. `stop` ends the test gracefully
// (stop reason "stopped_by_master"), like test_time would.
struct ExternalUserTarget {
  std::atomic<std::uint32_t> users{0};
  std::atomic<double> spawn_rate{1};
  std::atomic<bool> stop{false};
};

// How many closed-model users should run now, and how fast new ones start.
struct UserTarget {
  std::uint32_t users = 0;
  double spawn_rate = 1;
};

// Decides the closed model's user count over the test's life. nullopt: the driver has ended
// (a load shape's last stage is over) and the test stops with reason "load_shape".
class UserDriver {
 public:
  virtual ~UserDriver() = default;
  virtual std::optional<UserTarget> target(double elapsed_s) = 0;
  // False for the open model, whose workers start users themselves.
  virtual bool starts_users() const noexcept { return true; }
};

// A fixed count and spawn rate (plain closed model).
std::unique_ptr<UserDriver> closed_users(std::uint32_t users, double spawn_rate);
// A load shape's stages, capped at `cap` users.
std::unique_ptr<UserDriver> shaped_users(const LoadShape& shape, std::uint32_t cap);
// Whatever another thread stores in `target` (a Locust master through its worker), capped.
std::unique_ptr<UserDriver> external_users(const ExternalUserTarget& target, std::uint32_t cap);
// Open model: users are started by the workers' pacers, the control thread starts none.
std::unique_ptr<UserDriver> paced_users();

// Requests and failures the workers reported over one interval.
struct IntervalCounts {
  std::uint64_t requests = 0;
  std::uint64_t failures = 0;
};

// One reason to stop. `check` runs every tick of the control loop; `on_interval` once per
// collected interval. Each returns the stop reason, or "" to go on.
class StopCondition {
 public:
  virtual ~StopCondition() = default;
  virtual std::string check(Nanos now) { return {}; }
  virtual std::string on_interval(const IntervalCounts&) { return {}; }
  // The time at which `check` will next fire on its own (0: none); the loop wakes for it.
  virtual Nanos deadline() const noexcept { return 0; }
};
using StopConditions = std::vector<std::unique_ptr<StopCondition>>;

// "interrupted" once `flag` is true.
std::unique_ptr<StopCondition> stop_on_interrupt(const std::atomic<bool>& flag);
// `reason` once `flag` is true (the external target's stop).
std::unique_ptr<StopCondition> stop_on_flag(const std::atomic<bool>& flag, std::string reason);
// `reason` at `at` (test_time, the open model's schedule end, hard_timeout).
std::unique_ptr<StopCondition> stop_at(Nanos at, std::string reason);
// "failure_budget: ..." when the failure rate over the last window_s intervals breaches.
std::unique_ptr<StopCondition> stop_on_failure_budget(const FailureBudget& budget);

// What the control loop asks of the workers.
struct ControlHooks {
  // Closed model, every tick: users with id < `users` may run (the others end after their
  // iteration); start up to `max_new` (maybe 0) of those not running. Returns how many started.
  std::function<std::uint32_t(std::uint32_t users, std::uint32_t max_new)> spawn;
  // Ends an interval at `now` (collect, publish); returns what the interval counted.
  std::function<IntervalCounts(Nanos now)> collect;
};

class ControlLoop {
 public:
  static constexpr Nanos kTick = 20 * kNanosPerMilli;
  static constexpr Nanos kInterval = kNanosPerSecond;

  // `user_cap`: the most users the run may have (spawn allowance is capped just above it).
  ControlLoop(const Clock& clock, Nanos t0, std::uint32_t user_cap,
              std::unique_ptr<UserDriver> driver, StopConditions stops, ControlHooks hooks)
      : clock_(clock),
        t0_(t0),
        user_cap_(user_cap),
        driver_(std::move(driver)),
        stops_(std::move(stops)),
        hooks_(std::move(hooks)),
        last_tick_(t0) {}

  // Runs until a stop condition fires or the driver ends; returns the reason.
  std::string run();

  // The closed model's current user target (what the driver said last).
  std::uint32_t target_users() const noexcept { return target_; }

 private:
  const Clock& clock_;
  Nanos t0_;
  std::uint32_t user_cap_;
  std::unique_ptr<UserDriver> driver_;
  StopConditions stops_;
  ControlHooks hooks_;
  std::uint32_t target_ = 0;
  double spawn_allowance_ = 1;  // the first user starts at once
  Nanos last_tick_ = 0;
};

}  // namespace ld::engine
