#include "loaddensity/stats/histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace ld::stats {

std::size_t Histogram::bucket_index(std::int64_t v) noexcept {
  if (v < 256) return v < 0 ? 0 : static_cast<std::size_t>(v);
  auto u = static_cast<std::uint64_t>(v);
  const int width = std::bit_width(u);
  if (width > kMaxValueBits) return kBucketCount - 1;
  const int shift = width - 8;  // (u >> shift) is in [128, 256)
  return static_cast<std::size_t>(shift) * 128 + static_cast<std::size_t>(u >> shift);
}

std::int64_t Histogram::bucket_lower(std::size_t i) noexcept {
  if (i < 256) return static_cast<std::int64_t>(i);
  const std::size_t shift = i / 128 - 1;
  const std::size_t mantissa = i - shift * 128;  // in [128, 256)
  return static_cast<std::int64_t>(mantissa) << shift;
}

std::int64_t Histogram::bucket_width(std::size_t i) noexcept {
  if (i < 256) return 1;
  return std::int64_t{1} << (i / 128 - 1);
}

void Histogram::record_n(std::int64_t v, std::uint64_t n) noexcept {
  if (n == 0) return;
  if (v < 0) v = 0;
  if (counts_.empty()) counts_.assign(kBucketCount, 0);  // once per histogram lifetime
  counts_[bucket_index(v)] += n;
  if (count_ == 0) {
    min_ = max_ = v;
  } else {
    min_ = std::min(min_, v);
    max_ = std::max(max_, v);
  }
  count_ += n;
  sum_ += static_cast<double>(v) * static_cast<double>(n);
}

void Histogram::merge(const Histogram& o) {
  if (o.count_ == 0) return;
  if (counts_.empty()) counts_.assign(kBucketCount, 0);
  for (std::size_t i = 0; i < kBucketCount; ++i) counts_[i] += o.counts_[i];
  if (count_ == 0) {
    min_ = o.min_;
    max_ = o.max_;
  } else {
    min_ = std::min(min_, o.min_);
    max_ = std::max(max_, o.max_);
  }
  count_ += o.count_;
  sum_ += o.sum_;
}

void Histogram::reset() noexcept {
  if (count_ != 0) std::fill(counts_.begin(), counts_.end(), 0);
  count_ = 0;
  min_ = max_ = 0;
  sum_ = 0;
}

std::int64_t Histogram::percentile(double p) const noexcept {
  if (count_ == 0) return 0;
  if (p <= 0) return min_;
  if (p >= 100) return max_;
  auto rank = static_cast<std::uint64_t>(std::ceil(p / 100.0 * static_cast<double>(count_)));
  rank = std::clamp<std::uint64_t>(rank, 1, count_);
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < kBucketCount; ++i) {
    seen += counts_[i];
    if (seen >= rank) {
      const std::int64_t mid = bucket_lower(i) + (bucket_width(i) - 1) / 2;
      return std::clamp(mid, min_, max_);
    }
  }
  return max_;
}

}  // namespace ld::stats
