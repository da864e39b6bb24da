#pragma once
// Live progress while a test runs: one line per second on a terminal, nothing otherwise. The
// progress line is a live-statistics observer like any other (stats/live.hpp).
#include <iosfwd>
#include <memory>

#include "loaddensity/stats/live.hpp"

namespace ld::engine {

class ProgressSink : public stats::LiveObserver {
 public:
  // Clears the line once the run is over.
  virtual void finish() = 0;
};

// Rewrites one line on `out` (a terminal) each interval.
std::unique_ptr<ProgressSink> make_terminal_progress(std::ostream& out);

}  // namespace ld::engine
