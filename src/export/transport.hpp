#pragma once
// How the pushing exporters reach their endpoints, off the hot path: a connected UDP socket
// (InfluxDB UDP, DogStatsD) and a blocking HTTP/1.1 POST with a deadline (InfluxDB HTTP,
// OTLP/HTTP) on the exporter's own thread. Beast stays inside transport.cpp.
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ld::exporters {

// Splits newline-separated lines into datagrams of at most `max_bytes` (a longer line is a
// datagram of its own).
std::vector<std::string> pack_lines(std::string_view lines, std::size_t max_bytes);

class UdpSender {
 public:
  UdpSender(std::string host, std::uint16_t port) : host_(std::move(host)), port_(port) {}
  ~UdpSender();
  UdpSender(const UdpSender&) = delete;
  UdpSender& operator=(const UdpSender&) = delete;
  // Sends one datagram; false with `why` set on an error (a refused port shows on the send
  // after the one it refused: the ICMP answer arrives later).
  bool send(std::string_view datagram, std::string& why);
  std::string endpoint() const { return host_ + ":" + std::to_string(port_); }

 private:
  bool open(std::string& why);
  std::string host_;
  std::uint16_t port_;
  int fd_ = -1;
};

// http://host[:port]/path?query (https is not supported: throws std::invalid_argument).
struct HttpUrl {
  std::string host;
  std::string port;
  std::string target;  // path and query, "/" at least
  std::string text;    // as given
};
HttpUrl parse_http_url(const std::string& url);

struct HttpResult {
  int status = 0;     // 0: no answer (see error)
  std::string error;  // connection-level failure
};
// One POST on a fresh connection, bounded by `timeout` as a whole.
HttpResult http_post(const HttpUrl& url, std::string_view content_type, std::string_view body,
                     const std::vector<std::pair<std::string, std::string>>& headers,
                     std::chrono::milliseconds timeout);

}  // namespace ld::exporters
