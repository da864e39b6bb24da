#pragma once
// Private to ld_target: HTTP/3 on a UDP port of the target's own (`${target_h3}`). QUIC is
// ngtcp2 with its GnuTLS crypto backend and a self-signed certificate made in memory at start
// (ALPN "h3"); HTTP/3 is nghttp3. Every request goes through the same route() as HTTP/1.1 and
// h2c, so the three protocols answer the same endpoints alike. One UDP socket on one of the
// target's io_contexts serves every connection (connection IDs -> connections); each
// connection's ngtcp2 timers run on one Asio timer.
// clang-format off
#include <utility>  // first: Boost 1.74's Asio uses std::exchange without including it
// clang-format on

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace ld::target {

class H3Server {
 public:
  // Binds address:port (0 = a free port) and makes the certificate; throws std::runtime_error
  // on failure. `host_port` is what requests without :authority see as the server's address.
  H3Server(boost::asio::io_context& io, const boost::asio::ip::address& address,
           std::uint16_t port);
  ~H3Server();  // call close() on the io_context's thread first
  H3Server(const H3Server&) = delete;
  H3Server& operator=(const H3Server&) = delete;

  void start();           // starts receiving
  void close() noexcept;  // closes every connection (CONNECTION_CLOSE, H3_NO_ERROR) and the socket;
                          // call on the io_context's thread
  std::uint16_t port() const noexcept;

  // At most this many connections at once; Initial packets beyond it are dropped.
  static constexpr std::size_t kMaxConnections = 10000;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ld::target
