#include "summary/summary.hpp"

#include "core/cleanup.hpp"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <stdexcept>
#include <unistd.h>

namespace ld::reports {

namespace {

double ms(std::int64_t ns) { return std::round(static_cast<double>(ns) / 1e3) / 1e3; }
double round3(double v) { return std::round(v * 1000.0) / 1000.0; }

Json latency_block(const stats::Histogram& h) {
  return {{"count", h.count()},          {"min_ms", ms(h.min())},
          {"max_ms", ms(h.max())},       {"mean_ms", round3(h.mean() / 1e6)},
          {"p50_ms", ms(h.percentile(50))}, {"p90_ms", ms(h.percentile(90))},
          {"p95_ms", ms(h.percentile(95))}, {"p99_ms", ms(h.percentile(99))}};
}

}  // namespace

Json build_summary(const stats::Metrics& m) {
  const std::uint64_t requests = m.requests();
  const std::uint64_t failures = m.failures();
  const double duration = m.duration_s();
  Json totals = {
      {"requests", requests},
      {"successes", requests - failures},
      {"failures", failures},
      {"failure_rate", requests ? round3(static_cast<double>(failures) / requests * 1000) / 1000
                                : 0.0},
      {"duration_s", round3(duration)},
      {"requests_per_second", duration > 0 ? round3(static_cast<double>(requests) / duration) : 0.0},
      {"bytes_received", m.bytes_in()},
      {"bytes_sent", m.bytes_out()},
  };
  std::uint64_t retries = 0;
  for (const auto& n : m.names) retries += n.retries;
  totals["retries"] = retries;
  const stats::Histogram all = m.overall_latency();
  Json overall = {{"count", all.count()},
                  {"p50_ms", ms(all.percentile(50))},
                  {"p90_ms", ms(all.percentile(90))},
                  {"p95_ms", ms(all.percentile(95))},
                  {"p99_ms", ms(all.percentile(99))},
                  {"max_ms", ms(all.max())},
                  {"min_ms", ms(all.min())},
                  {"mean_ms", round3(all.mean() / 1e6)},
                  {"p999_ms", ms(all.percentile(99.9))}};

  // per_name is keyed by name as in the original; names shared by several request types merge.
  std::map<std::string, stats::NameMetrics> merged;
  std::vector<std::string> order;
  for (const auto& n : m.names) {
    auto [it, fresh] = merged.try_emplace(n.name);
    if (fresh) {
      order.push_back(n.name);
      it->second.request_type = n.request_type;
    } else if (it->second.request_type != n.request_type) {
      it->second.request_type += "," + n.request_type;
    }
    auto& t = it->second;
    t.requests += n.requests;
    t.failures += n.failures;
    t.bytes_in += n.bytes_in;
    t.ok_latency.merge(n.ok_latency);
    t.fail_latency.merge(n.fail_latency);
    t.service.merge(n.service);
    t.retries += n.retries;
    t.messages_out += n.messages_out;
    t.messages_in += n.messages_in;
  }
  Json per_name = Json::object();
  for (const auto& name : order) {
    const auto& t = merged[name];
    Json b = latency_block(t.ok_latency);  // successes only, as the original
    b["request_type"] = t.request_type;
    b["requests"] = t.requests;
    b["failures"] = t.failures;
    b["failure_rate"] = t.requests ? round3(static_cast<double>(t.failures) / t.requests * 1000) / 1000
                                   : 0.0;
    b["requests_per_second"] = duration > 0 ? round3(t.requests / duration) : 0.0;
    b["bytes_received"] = t.bytes_in;
    b["retries"] = t.retries;
    if (t.messages_out || t.messages_in) {  // streamed exchanges (gRPC streams) only
      b["messages_sent"] = t.messages_out;
      b["messages_received"] = t.messages_in;
    }
    // Service time: from the actual send (equals latency unless sends started late).
    b["service_p50_ms"] = ms(t.service.percentile(50));
    b["service_p99_ms"] = ms(t.service.percentile(99));
    per_name[name] = std::move(b);
  }
  Json by_kind = Json::object();
  for (const auto& n : m.names) {
    for (std::size_t k = 1; k < stats::kErrorKindCount; ++k) {
      if (!n.by_kind[k]) continue;
      const char* kind = stats::error_kind_name(static_cast<stats::ErrorKind>(k));
      by_kind[kind] = by_kind.value(kind, std::uint64_t{0}) + n.by_kind[k];
    }
  }
  Json errors = Json::array();
  for (const auto& e : m.errors) {
    errors.push_back({{"name", e.name},
                      {"request_type", e.request_type},
                      {"kind", stats::error_kind_name(e.kind)},
                      {"message", e.message},
                      {"count", e.count}});
  }
  Json runs = Json::array();
  bool sampled = false;
  for (const auto& r : m.runs) {
    sampled = sampled || r.records_sample_every > 1;
    runs.push_back({{"started_at", r.started_at},
                    {"user", r.user},
                    {"users", r.users},
                    {"spawn_rate", r.spawn_rate},
                    {"test_time_s", r.test_time_s},
                    {"duration_s", round3(r.duration_s)},
                    {"wall_s", round3(r.wall_s)},
                    {"graceful_stop_s", round3(r.graceful_stop_s)},
                    {"aborted", r.aborted},
                    {"threads", r.threads},
                    {"stop_reason", r.stop_reason},
                    {"load_model", r.load_model}});
    if (r.records_sample_every > 1) runs.back()["records_sample_every"] = r.records_sample_every;
    if (!r.notes.empty()) runs.back()["notes"] = r.notes;
  }
  Json out = {{"totals", totals},       {"latency_overall", overall}, {"per_name", per_name},
          {"errors_by_kind", by_kind}, {"errors", errors},         {"errors_not_itemised", m.errors_dropped},
          {"runs", runs}};
  if (sampled) out["records_sampled"] = true;  // per-request reports list a sample
  // Service time over every request: latency measured from the actual send.
  stats::Histogram service;
  for (const auto& n : m.names) service.merge(n.service);
  out["latency_overall"]["service_p50_ms"] = ms(service.percentile(50));
  out["latency_overall"]["service_p99_ms"] = ms(service.percentile(99));
  if (m.open_model.planned) {
    const auto& om = m.open_model;
    out["open_model"] = {
        {"planned_iterations", om.planned},
        {"started_iterations", om.started},
        {"blocked_iterations", om.queued},
        {"dropped_iterations", om.dropped},
        {"planned_rate", round3(om.planned_rate)},
        {"actual_rate", om.duration_s > 0 ? round3(om.started / om.duration_s) : 0.0},
        {"blocked_p50_ms", ms(om.blocked.percentile(50))},
        {"blocked_p99_ms", ms(om.blocked.percentile(99))},
        {"blocked_max_ms", ms(om.blocked.max())}};
  }
  if (m.conditioner_delayed || m.conditioner_dropped) {
    out["network_conditioner"] = {{"delayed", m.conditioner_delayed},
                                  {"dropped", m.conditioner_dropped}};
  }
  // Protocol counters (QUIC handshakes, ...): {"http3": {"handshakes": 10, ...}}.
  for (const auto& c : m.counters) out["protocol_counters"][c.protocol][c.name] = c.value;
  return out;
}

void write_file_atomic(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  cleanup::Guard guard(tmp, false);  // a fatal second Ctrl-C removes it
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw std::runtime_error("cannot write '" + path + "'");
    out << text;
    out.flush();
    if (!out) {
      std::remove(tmp.c_str());
      throw std::runtime_error("cannot write '" + path + "'");
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw std::runtime_error("cannot move report into place at '" + path + "'");
  }
}

std::string write_summary_report(const stats::Metrics& m, const std::string& report_name) {
  std::string path = report_name;
  if (path.size() < 5 || path.compare(path.size() - 5, 5, ".json") != 0) path += ".json";
  write_file_atomic(path, build_summary(m).dump(4) + "\n");
  return path;
}

}  // namespace ld::reports
