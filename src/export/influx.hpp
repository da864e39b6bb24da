#pragma once
// LD_start_influxdb_sink: InfluxDB line protocol over UDP (host:port) or HTTP (url, with
// "Authorization: Token <token>" when a token is given), one point per (request_type, name)
// per interval, written as one batch per interval.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "export/pusher.hpp"
#include "export/transport.hpp"

namespace ld::exporters {

struct InfluxOptions {
  std::string transport = "udp";  // "udp" or "http"
  std::string host = "127.0.0.1";
  std::uint16_t port = 8089;
  std::string url;    // http: the write URL, e.g. http://127.0.0.1:8086/write?db=loaddensity
  std::string token;  // http: "Authorization: Token <token>"
  std::string measurement = "loaddensity_request";
  std::chrono::milliseconds timeout{2000};
  std::chrono::milliseconds interval{1000};
};

// Line protocol escaping: measurement (`,` and space), tag keys and values (`,` `=` space),
// string field values (`"` and `\`). Line breaks, which no part may hold, become spaces.
void append_measurement(std::string& out, std::string_view s);
void append_tag(std::string& out, std::string_view s);
void append_field_string(std::string& out, std::string_view s);

// The lines of one interval (names that had requests in it), each ending in '\n'.
std::string influx_lines(const SeriesBook& book, const std::string& measurement,
                         std::int64_t time_ns);

class InfluxSink final : public Pusher {
 public:
  InfluxSink(stats::LiveFeed& feed, InfluxOptions options);  // throws std::invalid_argument
  ~InfluxSink() override;
  std::string endpoint() const;

 private:
  void collect(const SeriesBook& book, std::int64_t now_ns) override;
  bool deliver(std::string& why) override;

  InfluxOptions o_;
  HttpUrl url_;
  std::unique_ptr<UdpSender> udp_;
  Backlog backlog_;
};

}  // namespace ld::exporters
