#pragma once
// Private to protocols/http1: the compiled form of HTTP tasks.
#include <utility>  // before Asio (Boost 1.74 trap)

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <string>
#include <vector>

#include "checks/checks.hpp"
#include "common/net_util.hpp"
#include "common/url.hpp"
#include "common/auth/auth.hpp"
#include "action/registry.hpp"
#include "core/json_util.hpp"
#include "common/step_tasks.hpp"
#include "loaddensity/protocol/protocol.hpp"
#include "params/resolver.hpp"

namespace ld::proto::http1 {

namespace net = boost::asio;
using tcp = net::ip::tcp;

// One task, ready to send: everything that does not change between requests is built here.
// When no placeholder needs a per-request value, `request` holds the complete bytes; otherwise
// the templates are rendered into the session's buffers for each request.
struct Step {
  std::uint32_t name_id = 0;
  std::string label;   // name, else the URL as written
  std::string method;  // upper case, as sent
  bool head = false;   // HEAD: the response has no body
  bool allow_redirects = true;
  Nanos timeout = 0;

  bool dynamic = false;            // false: `request` and `url` are complete
  bool record_url = false;         // records carry the URL (not the name's static one)
  std::string url_text;            // static steps: the URL as requested
  Url url;                         // the URL when its scheme/host/port are fixed
  std::string request;             // the complete request bytes (static steps)
  bool dynamic_authority = false;  // the host itself comes from a placeholder
  params::Template url_tpl;        // dynamic_authority: the whole URL
  params::Template target_tpl;     // otherwise: path + query
  params::Template headers_tpl;    // header lines after Host ("Name: value\r\n" ...)
  std::uint32_t header_lines = 0;  // lines in headers_tpl (a rendered value must add none)
  bool custom_host = false;        // the task's own Host header replaces the URL's
  params::Template host_tpl;       // custom_host: its value
  params::Template body_tpl;
  params::Template auth_user_tpl, auth_pass_tpl;  // basic auth with placeholders
  bool dynamic_basic_auth = false;
  std::shared_ptr<const auth::Scheme> auth;  // oauth2, jwt, sigv4, digest: signed per request
  std::string content_type;  // sent when the body is non-empty and no Content-Type was given
  bool send_length = false;  // Content-Length even when the body is empty (POST/PUT/PATCH)
  bool use_jar = true;       // false: the task sets its own Cookie header

  std::unique_ptr<checks::Checks> checks;  // null when the task has none
  std::shared_ptr<net::ssl::context> ssl;  // for https URLs
  std::vector<tcp::endpoint> endpoints;    // resolved when the plan was built (may be empty)
};

class Tasks final : public proto::StepTasks<Step> {
 public:
  std::unique_ptr<engine::UserSession> new_user(engine::WorkerContext& worker) override;
  // io_uring: the worker's ring (plain connections read and write through it).
  std::shared_ptr<void> new_worker_state(engine::WorkerContext& worker) override;

  proto::TlsContexts tls;  // shared by every step and user
  bool io_uring = false;   // LD_start_test io_backend chose io_uring
  auth::Registry auth;     // auth schemes, shared by tasks with the same settings
};

constexpr int kMaxRedirects = 30;
constexpr double kDefaultTimeoutS = 30.0;

}  // namespace ld::proto::http1
