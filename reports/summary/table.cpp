#include <algorithm>
#include <cstdio>
#include <ostream>

#include "core/text.hpp"
#include "summary/summary.hpp"

namespace ld::reports {

namespace {

std::string fit(const std::string& s, std::size_t width) {
  if (s.size() <= width) return s;
  return s.substr(0, width - 3) + "...";
}

std::string ms(std::int64_t ns) { return text::format_ms(static_cast<double>(ns) / 1e6); }

}  // namespace

void print_table(const stats::Metrics& m, std::ostream& out) {
  const double duration = m.duration_s();
  std::size_t name_w = 24;
  for (const auto& n : m.names) name_w = std::max(name_w, n.name.size());
  name_w = std::min<std::size_t>(name_w, 56);
  char line[512];
  std::snprintf(line, sizeof line, "%-7s %-*s %10s %16s %9s %8s %8s %8s %8s %8s\n", "type",
                static_cast<int>(name_w), "name", "requests", "failures", "req/s", "p50", "p90",
                "p95", "p99", "max");
  out << line;
  auto row = [&](const std::string& type, const std::string& label, std::uint64_t req,
                 std::uint64_t fail, const stats::Histogram& h) {
    char fails[48];
    std::snprintf(fails, sizeof fails, "%llu (%.1f%%)", static_cast<unsigned long long>(fail),
                  req ? 100.0 * static_cast<double>(fail) / static_cast<double>(req) : 0.0);
    std::snprintf(line, sizeof line, "%-7s %-*s %10llu %16s %9s %8s %8s %8s %8s %8s\n",
                  fit(type, 7).c_str(), static_cast<int>(name_w), fit(label, name_w).c_str(),
                  static_cast<unsigned long long>(req), fails,
                  text::human_count(duration > 0 ? static_cast<double>(req) / duration : 0).c_str(),
                  ms(h.percentile(50)).c_str(), ms(h.percentile(90)).c_str(),
                  ms(h.percentile(95)).c_str(), ms(h.percentile(99)).c_str(), ms(h.max()).c_str());
    out << line;
  };
  for (const auto& n : m.names) {
    stats::Histogram h = n.ok_latency;
    h.merge(n.fail_latency);
    row(n.request_type, n.name, n.requests, n.failures, h);
  }
  out << std::string(name_w + 98, '-') << '\n';
  row("", "total", m.requests(), m.failures(), m.overall_latency());
  out << "latency in ms, from the planned start; " << text::human_count(duration) << " s measured";
  double wall = 0;
  std::uint64_t aborted = 0;
  for (const auto& r : m.runs) {
    wall += r.wall_s;
    aborted += r.aborted;
  }
  if (wall - duration >= 0.05) {
    out << ", " << text::human_count(wall) << " s with the graceful stop";
  }
  if (aborted) out << "; " << aborted << " in flight at the end recorded as aborted";
  out << '\n';
  // Protocol counters, one line per protocol: "http3: handshakes 10, packets_lost 0".
  for (std::size_t i = 0; i < m.counters.size(); ++i) {
    const auto& c = m.counters[i];
    const bool first = i == 0 || m.counters[i - 1].protocol != c.protocol;
    const bool last = i + 1 == m.counters.size() || m.counters[i + 1].protocol != c.protocol;
    out << (first ? c.protocol + ": " : std::string(", ")) << c.name << ' ' << c.value
        << (last ? "\n" : "");
  }
  if (!m.errors.empty()) {
    out << "\nerrors:\n";
    std::size_t shown = 0;
    for (const auto& e : m.errors) {
      if (++shown > 10) {
        out << "  ... " << (m.errors.size() - 10)
            << " more distinct errors in the summary report\n";
        break;
      }
      std::snprintf(line, sizeof line, "  %10llu  %-12s %s %s: %s\n",
                    static_cast<unsigned long long>(e.count), stats::error_kind_name(e.kind),
                    e.request_type.c_str(), fit(e.name, 60).c_str(), e.message.c_str());
      out << line;
    }
  }
  out.flush();
}

}  // namespace ld::reports
