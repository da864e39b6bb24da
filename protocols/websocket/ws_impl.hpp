#pragma once
// Private to protocols/websocket: the compiled form of websocket_user tasks.
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

namespace ld::proto::websocket {

namespace net = boost::asio;

constexpr double kDefaultTimeoutS = 5.0;  // the original's default

// One WebSocket endpoint a user can connect to: URL + handshake headers + TLS settings.
struct Endpoint {
  Url url;
  std::vector<std::pair<std::string, std::string>> headers;  // extra handshake headers
  // Per-request parts: the target and header values are rendered at each connect when set.
  bool dynamic = false;
  params::Template target_tpl;
  std::vector<params::Template> header_tpls;                 // parallel to `headers`
  std::shared_ptr<net::ssl::context> ssl;                    // wss only
  std::vector<net::ip::tcp::endpoint> endpoints;  // resolved at compile time (may be empty)
  std::uint32_t connect_name = 0;                 // records of connects (explicit or automatic)
  std::string key;                                // identity: URL + headers + verify
};

enum class Op { kConnect, kSend, kRecv, kSendRecv, kClose };

struct Step {
  Op op = Op::kSend;
  std::size_t endpoint = 0;  // index into Tasks::endpoints
  bool own_url = false;      // the task named a URL: a connection elsewhere is replaced
  std::uint32_t name_id = 0;
  PayloadTemplate payload;                 // send / sendrecv ("hex:..." -> binary frame)
  std::string expect;                      // recv / sendrecv: bytes the message must contain
  std::unique_ptr<checks::Checks> checks;  // recv / sendrecv: on the reply message; may be null
  Nanos timeout = 0;
};

class Tasks final : public proto::StepTasks<Step> {
 public:
  std::unique_ptr<engine::UserSession> new_user(engine::WorkerContext& worker) override;

  std::vector<Endpoint> endpoints;
  std::size_t write_buffer = 4096;  // masking buffer per connection: the largest payload, capped
};

}  // namespace ld::proto::websocket
