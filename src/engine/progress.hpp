#pragma once
// Live progress while a test runs: one line per second on a terminal, nothing otherwise.
#include <cstdint>
#include <iosfwd>
#include <memory>

namespace ld::engine {

struct ProgressSnapshot {
  double elapsed_s = 0;
  double test_time_s = 0;  // 0 = until stopped
  std::uint32_t users = 0;
  std::uint32_t target_users = 0;
  double rps = 0;               // last interval
  std::int64_t p95_ns = 0;      // last interval
  std::uint64_t requests = 0;   // since start
  std::uint64_t failures = 0;   // since start
};

class ProgressSink {
 public:
  virtual ~ProgressSink() = default;
  virtual void update(const ProgressSnapshot& s) = 0;
  virtual void finish() = 0;
};

// Rewrites one line on `out` (a terminal) each update.
std::unique_ptr<ProgressSink> make_terminal_progress(std::ostream& out);

}  // namespace ld::engine
