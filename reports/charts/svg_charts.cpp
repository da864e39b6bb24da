#include "charts/svg_charts.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <stdexcept>

#include "common/format.hpp"

namespace ld::reports {

namespace {

constexpr int kLeft = 64, kRight = 18, kTop = 40, kBottom = 40;

// A "nice" step (1, 2, 2.5 or 5 times a power of ten) giving about `target` intervals.
double nice_step(double range, int target) {
  if (range <= 0) return 1;
  const double raw = range / target;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0}) {
    if (raw <= m * mag) return m * mag;
  }
  return 10 * mag;
}

std::string num(double v) {
  // Compact axis labels: 1200 -> "1.2k", 0.25 -> "0.25".
  const double a = std::fabs(v);
  char buf[32];
  if (a >= 1e6) {
    std::snprintf(buf, sizeof buf, "%gM", std::round(v / 1e5) / 10);
  } else if (a >= 1e4) {
    std::snprintf(buf, sizeof buf, "%gk", std::round(v / 1e2) / 10);
  } else if (a >= 100 || a == 0) {
    std::snprintf(buf, sizeof buf, "%g", std::round(v));
  } else {
    std::snprintf(buf, sizeof buf, "%g", std::round(v * 100) / 100);
  }
  return buf;
}

std::string coord(double v) { return fixed(v, 1); }

std::string duration_label(double s) {
  if (s < 120) return num(s) + "s";
  if (s < 7200) return num(s / 60) + "m";
  return num(s / 3600) + "h";
}

void open_svg(std::ostringstream& o, const std::string& id, const std::string& title, int w,
              int h) {
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" id=\"chart-" << xml_escape(id)
    << "\" viewBox=\"0 0 " << w << ' ' << h << "\" width=\"" << w << "\" height=\"" << h
    << "\" role=\"img\" aria-label=\"" << xml_escape(title)
    << "\" font-family=\"-apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif\">\n";
  o << "<title>" << xml_escape(title) << "</title>\n";
  o << "<rect x=\"0\" y=\"0\" width=\"" << w << "\" height=\"" << h
    << "\" fill=\"#ffffff\" rx=\"6\"/>\n";
  o << "<text x=\"" << kLeft
    << "\" y=\"22\" font-size=\"14\" font-weight=\"600\" "
       "fill=\"#1f2937\">"
    << xml_escape(title) << "</text>\n";
}

void no_data(std::ostringstream& o, int w, int h) {
  o << "<text x=\"" << w / 2 << "\" y=\"" << h / 2
    << "\" text-anchor=\"middle\" font-size=\"13\" fill=\"#6b7280\">no data</text>\n</svg>\n";
}

}  // namespace

std::string svg_line_chart(const LineChart& c) {
  std::ostringstream o;
  open_svg(o, c.id, c.title, c.width, c.height);
  const int pw = c.width - kLeft - kRight, ph = c.height - kTop - kBottom;
  if (c.xs.empty()) {
    no_data(o, c.width, c.height);
    return o.str();
  }
  // The axis starts at the first interval's start (the first point is its end).
  const double x0 = c.xs.size() > 1 ? std::max(0.0, c.xs.front() - (c.xs[1] - c.xs[0])) : 0;
  const double x1 = std::max(c.xs.back(), x0 + 1e-9);
  double ymax = 0;
  for (const auto& s : c.series) {
    for (double y : s.ys) ymax = std::max(ymax, y);
  }
  const double ystep = nice_step(ymax > 0 ? ymax : 1, 4);
  const double ytop = std::max(ystep, std::ceil(ymax / ystep) * ystep);
  auto X = [&](double x) { return kLeft + (x - x0) / (x1 - x0) * pw; };
  auto Y = [&](double y) { return kTop + ph - y / ytop * ph; };

  // Grid and axes.
  o << "<g class=\"grid\" stroke=\"#e5e7eb\" stroke-width=\"1\">\n";
  for (double y = 0; y <= ytop + ystep / 2; y += ystep) {
    o << "<line x1=\"" << kLeft << "\" x2=\"" << kLeft + pw << "\" y1=\"" << coord(Y(y))
      << "\" y2=\"" << coord(Y(y)) << "\"/>\n";
  }
  o << "</g>\n<g class=\"axis\" font-size=\"11\" fill=\"#6b7280\">\n";
  for (double y = 0; y <= ytop + ystep / 2; y += ystep) {
    o << "<text x=\"" << kLeft - 8 << "\" y=\"" << coord(Y(y) + 4) << "\" text-anchor=\"end\">"
      << num(y) << "</text>\n";
  }
  const double xstep = nice_step(x1 - x0, 6);
  for (double x = std::ceil(x0 / xstep) * xstep; x <= x1 + 1e-9; x += xstep) {
    o << "<text x=\"" << coord(X(x)) << "\" y=\"" << kTop + ph + 18 << "\" text-anchor=\"middle\">"
      << duration_label(x) << "</text>\n";
  }
  o << "<text x=\"" << kLeft - 8 << "\" y=\"" << kTop - 8 << "\" text-anchor=\"end\">"
    << xml_escape(c.y_unit) << "</text>\n";
  o << "</g>\n";
  o << "<line x1=\"" << kLeft << "\" x2=\"" << kLeft + pw << "\" y1=\"" << kTop + ph << "\" y2=\""
    << kTop + ph << "\" stroke=\"#9ca3af\"/>\n";

  // Series.
  const bool dots = c.xs.size() <= 40;
  for (const auto& s : c.series) {
    std::string pts;
    const std::size_t n = std::min(c.xs.size(), s.ys.size());
    for (std::size_t i = 0; i < n; ++i) {
      if (i) pts += ' ';
      pts += coord(X(c.xs[i])) + "," + coord(Y(s.ys[i]));
    }
    if (s.fill && n > 0) {
      o << "<polygon class=\"area\" fill=\"" << s.color << "\" fill-opacity=\"0.12\" points=\""
        << coord(X(c.xs[0])) << ',' << coord(Y(0)) << ' ' << pts << ' ' << coord(X(c.xs[n - 1]))
        << ',' << coord(Y(0)) << "\"/>\n";
    }
    o << "<polyline class=\"series\" data-series=\"" << xml_escape(s.label) << "\" data-points=\""
      << n << "\" fill=\"none\" stroke=\"" << s.color
      << "\" stroke-width=\"2\" stroke-linejoin=\"round\" points=\"" << pts << "\"/>\n";
    if (dots) {
      for (std::size_t i = 0; i < n; ++i) {
        o << "<circle cx=\"" << coord(X(c.xs[i])) << "\" cy=\"" << coord(Y(s.ys[i]))
          << "\" r=\"2.5\" fill=\"" << s.color << "\"><title>" << xml_escape(s.label) << " "
          << num(s.ys[i]) << ' ' << xml_escape(c.y_unit) << " at " << duration_label(c.xs[i])
          << "</title></circle>\n";
      }
    }
  }
  // Legend (top right).
  if (c.series.size() > 1) {
    int lx = c.width - kRight;
    for (auto it = c.series.rbegin(); it != c.series.rend(); ++it) {
      const int w = 26 + static_cast<int>(it->label.size()) * 7;
      lx -= w;
      o << "<g class=\"legend\"><rect x=\"" << lx << "\" y=\"13\" width=\"12\" height=\"3\" fill=\""
        << it->color << "\"/><text x=\"" << lx + 16 << "\" y=\"19\" font-size=\"11\" "
        << "fill=\"#374151\">" << xml_escape(it->label) << "</text></g>\n";
    }
  }
  o << "</svg>\n";
  return o.str();
}

std::vector<DistributionBar> latency_distribution(const stats::Histogram& h, int bins) {
  std::vector<DistributionBar> out;
  if (h.empty() || bins <= 0) return out;
  const double lo = std::max(1e-3, static_cast<double>(h.min()) / 1e6);
  const double hi = std::max(lo * 1.0001, static_cast<double>(h.max()) / 1e6);
  const double llo = std::log(lo), lhi = std::log(hi);
  out.resize(static_cast<std::size_t>(bins));
  for (int i = 0; i < bins; ++i) {
    out[i].lo_ms = std::exp(llo + (lhi - llo) * i / bins);
    out[i].hi_ms = std::exp(llo + (lhi - llo) * (i + 1) / bins);
  }
  const auto& buckets = h.buckets();
  for (std::size_t b = 0; b < buckets.size(); ++b) {
    if (!buckets[b]) continue;
    const double mid = (static_cast<double>(stats::Histogram::bucket_lower(b)) +
                        static_cast<double>(stats::Histogram::bucket_width(b) - 1) / 2) /
                       1e6;
    const double v = std::clamp(mid, lo, hi);
    int i = static_cast<int>((std::log(v) - llo) / (lhi - llo) * bins);
    i = std::clamp(i, 0, bins - 1);
    out[i].count += buckets[b];
  }
  return out;
}

std::string svg_distribution_chart(const stats::Histogram& h, int width, int height) {
  std::ostringstream o;
  const std::string title = "Latency distribution";
  open_svg(o, "distribution", title, width, height);
  if (h.empty()) {
    no_data(o, width, height);
    return o.str();
  }
  const auto bars = latency_distribution(h, 40);
  const int pw = width - kLeft - kRight, ph = height - kTop - kBottom;
  std::uint64_t cmax = 0;
  for (const auto& b : bars) cmax = std::max(cmax, b.count);
  const double ystep = nice_step(static_cast<double>(cmax), 4);
  const double ytop = std::max(ystep, std::ceil(cmax / ystep) * ystep);
  const double llo = std::log(bars.front().lo_ms), lhi = std::log(bars.back().hi_ms);
  auto X = [&](double ms) { return kLeft + (std::log(ms) - llo) / (lhi - llo) * pw; };
  auto Y = [&](double c) { return kTop + ph - c / ytop * ph; };
  o << "<g class=\"grid\" stroke=\"#e5e7eb\" stroke-width=\"1\">\n";
  for (double y = 0; y <= ytop + ystep / 2; y += ystep) {
    o << "<line x1=\"" << kLeft << "\" x2=\"" << kLeft + pw << "\" y1=\"" << coord(Y(y))
      << "\" y2=\"" << coord(Y(y)) << "\"/>\n";
  }
  o << "</g>\n<g class=\"axis\" font-size=\"11\" fill=\"#6b7280\">\n";
  for (double y = 0; y <= ytop + ystep / 2; y += ystep) {
    o << "<text x=\"" << kLeft - 8 << "\" y=\"" << coord(Y(y) + 4) << "\" text-anchor=\"end\">"
      << num(y) << "</text>\n";
  }
  o << "<text x=\"" << kLeft - 8 << "\" y=\"" << kTop - 8
    << "\" text-anchor=\"end\">requests</text>\n";
  // Log-scale x labels at 1-2-5 steps inside the range.
  for (double dec = std::pow(10.0, std::floor(std::log10(bars.front().lo_ms)));
       dec <= bars.back().hi_ms; dec *= 10) {
    for (double m : {1.0, 2.0, 5.0}) {
      const double v = dec * m;
      if (v < bars.front().lo_ms || v > bars.back().hi_ms) continue;
      o << "<text x=\"" << coord(X(v)) << "\" y=\"" << kTop + ph + 18
        << "\" text-anchor=\"middle\">" << num(v) << "</text>\n";
    }
  }
  o << "<text x=\"" << kLeft + pw << "\" y=\"" << kTop + ph + 32
    << "\" text-anchor=\"end\">latency (ms, log scale)</text>\n";
  o << "</g>\n";
  o << "<g class=\"bars\" fill=\"#6366f1\">\n";
  for (const auto& b : bars) {
    if (!b.count) continue;
    const double x = X(b.lo_ms), w = std::max(1.0, X(b.hi_ms) - X(b.lo_ms) - 1);
    o << "<rect class=\"bar\" x=\"" << coord(x) << "\" y=\""
      << coord(Y(static_cast<double>(b.count))) << "\" width=\"" << coord(w) << "\" height=\""
      << coord(Y(0) - Y(static_cast<double>(b.count))) << "\"><title>" << num(b.lo_ms) << "–"
      << num(b.hi_ms) << " ms: " << b.count << " requests</title></rect>\n";
  }
  o << "</g>\n";
  o << "<line x1=\"" << kLeft << "\" x2=\"" << kLeft + pw << "\" y1=\"" << kTop + ph << "\" y2=\""
    << kTop + ph << "\" stroke=\"#9ca3af\"/>\n";
  // Percentile markers.
  const struct {
    double p;
    const char* label;
    const char* color;
  } marks[] = {{50, "p50", "#10b981"}, {95, "p95", "#f59e0b"}, {99, "p99", "#ef4444"}};
  for (const auto& mk : marks) {
    const double v = std::clamp(static_cast<double>(h.percentile(mk.p)) / 1e6, bars.front().lo_ms,
                                bars.back().hi_ms);
    const bool right = X(v) > width - kRight - 40;  // keep the label inside the chart
    o << "<g class=\"marker\"><line x1=\"" << coord(X(v)) << "\" x2=\"" << coord(X(v)) << "\" y1=\""
      << kTop << "\" y2=\"" << kTop + ph << "\" stroke=\"" << mk.color
      << "\" stroke-dasharray=\"4 3\"/><text x=\"" << coord(right ? X(v) - 3 : X(v) + 3)
      << "\" y=\"" << kTop + 10 + 11 * (&mk - marks) << "\" font-size=\"10\" text-anchor=\""
      << (right ? "end" : "start") << "\" fill=\"" << mk.color << "\">" << mk.label
      << "</text></g>\n";
  }
  o << "</svg>\n";
  return o.str();
}

std::vector<NamedChart> report_charts(const stats::Metrics& m) {
  LineChart rps, lat, users;
  rps.id = "rps", rps.title = "Requests per second", rps.y_unit = "req/s";
  lat.id = "latency", lat.title = "Latency over time", lat.y_unit = "ms";
  users.id = "users", users.title = "Users over time", users.y_unit = "users";
  ChartSeries total{"requests/s", "#2563eb", {}, true};
  ChartSeries fails{"failures/s", "#dc2626", {}, false};
  ChartSeries p50{"p50", "#10b981", {}, false};
  ChartSeries p95{"p95", "#f59e0b", {}, false};
  ChartSeries p99{"p99", "#ef4444", {}, false};
  ChartSeries u{"users", "#7c3aed", {}, true};
  for (const auto& p : m.timeline) {
    const double s = p.seconds > 0 ? p.seconds : 1;
    rps.xs.push_back(p.t_s);
    total.ys.push_back(p.requests / s);
    fails.ys.push_back(p.failures / s);
    p50.ys.push_back(p.p50_ns / 1e6);
    p95.ys.push_back(p.p95_ns / 1e6);
    p99.ys.push_back(p.p99_ns / 1e6);
    u.ys.push_back(p.users);
  }
  lat.xs = users.xs = rps.xs;
  rps.series = {total, fails};
  lat.series = {p50, p95, p99};
  users.series = {u};
  return {{"rps", rps.title, svg_line_chart(rps)},
          {"latency", lat.title, svg_line_chart(lat)},
          {"users", users.title, svg_line_chart(users)},
          {"distribution", "Latency distribution", svg_distribution_chart(m.overall_latency())}};
}

std::vector<std::string> write_chart_report(const stats::Metrics& m,
                                            const std::string& report_name) {
  if (m.empty()) throw std::runtime_error("no results to chart: no test has run");
  std::vector<std::string> paths;
  for (const auto& c : report_charts(m)) {
    AtomicFile f(report_name + "-" + c.id + ".svg");
    f.out() << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" << c.svg;
    f.commit();
    paths.push_back(f.path());
  }
  return paths;
}

}  // namespace ld::reports
