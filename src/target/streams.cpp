// The embedded target's streaming endpoints: WebSocket echo (/ws) and Server-Sent Events (/sse).
// clang-format off
#include <utility>  // first: Boost 1.74's Asio uses std::exchange without including it
// clang-format on

#include "target/streams.hpp"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <chrono>
#include <cstdio>
#include <string>

namespace ld::target {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using boost::system::error_code;
using tcp = net::ip::tcp;

bool is_websocket_upgrade(const Request& request) { return websocket::is_upgrade(request); }

net::awaitable<void> serve_websocket(tcp::socket& socket, Request request, const bool& stopping) {
  websocket::stream<tcp::socket&> ws(socket);
  ws.set_option(websocket::stream_base::decorator([](websocket::response_type& res) {
    res.set(beast::http::field::server, "loaddensity-target");
  }));
  error_code ec;
  co_await ws.async_accept(request, net::redirect_error(net::use_awaitable, ec));
  beast::flat_buffer buffer;
  while (!ec && !stopping) {
    co_await ws.async_read(buffer, net::redirect_error(net::use_awaitable, ec));
    if (ec || stopping) break;
    ws.text(ws.got_text());
    co_await ws.async_write(buffer.data(), net::redirect_error(net::use_awaitable, ec));
    buffer.consume(buffer.size());
  }
  // A close frame from the peer was answered by Beast; anything else just ends.
}

namespace {

void append_chunk(std::string& out, const std::string& payload) {
  char size[24];
  const int n = std::snprintf(size, sizeof size, "%zx\r\n", payload.size());
  out.append(size, static_cast<std::size_t>(n)).append(payload).append("\r\n");
}

}  // namespace

net::awaitable<void> stream_sse(tcp::socket& socket, net::steady_timer& timer, const SseSpec& spec,
                                const bool& stopping) {
  const char* eol = spec.crlf ? "\r\n" : "\n";
  std::string out =
      "HTTP/1.1 200 OK\r\nServer: loaddensity-target\r\nContent-Type: text/event-stream\r\n"
      "Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
  std::string event;
  if (spec.retry_ms >= 0) {
    event = "retry: " + std::to_string(spec.retry_ms) + eol + eol;
    append_chunk(out, event);
  }
  error_code ec;
  const auto start = std::chrono::steady_clock::now();
  const double period_ns = 1e9 / spec.rate;
  for (std::uint64_t n = 0; (spec.count == 0 || n < spec.count) && !stopping; ++n) {
    const std::uint64_t id = spec.first_id + n;
    event.clear();
    if (spec.comment) event.append(": tick").append(eol);
    event.append("id: ").append(std::to_string(id)).append(eol);
    if (!spec.event.empty()) event.append("event: ").append(spec.event).append(eol);
    for (unsigned line = 1; line <= spec.lines; ++line) {
      event.append("data: ").append(spec.data).append(" ").append(std::to_string(id));
      if (line > 1) event.append(" line ").append(std::to_string(line));
      event.append(eol);
    }
    event.append(eol);
    append_chunk(out, event);
    co_await net::async_write(socket, net::buffer(out),
                              net::redirect_error(net::use_awaitable, ec));
    out.clear();
    if (ec || stopping) co_return;
    // Absolute deadlines: event n+1 is due at start + (n+1)/rate, however late this one was.
    timer.expires_at(start +
                     std::chrono::nanoseconds(static_cast<std::int64_t>((n + 1) * period_ns)));
    co_await timer.async_wait(net::redirect_error(net::use_awaitable, ec));
    if (ec || stopping) co_return;
  }
  if (spec.abort || stopping) co_return;  // the caller closes: the body never ends properly
  static constexpr std::string_view kLast = "0\r\n\r\n";
  co_await net::async_write(socket, net::buffer(kLast),
                            net::redirect_error(net::use_awaitable, ec));
}

}  // namespace ld::target
