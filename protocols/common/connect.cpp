#include "common/connect.hpp"

#include <utility>  // before Asio (Boost 1.74 trap)

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace ld::proto {

using boost::system::error_code;
using stats::ErrorInfo;
using stats::ErrorKind;
using tcp = net::ip::tcp;

net::awaitable<ErrorInfo> connect_tcp(tcp::socket& sock, const std::string& host,
                                      std::uint16_t port,
                                      const std::vector<tcp::endpoint>& endpoints,
                                      const OpScope& op) {
  error_code ec;
  std::vector<tcp::endpoint> resolved;
  const std::vector<tcp::endpoint>* eps = &endpoints;
  if (eps->empty()) {
    tcp::resolver resolver(sock.get_executor());
    auto results = co_await resolver.async_resolve(host, std::to_string(port),
                                                   net::redirect_error(net::use_awaitable, ec));
    if (ec) co_return op.error(ec, "DNS lookup failed");
    // The deadline may have passed while resolving (there was no socket to close yet).
    if (op.expired()) co_return op.timed_out();
    for (const auto& r : results) resolved.push_back(r.endpoint());
    eps = &resolved;
  }
  co_await net::async_connect(sock, *eps, net::redirect_error(net::use_awaitable, ec));
  if (ec) co_return op.error(ec, "connect");
  sock.set_option(tcp::no_delay(true), ec);
  co_return ErrorInfo{};
}

void prepare_tls_client(SSL* ssl, const std::string& host) {
  error_code ec;
  const bool ip_literal = (net::ip::make_address(host, ec), !ec);
  if (!ip_literal) SSL_set_tlsext_host_name(ssl, host.c_str());
  if (SSL_get_verify_mode(ssl) & SSL_VERIFY_PEER) {
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (ip_literal) {
      X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str());
    } else {
      X509_VERIFY_PARAM_set1_host(param, host.c_str(), 0);
    }
  }
}

net::awaitable<ErrorInfo> tls_handshake(net::ssl::stream<tcp::socket>& stream,
                                        const std::string& host, const OpScope& op) {
  prepare_tls_client(stream.native_handle(), host);
  error_code ec;
  co_await stream.async_handshake(net::ssl::stream_base::client,
                                  net::redirect_error(net::use_awaitable, ec));
  if (!ec) co_return ErrorInfo{};
  if (op.expired()) co_return op.timed_out();
  if (ec.category() == net::error::get_ssl_category() && ec != net::ssl::error::stream_truncated) {
    // OpenSSL's reason, not its number (Asio puts the error code in ec.value()).
    co_return tls_handshake_error(stream.native_handle(), static_cast<unsigned long>(ec.value()));
  }
  co_return classify_error(ec, "TLS handshake failed");
}

net::awaitable<ErrorInfo> tls_handshake(SSL* ssl, tcp::socket& sock, const std::string& host,
                                        const OpScope& op) {
  SSL_set_fd(ssl, sock.native_handle());
  prepare_tls_client(ssl, host);
  SSL_set_connect_state(ssl);
  error_code ec;
  for (;;) {
    ERR_clear_error();
    const int r = SSL_do_handshake(ssl);
    if (r == 1) co_return ErrorInfo{};
    const int err = SSL_get_error(ssl, r);
    tcp::socket::wait_type wait;
    if (err == SSL_ERROR_WANT_READ) {
      wait = tcp::socket::wait_read;
    } else if (err == SSL_ERROR_WANT_WRITE) {
      wait = tcp::socket::wait_write;
    } else {
      if (op.expired()) co_return op.timed_out();
      if ((SSL_get_verify_mode(ssl) & SSL_VERIFY_PEER) && SSL_get_verify_result(ssl) != X509_V_OK) {
        co_return tls_handshake_error(ssl);  // names the verification failure
      }
      if (err == SSL_ERROR_SYSCALL) {
        co_return ErrorInfo{ErrorKind::kReset, "connection closed by peer", 0, false};
      }
      co_return tls_handshake_error(nullptr, ERR_peek_last_error());
    }
    co_await sock.async_wait(wait, net::redirect_error(net::use_awaitable, ec));
    if (ec) co_return op.error(ec, "TLS handshake failed");
  }
}

}  // namespace ld::proto
