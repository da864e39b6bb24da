#pragma once
// Log-linear latency histogram (HDR-style), values in nanoseconds.
//
// Values below 256 ns get exact buckets; above, each power of two [2^k, 2^(k+1)) is split into
// 128 equal buckets, so a bucket is at most 1/128 of its lower bound wide. Reported values are
// bucket midpoints clamped to the exact min/max, which bounds the relative error of any
// percentile by 1/256 (~0.4%), well inside the promised 1%. Values up to 2^46 ns (~19.5 h)
// are resolved; larger ones land in the top bucket. Histograms merge exactly (bucket-wise
// addition), so per-thread histograms combine into the same result one histogram would give.
//
// Memory: the bucket array (40 KiB) is allocated on the first record, so unused histograms
// cost a few bytes.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ld::stats {

class Histogram {
 public:
  static constexpr int kSubBucketBits = 7;                // 128 buckets per power of two
  static constexpr int kMaxValueBits = 46;                // 2^46 ns ~ 19.5 hours
  static constexpr std::size_t kBucketCount = (kMaxValueBits - 8) * 128 + 256;

  void record(std::int64_t value_ns) noexcept { record_n(value_ns, 1); }
  void record_n(std::int64_t value_ns, std::uint64_t n) noexcept;
  void merge(const Histogram& other);
  void reset() noexcept;

  std::uint64_t count() const noexcept { return count_; }
  bool empty() const noexcept { return count_ == 0; }
  std::int64_t min() const noexcept { return count_ ? min_ : 0; }
  std::int64_t max() const noexcept { return count_ ? max_ : 0; }
  double mean() const noexcept { return count_ ? sum_ / static_cast<double>(count_) : 0.0; }
  // Nearest-rank percentile, p in [0, 100]: the smallest recorded value v such that at least
  // p% of the values are <= v, within the error bound above. 0 when empty.
  std::int64_t percentile(double p) const noexcept;

  // Bucket geometry, exposed for tests and for serialising non-empty buckets.
  static std::size_t bucket_index(std::int64_t value_ns) noexcept;
  static std::int64_t bucket_lower(std::size_t index) noexcept;
  static std::int64_t bucket_width(std::size_t index) noexcept;
  const std::vector<std::uint64_t>& buckets() const noexcept { return counts_; }

  // Compact, portable serialisation (for the run history): count, min, max, sum and the
  // non-empty buckets as varints. decode() restores an identical histogram; it throws
  // std::invalid_argument on malformed input.
  std::string encode() const;
  static Histogram decode(std::string_view bytes);

 private:
  std::vector<std::uint64_t> counts_;  // kBucketCount entries once anything was recorded
  std::uint64_t count_ = 0;
  std::int64_t min_ = 0;
  std::int64_t max_ = 0;
  double sum_ = 0;  // exact sum in ns (double: 2^53 ns is 104 days of accumulated latency)
};

}  // namespace ld::stats
