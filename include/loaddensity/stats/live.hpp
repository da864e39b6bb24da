#pragma once
// Live statistics: what consumers read *while* a test runs (the progress line, exporters, a
// dashboard, a Locust-protocol worker).
//
// Once a second the control thread takes each worker's retired interval (per name: counts,
// failures by kind, bytes and a coarse latency histogram), folds them into running totals and
// publishes an immutable LiveSnapshot. Readers on any thread take the latest snapshot from a
// LiveFeed (a shared_ptr copy under a mutex that only the control thread and readers touch:
// workers never wait for a reader). Observers registered on the feed are called on the control
// thread with each snapshot, in registration order.
//
// Memory: the live histogram has 16 buckets per power of two of microseconds (relative error
// <= 1/32, ~3%) and allocates its buckets on first use: 2.2 KiB per name per worker buffer
// (uint32 counts, two buffers per worker) and 4.4 KiB per name in the running totals (uint64).
// 1,000 active names on 2 worker threads cost about 9 MB in the workers and 6.6 MB per
// published snapshot (the previous one is freed when its last reader lets go). Names that were
// never requested cost a few bytes each.
#include <algorithm>
#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "loaddensity/stats/histogram.hpp"
#include "loaddensity/stats/record.hpp"

namespace ld::stats {

// A coarse log-linear latency histogram for live intervals, in microseconds: exact below
// 32 us, then 16 buckets per power of two up to 2^36 us (~19 h).
template <typename Count>
class BasicLiveHistogram {
 public:
  static constexpr std::size_t kBucketCount = 32 + (36 - 5 + 1) * 16;

  static std::size_t bucket_index(std::int64_t ns) noexcept {
    const auto us = static_cast<std::uint64_t>(ns < 0 ? 0 : ns / 1000);
    if (us < 32) return static_cast<std::size_t>(us);
    const int k = 63 - __builtin_clzll(us);  // us is in [2^k, 2^(k+1)), k >= 5
    if (k > 36) return kBucketCount - 1;
    const auto sub = static_cast<std::size_t>((us >> (k - 4)) & 15);
    return 32 + static_cast<std::size_t>(k - 5) * 16 + sub;
  }
  static std::int64_t bucket_lower_us(std::size_t i) noexcept;
  static std::int64_t bucket_width_us(std::size_t i) noexcept;
  // The value a bucket stands for (its midpoint), in microseconds.
  static double bucket_value_us(std::size_t i) noexcept {
    return static_cast<double>(bucket_lower_us(i)) +
           static_cast<double>(bucket_width_us(i) - 1) / 2.0;
  }

  void record(std::int64_t ns) noexcept {
    if (counts_.empty()) counts_.assign(kBucketCount, 0);  // once per histogram lifetime
    ++counts_[bucket_index(ns)];
    ++count_;
    sum_ns_ += static_cast<double>(ns < 0 ? 0 : ns);
    if (ns > max_ns_) max_ns_ = ns;
  }
  template <typename Other>
  void merge(const BasicLiveHistogram<Other>& o) {
    if (o.count() == 0) return;
    if (counts_.empty()) counts_.assign(kBucketCount, 0);
    for (std::size_t i = 0; i < kBucketCount; ++i) counts_[i] += static_cast<Count>(o.buckets()[i]);
    count_ += o.count();
    sum_ns_ += o.sum_ns();
    if (o.max_ns() > max_ns_) max_ns_ = o.max_ns();
  }
  void reset() noexcept {
    if (count_ != 0) std::fill(counts_.begin(), counts_.end(), Count{0});
    count_ = 0;
    sum_ns_ = 0;
    max_ns_ = 0;
  }

  std::uint64_t count() const noexcept { return count_; }
  double sum_ns() const noexcept { return sum_ns_; }
  std::int64_t max_ns() const noexcept { return max_ns_; }
  double mean_ns() const noexcept { return count_ ? sum_ns_ / static_cast<double>(count_) : 0; }
  // Nearest-rank percentile in ns (bucket midpoint, capped at the max); 0 when empty.
  std::int64_t percentile(double p) const noexcept;
  const std::vector<Count>& buckets() const noexcept { return counts_; }

 private:
  std::vector<Count> counts_;  // kBucketCount entries once anything was recorded
  std::uint64_t count_ = 0;
  double sum_ns_ = 0;
  std::int64_t max_ns_ = 0;
};

using IntervalHistogram = BasicLiveHistogram<std::uint32_t>;  // one worker, one second
using LiveHistogram = BasicLiveHistogram<std::uint64_t>;      // merged, running totals

// One name over one interval (on a worker) or merged (in a snapshot).
template <typename Hist>
struct BasicLiveName {
  std::uint64_t requests = 0;
  std::uint64_t failures = 0;
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  std::array<std::uint64_t, kErrorKindCount> by_kind{};
  Hist latency;  // every operation, from its planned start

  void reset() noexcept {
    requests = failures = bytes_in = bytes_out = 0;
    by_kind.fill(0);
    latency.reset();
  }
  template <typename H>
  void merge(const BasicLiveName<H>& o) {
    requests += o.requests;
    failures += o.failures;
    bytes_in += o.bytes_in;
    bytes_out += o.bytes_out;
    for (std::size_t k = 0; k < kErrorKindCount; ++k) by_kind[k] += o.by_kind[k];
    latency.merge(o.latency);
  }
};
using IntervalName = BasicLiveName<IntervalHistogram>;
using LiveName = BasicLiveName<LiveHistogram>;

// What the control thread publishes once a second. Immutable once published.
struct LiveSnapshot {
  std::uint64_t sequence = 0;  // 1, 2, ... within a run
  double elapsed_s = 0;        // since the run started, at the end of the interval
  double interval_s = 0;       // this interval's length
  double test_time_s = 0;      // configured; 0 = until stopped
  std::uint32_t users = 0;     // running now
  std::uint32_t target_users = 0;
  bool final = false;  // the last snapshot of the run (taken after the stop)
  // (request_type, name) per name id, fixed for the run.
  std::shared_ptr<const std::vector<std::pair<std::string, std::string>>> names;
  std::vector<LiveName> interval;  // per name id: this interval
  std::vector<LiveName> total;     // per name id: since the run started
  // Every name together: this interval (full-resolution histogram) and since the start.
  std::uint64_t interval_requests = 0, interval_failures = 0;
  Histogram interval_latency;
  std::uint64_t total_requests = 0, total_failures = 0;
};

// Locust's response-time buckets for a live histogram: milliseconds rounded as Locust rounds
// them (exact below 100 ms, to 10 ms below 1 s, to 100 ms below 10 s, then to 1 s), each with
// its count. Derivable from any interval or total.
std::map<std::int64_t, std::uint64_t> locust_response_times(const LiveHistogram& h);

class LiveObserver {
 public:
  virtual ~LiveObserver() = default;
  // Called on the control thread, once per interval and once more with `final` set. Must not
  // block for long: the control loop (stop conditions, the watchdog) waits for it.
  virtual void on_interval(const LiveSnapshot& s) = 0;
};

// The published snapshot and the observers of one run (or of a session of runs).
// One feed may outlive many runs (the App keeps one for its exporters and dashboard); observers
// may be added and removed from any thread. remove_observer() waits for a call in progress to
// that observer to return, so the observer may be destroyed right after; an observer must
// therefore never add or remove observers from inside on_interval().
class LiveFeed {
 public:
  std::shared_ptr<const LiveSnapshot> latest() const;
  void add_observer(LiveObserver* o);
  void remove_observer(LiveObserver* o);
  // Control thread: publishes `s` and calls every observer with it.
  void publish(std::shared_ptr<const LiveSnapshot> s);

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const LiveSnapshot> latest_;
  std::mutex observers_mu_;  // held while observers are called
  std::vector<LiveObserver*> observers_;
};

}  // namespace ld::stats
