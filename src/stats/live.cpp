#include "loaddensity/stats/live.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace ld::stats {

template <typename Count>
std::int64_t BasicLiveHistogram<Count>::bucket_lower_us(std::size_t i) noexcept {
  if (i < 32) return static_cast<std::int64_t>(i);
  const std::size_t k = (i - 32) / 16 + 5;
  const std::size_t sub = (i - 32) % 16;
  return static_cast<std::int64_t>(16 + sub) << (k - 4);
}

template <typename Count>
std::int64_t BasicLiveHistogram<Count>::bucket_width_us(std::size_t i) noexcept {
  if (i < 32) return 1;
  return std::int64_t{1} << ((i - 32) / 16 + 1);
}

template <typename Count>
std::int64_t BasicLiveHistogram<Count>::percentile(double p) const noexcept {
  if (count_ == 0) return 0;
  if (p >= 100) return max_ns_;
  auto rank =
      static_cast<std::uint64_t>(std::ceil(std::max(p, 0.0) / 100.0 * static_cast<double>(count_)));
  rank = std::clamp<std::uint64_t>(rank, 1, count_);
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < kBucketCount; ++i) {
    seen += counts_[i];
    if (seen >= rank) {
      const auto mid = static_cast<std::int64_t>(bucket_value_us(i) * 1000.0);
      return std::min(mid, max_ns_);
    }
  }
  return max_ns_;
}

template class BasicLiveHistogram<std::uint32_t>;
template class BasicLiveHistogram<std::uint64_t>;

std::map<std::int64_t, std::uint64_t> locust_response_times(const LiveHistogram& h) {
  std::map<std::int64_t, std::uint64_t> out;
  const auto& b = h.buckets();
  for (std::size_t i = 0; i < b.size(); ++i) {
    if (!b[i]) continue;
    const double ms = LiveHistogram::bucket_value_us(i) / 1000.0;
    // Locust's rounding (stats.py, RequestStats._log_response_time).
    double rounded = 0;
    if (ms < 100) {
      rounded = std::round(ms);
    } else if (ms < 1000) {
      rounded = std::round(ms / 10) * 10;
    } else if (ms < 10000) {
      rounded = std::round(ms / 100) * 100;
    } else {
      rounded = std::round(ms / 1000) * 1000;
    }
    out[static_cast<std::int64_t>(rounded)] += b[i];
  }
  return out;
}

std::shared_ptr<const LiveSnapshot> LiveFeed::latest() const {
  std::lock_guard<std::mutex> lock(mu_);
  return latest_;
}

void LiveFeed::add_observer(LiveObserver* o) {
  std::lock_guard<std::mutex> lock(observers_mu_);
  observers_.push_back(o);
}

void LiveFeed::remove_observer(LiveObserver* o) {
  std::lock_guard<std::mutex> lock(observers_mu_);
  observers_.erase(std::remove(observers_.begin(), observers_.end(), o), observers_.end());
}

void LiveFeed::publish(std::shared_ptr<const LiveSnapshot> s) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    latest_ = s;
  }
  std::lock_guard<std::mutex> lock(observers_mu_);
  for (LiveObserver* o : observers_) o->on_interval(*s);
}

}  // namespace ld::stats
