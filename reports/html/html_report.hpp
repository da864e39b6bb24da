#pragma once
// The HTML report: one self-contained file (inline CSS and SVG, no scripts, no network
// fetches): run header, totals, SLA results, four charts, the per-name table with
// percentiles, the error table and the first failed requests from the record log (with the
// count of the rest). Title "Load Density Report" and <h1>Test Report</h1> as the original.
#include <iosfwd>
#include <string>

#include "core/json_util.hpp"
#include "loaddensity/stats/metrics.hpp"
#include "stats/record_log.hpp"

namespace ld::reports {

struct HtmlContext {
  std::string command;       // what was run ("loaddensity run smoke.json")
  std::string generated_at;  // wall time of writing
  std::string version;
  const Json* sla_results = nullptr;      // may be null
  const stats::RecordLog* log = nullptr;  // may be null: no request tables
  std::size_t max_failures = 100;         // failed requests listed individually
};

// The report's stylesheet (colours, tiles, tables), which the live dashboard shares.
const char* html_report_style() noexcept;

void write_html(std::ostream& out, const stats::Metrics& m, const HtmlContext& ctx);
// Writes `<html_name>.html` atomically; returns the path. Throws when no test has run.
std::string write_html_report(const stats::Metrics& m, const HtmlContext& ctx,
                              const std::string& html_name);

}  // namespace ld::reports
