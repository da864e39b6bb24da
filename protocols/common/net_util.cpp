#include "common/net_util.hpp"

#include <utility>  // before Asio (Boost 1.74 trap)

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/error.hpp>

#include <cerrno>
#include <map>
#include <mutex>

#include "common/task_fields.hpp"
#include "common/tls_fields.hpp"

namespace ld::proto {

using boost::system::error_code;
using stats::ErrorInfo;
using stats::ErrorKind;

std::vector<net::ip::tcp::endpoint> resolve_tcp(const std::string& host, std::uint16_t port) {
  std::vector<net::ip::tcp::endpoint> out;
  net::io_context io;
  net::ip::tcp::resolver r(io);
  error_code ec;
  const auto results = r.resolve(host, std::to_string(port), ec);
  if (!ec) {
    for (const auto& e : results) out.push_back(e.endpoint());
  }
  return out;
}

std::vector<net::ip::udp::endpoint> resolve_udp(const std::string& host, std::uint16_t port) {
  std::vector<net::ip::udp::endpoint> out;
  net::io_context io;
  net::ip::udp::resolver r(io);
  error_code ec;
  const auto results = r.resolve(host, std::to_string(port), ec);
  if (!ec) {
    for (const auto& e : results) out.push_back(e.endpoint());
  }
  return out;
}

void check_verify_field(const Json& task) {
  if (!task.contains("verify")) return;
  expect_type(task, "verify", task["verify"].is_boolean() || task["verify"].is_string(),
              "true, false or a CA bundle path");
}

std::shared_ptr<net::ssl::context> TlsContexts::get(const Json& task, std::string_view alpn) {
  const auto [verify, ca, cert, cert_key] = tls_fields(task);
  const std::string key =
      (verify ? "1|" : "0|") + ca + "|" + cert + "|" + cert_key + "|" + std::string(alpn);
  for (auto& [k, c] : by_key_) {
    if (k == key) return c;
  }
  auto ctx = std::make_shared<net::ssl::context>(net::ssl::context::tls_client);
  error_code ec;
  // TLS 1.2 or later (HTTP/2 requires it: RFC 9113 9.2).
  ctx->set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                   net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 |
                   net::ssl::context::no_tlsv1_1);
  if (!alpn.empty()) {
    SSL_CTX_set_alpn_protos(ctx->native_handle(),
                            reinterpret_cast<const unsigned char*>(alpn.data()),
                            static_cast<unsigned>(alpn.size()));
  }
  if (verify) {
    ctx->set_verify_mode(net::ssl::verify_peer);
    if (ca.empty()) {
      ctx->set_default_verify_paths(ec);
    } else if (ctx->load_verify_file(ca, ec); ec) {
      field_error("verify", "cannot load CA bundle '" + ca + "': " + ec.message());
    }
  } else {
    ctx->set_verify_mode(net::ssl::verify_none);
  }
  if (!cert.empty()) {
    if (ctx->use_certificate_chain_file(cert, ec); ec) {
      field_error("cert", "cannot load client certificate '" + cert + "': " + ec.message());
    }
    if (ctx->use_private_key_file(cert_key, net::ssl::context::pem, ec); ec) {
      field_error("cert", "cannot load client key '" + cert_key + "': " + ec.message());
    }
  }
  by_key_.emplace_back(key, ctx);
  return ctx;
}

namespace {

// Messages by key, built on first use and never freed (node-based map: pointers stay valid).
// Only failure paths reach this, and each distinct code takes the lock to build its text once.
const char* cached_message(unsigned long key, const char* prefix, const char* reason) {
  static std::mutex mu;
  static std::map<unsigned long, std::string> texts;
  std::lock_guard lock(mu);
  auto it = texts.find(key);
  if (it == texts.end()) {
    std::string text = prefix;
    if (reason && *reason) {
      text += ": ";
      text += reason;
    }
    it = texts.emplace(key, std::move(text)).first;
  }
  return it->second.c_str();
}

constexpr unsigned long kHandshakeKey = 1ul << 63;  // handshake reasons, apart from verify codes

}  // namespace

const char* tls_verify_message(long verify_result) {
  const auto key = static_cast<unsigned long>(verify_result) & ~kHandshakeKey;
  return cached_message(key, "TLS certificate verification failed",
                        X509_verify_cert_error_string(verify_result));
}

const char* tls_handshake_message(unsigned long openssl_error) {
  // Reason strings are only there once loaded (Asio's SSL init does it; do not rely on that).
  static const bool strings_loaded =
      OPENSSL_init_ssl(OPENSSL_INIT_LOAD_SSL_STRINGS | OPENSSL_INIT_LOAD_CRYPTO_STRINGS, nullptr);
  (void)strings_loaded;
  const char* reason = openssl_error ? ERR_reason_error_string(openssl_error) : nullptr;
  // Library + reason identify the text; the function and line parts do not matter.
  const unsigned long key = kHandshakeKey |
                            (static_cast<unsigned long>(ERR_GET_LIB(openssl_error)) << 32) |
                            static_cast<unsigned long>(ERR_GET_REASON(openssl_error));
  return cached_message(reason ? key : kHandshakeKey, "TLS handshake failed", reason);
}

ErrorInfo tls_handshake_error(const SSL* ssl, unsigned long openssl_error) {
  // The verify result is recorded even when verification is off; it is the cause only when on.
  if (ssl && (SSL_get_verify_mode(ssl) & SSL_VERIFY_PEER)) {
    const long verify = SSL_get_verify_result(ssl);
    if (verify != X509_V_OK) return {ErrorKind::kTls, tls_verify_message(verify), 0, false};
  }
  if (openssl_error == 0) openssl_error = ERR_peek_last_error();
  return {ErrorKind::kTls, tls_handshake_message(openssl_error), 0, false};
}

ErrorInfo classify_error(const error_code& ec, const char* stage) noexcept {
  if (ec == net::error::connection_refused) {
    return {ErrorKind::kRefused, "connect", ECONNREFUSED, true};
  }
  if (ec == net::error::eof || ec == net::error::connection_reset ||
      ec == net::error::broken_pipe || ec == net::error::not_connected ||
      ec == net::ssl::error::stream_truncated) {
    return {ErrorKind::kReset, "connection closed by peer", 0, false};
  }
  if (ec == net::error::host_not_found || ec == net::error::host_not_found_try_again) {
    return {ErrorKind::kConnect, "DNS lookup failed", 0, false};
  }
  if (ec.category() == net::error::get_ssl_category()) return {ErrorKind::kTls, stage, 0, false};
  if (ec.category() == boost::system::system_category()) {
    const ErrorKind kind =
        std::string_view(stage) == "connect" ? ErrorKind::kConnect : ErrorKind::kOther;
    return {kind, stage, ec.value(), true};
  }
  return {ErrorKind::kOther, stage, ec.value(), false};
}

bool is_stale_connection_error(const error_code& ec) noexcept {
  return ec == net::error::eof || ec == net::error::connection_reset ||
         ec == net::error::broken_pipe;
}

}  // namespace ld::proto
