#include "loaddensity/stats/histogram.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

using ld::stats::Histogram;

namespace {

// Nearest-rank percentile over the exact values.
std::int64_t exact(std::vector<std::int64_t> v, double p) {
  std::sort(v.begin(), v.end());
  if (p <= 0) return v.front();
  auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
  rank = std::clamp<std::size_t>(rank, 1, v.size());
  return v[rank - 1];
}

void expect_within_1pct(const std::vector<std::int64_t>& values, const Histogram& h) {
  for (double p : {1.0, 10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.9, 99.99, 100.0}) {
    const double want = static_cast<double>(exact(values, p));
    const double got = static_cast<double>(h.percentile(p));
    EXPECT_LE(std::abs(got - want), 0.01 * want + 0.5) << "p" << p << " want " << want
                                                       << " got " << got;
  }
}

}  // namespace

TEST(Histogram, EmptyReportsZeros) {
  Histogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.percentile(50), 0);
  EXPECT_EQ(h.max(), 0);
  EXPECT_TRUE(h.buckets().empty()) << "no bucket memory before the first record";
}

TEST(Histogram, SmallValuesAreExact) {
  Histogram h;
  for (int v = 0; v < 256; ++v) h.record(v);
  EXPECT_EQ(h.percentile(50), 127);
  EXPECT_EQ(h.min(), 0);
  EXPECT_EQ(h.max(), 255);
}

TEST(Histogram, BucketGeometryIsContiguousAndWithinOnePercent) {
  std::int64_t expected_lower = 0;
  for (std::size_t i = 0; i < Histogram::kBucketCount; ++i) {
    ASSERT_EQ(Histogram::bucket_lower(i), expected_lower) << "bucket " << i;
    const std::int64_t w = Histogram::bucket_width(i);
    if (i >= 256) {
      ASSERT_LE(static_cast<double>(w) / static_cast<double>(expected_lower), 1.0 / 128 + 1e-12);
    }
    ASSERT_EQ(Histogram::bucket_index(expected_lower), i);
    ASSERT_EQ(Histogram::bucket_index(expected_lower + w - 1), i);
    expected_lower += w;
  }
}

TEST(Histogram, PercentilesMatchExactOnUniformData) {
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<std::int64_t> d(1'000, 50'000'000);  // 1 us .. 50 ms
  std::vector<std::int64_t> values;
  Histogram h;
  for (int i = 0; i < 200'000; ++i) {
    values.push_back(d(rng));
    h.record(values.back());
  }
  expect_within_1pct(values, h);
}

TEST(Histogram, PercentilesMatchExactOnLongTailedData) {
  std::mt19937_64 rng(7);
  std::lognormal_distribution<double> d(13.0, 1.5);  // median ~0.44 ms, tail to seconds
  std::vector<std::int64_t> values;
  Histogram h;
  for (int i = 0; i < 200'000; ++i) {
    values.push_back(static_cast<std::int64_t>(d(rng)));
    h.record(values.back());
  }
  expect_within_1pct(values, h);
  EXPECT_EQ(h.max(), *std::max_element(values.begin(), values.end()));
  EXPECT_EQ(h.min(), *std::min_element(values.begin(), values.end()));
}

TEST(Histogram, MergeEqualsRecordingEverythingInOne) {
  std::mt19937_64 rng(3);
  std::exponential_distribution<double> d(1.0 / 2e6);
  Histogram a, b, all;
  std::vector<std::int64_t> values;
  for (int i = 0; i < 50'000; ++i) {
    const auto v = static_cast<std::int64_t>(d(rng));
    values.push_back(v);
    (i % 3 ? a : b).record(v);
    all.record(v);
  }
  a.merge(b);
  EXPECT_EQ(a.count(), all.count());
  EXPECT_EQ(a.buckets(), all.buckets());
  EXPECT_DOUBLE_EQ(a.mean(), all.mean());
  expect_within_1pct(values, a);
}

TEST(Histogram, HugeAndNegativeValuesAreClamped) {
  Histogram h;
  h.record(-5);
  h.record(std::int64_t{1} << 60);
  EXPECT_EQ(h.count(), 2u);
  EXPECT_EQ(h.min(), 0);
  EXPECT_EQ(h.percentile(100), std::int64_t{1} << 60);
}

TEST(Histogram, ResetKeepsNothing) {
  Histogram h;
  h.record(1000);
  h.reset();
  EXPECT_EQ(h.count(), 0u);
  h.record(5000);
  EXPECT_EQ(h.percentile(50), 5000);
}
