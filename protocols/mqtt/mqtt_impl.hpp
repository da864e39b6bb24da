#pragma once
// Private to protocols/mqtt: the compiled form of mqtt_user tasks.
#include <utility>  // before Asio (Boost 1.74 trap)

#include <boost/asio/ssl/context.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "checks/checks.hpp"
#include "common/net_util.hpp"
#include "common/task_fields.hpp"
#include "common/step_tasks.hpp"
#include "loaddensity/protocol/protocol.hpp"
#include "params/resolver.hpp"

namespace ld::proto::mqtt {

constexpr double kDefaultTimeoutS = 5.0;
constexpr std::size_t kDefaultInbox = 1024;
constexpr std::size_t kMaxInbox = 1u << 20;
constexpr std::string_view kDefaultUrl = "mqtt://127.0.0.1:1883";
// A packet from the broker larger than this fails the connection (it is buffered while it
// arrives).
constexpr std::size_t kMaxPacket = 64u << 20;

// `measure: "delivery"`: the payload starts with "ldts:" + 16 hex digits (steady-clock ns at the
// publish) + 8 hex digits (the publishing session) + 4 hex digits (the task index) + ":". A
// receiving session strips it before expect and checks, and when it published the message
// itself records publish -> arrival under the publish task's name.
constexpr std::string_view kStampPrefix = "ldts:";
constexpr std::size_t kStampSize = 5 + 16 + 8 + 4 + 1;

enum class Method : std::uint8_t {
  kConnect,
  kPublish,
  kSubscribe,
  kUnsubscribe,
  kReceive,
  kDisconnect
};

// How a task connects (when it is a connect, or finds its user disconnected).
struct ConnSpec {
  std::string display;  // the URL as given (static placeholders folded)
  std::string host;
  std::uint16_t port = 0;
  std::vector<net::ip::tcp::endpoint> resolved;  // at compile time (may be empty)
  bool tls = false;
  bool verify = true;
  std::string ca_file;                     // verify with this bundle (empty: the system store)
  std::shared_ptr<net::ssl::context> ssl;  // mqtts:// (shared by every user)
  bool has_client_id = false;
  params::Template client_id;
  bool has_username = false, has_password = false;
  params::Template username, password;
  bool clean_session = true;
  int keepalive = 60;
  int version = 4;  // MQTT protocol level: 4 (3.1.1) or 5
};

struct Step {
  Method method = Method::kPublish;
  std::uint32_t name_id = 0;
  Nanos timeout = 0;
  std::size_t conn = 0;  // index into Tasks::conns
  params::Template topic;
  PayloadTemplate payload;
  int qos = 0;
  bool retain = false;
  bool delivery = false;  // measure: "delivery"
  std::size_t count = 1;  // receive: messages to wait for
  bool has_expect = false;
  params::Template expect;
  std::string expect_message;              // "expect failed: payload contains 'x'"
  std::unique_ptr<checks::Checks> checks;  // receive: on the last matching payload
};

class Tasks final : public proto::StepTasks<Step> {
 public:
  std::unique_ptr<engine::UserSession> new_user(engine::WorkerContext& worker) override;

  std::vector<ConnSpec> conns;
  std::uint32_t connect_name_id = 0;  // the record of a connect a task made on first use
  std::size_t inbox = kDefaultInbox;  // messages a user holds before dropping
  proto::TlsContexts tls;             // shared by every mqtts:// connection
};

}  // namespace ld::proto::mqtt
