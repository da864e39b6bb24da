#include "export/influx.hpp"

#include <stdexcept>

namespace ld::exporters {

namespace {

void append_escaped(std::string& out, std::string_view s, std::string_view specials) {
  for (char c : s) {
    if (c == '\n' || c == '\r') {
      c = ' ';
    }
    if (specials.find(c) != std::string_view::npos) out += '\\';
    out += c;
  }
}

std::string endpoint_of(const InfluxOptions& o) {
  return o.transport == "http" ? o.url : "udp://" + o.host + ":" + std::to_string(o.port);
}

}  // namespace

void append_measurement(std::string& out, std::string_view s) { append_escaped(out, s, ", "); }
void append_tag(std::string& out, std::string_view s) { append_escaped(out, s, ",= "); }
void append_field_string(std::string& out, std::string_view s) {
  out += '"';
  append_escaped(out, s, "\"\\");
  out += '"';
}

std::string influx_lines(const SeriesBook& book, const std::string& measurement,
                         std::int64_t time_ns) {
  std::string out;
  for (const Series& s : book.interval()) {
    if (!s.requests) continue;
    append_measurement(out, measurement);
    out += ",request_type=";
    append_tag(out, s.request_type);
    out += ",name=";
    append_tag(out, s.name);
    out += " requests=" + std::to_string(s.requests) + "i";
    out += ",failures=" + std::to_string(s.failures) + "i";
    out += s.failures ? ",success=false" : ",success=true";
    out += ",latency_ms=" + format_double(s.mean_ms());
    out += ",latency_p50_ms=" + format_double(s.percentile_ms(50));
    out += ",latency_p95_ms=" + format_double(s.percentile_ms(95));
    out += ",latency_p99_ms=" + format_double(s.percentile_ms(99));
    out += ",response_bytes=" + std::to_string(s.bytes_in) + "i";
    for (std::size_t k = 1; k < s.by_kind.size(); ++k) {
      if (!s.by_kind[k]) continue;
      out += ",errors_";
      out += stats::error_kind_name(static_cast<stats::ErrorKind>(k));
      out += '=' + std::to_string(s.by_kind[k]) + "i";
    }
    out += ' ' + std::to_string(time_ns) + '\n';
  }
  return out;
}

InfluxSink::InfluxSink(stats::LiveFeed& feed, InfluxOptions options)
    : Pusher(feed, "exporter.influxdb", endpoint_of(options), options.interval,
             options.transport == "udp"),
      o_(std::move(options)) {
  if (o_.transport == "http") {
    url_ = parse_http_url(o_.url);
  } else if (o_.transport == "udp") {
    udp_ = std::make_unique<UdpSender>(o_.host, o_.port);
  } else {
    throw std::invalid_argument("transport must be \"udp\" or \"http\"");
  }
}

InfluxSink::~InfluxSink() { stop(); }

std::string InfluxSink::endpoint() const { return endpoint_of(o_); }

void InfluxSink::collect(const SeriesBook& book, std::int64_t now_ns) {
  backlog_.push(influx_lines(book, o_.measurement, now_ns));
}

bool InfluxSink::deliver(std::string& why) {
  // InfluxDB's UDP listener reads datagrams of up to 64 KiB.
  if (udp_) return deliver_lines(*udp_, backlog_, 60000, why);
  std::vector<std::pair<std::string, std::string>> headers;
  if (!o_.token.empty()) headers.emplace_back("Authorization", "Token " + o_.token);
  while (!backlog_.empty()) {
    const HttpResult r =
        http_post(url_, "text/plain; charset=utf-8", backlog_.front(), headers, o_.timeout);
    if (r.status < 200 || r.status >= 300) {
      why = r.status ? "HTTP " + std::to_string(r.status) : r.error;
      // A 400 means InfluxDB refused the points themselves: resending cannot help.
      if (r.status == 400) backlog_.pop();
      return false;
    }
    backlog_.pop();
  }
  return true;
}

}  // namespace ld::exporters
