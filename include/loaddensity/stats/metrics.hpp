#pragma once
// Aggregated results of every test run since the last clear: what reports, SLA gates and the
// run history read. Built by merging per-worker stats after a run; never touched by the hot path.
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "loaddensity/stats/counters.hpp"
#include "loaddensity/stats/histogram.hpp"
#include "loaddensity/stats/record.hpp"

namespace ld::stats {

struct NameMetrics {
  std::string request_type;  // "GET", "POST", "WS", ... (Locust's request_type)
  std::string name;          // the task's name, else its URL
  std::uint64_t requests = 0;
  std::uint64_t failures = 0;
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  Histogram ok_latency;
  Histogram fail_latency;
  Histogram service;
  std::array<std::uint64_t, kErrorKindCount> by_kind{};
  std::uint64_t retries = 0;
  std::uint64_t messages_out = 0, messages_in = 0;  // streamed messages (gRPC streams)
};

// The open (arrival-rate) model: how the plan was kept.
struct OpenModelMetrics {
  std::uint64_t planned = 0;   // iterations that came due
  std::uint64_t started = 0;
  std::uint64_t queued = 0;    // started late because no user was free
  std::uint64_t dropped = 0;   // never started
  double planned_rate = 0;     // iterations/s the schedule asked for
  double duration_s = 0;
  Histogram blocked;           // start - planned
};

// One row per reporting interval (one second) of the whole run.
struct IntervalPoint {
  double t_s = 0;  // seconds since the run started, at the end of the interval
  double seconds = 0;  // the interval's length
  std::uint64_t requests = 0;
  std::uint64_t failures = 0;
  std::uint64_t bytes_in = 0;
  std::int64_t p50_ns = 0, p95_ns = 0, p99_ns = 0, max_ns = 0;
  std::uint32_t users = 0;
};

struct ErrorEntry {
  std::string request_type;
  std::string name;
  ErrorKind kind = ErrorKind::kOther;
  std::string message;
  std::uint64_t count = 0;
};

struct RunInfo {
  std::string started_at;   // local ISO-8601 wall time
  std::string user;         // user template ("fast_http_user")
  std::uint32_t users = 0;  // peak users
  double spawn_rate = 0;
  double test_time_s = 0;   // configured (0 = until stopped)
  double duration_s = 0;    // measured: from the start until the test was told to stop
  double wall_s = 0;        // from the start until the last user ended (includes the stop)
  double graceful_stop_s = 0;  // how long in-flight operations were allowed to finish
  std::uint64_t aborted = 0;   // operations still in flight when they were abandoned
  std::uint32_t threads = 0;
  // What ended the test: "test_time", "load_shape", "interrupted", "hard_timeout",
  // "failure_budget: ..."; a watchdog or Ctrl-C during the graceful stop replaces the first.
  std::string stop_reason;
  std::string load_model;   // "closed", "closed:stages", "open:constant_arrival_rate", ...
  std::string shape;        // load shape name; "" = constant users
  // 1, or N when the record log's disk cap left per-request reports a 1-in-N sample.
  std::uint64_t records_sample_every = 1;
  // Events of a distributed run worth a report line ("worker X went missing at ..."), in order.
  std::vector<std::string> notes;
};

class Metrics {
 public:
  std::vector<NameMetrics> names;      // in first-seen order
  std::vector<IntervalPoint> timeline; // across runs, t_s continues
  std::vector<ErrorEntry> errors;      // distinct failures, most frequent first
  std::uint64_t errors_dropped = 0;    // failures not itemised (too many distinct messages)
  std::vector<RunInfo> runs;
  OpenModelMetrics open_model;         // zero unless an open-model run happened
  std::uint64_t conditioner_delayed = 0;
  std::uint64_t conditioner_dropped = 0;
  std::vector<CounterTotal> counters;  // protocol counters that are not zero, first-seen order

  // Totals over every name.
  std::uint64_t requests() const noexcept;
  std::uint64_t failures() const noexcept;
  std::uint64_t bytes_in() const noexcept;
  std::uint64_t bytes_out() const noexcept;
  double duration_s() const noexcept;  // sum of run durations
  Histogram overall_latency() const;   // successes and failures
  Histogram overall_ok_latency() const;

  // Adds one finished run (its names, errors, timeline shifted after the runs before it).
  void absorb(const Metrics& run);

  NameMetrics& name_slot(const std::string& request_type, const std::string& name);
  void add_error(ErrorEntry e);
  void add_counter(const std::string& protocol, const std::string& name, std::uint64_t value);
  void sort_errors();
  bool empty() const noexcept { return names.empty() && runs.empty(); }
  void clear() { *this = Metrics{}; }
};

}  // namespace ld::stats
