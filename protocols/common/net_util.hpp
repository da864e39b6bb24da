#pragma once
// Network helpers shared by the stream protocols: name resolution at compile time, client TLS
// contexts from a task's `verify` field, and mapping Asio error codes to failure kinds.
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

// Connect/read/write failure -> error kind and static message. `expired` = the operation's
// deadline passed (the sweeper closed the socket); `stage` names what was being done.
stats::ErrorInfo classify_error(const boost::system::error_code& ec, bool expired,
                                const char* stage) noexcept;

// True for end-of-stream style errors of a reused connection (the server closed it idle).
bool is_stale_connection_error(const boost::system::error_code& ec) noexcept;

}  // namespace ld::proto
