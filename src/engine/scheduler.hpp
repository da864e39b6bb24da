#pragma once
// Runs one test: N worker threads, one io_context each; every virtual user is a coroutine that
// lives on one worker for its whole life. The calling (control) thread starts users (closed
// model, shaped or not), collects one interval snapshot per second from every worker (through
// the worker's own io_context, so the workers never lock), drives the progress line, applies
// the failure budget and the watchdog, and decides when to stop. In the open model each worker
// runs its share of the pacer's schedule and hands due iterations to its users.
#include <atomic>
#include <optional>
#include <string>

#include "engine/flow.hpp"
#include "engine/plan.hpp"
#include "engine/progress.hpp"
#include "action/registry.hpp"
#include "core/json_util.hpp"
#include "loaddensity/protocol/protocol.hpp"
#include "params/resolver.hpp"
#include "loaddensity/stats/metrics.hpp"

namespace ld::stats {
class RecordLogRun;
}

namespace ld::engine {

// LD_install_failure_budget: stop when the failure rate over the sliding window breaches.
struct FailureBudget {
  double threshold = 0.05;
  double window_s = 30;
  std::uint64_t min_samples = 50;
};

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

// A closed-model user count set from outside while the test runs (the Locust worker's
// master says "spawn N users at rate R"). Any thread may store; the control loop reads it
// every tick. Ignored by the open model and by load shapes.
struct ExternalUserTarget {
  std::atomic<std::uint32_t> users{0};
  std::atomic<double> spawn_rate{1};
};

struct RunOutcome {
  stats::Metrics metrics;   // this run only
  std::string stop_reason;  // "test_time", "interrupted", "failure_budget: ...", "hard_timeout"
};

class Scheduler {
 public:
  Scheduler(const PlanConfig& plan, CompiledTasks& tasks, const NameTable& names,
            const FlowSet& flows, const RunPolicies& policies, std::size_t source_count)
      : plan_(plan), tasks_(tasks), names_(names), flows_(flows), policies_(policies),
        sources_(source_count) {}

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

 private:
  const PlanConfig& plan_;
  CompiledTasks& tasks_;
  const NameTable& names_;
  const FlowSet& flows_;
  const RunPolicies& policies_;
  std::size_t sources_;
  stats::RecordLogRun* record_log_ = nullptr;
  stats::LiveFeed* live_feed_ = nullptr;
  const ExternalUserTarget* external_ = nullptr;
};

}  // namespace ld::engine
