#pragma once
// Per-worker-thread aggregation. A WorkerStats is touched only by its own thread while a test
// runs (no locks, no atomics); the collector reads the retired interval buffer after a
// hand-off through the worker's io_context, and the totals after the threads joined.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "loaddensity/stats/counters.hpp"
#include "loaddensity/stats/histogram.hpp"
#include "loaddensity/stats/live.hpp"
#include "loaddensity/stats/record.hpp"

namespace ld::stats {

class RecordLogWriter;

struct NameStats {
  std::uint64_t requests = 0;
  std::uint64_t failures = 0;
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  Histogram ok_latency;    // successes, from planned start
  Histogram fail_latency;  // failures, from planned start
  Histogram service;       // every operation, from actual start (differs in the open model)
  std::array<std::uint64_t, kErrorKindCount> by_kind{};
  std::uint64_t retries = 0;  // attempts that were retries of a failed one
  std::uint64_t messages_out = 0, messages_in = 0;  // streamed messages (Record::messages_*)

  void merge(const NameStats& o);
};

// Open model bookkeeping: iterations planned by the pacer, how they started.
struct OpenModelStats {
  std::uint64_t planned = 0;  // iterations that came due
  std::uint64_t started = 0;
  std::uint64_t queued = 0;   // waited for a free user (blocked)
  std::uint64_t dropped = 0;  // no user and no backlog room, or never started before the end
  Histogram blocked;          // start - planned, for every started iteration

  void merge(const OpenModelStats& o);
};

// What happened in one reporting interval: all names together (full-resolution latency, for
// the timeline) and per name (coarse latency, for live consumers; see live.hpp).
struct IntervalStats {
  std::uint64_t requests = 0;
  std::uint64_t failures = 0;
  std::uint64_t bytes_in = 0;
  Histogram latency;
  std::vector<IntervalName> names;  // per name id

  void merge(const IntervalStats& o);
  void reset() noexcept;
};

// Identity of a distinct failure, cheap to hash; the message text is made at merge time.
struct ErrorKey {
  std::uint32_t name_id;
  ErrorKind kind;
  const char* what;
  int code;
  bool code_is_errno;
  bool operator==(const ErrorKey&) const = default;
};
struct ErrorKeyHash {
  std::size_t operator()(const ErrorKey& k) const noexcept;
};
std::string error_message(const ErrorKey& k);

// Error text made at run time (a gRPC status message, a driver's error string) as a pointer
// that stays valid for the life of the process, so that a Record's `what` may hold it. The
// store is process-wide and bounded: at most kMaxErrorTexts distinct texts of at most
// kMaxErrorTextLength bytes each (longer ones are cut); past the bound every new text maps to
// one fixed message. Takes a lock: use WorkerStats::intern_text, which caches per worker.
constexpr std::size_t kMaxErrorTexts = 4096;
constexpr std::size_t kMaxErrorTextLength = 512;
extern const char* const kErrorTextDropped;
const char* intern_error_text(std::string_view text);

class WorkerStats {
 public:
  static constexpr std::size_t kMaxDistinctErrors = 1024;

  explicit WorkerStats(std::size_t name_count) : names_(name_count) {
    for (auto& iv : intervals_) iv.names.resize(name_count);
  }

  // Hot path: folds one record into the totals and the current interval.
  void record(const Record& r);

  // Called on the worker thread: the current interval becomes the retired one, which the
  // collector may read until it calls this again. Returns the retired buffer.
  IntervalStats& retire_interval() noexcept {
    active_ ^= 1;
    return intervals_[active_ ^ 1];
  }

  void count_retry(std::uint32_t name_id) noexcept { ++names_[name_id].retries; }

  // intern_error_text with a per-worker cache in front: a text this worker has seen costs a
  // hash lookup and no lock. Worker thread only; for failure paths, not per request.
  const char* intern_text(std::string_view text);
  OpenModelStats& open_model() noexcept { return open_; }
  const OpenModelStats& open_model() const noexcept { return open_; }
  std::uint64_t conditioner_delayed = 0;
  std::uint64_t conditioner_dropped = 0;

  // A protocol counter (stats/counters.hpp): a plain add, worker thread only.
  void add_counter(CounterId id, std::uint64_t n = 1) noexcept { counters_[id] += n; }
  std::uint64_t counter(CounterId id) const noexcept { return counters_[id]; }

  const std::vector<NameStats>& names() const noexcept { return names_; }
  const std::unordered_map<ErrorKey, std::uint64_t, ErrorKeyHash>& errors() const noexcept {
    return errors_;
  }
  std::uint64_t errors_dropped() const noexcept { return errors_dropped_; }

  // Per-request records also go to `log` (owned elsewhere, outlives the run); nullptr = off.
  void attach_log(RecordLogWriter* log) noexcept { log_ = log; }
  // True when records go to a log: sessions fill Record::url/text only then.
  bool logging() const noexcept { return log_ != nullptr; }

 private:
  std::vector<NameStats> names_;
  std::array<IntervalStats, 2> intervals_;
  unsigned active_ = 0;
  std::unordered_map<ErrorKey, std::uint64_t, ErrorKeyHash> errors_;
  std::unordered_map<std::string_view, const char*> texts_;  // keys point into the store
  std::uint64_t errors_dropped_ = 0;  // failures whose distinct key did not fit the table
  OpenModelStats open_;
  RecordLogWriter* log_ = nullptr;
  std::array<std::uint64_t, kMaxCounters> counters_{};
};

}  // namespace ld::stats
