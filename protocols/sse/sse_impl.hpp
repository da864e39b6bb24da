#pragma once
// Private to protocols/sse: the compiled form of sse_user tasks.
#include <utility>  // before Asio (Boost 1.74 trap)

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <string>
#include <vector>

#include "action/registry.hpp"
#include "checks/checks.hpp"
#include "common/task_fields.hpp"
#include "core/json_util.hpp"
#include "common/step_tasks.hpp"
#include "loaddensity/protocol/protocol.hpp"
#include "params/resolver.hpp"

namespace ld::proto::sse {

namespace net = boost::asio;

constexpr double kDefaultTimeoutS = 30.0;  // the original's default

// One event stream a user can open: a URL with its request headers.
struct Stream {
  Url url;
  std::string request;  // "GET ... HTTP/1.1" head without the final CRLF (Last-Event-ID goes last)
  // Per-request parts of the URL or header values: the head is rendered at each open.
  bool dynamic = false;
  params::Template head_tpl;
  std::size_t head_breaks = 0;                    // CR/LF/NUL in the head's literal text
  std::shared_ptr<net::ssl::context> ssl;         // https only
  std::vector<net::ip::tcp::endpoint> endpoints;  // resolved at compile time (may be empty)
  std::uint32_t open_name = 0;                    // record of the open (time to the response head)
  std::uint32_t first_event_name = 0;             // record of the first event after an open (TTFE)
  std::string key;                                // identity: URL + headers + verify
};

enum class Op { kOpen, kWait, kClose };

struct Step {
  Op op = Op::kWait;
  std::size_t stream = 0;     // index into Tasks::streams
  std::uint32_t name_id = 0;  // wait: one record per matching event
  std::string expect;         // wait: substring of the event's data ("" = any event)
  std::uint32_t count = 1;    // wait: events to wait for
  std::unique_ptr<checks::Checks> checks;  // wait: on each counted event's data; may be null
  Nanos timeout = 0;          // open: connect + response head; wait: the whole wait
};

class Tasks final : public proto::StepTasks<Step> {
 public:
  std::unique_ptr<engine::UserSession> new_user(engine::WorkerContext& worker) override;

  std::vector<Stream> streams;
};

}  // namespace ld::proto::sse
