#include "export/statsd.hpp"

#include <cmath>
#include <cstdio>
#include <map>

namespace ld::exporters {

std::string statsd_tag_value(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c == '|' || c == ',' || c == ':' || c == '#' || c == '\n' || c == '\r') c = '_';
  }
  return out;
}

namespace {

// "|@0.25" for a value that stands for 4 samples; nothing for one.
std::string sample_rate(std::uint64_t n) {
  if (n <= 1) return {};
  char buf[40];
  std::snprintf(buf, sizeof buf, "|@%.9g", 1.0 / static_cast<double>(n));
  return buf;
}

}  // namespace

std::string statsd_lines(const SeriesBook& book, const std::string& prefix) {
  std::string out;
  for (const Series& s : book.interval()) {
    if (!s.requests) continue;
    const std::string tags =
        "#method:" + statsd_tag_value(s.request_type) + ",name:" + statsd_tag_value(s.name);
    const std::uint64_t ok = s.requests - s.failures;
    if (ok) out += prefix + ".requests:" + std::to_string(ok) + "|c|" + tags + ",outcome:success\n";
    if (s.failures) {
      out +=
          prefix + ".requests:" + std::to_string(s.failures) + "|c|" + tags + ",outcome:failure\n";
    }
    // Latencies by whole millisecond (the original sends int(ms) per request).
    std::map<std::int64_t, std::uint64_t> by_ms;
    for (std::size_t i = 0; i < s.buckets.size(); ++i) {
      if (!s.buckets[i]) continue;
      double ms = LiveHistogram::bucket_value_us(i) / 1000.0;
      if (s.latency_max_ns) ms = std::min(ms, double(s.latency_max_ns) / 1e6);
      by_ms[static_cast<std::int64_t>(ms)] += s.buckets[i];
    }
    for (const auto& [ms, n] : by_ms) {
      out += prefix + ".request.latency:" + std::to_string(ms) + "|ms" + sample_rate(n) + "|" +
             tags + '\n';
    }
    out += prefix + ".response.size:" + std::to_string(s.bytes_in / s.requests) + "|h" +
           sample_rate(s.requests) + "|" + tags + '\n';
    for (std::size_t k = 1; k < s.by_kind.size(); ++k) {
      if (!s.by_kind[k]) continue;
      out += prefix + ".errors:" + std::to_string(s.by_kind[k]) + "|c|" + tags +
             ",kind:" + stats::error_kind_name(static_cast<stats::ErrorKind>(k)) + '\n';
    }
  }
  out += prefix + ".users:" + std::to_string(book.users()) + "|g\n";
  return out;
}

StatsdSink::StatsdSink(stats::LiveFeed& feed, StatsdOptions options)
    : Pusher(feed, "exporter.statsd", "udp://" + options.host + ":" + std::to_string(options.port),
             options.interval, true),
      o_(std::move(options)),
      udp_(o_.host, o_.port) {}

StatsdSink::~StatsdSink() { stop(); }

void StatsdSink::collect(const SeriesBook& book, std::int64_t) {
  backlog_.push(statsd_lines(book, o_.prefix));
}

bool StatsdSink::deliver(std::string& why) {
  // 1,432 bytes: a datagram that fits an Ethernet MTU, as DogStatsD clients send.
  return deliver_lines(udp_, backlog_, 1432, why);
}

}  // namespace ld::exporters
