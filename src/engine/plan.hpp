#pragma once
// LD_start_test arguments -> a checked PlanConfig. All defaults are the original's
// (user_count 50, spawn_rate 10, test_time 60), except that there is no hidden wait between
// iterations: `wait_time` in user_detail_dict adds one.
#include <cstdint>
#include <string>
#include <vector>

#include "core/json_util.hpp"

namespace ld::engine {

struct WaitTime {
  double min_s = 0;  // seconds
  double max_s = 0;
  bool enabled() const noexcept { return max_s > 0; }
};

enum class ScenarioMode { kSequence, kWeighted };

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
};

// Throws ConfigError with a pointer relative to the LD_start_test arguments object.
PlanConfig parse_plan(const Json& args);

// `tasks` as a list, {"mode": ..., "tasks": [...]}, or the legacy {"get": {...}} dict.
// Returns the list; sets `mode`. Pointers in errors are relative to `tasks`.
std::vector<Json> normalize_tasks(const Json& tasks, ScenarioMode& mode);

}  // namespace ld::engine
