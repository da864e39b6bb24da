#pragma once
// A test protocol for engine tests: every operation waits a few milliseconds on a timer, then
// records a success. Tests derive from TimerTasks to shape an operation (`before_record`: mark
// a failure, block the thread) or to use the run lifecycle; `run_plan` runs it on a real
// Scheduler.
#include <utility>  // before Asio (Boost 1.74 trap)

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/flow.hpp"
#include "engine/scheduler.hpp"

namespace ld::engine::testing {

class TimerTasks : public CompiledTasks {
 public:
  // One task per (request_type, name); each operation takes `op_ms`.
  TimerTasks(NameTable& names, const std::vector<std::pair<std::string, std::string>>& tasks,
             int op_ms = 2)
      : op_ms_(op_ms) {
    for (const auto& [type, name] : tasks) ids_.push_back(names.intern(type, name));
  }
  std::size_t size() const noexcept override { return ids_.size(); }
  Nanos max_timeout() const noexcept override { return kNanosPerSecond; }
  std::uint32_t name_id(std::size_t i) const noexcept override { return ids_[i]; }
  std::unique_ptr<UserSession> new_user(WorkerContext& w) override {
    return std::make_unique<Session>(*this, w);
  }

 protected:
  // Called on the worker before the record of task `index` goes in (after the timer).
  virtual void before_record(WorkerContext& w, std::size_t index, stats::Record& r) {}
  // A user of worker `w` starts / ends.
  virtual void user_started(WorkerContext& w) {}
  virtual void user_ended(WorkerContext& w) {}

 private:
  class Session final : public UserSession {
   public:
    Session(TimerTasks& t, WorkerContext& w) : t_(t), w_(w), timer_(w.io) { t_.user_started(w_); }
    ~Session() override { t_.user_ended(w_); }
    net::awaitable<void> run_step(std::size_t index, Nanos planned) override {
      stats::Record r;
      r.name_id = t_.name_id(index);
      r.planned = planned;
      r.start = steady_now();
      timer_.expires_after(std::chrono::milliseconds(t_.op_ms_));
      boost::system::error_code ec;
      co_await timer_.async_wait(net::redirect_error(net::use_awaitable, ec));
      r.end = steady_now();
      t_.before_record(w_, index, r);
      w_.record(r);
    }

   private:
    TimerTasks& t_;
    WorkerContext w_;
    net::steady_timer timer_;
  };
  std::vector<std::uint32_t> ids_;
  int op_ms_;
};

// A closed-model plan of `users` users over `threads` workers for `seconds`.
inline PlanConfig timer_plan(std::uint32_t users, double seconds, unsigned threads = 2) {
  PlanConfig plan;
  plan.user_type = "test";
  plan.users = users;
  plan.spawn_rate = 1000;
  plan.test_time_s = seconds;
  plan.threads = threads;
  return plan;
}

// Runs `tasks` under `plan` on a real Scheduler; `setup` may attach a live feed or an external
// user target before the run starts. The scheduler only borrows them, so it waits for every worker
// however long one is blocked.
inline std::shared_ptr<FlowSet> plain_flows(std::size_t tasks) {
  auto flows = std::make_shared<FlowSet>();
  params::Resolver resolver;
  std::vector<Json> flow_json(tasks, Json::object());
  std::vector<std::string> pointers;
  for (std::size_t i = 0; i < tasks; ++i) pointers.push_back("/" + std::to_string(i));
  flows->compile(flow_json, params::ParseContext{resolver, nullptr}, pointers);
  return flows;
}

inline RunOutcome run_plan(const PlanConfig& plan, CompiledTasks& tasks, const NameTable& names,
                           const std::function<void(Scheduler&)>& setup = {}) {
  const auto flows = plain_flows(tasks.size());
  RunPolicies policies;
  Scheduler scheduler(plan, tasks, names, *flows, policies, 0);
  if (setup) setup(scheduler);
  std::atomic<bool> interrupt{false};
  return scheduler.run(interrupt, nullptr);
}

// The same with the inputs shared with the scheduler (as the test runner does): a worker
// blocked past the end of the run is abandoned and ends on its own.
inline RunOutcome run_plan_shared(const PlanConfig& plan, std::shared_ptr<CompiledTasks> tasks,
                                  std::shared_ptr<const NameTable> names) {
  Scheduler scheduler(RunInputs{plan, tasks, std::move(names), plain_flows(tasks->size()), {}, 0});
  std::atomic<bool> interrupt{false};
  return scheduler.run(interrupt, nullptr);
}

}  // namespace ld::engine::testing
