#pragma once
// Runs one test: N worker threads, one io_context each; every virtual user is a coroutine that
// lives on one worker for its whole life. The calling (control) thread spawns users at
// spawn_rate, collects one interval snapshot per second from every worker (through the worker's
// own io_context, so the workers never lock), drives the progress line and decides when to stop.
#include <atomic>
#include <string>

#include "engine/plan.hpp"
#include "engine/progress.hpp"
#include "engine/protocol.hpp"
#include "loaddensity/stats/metrics.hpp"

namespace ld::stats {
class RecordLogRun;
}

namespace ld::engine {

struct RunOutcome {
  stats::Metrics metrics;   // this run only
  std::string stop_reason;  // "test_time", "interrupted"
};

class Scheduler {
 public:
  Scheduler(const PlanConfig& plan, CompiledTasks& tasks, const NameTable& names)
      : plan_(plan), tasks_(tasks), names_(names) {}

  // Blocks until the test ends. `interrupt` is polled; when it becomes true the test stops at
  // once and in-flight operations are abandoned (not recorded).
  RunOutcome run(const std::atomic<bool>& interrupt, ProgressSink* progress);

  // Per-request records of this run also go to `log` (one writer per worker thread).
  void set_record_log(stats::RecordLogRun* log) noexcept { record_log_ = log; }

 private:
  const PlanConfig& plan_;
  CompiledTasks& tasks_;
  const NameTable& names_;
  stats::RecordLogRun* record_log_ = nullptr;
};

}  // namespace ld::engine
