#include "engine/progress.hpp"

#include <cstdio>
#include <ostream>

#include "core/text.hpp"

namespace ld::engine {

namespace {

class TerminalProgress final : public ProgressSink {
 public:
  explicit TerminalProgress(std::ostream& out) : out_(out) {}

  void on_interval(const stats::LiveSnapshot& s) override {
    if (s.final) return;
    char elapsed[48];
    if (s.test_time_s > 0) {
      std::snprintf(elapsed, sizeof elapsed, "%5.0fs/%.0fs", s.elapsed_s, s.test_time_s);
    } else {
      std::snprintf(elapsed, sizeof elapsed, "%5.0fs", s.elapsed_s);
    }
    const double rate = s.total_requests ? 100.0 * static_cast<double>(s.total_failures) /
                                               static_cast<double>(s.total_requests)
                                         : 0.0;
    const double rps =
        s.interval_s > 0 ? static_cast<double>(s.interval_requests) / s.interval_s : 0.0;
    const auto p95_ns = s.interval_latency.percentile(95);
    char line[256];
    std::snprintf(line, sizeof line,
                  "\r\033[K%s  users %u/%u  %s req/s  p95 %s ms  requests %s  failures %s (%.2f%%)",
                  elapsed, s.users, s.target_users, text::human_count(rps).c_str(),
                  text::format_ms(static_cast<double>(p95_ns) / 1e6).c_str(),
                  text::human_count(static_cast<double>(s.total_requests)).c_str(),
                  text::human_count(static_cast<double>(s.total_failures)).c_str(), rate);
    out_ << line << std::flush;
    shown_ = true;
  }

  void finish() override {
    if (shown_) out_ << "\r\033[K" << std::flush;
  }

 private:
  std::ostream& out_;
  bool shown_ = false;
};

}  // namespace

std::unique_ptr<ProgressSink> make_terminal_progress(std::ostream& out) {
  return std::make_unique<TerminalProgress>(out);
}

}  // namespace ld::engine
