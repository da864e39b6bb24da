#include "html/html_report.hpp"

#include <algorithm>
#include <cmath>
#include <ostream>
#include <sstream>
#include <stdexcept>

#include "charts/svg_charts.hpp"
#include "common/format.hpp"
#include "common/records.hpp"

namespace ld::reports {

namespace {

const char* kStyle = R"CSS(
:root { --fg:#111827; --muted:#6b7280; --line:#e5e7eb; --bg:#f5f6f8; --card:#ffffff;
  --ok:#047857; --ok-bg:#ecfdf5; --bad:#b91c1c; --bad-bg:#fef2f2; --warn:#b45309; --accent:#2563eb; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg);
  font: 14px/1.5 -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; }
header.top { background: #111827; color: #f9fafb; padding: 22px 32px 18px; }
header.top .brand { font-size: 12px; letter-spacing: .12em; text-transform: uppercase; color: #9ca3af; }
header.top h1 { margin: 4px 0 6px; font-size: 26px; font-weight: 650; }
header.top .meta { color: #d1d5db; font-size: 13px; }
header.top code { background: #1f2937; color: #e5e7eb; padding: 2px 6px; border-radius: 4px; }
main { max-width: 1240px; margin: 0 auto; padding: 24px 32px 48px; }
h2 { font-size: 17px; margin: 32px 0 12px; font-weight: 650; }
.tiles { display: grid; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr)); gap: 12px; }
.tile { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 14px 16px; }
.tile .label { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .05em; }
.tile .value { font-size: 24px; font-weight: 650; margin-top: 2px; font-variant-numeric: tabular-nums; }
.tile .sub { color: var(--muted); font-size: 12px; }
.tile.bad { border-color: #fecaca; background: var(--bad-bg); }
.tile.bad .value { color: var(--bad); }
.tile.good .value { color: var(--ok); }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(560px, 1fr)); gap: 16px; }
.chart-card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 8px; }
.chart-card svg { width: 100%; height: auto; display: block; }
table { border-collapse: collapse; width: 100%; background: var(--card); border: 1px solid var(--line);
  border-radius: 8px; overflow: hidden; font-size: 13px; }
th, td { padding: 7px 10px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
th { background: #f9fafb; color: #374151; font-weight: 600; font-size: 12px; white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tbody tr:nth-child(even) td { background: #fcfcfd; }
tr.fail td { background: var(--bad-bg) !important; }
tr.fail td.rate { color: var(--bad); font-weight: 600; }
tr.total td { font-weight: 650; background: #f3f4f6 !important; }
td.name { word-break: break-all; max-width: 420px; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: 12px; font-weight: 600; }
.badge.pass { background: var(--ok-bg); color: var(--ok); }
.badge.fail { background: #fee2e2; color: var(--bad); }
.kind { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12px; color: var(--warn); }
.note { color: var(--muted); font-size: 12px; margin-top: 8px; }
.empty { color: var(--muted); background: var(--card); border: 1px dashed var(--line);
  border-radius: 8px; padding: 14px 16px; }
footer { color: var(--muted); font-size: 12px; margin-top: 40px; }
)CSS";

std::string ms(std::int64_t ns) {
  const double v = static_cast<double>(ns) / 1e6;
  if (v >= 100) return fixed(v, 0);
  if (v >= 10) return fixed(v, 1);
  return fixed(v, 2);
}

std::string count(std::uint64_t n) { return thousands(n); }

std::string rate(double r) {
  if (r >= 1000) return count(static_cast<std::uint64_t>(std::llround(r)));
  if (r >= 10) return fixed(r, 1);
  return fixed(r, 2);
}

std::string pct(std::uint64_t part, std::uint64_t whole) {
  return whole ? fixed(100.0 * static_cast<double>(part) / static_cast<double>(whole), 2) + "%"
               : "0.00%";
}

std::string bytes(std::uint64_t b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(b);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  return (u ? fixed(v, 1) : std::to_string(b)) + " " + units[u];
}

std::string seconds(double s) {
  if (s < 120) return fixed(s, 1) + " s";
  if (s < 7200) return fixed(s / 60, 1) + " min";
  return fixed(s / 3600, 2) + " h";
}

void tile(std::ostream& o, const std::string& label, const std::string& value,
          const std::string& sub, const char* cls = "") {
  o << "<div class=\"tile " << cls << "\"><div class=\"label\">" << html_escape(label)
    << "</div><div class=\"value\">" << html_escape(value) << "</div><div class=\"sub\">"
    << html_escape(sub) << "</div></div>\n";
}

void name_row(std::ostream& o, const std::string& type, const std::string& name, std::uint64_t req,
              std::uint64_t fail, std::uint64_t bytes_in, const stats::Histogram& h,
              double duration, const char* extra_class) {
  o << "<tr class=\"" << extra_class << (fail ? " fail" : "") << "\"><td>" << html_escape(type)
    << "</td><td class=\"name\">" << html_escape(name) << "</td><td class=\"num\">" << count(req)
    << "</td><td class=\"num\">" << count(fail) << "</td><td class=\"num rate\">" << pct(fail, req)
    << "</td><td class=\"num\">" << rate(duration > 0 ? static_cast<double>(req) / duration : 0)
    << "</td><td class=\"num\">" << ms(static_cast<std::int64_t>(h.mean()))
    << "</td><td class=\"num\">" << ms(h.percentile(50)) << "</td><td class=\"num\">"
    << ms(h.percentile(90)) << "</td><td class=\"num\">" << ms(h.percentile(95))
    << "</td><td class=\"num\">" << ms(h.percentile(99)) << "</td><td class=\"num\">" << ms(h.max())
    << "</td><td class=\"num\">" << bytes(bytes_in) << "</td></tr>\n";
}

}  // namespace

const char* html_report_style() noexcept { return kStyle; }

void write_html(std::ostream& o, const stats::Metrics& m, const HtmlContext& ctx) {
  const double duration = m.duration_s();
  const std::uint64_t requests = m.requests(), failures = m.failures();
  const stats::Histogram all = m.overall_latency();
  std::uint32_t peak_users = 0;
  for (const auto& r : m.runs) peak_users = std::max(peak_users, r.users);
  for (const auto& p : m.timeline) peak_users = std::max(peak_users, p.users);

  o << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"UTF-8\"/>\n"
    << "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n"
    << "<title>Load Density Report</title>\n<style>" << kStyle << "</style>\n</head>\n<body>\n";
  o << "<header class=\"top\"><div class=\"brand\">loaddensity</div><h1>Test Report</h1>"
    << "<div class=\"meta\">";
  if (!ctx.command.empty()) o << "<code>" << html_escape(ctx.command) << "</code> &middot; ";
  if (!m.runs.empty()) o << "started " << html_escape(m.runs.front().started_at) << " &middot; ";
  o << seconds(duration) << " measured";
  if (!ctx.generated_at.empty()) o << " &middot; generated " << html_escape(ctx.generated_at);
  o << "</div></header>\n<main>\n";

  // ---- totals
  o << "<section id=\"totals\"><h2>Totals</h2><div class=\"tiles\">\n";
  tile(o, "Requests", count(requests), rate(duration > 0 ? requests / duration : 0) + " req/s");
  tile(o, "Failures", count(failures), pct(failures, requests) + " of requests",
       failures ? "bad" : "good");
  tile(o, "p50 latency", ms(all.percentile(50)) + " ms",
       "mean " + ms(static_cast<std::int64_t>(all.mean())) + " ms");
  tile(o, "p95 latency", ms(all.percentile(95)) + " ms", "p90 " + ms(all.percentile(90)) + " ms");
  tile(o, "p99 latency", ms(all.percentile(99)) + " ms", "max " + ms(all.max()) + " ms");
  tile(o, "Duration", seconds(duration),
       std::to_string(m.runs.size()) + (m.runs.size() == 1 ? " run" : " runs"));
  tile(o, "Peak users", count(peak_users), "virtual users");
  tile(o, "Received", bytes(m.bytes_in()), "sent " + bytes(m.bytes_out()));
  o << "</div></section>\n";

  // ---- protocol counters (only when a protocol counted something)
  if (!m.counters.empty()) {
    o << "<section id=\"protocol-counters\"><h2>Protocol counters</h2>\n<table><thead><tr>"
      << "<th>Protocol</th><th>Counter</th><th class=\"num\">Value</th></tr></thead><tbody>\n";
    for (const auto& c : m.counters) {
      o << "<tr><td>" << html_escape(c.protocol) << "</td><td>" << html_escape(c.name)
        << "</td><td class=\"num\">" << count(c.value) << "</td></tr>\n";
    }
    o << "</tbody></table></section>\n";
  }

  // ---- SLA
  if (ctx.sla_results && ctx.sla_results->is_array() && !ctx.sla_results->empty()) {
    std::size_t failed = 0;
    for (const Json& r : *ctx.sla_results) failed += r.value("passed", false) ? 0 : 1;
    o << "<section id=\"sla\"><h2>SLA gates <span class=\"badge " << (failed ? "fail" : "pass")
      << "\">" << (failed ? std::to_string(failed) + " failed" : std::string("all passed"))
      << "</span></h2>\n<table><thead><tr><th>Result</th><th>Rule</th><th>Scope</th>"
      << "<th class=\"num\">Actual</th><th class=\"num\">Limit</th><th>Reason</th></tr></thead>"
      << "<tbody>\n";
    for (const Json& r : *ctx.sla_results) {
      const bool passed = r.value("passed", false);
      const Json& rule = r.contains("rule") ? r["rule"] : Json();
      const auto field = [&](const char* k, const std::string& dflt) {
        return rule.is_object() && rule.contains(k) ? json_display(rule[k]) : dflt;
      };
      o << "<tr class=\"" << (passed ? "" : "fail") << "\"><td><span class=\"badge "
        << (passed ? "pass\">pass" : "fail\">fail") << "</span></td><td>"
        << html_escape(field("type", "?")) << " " << html_escape(field("op", "lte"))
        << "</td><td class=\"name\">" << html_escape(field("name", "overall"))
        << "</td><td class=\"num\">"
        << (r.contains("actual") && r["actual"].is_number()
                ? html_escape(py_float(r["actual"].get<double>()))
                : std::string("&ndash;"))
        << "</td><td class=\"num\">" << html_escape(field("value", "")) << "</td><td>"
        << html_escape(r.value("reason", std::string())) << "</td></tr>\n";
    }
    o << "</tbody></table></section>\n";
  }

  // ---- runs
  o << "<section id=\"runs\"><h2>Runs</h2>\n<table><thead><tr><th>#</th><th>Started</th>"
    << "<th>User</th><th>Shape</th><th class=\"num\">Users</th><th class=\"num\">Spawn rate</th>"
    << "<th class=\"num\">Test time</th><th class=\"num\">Measured</th>"
    << "<th class=\"num\">With stop</th><th class=\"num\">Aborted</th>"
    << "<th class=\"num\">Threads</th><th>Stopped by</th></tr></thead><tbody>\n";
  for (std::size_t i = 0; i < m.runs.size(); ++i) {
    const auto& r = m.runs[i];
    o << "<tr><td>" << i + 1 << "</td><td>" << html_escape(r.started_at) << "</td><td>"
      << html_escape(r.user) << "</td><td>"
      << html_escape(r.shape.empty() ? std::string("constant users") : r.shape)
      << "</td><td class=\"num\">" << r.users << "</td><td class=\"num\">" << rate(r.spawn_rate)
      << "/s</td><td class=\"num\">"
      << (r.test_time_s > 0 ? seconds(r.test_time_s) : std::string("until stopped"))
      << "</td><td class=\"num\">" << seconds(r.duration_s) << "</td><td class=\"num\">"
      << seconds(std::max(r.wall_s, r.duration_s)) << "</td><td class=\"num\">" << r.aborted
      << "</td><td class=\"num\">" << r.threads << "</td><td>" << html_escape(r.stop_reason)
      << "</td></tr>\n";
  }
  o << "</tbody></table>";
  for (std::size_t i = 0; i < m.runs.size(); ++i) {
    for (const auto& n : m.runs[i].notes) {
      o << "\n<p class=\"note\">Run " << i + 1 << ": " << html_escape(n) << "</p>";
    }
  }
  o << "</section>\n";

  // ---- charts
  o << "<section id=\"charts\"><h2>Charts</h2><div class=\"charts\">\n";
  for (const auto& c : report_charts(m)) o << "<div class=\"chart-card\">" << c.svg << "</div>\n";
  o << "</div><p class=\"note\">Latency is measured from the planned start of each request; "
       "percentiles come from log-linear histograms (error below 0.4%).</p></section>\n";

  // ---- per name
  o << "<section id=\"names\"><h2>Requests by name</h2>\n<table><thead><tr><th>Type</th>"
    << "<th>Name</th><th class=\"num\">Requests</th><th class=\"num\">Failures</th>"
    << "<th class=\"num\">Fail %</th><th class=\"num\">req/s</th><th class=\"num\">Mean ms</th>"
    << "<th class=\"num\">p50</th><th class=\"num\">p90</th><th class=\"num\">p95</th>"
    << "<th class=\"num\">p99</th><th class=\"num\">Max</th><th class=\"num\">Received</th>"
    << "</tr></thead><tbody>\n";
  for (const auto& n : m.names) {
    stats::Histogram h = n.ok_latency;
    h.merge(n.fail_latency);
    name_row(o, n.request_type, n.name, n.requests, n.failures, n.bytes_in, h, duration, "");
  }
  name_row(o, "", "Total", requests, failures, m.bytes_in(), all, duration, "total");
  o << "</tbody></table></section>\n";

  // ---- errors
  o << "<section id=\"errors\"><h2>Errors</h2>\n";
  if (m.errors.empty()) {
    o << "<p class=\"empty\">No request failed.</p>\n";
  } else {
    o << "<table><thead><tr><th class=\"num\">Count</th><th>Kind</th><th>Type</th><th>Name</th>"
      << "<th>Message</th></tr></thead><tbody>\n";
    for (const auto& e : m.errors) {
      o << "<tr class=\"fail\"><td class=\"num\">" << count(e.count)
        << "</td><td><span class=\"kind\">" << stats::error_kind_name(e.kind) << "</span></td><td>"
        << html_escape(e.request_type) << "</td><td class=\"name\">" << html_escape(e.name)
        << "</td><td>" << html_escape(e.message) << "</td></tr>\n";
    }
    o << "</tbody></table>\n";
    if (m.errors_dropped) {
      o << "<p class=\"note\">" << count(m.errors_dropped)
        << " more failures had messages beyond the distinct-error table.</p>\n";
    }
  }
  o << "</section>\n";

  // ---- failed requests (record log)
  o << "<section id=\"failed-requests\"><h2>Failed requests</h2>\n";
  std::uint64_t sample_every = 1;
  for (const auto& r : m.runs) sample_every = std::max(sample_every, r.records_sample_every);
  if (ctx.log && sample_every > 1) {
    o << "<p class=\"note sampled\">The per-request record log reached its disk cap "
         "(record_log_max_mb): the requests listed here and in the CSV/JSON/XML reports are a "
         "sample (down to 1 in "
      << sample_every << "); counts, rates and percentiles above cover every request.</p>\n";
  }
  if (!ctx.log) {
    o << "<p class=\"empty\">Individual requests were not recorded for this report.</p>\n";
  } else if (failures == 0) {
    o << "<p class=\"empty\">No request failed.</p>\n";
  } else {
    std::size_t shown = 0;
    o << "<table class=\"main_table\"><thead><tr><th class=\"num\">Run</th><th "
         "class=\"num\">At</th>"
      << "<th>Method</th><th>Name</th><th class=\"num\">Status</th><th class=\"num\">Latency "
         "ms</th>"
      << "<th>URL</th><th>Error</th><th>Response text</th></tr></thead><tbody>\n";
    ctx.log->for_each(stats::RecordLog::Filter::kFailures, [&](const stats::LoggedRecord& r) {
      if (shown >= ctx.max_failures) return false;
      ++shown;
      const RequestFields f = request_fields(r);
      o << "<tr class=\"fail\"><td class=\"num\">" << r.run + 1 << "</td><td class=\"num\">"
        << fixed(r.offset / 1e9, 3) << " s</td><td>" << html_escape(f.method)
        << "</td><td class=\"name\">" << html_escape(f.name) << "</td><td class=\"num\">"
        << (f.status_code.empty() ? std::string("&ndash;") : html_escape(f.status_code))
        << "</td><td class=\"num\">" << ms(r.latency) << "</td><td class=\"url\">"
        << html_escape(f.test_url) << "</td><td>" << html_escape(f.error) << "</td><td>"
        << html_escape(std::string(r.text)) << "</td></tr>\n";
      return true;
    });
    o << "</tbody></table>\n";
    const std::uint64_t logged = ctx.log->count(stats::RecordLog::Filter::kFailures);
    if (logged > shown) {
      o << "<p class=\"note\">The first " << count(shown) << " of " << count(logged)
        << " failed requests are listed; " << count(logged - shown)
        << " more are in the CSV/JSON reports and the errors table above.</p>\n";
    }
  }
  o << "</section>\n";

  o << "<footer>Generated by loaddensity";
  if (!ctx.version.empty()) o << ' ' << html_escape(ctx.version);
  o << ". A failure keeps the first 1 KiB of a captured body; successful responses' bodies and "
       "headers are kept only when the test sets record_bodies.</footer>\n</main>\n</body>\n"
       "</html>\n";
}

std::string write_html_report(const stats::Metrics& m, const HtmlContext& ctx,
                              const std::string& html_name) {
  if (m.empty()) throw std::runtime_error("nothing to report: no test has run");
  std::string path = html_name;
  if (path.size() < 5 || path.compare(path.size() - 5, 5, ".html") != 0) path += ".html";
  AtomicFile file(path);
  write_html(file.out(), m, ctx);
  file.commit();
  return path;
}

}  // namespace ld::reports
