#pragma once
// What the dashboard sends: a live snapshot as a small JSON update (src/dashboard/live_json.cpp).
// Pure functions of the snapshot and the run's history so far, so they are tested without a
// server.
#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>

#include "core/json_util.hpp"
#include "loaddensity/stats/live.hpp"

namespace ld::dashboard {

// One interval of the run, as the charts plot it.
struct Point {
  double t_s = 0;      // elapsed at the end of the interval
  double seconds = 0;  // interval length
  std::uint64_t requests = 0, failures = 0;
  double p50_ms = 0, p95_ms = 0, p99_ms = 0;
  std::uint32_t users = 0;
};

Point point_of(const stats::LiveSnapshot& s);
Json point_json(const Point& p);

// Caps of one update: the busiest names and the most frequent (name, kind) errors.
inline constexpr std::size_t kMaxNames = 100;
inline constexpr std::size_t kMaxErrors = 50;

// The update for `s`: run number, elapsed, users, totals (requests/s over the last `window_s`
// of `history`, which ends with `s`'s point), percentiles of the whole run so far, the per-name
// table and the errors by (name, kind). `points` are the chart points the client has not seen.
Json update_json(const stats::LiveSnapshot& s, std::uint64_t run, const std::deque<Point>& history,
                 double window_s, Json points);

}  // namespace ld::dashboard
