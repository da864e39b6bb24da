// Live exporters: LD_start/stop_prometheus_exporter, LD_start/stop_influxdb_sink,
// LD_start/stop_opentelemetry_exporter, LD_start/stop_statsd_sink (docs/exporters.md).
#include "app/app.hpp"
#include "app/commands/commands.hpp"

#include <chrono>
#include <stdexcept>

#include "export/exporters.hpp"
#include "loaddensity/core/error.hpp"

namespace ld::app {

using action::Args;
using action::Command;
namespace A = action;

namespace {

exporters::Running& running(App& app, std::unique_ptr<exporters::Running>& r) {
  if (!r) r = std::make_unique<exporters::Running>();
  return *r;
}

void check_port(const Args& a, const char* key, double lo) {
  number_in_range(a[key], key, lo, 65535, false, std::string("/") + key,
                  lo == 0 ? "(0 picks a free port)" : "");
}

void check_interval(const Args& a, const char* key) {
  number_in_range(a[key], key, 100, 3600000, false, std::string("/") + key, "(milliseconds)");
}

// An http:// URL: ConfigError naming the argument otherwise.
void check_url(const Args& a, const char* key) {
  try {
    exporters::parse_http_url(a.str(key));
  } catch (const std::invalid_argument& e) {
    throw ConfigError(std::string(key) + ": " + e.what(), std::string("/") + key);
  }
}

std::chrono::milliseconds ms(std::int64_t v) { return std::chrono::milliseconds(v); }

}  // namespace

void register_exporter_commands(action::CommandRegistry& r, App& app) {
  auto& state = app.exporters_;

  r.add(Command{"LD_start_prometheus_exporter",
                "Serve live metrics for Prometheus at http://ADDR:PORT/metrics.",
                {{"port", A::kInteger, false, 9646, "0 picks a free port"},
                 {"addr", A::kString, false, "127.0.0.1", "listen address"}},
                [&app, &state](const Args& a) -> Json {
                  auto& run = running(app, state);
                  const std::string addr = a.str("addr");
                  const auto port = static_cast<std::uint16_t>(a.integer("port"));
                  run.prometheus.reset();  // a second start moves the endpoint
                  run.prometheus =
                      std::make_unique<exporters::PrometheusExporter>(app.live_feed_, addr, port);
                  return {{"url", run.prometheus->url()}, {"port", run.prometheus->port()}};
                },
                [](const Args& a) {
                  check_port(a, "port", 0);
                  if (exporters::listen_address(a.str("addr")).empty()) {
                    throw ConfigError(
                        "addr must be an IP address (or localhost), got '" + a.str("addr") + "'",
                        "/addr");
                  }
                }});
  r.add(Command{"LD_stop_prometheus_exporter",
                "Stop the Prometheus endpoint.",
                {},
                [&app, &state](const Args&) -> Json {
                  running(app, state).prometheus.reset();
                  return {{"status", "stopped"}};
                }});

  r.add(Command{
      "LD_start_influxdb_sink",
      "Write live points to InfluxDB (line protocol over UDP or HTTP), one batch per interval.",
      {{"transport", A::kString, false, "udp", "udp or http"},
       {"host", A::kString, false, "127.0.0.1", "udp: InfluxDB's UDP listener"},
       {"port", A::kInteger, false, 8089, "udp: its port"},
       {"url", A::kString | A::kNull, false, nullptr,
        "http: the write URL, e.g. http://127.0.0.1:8086/write?db=loaddensity"},
       {"token", A::kString | A::kNull, false, nullptr, "http: sent as 'Authorization: Token T'"},
       {"measurement", A::kString, false, "loaddensity_request", ""},
       {"timeout", A::kNumber, false, 2.0, "http: seconds per write"},
       {"interval_ms", A::kInteger, false, 1000, "how often a batch is written"}},
      [&app, &state](const Args& a) -> Json {
        exporters::InfluxOptions o;
        o.transport = a.str("transport");
        o.host = a.str("host");
        o.port = static_cast<std::uint16_t>(a.integer("port"));
        o.url = a.str("url");
        o.token = a.str("token");
        o.measurement = a.str("measurement");
        o.timeout = ms(static_cast<std::int64_t>(a.number("timeout") * 1000));
        o.interval = ms(a.integer("interval_ms"));
        auto& run = running(app, state);
        run.influxdb.reset();
        run.influxdb = std::make_unique<exporters::InfluxSink>(app.live_feed_, o);
        run.influxdb->start();
        return {{"status", "started"}, {"endpoint", run.influxdb->endpoint()}};
      },
      [](const Args& a) {
        const std::string t = a.str("transport");
        if (t != "udp" && t != "http") {
          throw ConfigError("transport must be \"udp\" or \"http\", got \"" + t + "\"",
                            "/transport");
        }
        check_port(a, "port", 1);
        if (t == "http") {
          if (!a.has("url")) throw ConfigError("transport \"http\" needs a url", "/url");
          check_url(a, "url");
        }
        if (a.str("measurement").empty()) throw ConfigError("measurement is empty", "/measurement");
        number_in_range(a["timeout"], "timeout", 0, 600, true, "/timeout", "seconds");
        check_interval(a, "interval_ms");
      }});
  r.add(Command{"LD_stop_influxdb_sink",
                "Write the last batch and stop the InfluxDB sink.",
                {},
                [&app, &state](const Args&) -> Json {
                  running(app, state).influxdb.reset();
                  return {{"status", "stopped"}};
                }});

  r.add(Command{
      "LD_start_opentelemetry_exporter",
      "Export live metrics as OTLP/HTTP (protobuf), cumulative, every export_interval_ms.",
      {{"endpoint", A::kString | A::kNull, false, nullptr,
        "http://host:port[/path] (default http://127.0.0.1:4318/v1/metrics; a bare "
        "host:port URL gets /v1/metrics)"},
       {"service_name", A::kString, false, "loaddensity", "resource attribute service.name"},
       {"export_interval_ms", A::kInteger, false, 5000, ""}},
      [&app, &state](const Args& a) -> Json {
        exporters::OtlpOptions o;
        if (a.has("endpoint")) o.endpoint = a.str("endpoint");
        o.service_name = a.str("service_name");
        o.interval = ms(a.integer("export_interval_ms"));
        auto& run = running(app, state);
        run.otlp.reset();
        run.otlp = std::make_unique<exporters::OtlpExporter>(app.live_feed_, o);
        run.otlp->start();
        return true;
      },
      [](const Args& a) {
        if (a.has("endpoint")) check_url(a, "endpoint");
        check_interval(a, "export_interval_ms");
      }});
  r.add(Command{"LD_stop_opentelemetry_exporter",
                "Export once more and stop the OTLP exporter.",
                {},
                [&app, &state](const Args&) -> Json {
                  running(app, state).otlp.reset();
                  return {{"status", "stopped"}};
                }});

  r.add(
      Command{"LD_start_statsd_sink",
              "Send live DogStatsD metrics over UDP, aggregated per interval.",
              {{"host", A::kString, false, "127.0.0.1", ""},
               {"port", A::kInteger, false, 8125, ""},
               {"prefix", A::kString, false, "loaddensity", "metric name prefix"},
               {"interval_ms", A::kInteger, false, 1000, "how often the aggregates are sent"}},
              [&app, &state](const Args& a) -> Json {
                exporters::StatsdOptions o;
                o.host = a.str("host");
                o.port = static_cast<std::uint16_t>(a.integer("port"));
                o.prefix = a.str("prefix");
                o.interval = ms(a.integer("interval_ms"));
                auto& run = running(app, state);
                run.statsd.reset();
                run.statsd = std::make_unique<exporters::StatsdSink>(app.live_feed_, o);
                run.statsd->start();
                return {{"status", "started"}, {"endpoint", o.host + ":" + std::to_string(o.port)}};
              },
              [](const Args& a) {
                check_port(a, "port", 1);
                check_interval(a, "interval_ms");
              }});
  r.add(Command{"LD_stop_statsd_sink",
                "Send the last interval and stop the StatsD sink.",
                {},
                [&app, &state](const Args&) -> Json {
                  running(app, state).statsd.reset();
                  return {{"status", "stopped"}};
                }});
}

}  // namespace ld::app
