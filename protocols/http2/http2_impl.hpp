#pragma once
// Private to protocols/http2: the compiled form of HTTP/2 tasks.
#include <utility>  // before Asio (Boost 1.74 trap)

#include <nghttp2/nghttp2.h>

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

namespace ld::proto::http2 {

namespace net = boost::asio;
using tcp = net::ip::tcp;

// A protocol carried over HTTP/2 (gRPC) builds a step's body and judges its answer itself,
// reusing the connections, streams, TLS and timeouts of this client unchanged.
class StepHooks {
 public:
  virtual ~StepHooks() = default;
  // Renders the request body of a `dynamic_body` step into `out` (cleared by the caller);
  // `scratch` is a lane buffer. Returns why the request cannot be sent, or null.
  virtual const char* render_body(std::string& out, std::string& scratch,
                                  params::UserScope& scope) const = 0;
  // Judges a complete response: `headers` holds the header and trailer fields as
  // "name: value\r\n" lines, `body` the DATA; rec.status is the HTTP status on entry.
  // `scratch` (a lane buffer) may hold what rec.text points to until the record is made.
  virtual void judge(std::string_view body, std::string_view headers, std::string& scratch,
                     engine::WorkerContext& w, stats::Record& rec) const = 0;
};

// One task, ready to submit: the header block is an nghttp2 name/value array built once that
// points into this Step's strings (nothing is copied per request).
struct Step {
  std::uint32_t name_id = 0;
  std::string method;  // upper case
  Url url;
  std::string scheme;  // "http" | "https"
  // The URL as requested, for per-request reports; `record_url`: records carry it (another
  // URL already has the same name).
  std::string url_text;
  bool record_url = false;
  // Regular headers after the pseudo-headers, names lower case, as sent.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string content_type;    // sent unless the user's headers have one
  std::string content_length;  // decimal, when a body is sent or the method expects one
  bool allow_redirects = true;
  bool use_jar = true;  // false: the task sets its own cookie header
  Nanos timeout = 0;
  std::unique_ptr<checks::Checks> checks;  // null when the task has none
  std::shared_ptr<net::ssl::context> ssl;  // for https URLs
  std::vector<tcp::endpoint> endpoints;    // resolved when the plan was built (may be empty)
  std::vector<nghttp2_nv> nva;             // the whole header block (built by finalize())
  std::size_t common_begin = 0;            // nva[common_begin, common_end): headers kept on
  std::size_t common_end = 0;              // redirects (no pseudo, no content-* headers)
  std::uint64_t request_bytes = 0;         // header block ("name: value\r\n") + body, for stats
  std::size_t content_length_at = 0;       // index of content-length in nva (> size: none)

  // Per-request parts (placeholders that change per request), rendered by the session into
  // the lane's buffers: `dynamic` is false when the prebuilt block and body are sent as they are.
  struct DynHeader {
    std::size_t index;  // into `headers`
    params::Template value;
    bool basic = false;  // `value` is "user:password", sent as "Basic " + base64
  };
  bool dynamic = false;
  params::Template path_tpl;  // set when :path has per-request parts (before percent-encoding)
  std::vector<DynHeader> dyn_headers;
  bool dynamic_body = false;
  params::Template body_tpl;
  // Set by a protocol layered on this client: the body (when dynamic) and the judgement are
  // its own, and the response's DATA and header fields are always captured for it.
  std::shared_ptr<const StepHooks> hooks;
  // oauth2, jwt, sigv4: header values signed per request, at headers[auth_at...].
  std::shared_ptr<const auth::Scheme> auth;
  std::size_t auth_at = 0;
};

// Fills step.nva from the Step's strings. Call once the Step is at its final address.
void finalize(Step& step);

class Tasks final : public proto::StepTasks<Step> {
 public:
  std::unique_ptr<engine::UserSession> new_user(engine::WorkerContext& worker) override;

  std::size_t max_streams = 1;  // concurrent requests per user connection
  proto::TlsContexts tls;       // shared by every step and user
  auth::Registry auth;          // auth schemes, shared by tasks with the same settings
};

constexpr int kMaxRedirects = 30;
constexpr double kDefaultTimeoutS = 30.0;
constexpr std::size_t kMaxStreamsLimit = 1000;

// LD_start_test `max_streams`, shared with the protocols layered on this client (gRPC):
// its declaration (`what` names the unit: "requests", "calls"), its check (ConfigError at
// "/max_streams") and its value (1 when absent).
action::Param max_streams_option(const std::string& what);
void check_max_streams(const Json& args);
std::size_t max_streams_of(const Json& args);

// For clients that send the same requests another way (HTTP/3): the HTTP/2 user's task
// fields and checks, and its compiled steps (each task checked by `checker` first; `openssl`
// false makes no OpenSSL context for https URLs).
std::vector<action::Param> http_task_fields();
void validate_http_task(const Json& task, const char* user_label);  // "an HTTP/3 user"
std::unique_ptr<Tasks> compile_steps(const engine::Protocol& checker,
                                     const std::vector<Json>& tasks, engine::CompileContext& ctx,
                                     bool openssl);

}  // namespace ld::proto::http2
