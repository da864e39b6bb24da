#pragma once
// Load models, as pure functions of time so they are table-tested without a clock.
//
//  - LoadShape (closed model): how many users should run at `elapsed`, and how fast to start
//    them (Locust's shape ticks): "stages", "spike", "soak" with the original's shape_config.
//  - Pacer (open model): when the k-th iteration is planned. Constant rate, or piecewise-linear
//    ramps between rates (k6's ramping-arrival-rate). Absolute times: no drift.
//  - Sequencer (open model, per worker): who runs an iteration that is due: an idle user, a new
//    user (up to max_users), a backlog slot (up to max_backlog), or nobody (dropped).
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "core/json_util.hpp"
#include "loaddensity/core/clock.hpp"

namespace ld::engine {

struct ShapeTick {
  std::uint32_t users = 0;
  double spawn_rate = 1;
};

class LoadShape {
 public:
  // Throws ConfigError (pointer relative to shape_config) for bad configs; `name` is
  // "stages" | "spike" | "soak".
  static LoadShape make(const std::string& name, const Json& config);
  // nullopt: the shape is over and the test stops.
  std::optional<ShapeTick> tick(double elapsed_s) const;
  std::uint32_t max_users() const noexcept { return max_users_; }
  double duration_s() const noexcept { return duration_s_; }

 private:
  enum class Kind { kStages, kSpike, kSoak } kind_ = Kind::kStages;
  struct Stage {
    double end_s;
    std::uint32_t users;
    double spawn_rate;
  };
  std::vector<Stage> stages_;  // kStages
  // spike / soak parameters
  std::uint32_t a_ = 0, b_ = 0;
  double rate_ = 1, p1_ = 0, p2_ = 0, p3_ = 0;
  std::uint32_t max_users_ = 0;
  double duration_s_ = 0;
};

struct RateStage {
  double duration_s = 0;
  double rate = 0;  // iterations/s reached at the end of the stage (linear ramp)
};

class Pacer {
 public:
  static Pacer constant(double rate, double duration_s);
  static Pacer ramping(double start_rate, std::vector<RateStage> stages);

  // Nanoseconds after the start at which iteration `hit` (0-based) is planned; nullopt when
  // the schedule ends before it.
  std::optional<Nanos> hit_time(std::uint64_t hit) const;
  struct Pace {
    Nanos wait = 0;
    bool stop = false;
  };
  // vegeta's interface: given the time since start and the hits so far, how long to wait.
  Pace pace(Nanos elapsed, std::uint64_t hits) const;
  double duration_s() const noexcept;
  double total_hits() const noexcept;  // iterations the whole schedule plans

 private:
  struct Segment {
    double start_s, duration_s, r0, r1, hits_before;
  };
  std::vector<Segment> segments_;
};

class Sequencer {
 public:
  Sequencer(std::uint32_t max_users, std::uint32_t max_backlog)
      : max_users_(max_users), max_backlog_(max_backlog) {}

  enum class Kind { kAssign, kSpawn, kQueue, kDrop };
  struct Decision {
    Kind kind;
    std::uint32_t user = 0;  // kAssign: the idle user to wake; kSpawn: the new user's id
  };
  // An iteration planned at `planned` is due.
  Decision due(Nanos planned);
  // `user` finished an iteration: the queued iteration it runs next, or nullopt (idle).
  std::optional<Nanos> release(std::uint32_t user);

  std::uint32_t users() const noexcept { return users_; }
  std::size_t backlog() const noexcept { return backlog_.size(); }
  std::size_t idle() const noexcept { return idle_.size(); }
  std::uint64_t queued() const noexcept { return queued_; }
  std::uint64_t dropped() const noexcept { return dropped_; }

 private:
  std::uint32_t max_users_;
  std::uint32_t max_backlog_;
  std::uint32_t users_ = 0;
  std::vector<std::uint32_t> idle_;
  std::deque<Nanos> backlog_;
  std::uint64_t queued_ = 0;
  std::uint64_t dropped_ = 0;
};

}  // namespace ld::engine
