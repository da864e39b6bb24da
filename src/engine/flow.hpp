#pragma once
// Per-task flow control the engine applies around every protocol: run_if / skip_if predicates,
// think_time after the task, a throttle shared by key across all users and threads, and retry
// with per-error-class budgets, exponential backoff and jitter.
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/json_util.hpp"
#include "loaddensity/core/clock.hpp"
#include "loaddensity/stats/record.hpp"
#include "params/resolver.hpp"

namespace ld::engine {

// The original's conditions: a bool/number is itself; a string is resolved and tested as
// non-empty (so an unresolved "${x}" is true); an object takes its first known operator:
// equals [a, b], not_equals [a, b], in [needle, [haystack] | "haystack"], truthy x.
class Predicate {
 public:
  static Predicate compile(const Json& spec, const params::ParseContext& ctx,
                           const std::string& pointer);
  bool eval(params::UserScope& scope) const;

 private:
  enum class Op { kConst, kTruthy, kEquals, kNotEquals, kIn };
  struct Operand {
    bool is_template = false;
    params::Template text;
    Json value;
    std::vector<Operand> list;  // a haystack list
    bool is_list = false;
  };
  static Operand operand(const Json& v, const params::ParseContext& ctx);
  static Json value_of(const Operand& o, params::UserScope& scope);
  static bool truthy(const Json& v);
  Op op_ = Op::kConst;
  bool constant_ = true;
  std::vector<Operand> args_;
};

// Generic cell-rate algorithm: a token bucket without a lock. reserve() claims the next slot
// with one compare-and-swap and says when it starts, so `rps` holds exactly across threads.
class Throttle {
 public:
  Throttle(double rps, double burst);
  Nanos reserve(Nanos now) noexcept;  // the steady time at which the caller may proceed

 private:
  std::atomic<Nanos> tat_{0};  // theoretical arrival time of the next request
  Nanos interval_;
  Nanos tolerance_;
};

enum class ErrorClass { kTransient, kFlaky, kPermanent };
ErrorClass classify(stats::ErrorKind k) noexcept;

struct RetryPolicy {
  std::uint32_t budget[3] = {5, 2, 0};  // transient, flaky, permanent
  double base_delay_s = 0.1;
  double max_delay_s = 5.0;
  double factor = 2.0;
  double jitter = 0.25;
  // Delay before retry number `attempt` (1-based), given a uniform [0,1) draw.
  Nanos delay(std::uint32_t attempt, double u) const noexcept;
};

struct TaskFlow {
  // Nothing to do around the protocol call: the engine calls run_step directly.
  bool trivial() const noexcept {
    return !run_if && !skip_if && think_max_s <= 0 && !throttle && !retry;
  }
  std::optional<Predicate> run_if;
  std::optional<Predicate> skip_if;
  double think_min_s = 0, think_max_s = 0;
  Throttle* throttle = nullptr;  // shared, owned by FlowSet
  std::optional<RetryPolicy> retry;
};

// The flow of every task of a plan, plus the throttles they share.
class FlowSet {
 public:
  // `flow_json[i]` holds task i's flow fields (run_if, skip_if, think_time, throttle, retry).
  // Pointers in errors are relative to each task ("/3/throttle/rps" style via `task_pointer`).
  void compile(const std::vector<Json>& flow_json, const params::ParseContext& ctx,
               const std::vector<std::string>& task_pointers);
  const TaskFlow& at(std::size_t i) const { return flows_[i]; }
  std::size_t size() const noexcept { return flows_.size(); }

 private:
  std::vector<TaskFlow> flows_;
  std::map<std::string, std::unique_ptr<Throttle>> throttles_;
};

// Splits a task into the engine's flow fields and the protocol's fields.
Json take_flow_fields(Json& task);

}  // namespace ld::engine
