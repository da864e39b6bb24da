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

namespace ld::target {

using Request = boost::beast::http::request<boost::beast::http::string_body>;

// What the server knows about itself and the peer, for "origin" and "url".
struct ServerInfo {
  std::string_view host_port;  // "127.0.0.1:PORT", used when the request has no Host header
  std::string_view origin;     // the peer address as text, e.g. "127.0.0.1"
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

  void clear() {
    status = 200;
    content_type = {};
    body.clear();
    extra_headers.clear();
    delay = std::chrono::nanoseconds{0};
    close = false;
  }
};

// Fills `reply` (given cleared) for `request`. Never throws: internal failures become 500.
void route(const Request& request, const ServerInfo& info, Reply& reply) noexcept;

// Fills `reply` with a small JSON error document {"error": message} and `status`.
void error_reply(unsigned status, std::string_view message, Reply& reply) noexcept;

}  // namespace ld::target
