#pragma once
// Private to protocols/socket: the compiled form of socket_user tasks.
#include <utility>  // before Asio (Boost 1.74 trap)

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
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

namespace ld::proto::socket {

namespace net = boost::asio;

constexpr double kDefaultTimeoutS = 5.0;  // the original's default

// One task: send `payload`, then read until the expectations hold.
struct Step {
  std::uint32_t name_id = 0;
  bool udp = false;
  std::string host;
  std::uint16_t port = 0;
  proto::PayloadTemplate payload;  // bytes to send (may be empty: read only)
  std::size_t expect_bytes = 0;    // read until this many bytes arrived (0 = no count)
  std::string expect_substring;    // read until these bytes were seen (empty = none)
  bool read = false;               // expect_bytes > 0, expect_substring or checks given
  // On the reply bytes (what the read gathered; with no expect_*, the first read's bytes or
  // datagram); may be null.
  std::unique_ptr<checks::Checks> checks;
  Nanos timeout = 0;             // covers connect, send and the reply
  std::vector<net::ip::tcp::endpoint> tcp_endpoints;  // resolved at compile time (may be empty)
  std::vector<net::ip::udp::endpoint> udp_endpoints;
};

class Tasks final : public proto::StepTasks<Step> {
 public:
  std::unique_ptr<engine::UserSession> new_user(engine::WorkerContext& worker) override;
  // io_uring: the worker's ring (connected sockets send and read through it).
  std::shared_ptr<void> new_worker_state(engine::WorkerContext& worker) override;

  bool io_uring = false;  // LD_start_test io_backend chose io_uring
};

}  // namespace ld::proto::socket
