#pragma once
// Private to ld_target: the request router of the embedded target. The connection code in
// target.cpp owns sockets, parsing and serialisation; this part maps one parsed request to one
// reply and does no I/O, so it is cheap to call and easy to read.
// clang-format off
#include <utility>  // first: Boost 1.74's Asio uses std::exchange without including it
// clang-format on

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ld::target {

using Request = boost::beast::http::request<boost::beast::http::string_body>;

// What the server knows about itself and the peer, for "origin" and "url".
struct ServerInfo {
  std::string_view host_port;  // "127.0.0.1:PORT", used when the request has no Host header
  std::string_view origin;     // the peer address as text, e.g. "127.0.0.1"
};

// An /sse reply: instead of a body, the connection streams events (see streams.hpp).
struct SseSpec {
  bool active = false;
  double rate = 10;            // events per second
  std::uint64_t count = 0;     // events to send, then end the stream; 0 = until the client leaves
  std::uint64_t first_id = 1;  // id of the first event (Last-Event-ID + 1 on a reconnect)
  unsigned lines = 1;          // data lines per event
  std::int64_t retry_ms = -1;  // sent once before the first event when >= 0
  std::string event;           // event type ("" = none, i.e. "message")
  std::string data = "event";  // data prefix: "<data> <id>"
  bool crlf = false;           // end lines with CRLF instead of LF
  bool comment = false;        // a ":" comment line before every event
  bool abort = false;          // after `count` events, drop the connection without ending the body
};

// One reply. The connection keeps one Reply for its lifetime and hands it to route() cleared,
// so extra_headers (and bodies filled in place, like /bytes) keep their capacity between requests.
struct Reply {
  unsigned status = 200;
  std::string_view content_type;      // static text; empty = no Content-Type header
  std::string body;                   // sent as-is (not sent for HEAD requests)
  std::string extra_headers;          // preformatted "Name: value\r\n" lines
  std::chrono::nanoseconds delay{0};  // the connection waits this long before writing
  bool close = false;                 // send "Connection: close" and close after writing
  SseSpec sse;                        // sse.active: stream events instead of `body`

  void clear() {
    status = 200;
    content_type = {};
    body.clear();
    extra_headers.clear();
    delay = std::chrono::nanoseconds{0};
    close = false;
    sse.active = false;
  }
};

// Fills `reply` (given cleared) for `request`. Never throws: internal failures become 500.
void route(const Request& request, const ServerInfo& info, Reply& reply) noexcept;

// Fills `reply` with a small JSON error document {"error": message} and `status`.
void error_reply(unsigned status, std::string_view message, Reply& reply) noexcept;

// HTTP/2 and HTTP/3 (h2c.cpp, h3_server.cpp): one request header field into `request`. The
// pseudo-headers :method, :path and :authority become the method, target and Host; the others
// are dropped.
void add_request_field(Request& request, std::string_view name, std::string_view value);

// HTTP/2 and HTTP/3: the response header fields of `reply` as name, value, name, value...
// (":status" first, lower-case names, the connection-specific fields of HTTP/1.1 left out).
// `with_body`: the content type and length are sent (not for 1xx, 204, 304).
void response_fields(const Reply& reply, bool with_body, std::vector<std::string>& fields);

}  // namespace ld::target
