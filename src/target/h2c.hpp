#pragma once
// Private to ld_target: HTTP/2 with prior knowledge (h2c) on the target's HTTP port. A
// connection whose first bytes are the HTTP/2 client preface is served by an nghttp2 server
// session; every request goes through the same route() as HTTP/1.1, so both protocols answer
// the same endpoints.
// clang-format off
#include <utility>  // first: Boost 1.74's Asio uses std::exchange without including it
// clang-format on

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include "target/handlers.hpp"

namespace ld::target {

// Reads until the connection's first bytes either are the 24-byte HTTP/2 client preface (true)
// or cannot be (false). Bytes read stay in `buffer`; an I/O error returns false (the caller's
// next read sees it again).
boost::asio::awaitable<bool> detect_h2c(boost::asio::ip::tcp::socket& socket,
                                        boost::beast::flat_buffer& buffer);

// Serves HTTP/2 on `socket` (starting with the bytes in `buffer`) until the peer closes, an
// error occurs or `stopping` becomes true and the socket is closed. `socket`, `info` and
// `stopping` must outlive the call; nothing touches them after it returns.
boost::asio::awaitable<void> serve_h2c(boost::asio::ip::tcp::socket& socket,
                                       boost::beast::flat_buffer& buffer, const ServerInfo& info,
                                       const bool& stopping);

}  // namespace ld::target
