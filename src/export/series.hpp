#pragma once
// What every exporter reads: the live snapshots of any number of runs folded into series, one
// per (request_type, name), that only grow (counters stay monotonic across the runs of one
// process), plus what changed since the exporter last looked (its interval).
//
// A SnapshotInbox is the exporter's LiveObserver: on the control thread it only queues a
// shared_ptr to the snapshot (keeping the latest of the running run and the final one of each
// ended run), so an exporter never makes the control loop wait. The exporter's own thread
// takes the queue and folds it into a SeriesBook, which works from each run's running totals:
// a skipped snapshot loses nothing, and an exporter started in the middle of a run sees the
// run from its start.
#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "loaddensity/stats/live.hpp"

namespace ld::exporters {

using stats::LiveHistogram;

// One (request_type, name): counts, bytes, failures by kind and the live histogram's bucket
// counts (LiveHistogram buckets: exact below 32 us, then 16 per power of two of microseconds).
struct Series {
  std::string request_type;
  std::string name;
  std::uint64_t requests = 0;
  std::uint64_t failures = 0;
  std::uint64_t bytes_in = 0;
  std::array<std::uint64_t, stats::kErrorKindCount> by_kind{};
  std::vector<std::uint64_t> buckets;  // LiveHistogram::kBucketCount entries once used
  double latency_sum_ns = 0;
  std::int64_t latency_max_ns = 0;

  void add(const Series& o);
  void clear_counts();
  // Nearest-rank percentile in ms from the buckets (their midpoints, capped at the max).
  double percentile_ms(double p) const;
  double mean_ms() const { return requests ? latency_sum_ns / 1e6 / double(requests) : 0; }
};

class SeriesBook {
 public:
  // Folds one snapshot: what grew since the previous snapshot of the same run (all of it for
  // a run not seen before) is added to both views.
  void fold(const std::shared_ptr<const stats::LiveSnapshot>& s);

  // Index-aligned: series i of interval() is series i of cumulative(); order of first sight.
  const std::vector<Series>& cumulative() const noexcept { return cumulative_; }
  const std::vector<Series>& interval() const noexcept { return interval_; }
  void clear_interval();

  std::uint32_t users() const noexcept { return users_; }
  std::uint32_t target_users() const noexcept { return target_users_; }

 private:
  std::size_t series_for(const std::string& request_type, const std::string& name);

  std::map<std::pair<std::string, std::string>, std::size_t> index_;
  std::vector<Series> cumulative_;
  std::vector<Series> interval_;
  std::shared_ptr<const stats::LiveSnapshot> last_;  // the previous snapshot folded
  std::vector<std::size_t> ids_;                     // last_'s name ids -> series
  std::uint32_t users_ = 0, target_users_ = 0;
};

// The exporter's observer on the App's LiveFeed: registered while it lives.
class SnapshotInbox final : public stats::LiveObserver {
 public:
  explicit SnapshotInbox(stats::LiveFeed& feed);
  ~SnapshotInbox() override;
  SnapshotInbox(const SnapshotInbox&) = delete;
  SnapshotInbox& operator=(const SnapshotInbox&) = delete;

  void on_interval(const stats::LiveSnapshot& s) override;  // control thread
  std::vector<std::shared_ptr<const stats::LiveSnapshot>> take();
  // Takes the queue and folds it into `book`.
  void drain_into(SeriesBook& book);

 private:
  stats::LiveFeed& feed_;
  std::mutex mu_;
  std::vector<std::shared_ptr<const stats::LiveSnapshot>> queue_;
};

// The bucket bounds every exporter's latency histogram uses, in microseconds: boundaries of
// the live histogram (2^k and 1.5 * 2^k us, 32 us to ~33.5 s), so each count is exact.
const std::vector<std::int64_t>& latency_bounds_us();
// "0.032", "1.5", "33554.432": a bound in ms as exact decimal text.
std::string bound_ms_text(std::int64_t us);
// Non-cumulative counts per bound (values < bound, above the previous one), plus the overflow
// last: latency_bounds_us().size() + 1 entries.
std::vector<std::uint64_t> bucket_counts(const Series& s);

// Numbers as text: shortest round-trip form of a double (no exponent for ordinary values).
std::string format_double(double v);

}  // namespace ld::exporters
