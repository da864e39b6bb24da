#pragma once
// Private to ld_target: connections that stop being request/response. A WebSocket upgrade to
// /ws becomes an echo session; an /sse reply streams events at the requested rate. Both run on
// the connection's own socket (so stopping the target, which closes that socket, ends them).
// clang-format off
#include <utility>  // first: Boost 1.74's Asio uses std::exchange without including it
// clang-format on

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "target/handlers.hpp"

namespace ld::target {

// True for a WebSocket upgrade request (GET, Connection: upgrade, Upgrade: websocket).
bool is_websocket_upgrade(const Request& request);

// Completes the handshake for `request` and echoes every message (text or binary) until the
// peer closes, an error occurs, or `stopping` is set.
boost::asio::awaitable<void> serve_websocket(boost::asio::ip::tcp::socket& socket, Request request,
                                             const bool& stopping);

// Writes a chunked text/event-stream response for `spec`, pacing events with `timer`
// (absolute deadlines at spec.rate), until spec.count events were sent, the peer leaves, or
// `stopping` is set.
boost::asio::awaitable<void> stream_sse(boost::asio::ip::tcp::socket& socket,
                                        boost::asio::steady_timer& timer, const SseSpec& spec,
                                        const bool& stopping);

}  // namespace ld::target
