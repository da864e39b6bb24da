#include "engine/run_control.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace ld::engine {

namespace {

class ClosedUsers final : public UserDriver {
 public:
  explicit ClosedUsers(UserTarget t) : t_(t) {}
  std::optional<UserTarget> target(double) override { return t_; }

 private:
  UserTarget t_;
};

class ShapedUsers final : public UserDriver {
 public:
  ShapedUsers(const LoadShape& shape, std::uint32_t cap) : shape_(shape), cap_(cap) {}
  std::optional<UserTarget> target(double elapsed_s) override {
    const auto tick = shape_.tick(elapsed_s);
    if (!tick) return std::nullopt;
    return UserTarget{std::min(tick->users, cap_), tick->spawn_rate};
  }

 private:
  const LoadShape& shape_;
  std::uint32_t cap_;
};

class ExternalUsers final : public UserDriver {
 public:
  ExternalUsers(const ExternalUserTarget& t, std::uint32_t cap) : t_(t), cap_(cap) {}
  std::optional<UserTarget> target(double) override {
    return UserTarget{std::min(t_.users.load(std::memory_order_relaxed), cap_),
                      t_.spawn_rate.load(std::memory_order_relaxed)};
  }

 private:
  const ExternalUserTarget& t_;
  std::uint32_t cap_;
};

class PacedUsers final : public UserDriver {
 public:
  std::optional<UserTarget> target(double) override { return UserTarget{0, 0}; }
  bool starts_users() const noexcept override { return false; }
};

class FlagStop final : public StopCondition {
 public:
  FlagStop(const std::atomic<bool>& f, std::string reason) : f_(f), reason_(std::move(reason)) {}
  std::string check(Nanos) override { return f_.load() ? reason_ : ""; }

 private:
  const std::atomic<bool>& f_;
  std::string reason_;
};

class DeadlineStop final : public StopCondition {
 public:
  DeadlineStop(Nanos at, std::string reason) : at_(at), reason_(std::move(reason)) {}
  std::string check(Nanos now) override { return now >= at_ ? reason_ : ""; }
  Nanos deadline() const noexcept override { return at_; }

 private:
  Nanos at_;
  std::string reason_;
};

class BudgetStop final : public StopCondition {
 public:
  explicit BudgetStop(const FailureBudget& b) : b_(b) {}
  std::string on_interval(const IntervalCounts& c) override {
    window_.push_back(c);
    while (window_.size() > std::max<std::size_t>(1, static_cast<std::size_t>(b_.window_s))) {
      window_.pop_front();
    }
    std::uint64_t req = 0, fail = 0;
    for (const auto& w : window_) {
      req += w.requests;
      fail += w.failures;
    }
    if (req < b_.min_samples || req == 0) return "";
    const double rate = static_cast<double>(fail) / static_cast<double>(req);
    if (rate <= b_.threshold) return "";
    char buf[160];
    std::snprintf(buf, sizeof buf,
                  "failure_budget: failure rate %.3f > %.3f over the last %.0f s (%llu requests)",
                  rate, b_.threshold, b_.window_s, static_cast<unsigned long long>(req));
    return buf;
  }

 private:
  FailureBudget b_;
  std::deque<IntervalCounts> window_;  // one entry per interval (a second)
};

}  // namespace

std::unique_ptr<UserDriver> closed_users(std::uint32_t users, double spawn_rate) {
  return std::make_unique<ClosedUsers>(UserTarget{users, spawn_rate});
}
std::unique_ptr<UserDriver> shaped_users(const LoadShape& shape, std::uint32_t cap) {
  return std::make_unique<ShapedUsers>(shape, cap);
}
std::unique_ptr<UserDriver> external_users(const ExternalUserTarget& target, std::uint32_t cap) {
  return std::make_unique<ExternalUsers>(target, cap);
}
std::unique_ptr<UserDriver> paced_users() { return std::make_unique<PacedUsers>(); }

std::unique_ptr<StopCondition> stop_on_interrupt(const std::atomic<bool>& flag) {
  return stop_on_flag(flag, "interrupted");
}
std::unique_ptr<StopCondition> stop_on_flag(const std::atomic<bool>& flag, std::string reason) {
  return std::make_unique<FlagStop>(flag, std::move(reason));
}
std::unique_ptr<StopCondition> stop_at(Nanos at, std::string reason) {
  return std::make_unique<DeadlineStop>(at, std::move(reason));
}
std::unique_ptr<StopCondition> stop_on_failure_budget(const FailureBudget& budget) {
  return std::make_unique<BudgetStop>(budget);
}

std::string ControlLoop::run() {
  Nanos next_interval = t0_ + kInterval;
  for (;;) {
    const Nanos now = clock_.now();
    for (auto& s : stops_) {
      if (std::string why = s->check(now); !why.empty()) return why;
    }
    if (driver_->starts_users()) {
      const auto t = driver_->target(static_cast<double>(now - t0_) / 1e9);
      if (!t) return "load_shape";
      target_ = t->users;
      spawn_allowance_ += static_cast<double>(now - last_tick_) / 1e9 * t->spawn_rate;
      spawn_allowance_ = std::min(spawn_allowance_, static_cast<double>(user_cap_) + 1);
      last_tick_ = now;
      const auto max_new = static_cast<std::uint32_t>(std::max(0.0, std::floor(spawn_allowance_)));
      spawn_allowance_ -= hooks_.spawn(target_, max_new);  // also lowers the limit
    }
    if (now >= next_interval) {
      const IntervalCounts counts = hooks_.collect(now);
      next_interval += kInterval;
      if (next_interval <= now) next_interval = now + kInterval;
      for (auto& s : stops_) {
        if (std::string why = s->on_interval(counts); !why.empty()) return why;
      }
    }
    Nanos wake = std::min(next_interval, now + kTick);
    for (const auto& s : stops_) {
      if (const Nanos d = s->deadline(); d > 0) wake = std::min(wake, d);
    }
    clock_.sleep_until(std::max(wake, now));
  }
}

}  // namespace ld::engine
