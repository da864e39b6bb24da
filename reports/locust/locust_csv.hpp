#pragma once
// Locust-compatible CSV files (the headers Locust 2.x writes with --csv PREFIX):
//   PREFIX_stats.csv          one row per (type, name), sorted by name then type, then
//                             "Aggregated"; response times in ms, percentiles rounded the way
//                             Locust rounds response times (2 significant digits above 100 ms)
//   PREFIX_stats_history.csv  one "Aggregated" row per reporting interval: the interval's
//                             requests/s and failures/s, cumulative percentiles and totals
//   PREFIX_failures.csv       Method,Name,Error,Occurrences
//   PREFIX_exceptions.csv     Count,Message,Traceback,Nodes (loaddensity raises none: header)
// The history's cumulative percentiles come from the record log (streamed); without it the
// percentile columns hold "N/A".
#include <iosfwd>
#include <string>
#include <vector>

#include "loaddensity/stats/metrics.hpp"
#include "stats/record_log.hpp"

namespace ld::reports {

// Locust's stored response time for `ms` (what its percentiles are computed from).
long locust_round_ms(double ms);

void write_locust_stats(std::ostream& out, const stats::Metrics& m);
void write_locust_history(std::ostream& out, const stats::Metrics& m, const stats::RecordLog* log);
void write_locust_failures(std::ostream& out, const stats::Metrics& m);
void write_locust_exceptions(std::ostream& out);

// Writes the four files atomically; returns their paths.
std::vector<std::string> write_locust_csv(const stats::Metrics& m, const stats::RecordLog* log,
                                          const std::string& prefix);

// Unix time of a RunInfo::started_at local timestamp ("2026-11-26T02:33:36"); 0 when unparsable.
long long local_iso_to_unix(const std::string& iso);

}  // namespace ld::reports
