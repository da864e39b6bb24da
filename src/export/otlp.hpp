#pragma once
// LD_start_opentelemetry_exporter: OTLP/HTTP with protobuf bodies (an
// ExportMetricsServiceRequest, opentelemetry/proto/collector/metrics/v1) POSTed to `endpoint`
// every export_interval_ms, cumulative temporality. Instruments (meter "loaddensity"):
//   loaddensity.requests          Sum, monotonic, int   {request_type, name, outcome}
//   loaddensity.request.latency   Histogram, unit ms    {request_type, name}
//   loaddensity.response.size     Histogram, unit By    {request_type, name} (count and sum)
//   loaddensity.errors            Sum, monotonic, int   {request_type, name, error.kind}
//   loaddensity.users             Gauge, int
// The messages are few and fixed, so they are encoded here by hand (protobuf wire format).
#include <chrono>
#include <cstdint>
#include <string>

#include "export/pusher.hpp"
#include "export/transport.hpp"

namespace ld::exporters {

struct OtlpOptions {
  // http://host:port[/path]; a URL without a path gets /v1/metrics.
  std::string endpoint = "http://127.0.0.1:4318/v1/metrics";
  std::string service_name = "loaddensity";
  std::chrono::milliseconds interval{5000};
  std::chrono::milliseconds timeout{10000};
};

// The request body for the book's cumulative series.
std::string otlp_metrics_request(const SeriesBook& book, const std::string& service_name,
                                 std::int64_t start_ns, std::int64_t now_ns);

// The endpoint as POSTed to (a bare http://host:port gets /v1/metrics).
std::string otlp_endpoint(const std::string& endpoint);

class OtlpExporter final : public Pusher {
 public:
  OtlpExporter(stats::LiveFeed& feed, OtlpOptions options);  // throws std::invalid_argument
  ~OtlpExporter() override;

 private:
  void collect(const SeriesBook& book, std::int64_t now_ns) override;
  bool deliver(std::string& why) override;

  OtlpOptions o_;
  HttpUrl url_;
  std::int64_t start_ns_;
  std::string body_;  // the latest cumulative state; a failed export is replaced, not queued
};

}  // namespace ld::exporters
