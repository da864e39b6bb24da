// socket_user task checking and compilation: payloads are decoded and targets resolved once.
#include <utility>  // before Asio (Boost 1.74 trap)

#include "params/resolver.hpp"
#include "common/net_util.hpp"
#include "common/task_fields.hpp"
#include "core/text.hpp"
#include "socket.hpp"
#include "socket_impl.hpp"

namespace ld::proto::socket {

namespace {

const std::vector<std::string> kFields = {"protocol", "target",       "host",
                                          "payload",  "expect_bytes", "expect_substring",
                                          "timeout",  "name",         "weight"};
constexpr std::string_view kUser = "a socket_user";
constexpr const char* kNoTarget =
    "task needs 'target' (\"host:port\"), or LD_start_test needs a 'host' to default to";
constexpr const char* kNothing =
    "task sends nothing and reads nothing: give a 'payload', 'expect_bytes' or "
    "'expect_substring'";
constexpr const char* kUdpSends =
    "a UDP task must send a datagram (a UDP server cannot know the client before it sends)";

std::string protocol_of(const Json& task) {
  if (!task.contains("protocol")) return "tcp";
  expect_type(task, "protocol", task["protocol"].is_string(), "\"tcp\" or \"udp\"");
  const std::string p = text::lower(task["protocol"].get<std::string>());
  if (p != "tcp" && p != "udp") {
    field_error("protocol", "unknown protocol '" + task["protocol"].get<std::string>() +
                                "'; use \"tcp\" or \"udp\"");
  }
  return p;
}

const char* target_key(const Json& task) { return task.contains("target") ? "target" : "host"; }

class SocketProtocol final : public engine::Protocol {
 public:
  std::vector<std::string> user_types() const override { return {"socket_user"}; }

  void validate_task(const Json& task) const override {
    check_known_fields(task, kFields, kUser);
    protocol_of(task);
    const char* key = target_key(task);
    if (task.contains(key)) {
      expect_type(task, key, task[key].is_string(), "a \"host:port\" string");
      const std::string t = task[key].get<std::string>();
      std::string host, error;
      std::uint16_t port = 0;
      if (!has_placeholder(t) && !parse_host_port(t, host, port, error)) {
        field_error(key, "'" + t + "' " + error);
      }
    }
    check_payload_field(task, "payload");
    check_payload_field(task, "expect_substring");
    if (task.contains("expect_bytes")) {
      const Json& v = task["expect_bytes"];
      expect_type(task, "expect_bytes",
                  v.is_number_integer() && v.get<std::int64_t>() >= 0 &&
                      v.get<std::int64_t>() <= (1ll << 30),
                  "a byte count from 0 to 2^30");
    }
    check_timeout_field(task);
    if (task.contains("name")) expect_type(task, "name", task["name"].is_string(), "a string");
    const bool sends = task.contains("payload") && !payload_text(task["payload"]).empty() &&
                       payload_text(task["payload"]) != "hex:";
    const bool reads =
        (task.contains("expect_bytes") && task["expect_bytes"] != 0) ||
        (task.contains("expect_substring") && !payload_text(task["expect_substring"]).empty());
    if (!sends && !reads) throw ConfigError(kNothing, "");
    if (!sends && protocol_of(task) == "udp") field_error("payload", kUdpSends);
  }

  void validate_list(const std::vector<Json>& tasks, const std::string& host) const override {
    if (!host.empty()) return;
    compile_each(tasks.size(), [&](std::size_t i) {
      if (!tasks[i].contains("target") && !tasks[i].contains("host"))
        throw ConfigError(kNoTarget, "");
    });
  }

  std::unique_ptr<engine::CompiledTasks> compile(const std::vector<Json>& raw_tasks,
                                                 engine::CompileContext& raw_ctx) const override {
    // Placeholders fixed for the run are folded here; per-request ones stay as written.
    const std::vector<Json> tasks = params::resolve_json_list(raw_tasks, raw_ctx.resolver);
    engine::CompileContext ctx = raw_ctx;
    ctx.host = params::resolve_static(raw_ctx.host, raw_ctx.resolver);
    auto out = std::make_unique<Tasks>();
    compile_each(tasks.size(), [&](std::size_t i) {
      const Json& task = tasks[i];
      validate_task(task);
      Step s;
      const std::string protocol = protocol_of(task);
      s.udp = protocol == "udp";
      const char* key = target_key(task);
      std::string target = task.contains(key) ? task[key].get<std::string>() : ctx.host;
      if (target.empty()) {
        throw ConfigError(kNoTarget, "");
      }
      std::string error;
      if (!parse_host_port(target, s.host, s.port, error)) {
        if (!task.contains(key)) {
          throw ConfigError("LD_start_test 'host' '" + target + "' is not \"host:port\": " + error,
                            "");
        }
        field_error(key, "'" + target + "' " + error);
      }
      s.payload = compile_payload_field(task, "payload");
      s.expect_substring = compile_payload_field(task, "expect_substring");
      if (task.contains("expect_bytes")) {
        s.expect_bytes = static_cast<std::size_t>(task["expect_bytes"].get<std::int64_t>());
      }
      s.read = s.expect_bytes > 0 || !s.expect_substring.empty();
      if (!s.read && s.payload.empty()) throw ConfigError(kNothing, "");
      if (s.udp && s.payload.empty()) field_error("payload", kUdpSends);
      s.timeout = seconds_to_ns(timeout_of(task, kDefaultTimeoutS));
      const std::string name =
          task.contains("name") ? task["name"].get<std::string>() : protocol + ":" + target;
      s.name_id = ctx.names.intern(s.udp ? "UDP" : "TCP", name);
      ctx.names.set_url(s.name_id, protocol + "://" + target);  // per-request reports
      if (s.udp) {
        s.udp_endpoints = resolve_udp(s.host, s.port);
      } else {
        s.tcp_endpoints = resolve_tcp(s.host, s.port);
      }
      out->steps.push_back(std::move(s));
    });
    return out;
  }
};

}  // namespace

Nanos Tasks::max_timeout() const noexcept {
  Nanos m = 0;
  for (const auto& s : steps) m = std::max(m, s.timeout);
  return m;
}

std::shared_ptr<engine::Protocol> make_protocol() { return std::make_shared<SocketProtocol>(); }

}  // namespace ld::proto::socket
