#include "dashboard/live_json.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

namespace ld::dashboard {

namespace {

double ms(double ns) { return std::round(ns / 1e3) / 1e3; }
double round3(double v) { return std::round(v * 1000.0) / 1000.0; }
double ratio(std::uint64_t part, std::uint64_t whole) {
  return whole ? round3(static_cast<double>(part) / static_cast<double>(whole) * 1000) / 1000 : 0.0;
}

Json latency_json(const stats::LiveHistogram& h) {
  return {{"mean_ms", ms(h.mean_ns())},
          {"p50_ms", ms(static_cast<double>(h.percentile(50)))},
          {"p95_ms", ms(static_cast<double>(h.percentile(95)))},
          {"p99_ms", ms(static_cast<double>(h.percentile(99)))},
          {"max_ms", ms(static_cast<double>(h.max_ns()))}};
}

}  // namespace

Point point_of(const stats::LiveSnapshot& s) {
  Point p;
  p.t_s = s.elapsed_s;
  p.seconds = s.interval_s;
  p.requests = s.interval_requests;
  p.failures = s.interval_failures;
  p.p50_ms = ms(static_cast<double>(s.interval_latency.percentile(50)));
  p.p95_ms = ms(static_cast<double>(s.interval_latency.percentile(95)));
  p.p99_ms = ms(static_cast<double>(s.interval_latency.percentile(99)));
  p.users = s.users;
  return p;
}

Json point_json(const Point& p) {
  const double rps = p.seconds > 0 ? static_cast<double>(p.requests) / p.seconds : 0;
  const double fps = p.seconds > 0 ? static_cast<double>(p.failures) / p.seconds : 0;
  return {{"t", round3(p.t_s)},     {"s", round3(p.seconds)}, {"requests", p.requests},
          {"failures", p.failures}, {"rps", round3(rps)},     {"fps", round3(fps)},
          {"p50_ms", p.p50_ms},     {"p95_ms", p.p95_ms},     {"p99_ms", p.p99_ms},
          {"users", p.users}};
}

Json update_json(const stats::LiveSnapshot& s, std::uint64_t run, const std::deque<Point>& history,
                 double window_s, Json points) {
  // Requests per second over the last window_s seconds of intervals (at least the last one).
  std::uint64_t window_requests = 0;
  double window_seconds = 0;
  for (auto it = history.rbegin(); it != history.rend(); ++it) {
    if (window_seconds > 0 && window_seconds + it->seconds > window_s + 1e-6) break;
    window_requests += it->requests;
    window_seconds += it->seconds;
  }
  stats::LiveHistogram all;
  std::uint64_t bytes_in = 0, bytes_out = 0;
  for (const auto& n : s.total) {
    all.merge(n.latency);
    bytes_in += n.bytes_in;
    bytes_out += n.bytes_out;
  }
  Json totals = latency_json(all);
  totals["requests"] = s.total_requests;
  totals["failures"] = s.total_failures;
  totals["failure_rate"] = ratio(s.total_failures, s.total_requests);
  totals["rps"] = window_seconds > 0 ? round3(window_requests / window_seconds) : 0.0;
  totals["avg_rps"] = s.elapsed_s > 0 ? round3(s.total_requests / s.elapsed_s) : 0.0;
  totals["bytes_received"] = bytes_in;
  totals["bytes_sent"] = bytes_out;

  // The busiest names first.
  std::vector<std::size_t> ids(s.total.size());
  std::iota(ids.begin(), ids.end(), 0);
  ids.erase(
      std::remove_if(ids.begin(), ids.end(), [&](std::size_t i) { return !s.total[i].requests; }),
      ids.end());
  std::stable_sort(ids.begin(), ids.end(), [&](std::size_t a, std::size_t b) {
    return s.total[a].requests > s.total[b].requests;
  });
  static const std::vector<std::pair<std::string, std::string>> kNoNames;
  const auto& names = s.names ? *s.names : kNoNames;
  auto name_of = [&](std::size_t i) -> const std::pair<std::string, std::string>& {
    static const std::pair<std::string, std::string> kUnknown{"", "?"};
    return i < names.size() ? names[i] : kUnknown;
  };
  Json rows = Json::array();
  for (std::size_t k = 0; k < ids.size() && k < kMaxNames; ++k) {
    const std::size_t i = ids[k];
    const stats::LiveName& n = s.total[i];
    Json row = latency_json(n.latency);
    row["type"] = name_of(i).first;
    row["name"] = name_of(i).second;
    row["requests"] = n.requests;
    row["failures"] = n.failures;
    const std::uint64_t now = i < s.interval.size() ? s.interval[i].requests : 0;
    row["rps"] = s.interval_s > 0 ? round3(now / s.interval_s) : 0.0;
    rows.push_back(std::move(row));
  }

  struct Err {
    std::size_t id;
    std::size_t kind;
    std::uint64_t count;
  };
  std::vector<Err> errs;
  for (std::size_t i = 0; i < s.total.size(); ++i) {
    for (std::size_t k = 1; k < stats::kErrorKindCount; ++k) {
      if (s.total[i].by_kind[k]) errs.push_back({i, k, s.total[i].by_kind[k]});
    }
  }
  std::stable_sort(errs.begin(), errs.end(),
                   [](const Err& a, const Err& b) { return a.count > b.count; });
  Json errors = Json::array();
  for (std::size_t k = 0; k < errs.size() && k < kMaxErrors; ++k) {
    errors.push_back({{"type", name_of(errs[k].id).first},
                      {"name", name_of(errs[k].id).second},
                      {"kind", stats::error_kind_name(static_cast<stats::ErrorKind>(errs[k].kind))},
                      {"count", errs[k].count}});
  }
  return {{"run", run},
          {"seq", s.sequence},
          {"t", round3(s.elapsed_s)},
          {"test_time", round3(s.test_time_s)},
          {"final", s.final},
          {"users", s.users},
          {"target_users", s.target_users},
          {"interval",
           {{"s", round3(s.interval_s)},
            {"requests", s.interval_requests},
            {"failures", s.interval_failures}}},
          {"totals", std::move(totals)},
          {"names", std::move(rows)},
          {"names_omitted", ids.size() > kMaxNames ? ids.size() - kMaxNames : 0},
          {"errors", std::move(errors)},
          {"errors_omitted", errs.size() > kMaxErrors ? errs.size() - kMaxErrors : 0},
          {"points", std::move(points)}};
}

}  // namespace ld::dashboard
