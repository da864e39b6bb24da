#pragma once
// Time in loaddensity: int64 nanoseconds of std::chrono::steady_clock. Wall-clock time is
// used only for report headers.
#include <chrono>
#include <cstdint>
#include <thread>

namespace ld {

using Nanos = std::int64_t;  // nanoseconds

inline Nanos steady_now() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

constexpr Nanos kNanosPerSecond = 1'000'000'000;
constexpr Nanos kNanosPerMilli = 1'000'000;

// Saturates at about +-146 years instead of overflowing (inputs are range-checked long before;
// this only keeps arithmetic on the result defined).
inline Nanos seconds_to_ns(double s) noexcept {
  constexpr double kMax = 4.6e9;  // seconds; 4.6e18 ns leaves room to add a clock reading
  if (!(s < kMax)) return s != s ? 0 : static_cast<Nanos>(kMax * 1e9);
  if (s < -kMax) return -static_cast<Nanos>(kMax * 1e9);
  return static_cast<Nanos>(s * 1e9);
}
inline double ns_to_ms(Nanos ns) noexcept { return static_cast<double>(ns) / 1e6; }

// Injected time source: engine code takes a Clock so tests can use a fake one. The control
// loop also waits through it, so a simulated clock makes a whole run take no real time.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual Nanos now() const noexcept = 0;
  // Returns at `t` or later (now() >= t afterwards).
  virtual void sleep_until(Nanos t) const = 0;
};

class SteadyClock final : public Clock {
 public:
  Nanos now() const noexcept override { return steady_now(); }
  void sleep_until(Nanos t) const override {
    std::this_thread::sleep_until(std::chrono::steady_clock::time_point(
        std::chrono::duration_cast<std::chrono::steady_clock::duration>(
            std::chrono::nanoseconds(t))));
  }
};

// Simulated time: now() moves only when someone sleeps or calls advance(). Single-threaded
// use (tests of the control loop).
class ManualClock final : public Clock {
 public:
  explicit ManualClock(Nanos start = kNanosPerSecond) : now_(start) {}
  Nanos now() const noexcept override { return now_; }
  void sleep_until(Nanos t) const override {
    if (t > now_) now_ = t;
  }
  void advance(Nanos d) noexcept { now_ += d; }

 private:
  mutable Nanos now_;
};

}  // namespace ld
