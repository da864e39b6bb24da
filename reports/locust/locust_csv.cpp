#include "locust/locust_csv.hpp"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <ostream>
#include <tuple>

#include "common/format.hpp"

namespace ld::reports {

namespace {

const double kPercentiles[] = {50, 66, 75, 80, 90, 95, 98, 99, 99.9, 99.99, 100};

const char* kStatsHeader =
    "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,"
    "Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,50%,66%,75%,"
    "80%,90%,95%,98%,99%,99.9%,99.99%,100%\r\n";
const char* kHistoryHeader =
    "Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,"
    "99.99%,100%,Total Request Count,Total Failure Count,Total Median Response Time,"
    "Total Average Response Time,Total Min Response Time,Total Max Response Time,"
    "Total Average Content Size\r\n";

double ms_of(std::int64_t ns) { return static_cast<double>(ns) / 1e6; }

// Locust's median: the rounded median, kept within the exact min and max.
std::string median_text(const stats::Histogram& h) {
  if (h.empty()) return "0";
  const long med = locust_round_ms(ms_of(h.percentile(50)));
  if (med > ms_of(h.max())) return py_float(ms_of(h.max()));
  if (med < ms_of(h.min())) return py_float(ms_of(h.min()));
  return std::to_string(med);
}

std::string percentile_fields(const stats::Histogram& h) {
  std::string s;
  for (double p : kPercentiles) {
    s += ',';
    s += h.empty() ? std::string("N/A") : std::to_string(locust_round_ms(ms_of(h.percentile(p))));
  }
  return s;
}

struct Row {
  std::string type, name;
  std::uint64_t requests = 0, failures = 0, bytes = 0;
  stats::Histogram h;
};

void stats_row(std::ostream& out, const Row& r, double duration) {
  out << csv_field(r.type) << ',' << csv_field(r.name) << ',' << r.requests << ',' << r.failures
      << ',' << median_text(r.h) << ',' << py_float(r.h.empty() ? 0.0 : r.h.mean() / 1e6) << ','
      << (r.h.empty() ? std::string("0") : py_float(ms_of(r.h.min()))) << ','
      << py_float(ms_of(r.h.max())) << ','
      << (r.requests ? py_float(static_cast<double>(r.bytes) / r.requests) : std::string("0"))
      << ',' << py_float(duration > 0 ? r.requests / duration : 0.0) << ','
      << py_float(duration > 0 ? r.failures / duration : 0.0) << percentile_fields(r.h) << "\r\n";
}

}  // namespace

long locust_round_ms(double ms) {
  // Python's round() rounds halves to even; so does nearbyint in the default mode.
  if (ms < 100) return static_cast<long>(std::nearbyint(ms));
  if (ms < 1000) return static_cast<long>(std::nearbyint(ms / 10) * 10);
  if (ms < 10000) return static_cast<long>(std::nearbyint(ms / 100) * 100);
  return static_cast<long>(std::nearbyint(ms / 1000) * 1000);
}

long long local_iso_to_unix(const std::string& iso) {
  std::tm tm{};
  if (!strptime(iso.c_str(), "%Y-%m-%dT%H:%M:%S", &tm)) return 0;
  tm.tm_isdst = -1;
  return static_cast<long long>(std::mktime(&tm));
}

void write_locust_stats(std::ostream& out, const stats::Metrics& m) {
  out << kStatsHeader;
  std::vector<Row> rows;
  Row total;
  total.name = "Aggregated";
  for (const auto& n : m.names) {
    Row r;
    r.type = n.request_type;
    r.name = n.name;
    r.requests = n.requests;
    r.failures = n.failures;
    r.bytes = n.bytes_in;
    r.h = n.ok_latency;
    r.h.merge(n.fail_latency);
    total.requests += r.requests;
    total.failures += r.failures;
    total.bytes += r.bytes;
    total.h.merge(r.h);
    rows.push_back(std::move(r));
  }
  std::stable_sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
    return std::tie(a.name, a.type) < std::tie(b.name, b.type);
  });
  const double duration = m.duration_s();
  for (const auto& r : rows) stats_row(out, r, duration);
  stats_row(out, total, duration);
}

void write_locust_history(std::ostream& out, const stats::Metrics& m, const stats::RecordLog* log) {
  out << kHistoryHeader;
  // Where each run starts on the metrics timeline, and its wall-clock start.
  std::vector<double> run_offset;
  std::vector<long long> run_unix;
  double acc = 0;
  for (const auto& r : m.runs) {
    run_offset.push_back(acc);
    run_unix.push_back(local_iso_to_unix(r.started_at));
    acc += r.duration_s;
  }
  auto run_of = [&](double t) {
    std::size_t i = 0;
    while (i + 1 < run_offset.size() && run_offset[i + 1] < t) ++i;
    return i;
  };
  // A sampled log (disk cap reached) cannot give the cumulative columns: they stay N/A.
  const bool exact = log && log->runs() == m.runs.size() && log->records() > 0 && !log->sampled();

  // Cumulative state, fed from the record log in time order up to each interval's end.
  stats::Histogram cumulative;
  std::uint64_t total_requests = 0, total_failures = 0, total_bytes = 0;
  std::size_t point = 0;
  auto emit = [&](const stats::IntervalPoint& p) {
    const std::size_t run = run_of(p.t_s);
    const long long ts = run < run_unix.size() && run_unix[run]
                             ? run_unix[run] + static_cast<long long>(p.t_s - run_offset[run])
                             : static_cast<long long>(p.t_s);
    if (!exact) {
      total_requests += p.requests;
      total_failures += p.failures;
      total_bytes += p.bytes_in;
    }
    out << ts << ',' << p.users << ",,Aggregated,"
        << fixed(p.seconds > 0 ? p.requests / p.seconds : 0, 6) << ','
        << fixed(p.seconds > 0 ? p.failures / p.seconds : 0, 6);
    if (exact) {
      out << percentile_fields(cumulative);
    } else {
      for (std::size_t i = 0; i < std::size(kPercentiles); ++i) out << ",N/A";
    }
    out << ',' << total_requests << ',' << total_failures << ','
        << (exact ? median_text(cumulative) : std::string("N/A")) << ','
        << (exact ? py_float(cumulative.empty() ? 0.0 : cumulative.mean() / 1e6)
                  : std::string("N/A"))
        << ',' << (exact && !cumulative.empty() ? py_float(ms_of(cumulative.min())) : "0") << ','
        << (exact ? py_float(ms_of(cumulative.max())) : std::string("N/A")) << ','
        << (total_requests ? py_float(static_cast<double>(total_bytes) / total_requests)
                           : std::string("0"))
        << "\r\n";
  };
  if (exact) {
    log->for_each(stats::RecordLog::Filter::kAll, [&](const stats::LoggedRecord& r) {
      const double t = (r.run < run_offset.size() ? run_offset[r.run] : 0) + r.offset / 1e9;
      while (point < m.timeline.size() && m.timeline[point].t_s <= t &&
             run_of(m.timeline[point].t_s) <= r.run) {
        emit(m.timeline[point++]);
      }
      cumulative.record(r.latency);
      ++total_requests;
      total_failures += r.ok() ? 0 : 1;
      total_bytes += r.bytes_in;
      return true;
    });
  }
  while (point < m.timeline.size()) emit(m.timeline[point++]);
}

void write_locust_failures(std::ostream& out, const stats::Metrics& m) {
  out << "Method,Name,Error,Occurrences\r\n";
  std::vector<const stats::ErrorEntry*> errors;
  for (const auto& e : m.errors) errors.push_back(&e);
  std::stable_sort(errors.begin(), errors.end(), [](const auto* a, const auto* b) {
    return std::tie(a->name, a->request_type, a->message) <
           std::tie(b->name, b->request_type, b->message);
  });
  for (const auto* e : errors) {
    out << csv_field(e->request_type) << ',' << csv_field(e->name) << ',' << csv_field(e->message)
        << ',' << e->count << "\r\n";
  }
}

void write_locust_exceptions(std::ostream& out) { out << "Count,Message,Traceback,Nodes\r\n"; }

std::vector<std::string> write_locust_csv(const stats::Metrics& m, const stats::RecordLog* log,
                                          const std::string& prefix) {
  AtomicFile s(prefix + "_stats.csv");
  AtomicFile h(prefix + "_stats_history.csv");
  AtomicFile f(prefix + "_failures.csv");
  AtomicFile e(prefix + "_exceptions.csv");
  write_locust_stats(s.out(), m);
  write_locust_history(h.out(), m, log);
  write_locust_failures(f.out(), m);
  write_locust_exceptions(e.out());
  for (AtomicFile* a : {&s, &h, &f, &e}) a->commit();
  return {s.path(), h.path(), f.path(), e.path()};
}

}  // namespace ld::reports
