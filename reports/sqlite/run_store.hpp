#pragma once
// The run history: SQLite with the original's schema (load_density_runs, load_density_records
// and their indexes, created lazily, so an empty file works) plus two tables of our own:
//   load_density_run_stats   one row per run: totals, the summary JSON, and `complete`, set in
//                            the last transaction once every record was written
//   load_density_name_stats  per (run, request type, name): counts, percentiles and the
//                            serialised latency histograms, so runs compare without records
// WAL mode; records are inserted in batched transactions. A process killed mid-write leaves
// every committed run intact and the interrupted run marked incomplete (its aggregates, written
// first, are still usable).
#include <cstdint>
#include <iosfwd>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

#include "core/json_util.hpp"
#include "loaddensity/stats/metrics.hpp"
#include "stats/record_log.hpp"

namespace ld::reports {

// A database that cannot be opened or read, a file that is not SQLite, a run id that is not
// there. The message names the path.
class RunStoreError : public std::runtime_error {
 public:
  explicit RunStoreError(const std::string& message, std::string field = "database_path")
      : std::runtime_error(message), field_(std::move(field)) {}
  // The argument at fault: "database_path", "run_id", "baseline_run_id", "current_run_id".
  const std::string& field() const noexcept { return field_; }

 private:
  std::string field_;
};

struct PersistOptions {
  std::optional<std::string> label;
  Json metadata = Json::object();
  std::size_t batch_rows = 20000;  // records per transaction
};

// Stores the aggregates (and, when `log` is given, every record) as one new run; returns its id.
std::int64_t persist_run(const std::string& database_path, const stats::Metrics& m,
                         const stats::RecordLog* log, const PersistOptions& options);

// [{id, started_at, label, metadata_json, complete, requests, failures, duration_s}], newest
// first (the original's fields first; the last four are null for runs stored by the original).
Json list_runs(const std::string& database_path, std::int64_t limit);

// [{outcome, method, test_url, name, status_code, response_time_ms, response_length, error}]
// of one run, in insertion order, at most `limit` (< 0: all).
Json fetch_run_records(const std::string& database_path, std::int64_t run_id, std::int64_t limit);

// The original's diff: {baseline_run_id, current_run_id, tolerance, per_name: {name: {deltas:
// {p50_ms, p95_ms, p99_ms, failure_rate, mean_ms: {baseline, current, abs, pct}}}},
// regressions: [{name, metrics}], has_regressions}. Per-name figures come from the stored
// histograms, or from the records for runs stored without them (exact, linear interpolation
// as the original). pct = abs / baseline (0 when the baseline is 0); a metric regresses when
// pct > tolerance.
Json diff_runs(const std::string& database_path, std::int64_t baseline_run_id,
               std::int64_t current_run_id, double tolerance);

// The diff as a terminal table (one row per name and metric).
void print_diff_table(const Json& diff, std::ostream& out);

}  // namespace ld::reports
