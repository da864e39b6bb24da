#include "engine/flow.hpp"

#include <algorithm>
#include <cmath>

#include "core/text.hpp"
#include "loaddensity/core/error.hpp"

namespace ld::engine {

// ---------------------------------------------------------------- Predicate

Predicate::Operand Predicate::operand(const Json& v, const params::ParseContext& ctx) {
  Operand o;
  if (v.is_string()) {
    o.is_template = true;
    o.text = params::Template::parse(v.get_ref<const std::string&>(), ctx);
  } else if (v.is_array()) {
    o.is_list = true;
    for (const auto& x : v) o.list.push_back(operand(x, ctx));
  } else {
    o.value = v;
  }
  return o;
}

Json Predicate::value_of(const Operand& o, params::UserScope& scope) {
  if (o.is_template) return o.text.render(scope);
  if (o.is_list) {
    Json out = Json::array();
    for (const auto& x : o.list) out.push_back(value_of(x, scope));
    return out;
  }
  return o.value;
}

bool Predicate::truthy(const Json& v) {
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_number()) return v.get<double>() != 0;
  if (v.is_string()) return !v.get_ref<const std::string&>().empty();
  if (v.is_array() || v.is_object()) return !v.empty();
  return false;
}

Predicate Predicate::compile(const Json& spec, const params::ParseContext& ctx,
                             const std::string& ptr) {
  Predicate p;
  if (spec.is_boolean() || spec.is_number() || spec.is_null()) {
    p.op_ = Op::kConst;
    p.constant_ = truthy(spec);
    return p;
  }
  if (spec.is_string()) {
    p.op_ = Op::kTruthy;
    p.args_.push_back(operand(spec, ctx));
    return p;
  }
  if (!spec.is_object()) {
    throw ConfigError("a condition is a bool, a string, or {equals|not_equals|in|truthy: ...}",
                      ptr);
  }
  // The first known operator wins (keys in document order are sorted here; one key is usual).
  for (auto it = spec.begin(); it != spec.end(); ++it) {
    const std::string& op = it.key();
    const Json& arg = it.value();
    if (op == "equals" || op == "not_equals" || op == "in") {
      if (!arg.is_array() || arg.size() != 2) {
        throw ConfigError(op + " takes a list of two values", ptr + pointer_key(op));
      }
      p.op_ = op == "equals" ? Op::kEquals : op == "not_equals" ? Op::kNotEquals : Op::kIn;
      p.args_.push_back(operand(arg[0], ctx));
      p.args_.push_back(operand(arg[1], ctx));
      return p;
    }
    if (op == "truthy") {
      p.op_ = Op::kTruthy;
      p.args_.push_back(operand(arg, ctx));
      return p;
    }
  }
  std::string keys;
  for (auto it = spec.begin(); it != spec.end(); ++it) keys += (keys.empty() ? "" : ", ") + it.key();
  throw ConfigError("unknown condition operator(s) " + keys +
                        " (use equals, not_equals, in or truthy)",
                    ptr);
}

bool Predicate::eval(params::UserScope& scope) const {
  switch (op_) {
    case Op::kConst: return constant_;
    case Op::kTruthy: return truthy(value_of(args_[0], scope));
    case Op::kEquals: return value_of(args_[0], scope) == value_of(args_[1], scope);
    case Op::kNotEquals: return value_of(args_[0], scope) != value_of(args_[1], scope);
    case Op::kIn: {
      const Json needle = value_of(args_[0], scope);
      const Json hay = value_of(args_[1], scope);
      if (hay.is_string()) {
        return needle.is_string() &&
               hay.get_ref<const std::string&>().find(needle.get_ref<const std::string&>()) !=
                   std::string::npos;
      }
      if (hay.is_array()) return std::find(hay.begin(), hay.end(), needle) != hay.end();
      if (hay.is_object()) return needle.is_string() && hay.contains(needle.get<std::string>());
      return false;
    }
  }
  return false;
}

// ---------------------------------------------------------------- Throttle

Throttle::Throttle(double rps, double burst)
    : interval_(static_cast<Nanos>(1e9 / rps)),
      tolerance_(static_cast<Nanos>((std::max(1.0, burst) - 1) * 1e9 / rps)) {}

Nanos Throttle::reserve(Nanos now) noexcept {
  Nanos tat = tat_.load(std::memory_order_relaxed);
  for (;;) {
    // Virtual scheduling: the caller may start once now >= TAT - tolerance; the next slot is
    // one interval after max(TAT, start). Idle time banks at most `burst` requests.
    const Nanos start = std::max(now, tat - tolerance_);
    const Nanos next = std::max(tat, start) + interval_;
    if (tat_.compare_exchange_weak(tat, next, std::memory_order_relaxed)) return start;
  }
}

// ---------------------------------------------------------------- retry

ErrorClass classify(stats::ErrorKind k) noexcept {
  switch (k) {
    case stats::ErrorKind::kRefused:
    case stats::ErrorKind::kConnect:
    case stats::ErrorKind::kTimeout:
    case stats::ErrorKind::kReset:
    case stats::ErrorKind::kUnreachable:
    case stats::ErrorKind::kDropped: return ErrorClass::kTransient;
    case stats::ErrorKind::kAssertion:
    case stats::ErrorKind::kProtocol: return ErrorClass::kFlaky;
    default: return ErrorClass::kPermanent;
  }
}

Nanos RetryPolicy::delay(std::uint32_t attempt, double u) const noexcept {
  const double capped = std::min(max_delay_s, base_delay_s * std::pow(factor, attempt - 1.0));
  return static_cast<Nanos>((capped + u * capped * jitter) * 1e9);
}

// ---------------------------------------------------------------- FlowSet

namespace {

double seconds(const Json& v, const std::string& what, const std::string& ptr) {
  return seconds_in_range(v, what, ptr, true);
}

}  // namespace

Json take_flow_fields(Json& task) {
  Json flow = Json::object();
  for (const char* k : {"run_if", "skip_if", "think_time", "throttle", "retry"}) {
    if (auto it = task.find(k); it != task.end()) {
      flow[k] = *it;
      task.erase(it);
    }
  }
  return flow;
}

void FlowSet::compile(const std::vector<Json>& flow_json, const params::ParseContext& ctx,
                      const std::vector<std::string>& ptrs) {
  flows_.clear();
  for (std::size_t i = 0; i < flow_json.size(); ++i) {
    const Json& f = flow_json[i];
    const std::string& base = ptrs[i];
    TaskFlow tf;
    if (f.contains("run_if")) tf.run_if = Predicate::compile(f["run_if"], ctx, base + "/run_if");
    if (f.contains("skip_if")) tf.skip_if = Predicate::compile(f["skip_if"], ctx, base + "/skip_if");
    if (f.contains("think_time")) {
      const Json& t = f["think_time"];
      const std::string ptr = base + "/think_time";
      if (t.is_number()) {
        tf.think_min_s = tf.think_max_s = seconds(t, "think_time", ptr);
      } else if (t.is_object()) {
        tf.think_min_s = t.contains("min") ? seconds(t["min"], "think_time.min", ptr + "/min") : 0;
        tf.think_max_s = t.contains("max") ? seconds(t["max"], "think_time.max", ptr + "/max")
                                           : tf.think_min_s;
        if (tf.think_max_s < tf.think_min_s) throw ConfigError("think_time needs min <= max", ptr);
      } else {
        throw ConfigError("think_time is seconds or {\"min\", \"max\"}", ptr);
      }
    }
    if (f.contains("throttle")) {
      const Json& t = f["throttle"];
      const std::string ptr = base + "/throttle";
      if (!t.is_object() || !t.contains("rps")) {
        throw ConfigError("throttle needs {\"rps\": > 0, \"key\"?, \"burst\"?}", ptr);
      }
      const double rps = number_in_range(t["rps"], "throttle.rps", 1e-6, limits::kMaxRate, false,
                                         ptr + "/rps", "requests/s");
      const double burst = t.contains("burst")
                               ? number_in_range(t["burst"], "throttle.burst", 0, 1e9, false,
                                                 ptr + "/burst", "requests")
                               : 1.0;
      if ((burst - 1) / rps > limits::kMaxSeconds) {
        throw ConfigError("throttle: burst / rps must be at most 10 years of requests",
                          ptr + "/burst");
      }
      const std::string key = t.contains("key") ? json_display(t["key"]) : "task:" + std::to_string(i);
      auto& slot = throttles_[key];
      if (!slot) slot = std::make_unique<Throttle>(rps, burst);
      tf.throttle = slot.get();
    }
    if (f.contains("retry")) {
      const Json& r = f["retry"];
      const std::string ptr = base + "/retry";
      if (!r.is_object()) throw ConfigError("retry is an object of budgets and delays", ptr);
      RetryPolicy p;
      const char* names[3] = {"transient", "flaky", "permanent"};
      for (auto it = r.begin(); it != r.end(); ++it) {
        const std::string& k = it.key();
        const std::string kp = ptr + pointer_key(k);
        bool known = false;
        for (int c = 0; c < 3; ++c) {
          if (k == names[c]) {
            p.budget[c] = static_cast<std::uint32_t>(
                number_in_range(it.value(), "retry." + k, 0, 1e6, false, kp, "retries"));
            known = true;
          }
        }
        if (k == "base_delay") p.base_delay_s = seconds(it.value(), "retry." + k, kp), known = true;
        if (k == "max_delay") p.max_delay_s = seconds(it.value(), "retry." + k, kp), known = true;
        if (k == "backoff_factor") {
          p.factor = number_in_range(it.value(), "retry." + k, 0, 1000, false, kp);
          known = true;
        }
        if (k == "jitter") {
          p.jitter = number_in_range(it.value(), "retry." + k, 0, 10, false, kp,
                                     "(a fraction of the delay)");
          known = true;
        }
        if (!known) {
          throw ConfigError("retry: unknown key '" + k +
                                "' (transient, flaky, permanent, base_delay, max_delay, "
                                "backoff_factor, jitter)",
                            kp);
        }
      }
      tf.retry = p;
    }
    flows_.push_back(std::move(tf));
  }
}

}  // namespace ld::engine
