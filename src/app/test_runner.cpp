#include "app/test_runner.hpp"

#include <random>
#include <set>

#include "checks/checks.hpp"
#include "core/log.hpp"
#include "engine/flow.hpp"
#include "loaddensity/core/error.hpp"
#include "stats/record_log.hpp"

namespace ld::app {

namespace {

// LD_start_test record_bodies: true keeps kRecordBodiesDefault bytes, a number that many
// (range checked before the run), false or null none.
std::size_t record_bodies_cap(const Json& v) {
  if (v.is_boolean()) return v.get<bool>() ? stats::kRecordBodiesDefault : 0;
  return v.is_number_integer() ? static_cast<std::size_t>(v.get<std::int64_t>()) : 0;
}

std::string task_base(const Json& args) {
  return args["tasks"].is_object() && args["tasks"].contains("tasks") ? "/tasks/tasks" : "/tasks";
}

// Marks the runner busy for one run; refuses a second one.
class BusyScope {
 public:
  BusyScope(std::atomic<bool>& busy, std::mutex& mu, std::string& running, std::string what)
      : busy_(busy), mu_(mu), running_(running) {
    bool expected = false;
    if (!busy_.compare_exchange_strong(expected, true)) {
      std::lock_guard<std::mutex> lock(mu_);
      throw RunnerBusy("a test is already running (" + running_ +
                       "); start another one when it has ended");
    }
    std::lock_guard<std::mutex> lock(mu_);
    running_ = std::move(what);
  }
  ~BusyScope() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      running_.clear();
    }
    busy_.store(false);
  }
  BusyScope(const BusyScope&) = delete;
  BusyScope& operator=(const BusyScope&) = delete;

 private:
  std::atomic<bool>& busy_;
  std::mutex& mu_;
  std::string& running_;
};

}  // namespace

engine::PlanConfig TestRunner::check(const Json& args) const {
  engine::PlanConfig plan = engine::parse_plan(args);
  const engine::Protocol* proto = protocols_.find(plan.user_type);
  if (!proto) {
    std::string known;
    for (const auto& t : protocols_.user_types()) known += (known.empty() ? "" : ", ") + t;
    if (const std::string* why = protocols_.unavailable(plan.user_type)) {
      throw ConfigError("user type '" + plan.user_type + "' is not built into this binary (" +
                            *why + "; available: " + known + ")",
                        "/user_detail_dict/user");
    }
    throw ConfigError("unsupported user type '" + plan.user_type + "' (available: " + known + ")",
                      "/user_detail_dict/user");
  }
  proto->validate_options(args);
  const std::string base = task_base(args);
  if (args["tasks"].is_array()) {
    for (std::size_t i = 0; i < plan.tasks.size(); ++i) {
      try {
        proto->validate_task(plan.tasks[i]);
      } catch (const ConfigError& e) {
        throw ConfigError(std::string("task ") + std::to_string(i) + ": " + e.what(),
                          base + pointer_index(i) + e.pointer());
      }
    }
  } else {
    for (std::size_t i = 0; i < plan.tasks.size(); ++i) proto->validate_task(plan.tasks[i]);
  }
  try {
    proto->validate_list(plan.tasks, plan.host);
  } catch (const ConfigError& e) {
    throw ConfigError(e.what(), base + e.pointer());
  }
  {
    // Flow fields (think_time, throttle, retry, run_if) are checked now; placeholders in
    // them resolve when the test starts.
    const params::Resolver none;
    engine::FlowSet flows;
    flows.compile(plan.flow, params::ParseContext{none}, plan.task_pointers);
  }
  return plan;
}

RunResult TestRunner::run(const Json& args, TestSession& session, const RunControls& controls) {
  RunResult result;
  result.plan = check(args);
  engine::PlanConfig& plan = result.plan;
  BusyScope busy(busy_, mu_, running_,
                 plan.user_type + ", " + std::to_string(plan.users) + " users");
  params::Resolver& resolver = session.resolver;
  plan.seed = resolver.faker_seed() ? *resolver.faker_seed() : std::random_device{}();
  const engine::Protocol* proto = protocols_.find(plan.user_type);
  // Variables some task extracts are per user: placeholders naming them stay dynamic.
  std::set<std::string> user_vars;
  for (const auto& t : plan.tasks) checks::Checks::collect_extracted(t, user_vars);
  // The scheduler shares ownership of what the workers use (see engine::RunInputs).
  auto names = std::make_shared<engine::NameTable>();
  engine::CompileContext cctx{resolver, *names, plan.host, args, &user_vars};
  std::shared_ptr<engine::CompiledTasks> compiled;
  auto flows = std::make_shared<engine::FlowSet>();
  try {
    compiled = proto->compile(plan.tasks, cctx);
    flows->compile(plan.flow, cctx.parse_context(), plan.task_pointers);
  } catch (const ConfigError& e) {
    // Protocol pointers are relative to the task list; flow pointers are absolute.
    const bool absolute = e.pointer().rfind("/tasks", 0) == 0;
    throw ConfigError(e.what(), absolute ? e.pointer() : task_base(args) + e.pointer());
  }
  resolver.rewind_sources();
  engine::Scheduler scheduler(engine::RunInputs{plan,
                                                compiled,
                                                names,
                                                flows,
                                                {session.failure_budget, session.conditioner},
                                                resolver.source_count()});
  const Json& cap = args.contains("record_log_max_mb") ? args["record_log_max_mb"] : Json();
  const std::uint64_t max_bytes = cap.is_number_integer()
                                      ? static_cast<std::uint64_t>(cap.get<std::int64_t>()) << 20
                                      : stats::RecordLog::kDefaultMaxBytes;
  const std::size_t body_cap =
      args.contains("record_bodies") ? record_bodies_cap(args["record_bodies"]) : 0;
  stats::RecordLogRun* record_run =  // null unless a document asked for per-request records
      session.begin_record_run ? session.begin_record_run(*names, max_bytes, body_cap) : nullptr;
  scheduler.set_record_log(record_run);
  scheduler.set_live_feed(controls.live);
  scheduler.set_external_target(controls.external);
  log::info("test", "started: " + plan.user_type + ", " + std::to_string(plan.users) +
                        " users, " + std::to_string(plan.threads) + " threads");
  result.outcome = scheduler.run(*controls.interrupt, controls.progress);
  if (record_run) {
    record_run->finish();
    if (!result.outcome.metrics.runs.empty()) {
      result.outcome.metrics.runs.back().records_sample_every = record_run->sample_every();
    }
  }
  log::info("test", "ended (" + result.outcome.stop_reason + "): " +
                        std::to_string(result.outcome.metrics.requests()) + " requests, " +
                        std::to_string(result.outcome.metrics.failures()) + " failures");
  session.metrics.absorb(result.outcome.metrics);
  return result;
}

}  // namespace ld::app
