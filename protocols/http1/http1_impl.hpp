#pragma once
// Private to protocols/http1: the compiled form of HTTP tasks.
#include <utility>  // before Asio (Boost 1.74 trap)

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <string>
#include <vector>

#include "engine/protocol.hpp"
#include "url.hpp"

namespace ld::proto::http1 {

namespace net = boost::asio;
using tcp = net::ip::tcp;

// One task, ready to send: everything that does not change between requests is built here.
struct Step {
  std::uint32_t name_id = 0;
  std::string method;          // upper case, as sent
  Url url;
  std::string request;         // the complete request bytes (head + body)
  std::string common_headers;  // header lines after Host, reused when following redirects
  std::string body;            // request body (kept for 307/308 redirects)
  std::string content_type;    // of `body`, if any
  bool head = false;           // HEAD: the response has no body
  bool allow_redirects = true;
  Nanos timeout = 0;
  std::shared_ptr<net::ssl::context> ssl;  // for https URLs
  std::vector<tcp::endpoint> endpoints;    // resolved when the plan was built (may be empty)
};

class Tasks final : public engine::CompiledTasks {
 public:
  std::size_t size() const noexcept override { return steps.size(); }
  Nanos max_timeout() const noexcept override;
  std::unique_ptr<engine::UserSession> new_user(engine::WorkerContext& worker) override;

  std::vector<Step> steps;
  // TLS contexts by (verify, ca, cert, key), shared by every step and user (SSL_CTX is
  // thread-safe for creating connections).
  std::vector<std::pair<std::string, std::shared_ptr<net::ssl::context>>> ssl_contexts;
};

constexpr int kMaxRedirects = 30;
constexpr double kDefaultTimeoutS = 30.0;

}  // namespace ld::proto::http1
