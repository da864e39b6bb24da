#pragma once
// The exporters an App runs (at most one of each kind), started and stopped by the
// LD_start_*/LD_stop_* commands in src/app/commands/exporters.cpp. Destroying it stops them
// (a pushing exporter delivers its last interval first).
#include <memory>

#include "export/influx.hpp"
#include "export/otlp.hpp"
#include "export/prometheus.hpp"
#include "export/statsd.hpp"

namespace ld::exporters {

struct Running {
  std::unique_ptr<PrometheusExporter> prometheus;
  std::unique_ptr<InfluxSink> influxdb;
  std::unique_ptr<OtlpExporter> otlp;
  std::unique_ptr<StatsdSink> statsd;
};

}  // namespace ld::exporters
