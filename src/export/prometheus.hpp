#pragma once
// LD_start_prometheus_exporter: an HTTP endpoint (GET /metrics, text exposition format 0.0.4)
// served by its own thread. A scrape folds the snapshots that arrived since the last one and
// renders the cumulative series:
//   loaddensity_requests_total{request_type,name,outcome="success"|"failure"}   counter
//   loaddensity_request_latency_ms{request_type,name}     histogram (buckets: latency_bounds_us)
//   loaddensity_response_bytes{request_type,name}         histogram (count and sum; +Inf only)
//   loaddensity_errors_total{request_type,name,kind}      counter
//   loaddensity_users, loaddensity_target_users           gauges
#include <cstdint>
#include <memory>
#include <string>

#include "export/series.hpp"

namespace ld::exporters {

// Label values escape `\`, `"` and line feeds.
std::string prometheus_label_value(std::string_view s);
std::string prometheus_text(const SeriesBook& book);

// The address to listen on: an IPv4 or IPv6 literal ("localhost" is 127.0.0.1); empty when
// `addr` is neither.
std::string listen_address(const std::string& addr);

class PrometheusExporter {
 public:
  // Binds at once (throws std::runtime_error naming the address when it cannot).
  PrometheusExporter(stats::LiveFeed& feed, const std::string& addr, std::uint16_t port);
  ~PrometheusExporter();
  PrometheusExporter(const PrometheusExporter&) = delete;
  PrometheusExporter& operator=(const PrometheusExporter&) = delete;

  std::uint16_t port() const noexcept;
  std::string url() const;  // http://addr:port/metrics

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ld::exporters
