// socket_user task checking and compilation: payloads are decoded and targets resolved once.
#include <utility>  // before Asio (Boost 1.74 trap)

#include "checks/checks.hpp"
#include "common/net_util.hpp"
#include "common/task_fields.hpp"
#include "common/uring/ring.hpp"
#include "core/text.hpp"
#include "params/resolver.hpp"
#include "socket.hpp"
#include "socket_impl.hpp"

namespace ld::proto::socket {

namespace {

std::vector<action::Param> declared_fields() {
  using namespace action;
  std::vector<Param> f = {
      field("protocol", kString, "tcp", "tcp or udp"),
      field("target", kString, nullptr,
            "\"host:port\" (\"[v6]:port\"); default: LD_start_test 'host'"),
      field("host", kString, nullptr, "same as target"),
      field("payload", kAny & ~kNull, nullptr,
            "bytes to send: text, \"hex:...\" or a JSON value sent as JSON; placeholders "
            "render per request"),
      field("expect_bytes", kInteger, nullptr, "read until this many reply bytes arrived"),
      field("expect_substring", kAny & ~kNull, nullptr,
            "read until the reply contains this (text or \"hex:...\")"),
      field("timeout", kNumber, kDefaultTimeoutS, "seconds for connect, send and the reply"),
  };
  add_result_fields(f, "protocol:target", "the reply bytes", /*http=*/false);
  return f;
}
constexpr std::string_view kUser = "a socket_user";
constexpr const char* kNoTarget =
    "task needs 'target' (\"host:port\"), or LD_start_test needs a 'host' to default to";
constexpr const char* kNothing =
    "task sends nothing and reads nothing: give a 'payload', 'expect_bytes', 'expect_substring' "
    "or 'assertions'";
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

  std::vector<action::Param> task_fields(const std::string&) const override { return fields_; }

  std::vector<action::Param> options() const override { return {uring::backend_option()}; }
  void validate_options(const Json& args) const override { uring::validate_backend_option(args); }

  void validate_task(const Json& task) const override {
    check_task_fields(task, fields_, kUser);
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
    checks::Checks::validate(task, /*http=*/false);
    const bool sends = task.contains("payload") && !payload_text(task["payload"]).empty() &&
                       payload_text(task["payload"]) != "hex:";
    const bool reads =
        (task.contains("expect_bytes") && task["expect_bytes"] != 0) ||
        (task.contains("expect_substring") && !payload_text(task["expect_substring"]).empty()) ||
        (task.contains("assertions") && !task["assertions"].empty()) ||
        (task.contains("extract") && !task["extract"].empty());
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
    const params::ParseContext pc = raw_ctx.parse_context();
    const std::vector<Json> tasks = params::resolve_json_list(raw_tasks, pc);
    engine::CompileContext ctx = raw_ctx;
    ctx.host = params::resolve_static(raw_ctx.host, raw_ctx.resolver);
    auto out = std::make_unique<Tasks>();
    out->io_uring = uring::choose_backend(ctx.options) == uring::Backend::kIoUring;
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
      if (has_placeholder(target)) {
        field_error(key, "'" + target +
                             "': a per-request placeholder can go in the payload, not in the "
                             "target (the connection target is fixed for the run)");
      }
      std::string error;
      if (!parse_host_port(target, s.host, s.port, error)) {
        if (!task.contains(key)) {
          throw ConfigError("LD_start_test 'host' '" + target + "' is not \"host:port\": " + error,
                            "");
        }
        field_error(key, "'" + target + "' " + error);
      }
      s.payload = compile_payload_template(raw_tasks[i], "payload", pc);
      s.expect_substring = compile_payload_field(task, "expect_substring");
      if (task.contains("expect_bytes")) {
        s.expect_bytes = static_cast<std::size_t>(task["expect_bytes"].get<std::int64_t>());
      }
      if (task.contains("assertions") || task.contains("extract")) {
        s.checks = checks::Checks::compile(raw_tasks[i], pc, /*http=*/false);
        if (s.checks->empty()) s.checks.reset();
      }
      s.read = s.expect_bytes > 0 || !s.expect_substring.empty() || s.checks;
      const bool sends = s.payload.dynamic || !s.payload.bytes.empty();
      if (!s.read && !sends) throw ConfigError(kNothing, "");
      if (s.udp && !sends) field_error("payload", kUdpSends);
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

 private:
  const std::vector<action::Param> fields_ = declared_fields();
};

}  // namespace

std::shared_ptr<engine::Protocol> make_protocol() { return std::make_shared<SocketProtocol>(); }

}  // namespace ld::proto::socket
