#pragma once
// Network helpers shared by the protocols: name resolution at compile time, client TLS contexts
// from a task's `verify` field, and mapping Asio error codes to failure kinds.
#include <utility>  // before Asio (Boost 1.74 trap)

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/system/error_code.hpp>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/json_util.hpp"
#include "loaddensity/stats/record.hpp"

namespace ld::proto {

namespace net = boost::asio;

// Resolves host:port now (blocking; used while compiling). Empty when it does not resolve:
// the session then resolves again per connection and counts a failure if it still fails.
std::vector<net::ip::tcp::endpoint> resolve_tcp(const std::string& host, std::uint16_t port);
std::vector<net::ip::udp::endpoint> resolve_udp(const std::string& host, std::uint16_t port);

// Client TLS contexts, shared by every user (SSL_CTX is safe to share for new connections).
// `verify` is the task's field: absent/true = verify against the system store, false = no
// verification, a string = a CA bundle path; `cert` (a PEM path or [cert, key]) is a client
// certificate. `alpn` is the wire-format ALPN list ("\x02h2"), empty for none. Throws a field
// error when a file is unreadable. One context per distinct (verify, cert, alpn).
class TlsContexts {
 public:
  std::shared_ptr<net::ssl::context> get(const Json& task, std::string_view alpn = {});

 private:
  std::vector<std::pair<std::string, std::shared_ptr<net::ssl::context>>> by_key_;
};
void check_verify_field(const Json& task);

// The one mapping of a failed resolve/connect/read/write to an error kind and static message,
// for every protocol (`stage` names what was being done: "connect", "send", "I/O error"):
//   refused                                  -> refused  "connect" (ECONNREFUSED)
//   EOF, reset, broken pipe, not connected,
//   TLS stream truncated                     -> reset    "connection closed by peer"
//   host not found                           -> connect  "DNS lookup failed"
//   other TLS errors                         -> tls      stage
//   other system errors (operation_aborted
//   too: a cancel that was not a timeout)    -> connect (stage "connect") or other, with errno
//   anything else                            -> other    stage
// An operation that timed out is not classified: its OpScope reports the timeout instead.
stats::ErrorInfo classify_error(const boost::system::error_code& ec, const char* stage) noexcept;

// Static messages for TLS failures, made from OpenSSL's reason text (the strings are built once
// per code and live for the process, as ErrorInfo::what requires):
//   tls_verify_message(X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT)
//     -> "TLS certificate verification failed: self-signed certificate"
//   tls_handshake_message(ERR_peek_last_error()) -> "TLS handshake failed: <reason>"
// (falls back to the bare prefix when OpenSSL has no text for the code).
const char* tls_verify_message(long verify_result);
const char* tls_handshake_message(unsigned long openssl_error);
// The ErrorInfo of a failed handshake: certificate verification (from `ssl`'s verify result)
// when that failed, else the reason of `openssl_error` (0: the last error queued on this thread).
stats::ErrorInfo tls_handshake_error(const SSL* ssl, unsigned long openssl_error = 0);

// True for end-of-stream style errors of a reused connection (the server closed it idle).
bool is_stale_connection_error(const boost::system::error_code& ec) noexcept;

}  // namespace ld::proto
