#pragma once
// The one TCP + TLS connect of the protocol sessions: resolve (when compiling could not),
// connect with TCP_NODELAY, and a client TLS handshake with SNI and certificate name checks,
// either on an Asio TLS stream (HTTP/1.1, WebSocket, SSE) or with OpenSSL directly on a
// non-blocking socket (HTTP/2). Failures come back as an ErrorInfo made by classify_error /
// tls_handshake_error, or the operation's timeout when its OpScope expired.
#include <utility>  // before Asio (Boost 1.74 trap)

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "common/op_scope.hpp"

namespace ld::proto {

// Connects `sock` to the first of `endpoints` that accepts, or (when `endpoints` is empty: the
// name did not resolve while compiling) to what `host`:`port` resolves to now. TCP_NODELAY is
// set. Errors: "DNS lookup failed" / "connect" per classify_error, or op's timeout.
net::awaitable<stats::ErrorInfo> connect_tcp(net::ip::tcp::socket& sock, const std::string& host,
                                             std::uint16_t port,
                                             const std::vector<net::ip::tcp::endpoint>& endpoints,
                                             const OpScope& op);

// Client TLS settings of one connection to `host`: SNI for names (not IP literals, RFC 6066)
// and, when the context verifies peers, the name or address the certificate must match (no
// partial wildcards), checked by OpenSSL during the handshake.
void prepare_tls_client(SSL* ssl, const std::string& host);

// prepare_tls_client + the handshake on an Asio TLS stream whose socket is connected.
net::awaitable<stats::ErrorInfo> tls_handshake(net::ssl::stream<net::ip::tcp::socket>& stream,
                                               const std::string& host, const OpScope& op);

// prepare_tls_client + the handshake with OpenSSL on `sock` (connected, non-blocking), `ssl`
// attached to its descriptor here. A failure leaves OpenSSL's error queue as it was, so the
// caller may look at the reason (HTTP/2 checks for the "no application protocol" alert).
net::awaitable<stats::ErrorInfo> tls_handshake(SSL* ssl, net::ip::tcp::socket& sock,
                                               const std::string& host, const OpScope& op);

}  // namespace ld::proto
