#pragma once
// LD_start_statsd_sink: DogStatsD over UDP, aggregated per interval.
//   <prefix>.requests:<n>|c|#method:GET,name:x,outcome:success       (and outcome:failure)
//   <prefix>.request.latency:<int ms>|ms[|@<1/n>]|#method:GET,name:x  (one line per distinct
//                                     whole-ms latency; the sample rate carries its count n)
//   <prefix>.response.size:<mean int>|h[|@<1/n>]|#method:GET,name:x
//   <prefix>.errors:<n>|c|#method:GET,name:x,kind:timeout
//   <prefix>.users:<n>|g
// Tag values have `| , : #` replaced by `_`, as the original does.
#include <chrono>
#include <cstdint>
#include <string>

#include "export/pusher.hpp"
#include "export/transport.hpp"

namespace ld::exporters {

struct StatsdOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8125;
  std::string prefix = "loaddensity";
  std::chrono::milliseconds interval{1000};
};

std::string statsd_tag_value(std::string_view s);
// The lines of one interval, each ending in '\n'.
std::string statsd_lines(const SeriesBook& book, const std::string& prefix);

class StatsdSink final : public Pusher {
 public:
  StatsdSink(stats::LiveFeed& feed, StatsdOptions options);
  ~StatsdSink() override;

 private:
  void collect(const SeriesBook& book, std::int64_t now_ns) override;
  bool deliver(std::string& why) override;

  StatsdOptions o_;
  UdpSender udp_;
  Backlog backlog_;
};

}  // namespace ld::exporters
