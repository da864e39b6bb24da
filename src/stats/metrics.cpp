#include "loaddensity/stats/metrics.hpp"

#include <algorithm>

namespace ld::stats {

std::uint64_t Metrics::requests() const noexcept {
  std::uint64_t n = 0;
  for (const auto& m : names) n += m.requests;
  return n;
}
std::uint64_t Metrics::failures() const noexcept {
  std::uint64_t n = 0;
  for (const auto& m : names) n += m.failures;
  return n;
}
std::uint64_t Metrics::bytes_in() const noexcept {
  std::uint64_t n = 0;
  for (const auto& m : names) n += m.bytes_in;
  return n;
}
std::uint64_t Metrics::bytes_out() const noexcept {
  std::uint64_t n = 0;
  for (const auto& m : names) n += m.bytes_out;
  return n;
}
double Metrics::duration_s() const noexcept {
  double d = 0;
  for (const auto& r : runs) d += r.duration_s;
  return d;
}
Histogram Metrics::overall_latency() const {
  Histogram h;
  for (const auto& m : names) {
    h.merge(m.ok_latency);
    h.merge(m.fail_latency);
  }
  return h;
}
Histogram Metrics::overall_ok_latency() const {
  Histogram h;
  for (const auto& m : names) h.merge(m.ok_latency);
  return h;
}

NameMetrics& Metrics::name_slot(const std::string& request_type, const std::string& name) {
  for (auto& m : names) {
    if (m.name == name && m.request_type == request_type) return m;
  }
  names.push_back(NameMetrics{request_type, name});
  return names.back();
}

void Metrics::absorb(const Metrics& run) {
  const double offset = duration_s();
  for (const auto& n : run.names) {
    NameMetrics& m = name_slot(n.request_type, n.name);
    m.requests += n.requests;
    m.failures += n.failures;
    m.bytes_in += n.bytes_in;
    m.bytes_out += n.bytes_out;
    m.ok_latency.merge(n.ok_latency);
    m.fail_latency.merge(n.fail_latency);
    m.service.merge(n.service);
    m.retries += n.retries;
    m.messages_out += n.messages_out;
    m.messages_in += n.messages_in;
    for (std::size_t k = 0; k < kErrorKindCount; ++k) m.by_kind[k] += n.by_kind[k];
  }
  open_model.planned += run.open_model.planned;
  open_model.started += run.open_model.started;
  open_model.queued += run.open_model.queued;
  open_model.dropped += run.open_model.dropped;
  open_model.blocked.merge(run.open_model.blocked);
  if (run.open_model.planned) {
    const double total_s = open_model.duration_s + run.open_model.duration_s;
    open_model.planned_rate =
        total_s > 0 ? (open_model.planned_rate * open_model.duration_s +
                       run.open_model.planned_rate * run.open_model.duration_s) / total_s
                    : run.open_model.planned_rate;
    open_model.duration_s = total_s;
  }
  conditioner_delayed += run.conditioner_delayed;
  conditioner_dropped += run.conditioner_dropped;
  for (const auto& c : run.counters) add_counter(c.protocol, c.name, c.value);
  for (IntervalPoint p : run.timeline) {
    p.t_s += offset;
    timeline.push_back(p);
  }
  for (const auto& e : run.errors) add_error(e);
  errors_dropped += run.errors_dropped;
  runs.insert(runs.end(), run.runs.begin(), run.runs.end());
  sort_errors();
}

void Metrics::add_counter(const std::string& protocol, const std::string& name,
                          std::uint64_t value) {
  if (value == 0) return;
  for (auto& c : counters) {
    if (c.protocol == protocol && c.name == name) {
      c.value += value;
      return;
    }
  }
  counters.push_back({protocol, name, value});
}

void Metrics::add_error(ErrorEntry e) {
  for (auto& x : errors) {
    if (x.kind == e.kind && x.name == e.name && x.request_type == e.request_type &&
        x.message == e.message) {
      x.count += e.count;
      return;
    }
  }
  errors.push_back(std::move(e));
}

void Metrics::sort_errors() {
  std::stable_sort(errors.begin(), errors.end(),
                   [](const ErrorEntry& a, const ErrorEntry& b) { return a.count > b.count; });
}

}  // namespace ld::stats
