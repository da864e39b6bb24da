#pragma once
// One test run, apart from any entry point. The CLI's LD_start_test uses it today; a `serve`
// client, an MCP session, a web UI or a Locust worker each create a TestSession (their own
// variables, sources, results and policies) and run tests through a TestRunner.
//
// A runner runs one test at a time: a second start while a test runs (from another thread of a
// server, say) is refused at once with RunnerBusy, naming the running test; it never queues
// or interleaves. Sessions that should run tests at the same time use a runner each.
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>

#include "engine/plan.hpp"
#include "action/registry.hpp"
#include "core/json_util.hpp"
#include "loaddensity/protocol/protocol.hpp"
#include "params/resolver.hpp"
#include "engine/scheduler.hpp"
#include "loaddensity/stats/metrics.hpp"
#include "params/resolver.hpp"

namespace ld::stats {
class LiveFeed;
class RecordLogRun;
}  // namespace ld::stats

namespace ld::app {

// What a test reads and writes besides its own arguments.
struct TestSession {
  params::Resolver resolver;  // variables, CSV/DB sources, the faker seed
  stats::Metrics metrics;     // results of every run since the last clear
  std::optional<engine::FailureBudget> failure_budget;
  std::optional<engine::NetworkConditioner> conditioner;
  // The record log of the next run (capped at `max_bytes` on disk, then sampled), or null when
  // nothing asked for per-request records.
  // `body_cap`: bytes of a success's body and headers each record keeps (record_bodies), 0 = none.
  std::function<stats::RecordLogRun*(const engine::NameTable&, std::uint64_t max_bytes,
                                     std::size_t body_cap)>
      begin_record_run;
};

// How the caller watches and stops a run.
struct RunControls {
  const std::atomic<bool>* interrupt = nullptr;  // polled; true stops the test (required)
  engine::ProgressSink* progress = nullptr;      // the progress line, or null
  stats::LiveFeed* live = nullptr;               // live snapshots, or null
  // The closed model's users follow this target (a Locust master's), or null.
  const engine::ExternalUserTarget* external = nullptr;
};

struct RunResult {
  engine::PlanConfig plan;
  engine::RunOutcome outcome;  // this run's metrics and stop reason (also absorbed into
                               // the session's metrics)
};

class RunnerBusy : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class TestRunner {
 public:
  explicit TestRunner(const engine::ProtocolRegistry& protocols) : protocols_(protocols) {}

  // The static check of LD_start_test arguments (as bound by the command registry): plan,
  // user type, protocol options, every task, the task list, flow fields. Throws ConfigError
  // with a pointer relative to the arguments. Runs nothing.
  engine::PlanConfig check(const Json& args) const;

  // Compiles the tasks against `session`'s resolver and runs the test; blocks until it ended.
  // Throws ConfigError (bad input found once placeholders resolve: nothing ran) or RunnerBusy.
  RunResult run(const Json& args, TestSession& session, const RunControls& controls);

  bool busy() const noexcept { return busy_.load(); }

 private:
  const engine::ProtocolRegistry& protocols_;
  std::atomic<bool> busy_{false};
  mutable std::mutex mu_;
  std::string running_;  // what the running test is, for RunnerBusy (guarded by mu_)
};

}  // namespace ld::app
