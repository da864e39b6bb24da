#include "loaddensity/stats/histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <stdexcept>

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

namespace {

void put_varint(std::string& out, std::uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

std::uint64_t get_varint(std::string_view in, std::size_t& pos) {
  std::uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (pos >= in.size()) throw std::invalid_argument("histogram: truncated data");
    const auto b = static_cast<unsigned char>(in[pos++]);
    v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
    if (!(b & 0x80)) return v;
  }
  throw std::invalid_argument("histogram: bad varint");
}

constexpr unsigned char kEncodingVersion = 1;

}  // namespace

// Layout: version byte, count, min, max (varints), sum (8 bytes, IEEE double, little endian),
// then (bucket index delta, bucket count) varint pairs for the non-empty buckets.
std::string Histogram::encode() const {
  std::string out;
  out.push_back(static_cast<char>(kEncodingVersion));
  put_varint(out, count_);
  put_varint(out, static_cast<std::uint64_t>(min()));
  put_varint(out, static_cast<std::uint64_t>(max()));
  std::uint64_t bits;
  std::memcpy(&bits, &sum_, sizeof bits);
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((bits >> (8 * i)) & 0xff));
  std::size_t prev = 0;
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    if (!counts_[i]) continue;
    put_varint(out, i - prev);
    put_varint(out, counts_[i]);
    prev = i;
  }
  return out;
}

Histogram Histogram::decode(std::string_view in) {
  if (in.empty() || static_cast<unsigned char>(in[0]) != kEncodingVersion) {
    throw std::invalid_argument("histogram: unknown encoding");
  }
  std::size_t pos = 1;
  Histogram h;
  const std::uint64_t count = get_varint(in, pos);
  const auto mn = static_cast<std::int64_t>(get_varint(in, pos));
  const auto mx = static_cast<std::int64_t>(get_varint(in, pos));
  if (pos + 8 > in.size()) throw std::invalid_argument("histogram: truncated data");
  std::uint64_t bits = 0;
  for (int i = 0; i < 8; ++i) bits |= std::uint64_t{static_cast<unsigned char>(in[pos + i])} << (8 * i);
  pos += 8;
  double sum;
  std::memcpy(&sum, &bits, sizeof sum);
  std::uint64_t seen = 0;
  std::size_t index = 0;
  while (pos < in.size()) {
    index += get_varint(in, pos);
    const std::uint64_t n = get_varint(in, pos);
    if (index >= kBucketCount) throw std::invalid_argument("histogram: bucket out of range");
    if (h.counts_.empty()) h.counts_.assign(kBucketCount, 0);
    h.counts_[index] += n;
    seen += n;
  }
  if (seen != count) throw std::invalid_argument("histogram: counts do not add up");
  h.count_ = count;
  h.min_ = count ? mn : 0;
  h.max_ = count ? mx : 0;
  h.sum_ = sum;
  return h;
}

}  // namespace ld::stats
