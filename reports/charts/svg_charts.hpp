#pragma once
// Inline SVG charts drawn from the aggregates (no scripts, no external fetches): requests/s
// over time, latency p50/p95/p99 over time, users over time, and the latency distribution from
// the overall histogram. Each data series is a <polyline class="series" data-points="N"> (or
// <rect class="bar"> for the distribution), so tests and tools can find the data.
#include <string>
#include <vector>

#include "loaddensity/stats/metrics.hpp"

namespace ld::reports {

struct ChartSeries {
  std::string label;
  std::string color;  // CSS colour
  std::vector<double> ys;
  bool fill = false;  // shade the area under the line
};

struct LineChart {
  std::string id;  // element id / file suffix
  std::string title;
  std::string y_unit;      // "req/s", "ms", "users"
  std::vector<double> xs;  // seconds since the first run started
  std::vector<ChartSeries> series;
  int width = 720;
  int height = 260;
};

std::string svg_line_chart(const LineChart& c);

struct DistributionBar {
  double lo_ms = 0, hi_ms = 0;
  std::uint64_t count = 0;
};
// Log-spaced bins over [min, max] of the histogram (at most `bins`).
std::vector<DistributionBar> latency_distribution(const stats::Histogram& h, int bins);
std::string svg_distribution_chart(const stats::Histogram& h, int width = 720, int height = 260);

// The four charts of a report, in order: rps, latency, users, distribution.
struct NamedChart {
  std::string id;
  std::string title;
  std::string svg;
};
std::vector<NamedChart> report_charts(const stats::Metrics& m);

// LD_generate_chart_report: `<report_name>-<id>.svg` for each chart; returns the paths.
std::vector<std::string> write_chart_report(const stats::Metrics& m,
                                            const std::string& report_name);

}  // namespace ld::reports
