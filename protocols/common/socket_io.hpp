#pragma once
// One non-blocking read or write on a connected socket, plain or through OpenSSL attached to
// the socket's descriptor (the sessions that run TLS themselves: redis_user, mqtt_user). A TLS
// call that must wait says would_block, like the plain socket.
#include <utility>  // before Asio (Boost 1.74 trap)

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/error.hpp>
#include <cstddef>

namespace ld::proto {

// OpenSSL's outcome as an Asio error: would_block to wait, eof, or the TLS error.
inline boost::system::error_code ssl_io_error(const SSL* ssl, int r) {
  namespace net = boost::asio;
  switch (SSL_get_error(ssl, r)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE: return net::error::would_block;
    case SSL_ERROR_ZERO_RETURN: return net::error::eof;
    case SSL_ERROR_SYSCALL: return net::error::connection_reset;
    default:
      return {static_cast<int>(ERR_get_error()), net::error::get_ssl_category()};
  }
}

// `ssl` null: the plain socket.
inline std::size_t read_some(boost::asio::ip::tcp::socket& sock, SSL* ssl, char* buf,
                             std::size_t cap, boost::system::error_code& ec) {
  if (!ssl) return sock.read_some(boost::asio::buffer(buf, cap), ec);
  ERR_clear_error();
  const int r = SSL_read(ssl, buf, static_cast<int>(std::min<std::size_t>(cap, 1 << 30)));
  if (r > 0) return static_cast<std::size_t>(r);
  ec = ssl_io_error(ssl, r);
  return 0;
}

inline std::size_t write_some(boost::asio::ip::tcp::socket& sock, SSL* ssl, const char* buf,
                              std::size_t len, boost::system::error_code& ec) {
  if (!ssl) return sock.write_some(boost::asio::buffer(buf, len), ec);
  ERR_clear_error();
  const int r = SSL_write(ssl, buf, static_cast<int>(std::min<std::size_t>(len, 1 << 30)));
  if (r > 0) return static_cast<std::size_t>(r);
  ec = ssl_io_error(ssl, r);
  return 0;
}

inline bool would_block(const boost::system::error_code& ec) {
  return ec == boost::asio::error::would_block || ec == boost::asio::error::try_again;
}

}  // namespace ld::proto
