#pragma once
// Private to protocols/redis: the compiled form of redis_user tasks.
#include <utility>  // before Asio (Boost 1.74 trap)

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <string>
#include <vector>

#include "checks/checks.hpp"
#include "common/net_util.hpp"
#include "core/json_util.hpp"
#include "common/step_tasks.hpp"
#include "loaddensity/protocol/protocol.hpp"
#include "params/resolver.hpp"
#include "redis/url.hpp"

namespace ld::proto::redis {

namespace net = boost::asio;

constexpr double kDefaultTimeoutS = 5.0;
constexpr std::size_t kMaxPipeline = 1024;
// A reply larger than this (while it is still arriving) fails the connection: the partial reply
// is buffered per connection, and a load generator should not hold a server's 512 MiB value.
constexpr std::size_t kMaxReplyBytes = 64u << 20;

// One server connection a user opens: address, credentials and database. Users open one
// connection per distinct URL their tasks name.
struct Endpoint {
  RedisUrl url;
  std::string handshake;           // AUTH and SELECT, pre-encoded (sent first on connect)
  std::size_t handshake_replies = 0;
  std::vector<net::ip::tcp::endpoint> resolved;  // at compile time (may be empty)
  std::shared_ptr<net::ssl::context> ssl;        // rediss:// (null: plain TCP)
};

// One task: a command whose bytes are pre-encoded when nothing in it varies per request.
struct Step {
  std::uint32_t name_id = 0;
  std::size_t endpoint = 0;  // index into Tasks::endpoints
  Nanos timeout = 0;
  bool dynamic = false;
  std::string command;                 // !dynamic: the encoded command
  std::vector<params::Template> args;  // dynamic: every argument, rendered per request

  // `expect`: the reply as text must equal it (nil: `expect_nil`).
  bool has_expect = false;
  bool expect_nil = false;
  params::Template expect;
  std::string expect_message;  // "expect failed: reply == 'x'" (static for the run)
  std::unique_ptr<checks::Checks> checks;  // null when the task has none
};

class Tasks final : public proto::StepTasks<Step> {
 public:
  std::unique_ptr<engine::UserSession> new_user(engine::WorkerContext& worker) override;

  std::vector<Endpoint> endpoints;
  std::size_t pipeline = 1;  // commands in flight per user (engine lanes over one connection)
  proto::TlsContexts tls;    // shared by every rediss:// endpoint and user
};

}  // namespace ld::proto::redis
