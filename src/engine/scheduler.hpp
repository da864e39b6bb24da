#pragma once
// Runs one test: N worker threads, one io_context each; every virtual user is a coroutine that
// lives on one worker for its whole life. The calling (control) thread starts users (closed
// model, shaped or not), collects one interval snapshot per second from every worker (through
// the worker's own io_context, so the workers never lock), drives the progress line, applies
// the failure budget and the watchdog, and decides when to stop. In the open model each worker
// runs its share of the pacer's schedule and hands due iterations to its users.
#include <atomic>
#include <memory>
#include <optional>
#include <string>

#include "action/registry.hpp"
#include "core/json_util.hpp"
#include "engine/flow.hpp"
#include "engine/plan.hpp"
#include "engine/progress.hpp"
#include "engine/run_control.hpp"
#include "loaddensity/protocol/protocol.hpp"
#include "loaddensity/stats/metrics.hpp"
#include "params/resolver.hpp"

namespace ld::stats {
class RecordLogRun;
}

namespace ld::engine {

// LD_install_network_conditioner: added latency and simulated loss before matching requests.
struct NetworkConditioner {
  double latency_ms = 0;
  double jitter_ms = 0;
  double loss_rate = 0;
  std::string name_filter;  // substring of the task's name or URL; empty matches all
};

struct RunPolicies {
  std::optional<FailureBudget> failure_budget;
  std::optional<NetworkConditioner> conditioner;
};

struct RunOutcome {
  stats::Metrics metrics;   // this run only
  std::string stop_reason;  // "test_time", "interrupted", "failure_budget: ...", "hard_timeout"
};

// What one run reads. The workers share ownership of it with the control thread, so a worker
// abandoned at the end of a run (its thread blocked in a protocol call) can still use it when
// it wakes, after the run has returned.
struct RunInputs {
  PlanConfig plan;
  std::shared_ptr<CompiledTasks> tasks;
  std::shared_ptr<const NameTable> names;
  std::shared_ptr<const FlowSet> flows;
  RunPolicies policies;
  std::size_t sources = 0;  // data sources in the resolver (per-user row cursors)
};

// Worker threads abandoned by runs that ended while they were blocked and that have not ended
// yet. A process should not run its static destructors while this is not zero (the CLI ends
// with _Exit then): the resolver and the logger are still reachable from such a thread.
std::size_t abandoned_workers() noexcept;

class Scheduler {
 public:
  // The scheduler shares ownership of the inputs: a worker blocked past the end of the run is
  // abandoned (the run ends on time) and ends on its own when it wakes.
  explicit Scheduler(RunInputs inputs);
  // The caller owns the inputs and keeps them alive until run() returns: the run then waits
  // for every worker, however long one is blocked.
  Scheduler(const PlanConfig& plan, CompiledTasks& tasks, const NameTable& names,
            const FlowSet& flows, const RunPolicies& policies, std::size_t source_count);

  // Blocks until the test ends. `interrupt` is polled; when it becomes true the test stops at
  // once and in-flight operations are abandoned (recorded as `aborted` failures).
  RunOutcome run(const std::atomic<bool>& interrupt, ProgressSink* progress);

  // Per-request records of this run also go to `log` (one writer per worker thread).
  void set_record_log(stats::RecordLogRun* log) noexcept { record_log_ = log; }
  // Live statistics of this run are published to `feed` (and its observers) once a second;
  // without one the scheduler keeps a private feed for the progress line.
  void set_live_feed(stats::LiveFeed* feed) noexcept { live_feed_ = feed; }
  // The closed model's users and spawn rate come from `target` (capped at user_count) instead
  // of the plan; stopping stays with test_time, the watchdog and the interrupt.
  void set_external_target(const ExternalUserTarget* target) noexcept { external_ = target; }

  // A worker whose thread has not come back to its event loop for this long, once in-flight
  // work is being aborted, is abandoned (owned inputs only).
  static constexpr Nanos kStuckAfter = kNanosPerSecond;

 private:
  RunInputs in_;
  bool owning_ = true;  // false: the caller owns the inputs; never abandon a worker
  stats::RecordLogRun* record_log_ = nullptr;
  stats::LiveFeed* live_feed_ = nullptr;
  const ExternalUserTarget* external_ = nullptr;
};

}  // namespace ld::engine
