#pragma once
// The summary report: the original's JSON shape (totals, latency_overall, per_name) plus added
// fields (throughput, bytes, errors by kind, the error table, run headers). Reads aggregates
// only. Percentiles come from histograms (<= 1% relative error).
#include <iosfwd>
#include <string>

#include "core/json_util.hpp"
#include "loaddensity/stats/metrics.hpp"

namespace ld::reports {

Json build_summary(const stats::Metrics& m);

// Writes `<report_name>.json` (".json" appended unless present) atomically: a temporary file
// renamed into place, so a failed write leaves nothing half-written. Returns the path.
std::string write_summary_report(const stats::Metrics& m, const std::string& report_name);

// The end-of-test table, k6/Locust style, for a terminal or a log.
void print_table(const stats::Metrics& m, std::ostream& out);

// Writes `text` to `path` through a temporary file and rename. Throws std::runtime_error.
void write_file_atomic(const std::string& path, const std::string& text);

}  // namespace ld::reports
