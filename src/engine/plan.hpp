#pragma once
// LD_start_test arguments -> a checked PlanConfig. All defaults are the original's
// (user_count 50, spawn_rate 10, test_time 60), except that there is no hidden wait between
// iterations: `wait_time` in user_detail_dict adds one.
#include <cstdint>
#include <string>
#include <vector>

#include <optional>

#include "core/json_util.hpp"
#include "engine/pacing.hpp"

namespace ld::engine {

struct WaitTime {
  double min_s = 0;  // seconds
  double max_s = 0;
  bool enabled() const noexcept { return max_s > 0; }
};

enum class ScenarioMode { kSequence, kWeighted, kConditional };

// Closed: a fixed (or shaped) number of users loop. Open: iterations start at planned times.
enum class LoadModel { kClosed, kOpen };

struct PlanConfig {
  std::string user_type;      // user_detail_dict["user"]
  std::uint32_t users = 50;
  double spawn_rate = 10;     // users started per second
  double test_time_s = 60;    // <= 0: until interrupted
  unsigned threads = 0;       // worker threads; 0 = one per core
  WaitTime wait;
  std::string host;           // base URL for relative task URLs
  ScenarioMode mode = ScenarioMode::kSequence;
  std::vector<Json> tasks;    // normalised task objects (placeholders unresolved)
  std::vector<std::uint32_t> weights;  // per task, for kWeighted
  std::vector<Json> flow;              // per task: run_if, skip_if, think_time, throttle, retry
  std::vector<std::string> task_pointers;  // JSON pointer of each task in the arguments

  LoadModel model = LoadModel::kClosed;
  std::optional<LoadShape> shape;      // closed model with a load_shape
  std::optional<Pacer> pacer;          // open model
  std::uint32_t max_backlog = 0;       // open model: iterations that may wait for a user
  double hard_timeout_s = 0;           // watchdog: 0 = none
  // After test_time, how long in-flight operations may still finish before they are abandoned
  // and recorded as `aborted` (k6's gracefulStop; its default).
  double graceful_stop_s = 30;
  std::string load_shape;              // as given ("" = plain closed model)
  bool test_time_explicit = true;      // false: test_time was left at its default
  std::uint64_t seed = 0;              // per-user random streams derive from it
};

// Throws ConfigError with a pointer relative to the LD_start_test arguments object.
PlanConfig parse_plan(const Json& args);

// `tasks` as a list, {"mode": ..., "tasks": [...]}, or the legacy {"get": {...}} dict.
// Returns the list; sets `mode`. Pointers in errors are relative to `tasks`.
std::vector<Json> normalize_tasks(const Json& tasks, ScenarioMode& mode);

}  // namespace ld::engine
