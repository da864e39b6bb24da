// websocket_user task checking and compilation. Each distinct (URL, headers, verify) becomes
// one Endpoint; a task without a URL uses the endpoint of the closest task before it that names
// one (or, looping around, the last one in the list), which is the original's "else the last
// URL".
#include <utility>  // before Asio (Boost 1.74 trap)

#include <algorithm>
#include <optional>

#include "checks/checks.hpp"
#include "common/net_util.hpp"
#include "common/task_fields.hpp"
#include "core/text.hpp"
#include "params/resolver.hpp"
#include "websocket.hpp"
#include "ws_impl.hpp"

namespace ld::proto::websocket {

namespace {

std::vector<action::Param> declared_fields() {
  using namespace action;
  std::vector<Param> f = {
      field("method", kString, "send", "connect, send, recv, sendrecv or close"),
      field("request_url", kString, nullptr,
            "ws:// or wss:// URL (or a path joined to LD_start_test 'host'); a task without one "
            "uses the connection of the task before it"),
      field("url", kString, nullptr, "same as request_url"),
      field("payload", kAny & ~kNull, nullptr,
            "send, sendrecv: the message (text, \"hex:...\" for a binary frame, or a JSON value "
            "sent as JSON); placeholders render per message"),
      field("expect", kString, nullptr,
            "recv, sendrecv: text (or \"hex:...\") the reply message must contain"),
      field("headers", kObject, nullptr, "handshake headers {name: value}"),
      field("timeout", kNumber, kDefaultTimeoutS, "seconds for the whole task"),
      field("verify", kBool | kString, true, "wss: verify certificates, or a CA bundle path"),
  };
  add_result_fields(f, "method + URL", "the reply message (recv, sendrecv)", /*http=*/false);
  return f;
}
const std::vector<std::string> kMethods = {"connect", "send", "recv", "sendrecv", "close"};
constexpr std::string_view kUser = "a websocket_user";
const std::vector<Scheme> kSchemes = {{"ws", 80, false}, {"wss", 443, true}};
constexpr const char* kNoUrl =
    "no WebSocket URL: give this task a 'request_url' (ws:// or wss://), add a connect task with "
    "one, or set LD_start_test 'host'";

const char* url_key(const Json& task) {
  return task.contains("request_url") ? "request_url" : "url";
}

Op op_of(const std::string& m) {
  if (m == "connect") return Op::kConnect;
  if (m == "recv") return Op::kRecv;
  if (m == "sendrecv") return Op::kSendRecv;
  if (m == "close") return Op::kClose;
  return Op::kSend;
}

bool sends(Op op) { return op == Op::kSend || op == Op::kSendRecv; }
bool receives(Op op) { return op == Op::kRecv || op == Op::kSendRecv; }

class WebSocketProtocol final : public engine::Protocol {
 public:
  std::vector<std::string> user_types() const override { return {"websocket_user"}; }

  std::vector<action::Param> task_fields(const std::string&) const override { return fields_; }

  void validate_task(const Json& task) const override {
    check_task_fields(task, fields_, kUser);
    const Op op = op_of(method_of(task, kMethods, "send", "websocket_user"));
    const char* key = url_key(task);
    if (task.contains(key)) {
      expect_type(task, key, task[key].is_string(), "a string");
      const std::string u = task[key].get<std::string>();
      Url url;
      std::string error;
      if (!has_placeholder(u) && !parse_url(u, kSchemes, url, error)) {
        field_error(key, "'" + u + "': " + error);
      }
    }
    check_payload_field(task, "payload");
    if (task.contains("payload") && !sends(op)) {
      field_error("payload", "only send and sendrecv tasks take a payload");
    }
    if (task.contains("expect")) {
      expect_type(task, "expect", task["expect"].is_string(), "a string (text or \"hex:...\")");
      check_payload_field(task, "expect");
      if (!receives(op)) field_error("expect", "only recv and sendrecv tasks take 'expect'");
    }
    checks::Checks::validate(task, /*http=*/false);
    for (const char* f : {"assertions", "extract"}) {
      if (task.contains(f) && !receives(op)) {
        field_error(f, "only recv and sendrecv tasks have a reply to check");
      }
    }
    if (task.contains("headers")) {
      expect_type(task, "headers", task["headers"].is_object(), "an object");
      for (auto it = task["headers"].begin(); it != task["headers"].end(); ++it) {
        if (!it.value().is_string() && !it.value().is_number()) {
          throw ConfigError(
              "task field 'headers': value of '" + it.key() + "' must be a string or number",
              "/headers" + pointer_key(it.key()));
        }
      }
    }
    check_timeout_field(task);
    if (task.contains("name")) expect_type(task, "name", task["name"].is_string(), "a string");
    check_verify_field(task);
  }

  void validate_list(const std::vector<Json>& tasks, const std::string& host) const override {
    if (!host.empty()) return;
    for (const Json& task : tasks) {
      if (task.contains(url_key(task))) return;
    }
    compile_each(1, [](std::size_t) { throw ConfigError(kNoUrl, ""); });
  }

  std::unique_ptr<engine::CompiledTasks> compile(const std::vector<Json>& raw_tasks,
                                                 engine::CompileContext& raw_ctx) const override {
    // Placeholders fixed for the run are folded here; per-request ones stay as written.
    const params::ParseContext pc = raw_ctx.parse_context();
    const std::vector<Json> tasks = params::resolve_json_list(raw_tasks, pc);
    engine::CompileContext ctx = raw_ctx;
    ctx.host = params::resolve_static(raw_ctx.host, raw_ctx.resolver);
    auto out = std::make_unique<Tasks>();
    TlsContexts tls;
    std::vector<bool> named;  // per endpoint: a named connect task set its connect name
    std::vector<std::optional<std::size_t>> own(tasks.size());
    compile_each(tasks.size(), [&](std::size_t i) {
      const Json& task = tasks[i];
      validate_task(task);
      if (task.contains(url_key(task))) own[i] = endpoint_for(task, ctx, tls, *out, named);
    });
    std::optional<std::size_t> current;
    for (std::size_t i = tasks.size(); i-- > 0;) {
      if (own[i]) {
        current = own[i];
        break;
      }
    }
    if (!current && !ctx.host.empty()) {
      // No task names a URL: LD_start_test `host` is the URL (the original's default host).
      Json host_task = Json::object();
      compile_each(1, [&](std::size_t) {
        try {
          current = endpoint_for(host_task, ctx, tls, *out, named);
        } catch (const ConfigError& e) {
          throw ConfigError(std::string("LD_start_test 'host': ") + e.what(), "");
        }
      });
    }
    std::size_t max_payload = 0;
    compile_each(tasks.size(), [&](std::size_t i) {
      const Json& task = tasks[i];
      Step s;
      s.op = op_of(method_of(task, kMethods, "send", "websocket_user"));
      if (own[i]) current = own[i];
      if (!current) {
        throw ConfigError(kNoUrl, "");
      }
      s.endpoint = *current;
      s.own_url = own[i].has_value();
      s.timeout = seconds_to_ns(timeout_of(task, kDefaultTimeoutS));
      if (sends(s.op)) s.payload = compile_payload_template(raw_tasks[i], "payload", pc);
      if (receives(s.op)) {
        s.expect = compile_payload_field(task, "expect");
        if (task.contains("assertions") || task.contains("extract")) {
          s.checks = checks::Checks::compile(raw_tasks[i], pc, /*http=*/false);
          if (s.checks->empty()) s.checks.reset();
        }
      }
      max_payload = std::max(max_payload, s.payload.static_size());
      static constexpr const char* kNames[] = {"connect", "send", "recv", "sendrecv", "close"};
      Endpoint& ep = out->endpoints[s.endpoint];
      const std::string name =
          task.contains("name") ? task["name"].get<std::string>()
                                : std::string(kNames[static_cast<int>(s.op)]) + " " + ep.url.text;
      s.name_id = ctx.names.intern("WS", name);
      ctx.names.set_url(s.name_id, ep.url.text);  // per-request reports: the URL used
      if (s.op == Op::kConnect && task.contains("name") && !named[s.endpoint]) {
        named[s.endpoint] = true;
        ep.connect_name = s.name_id;  // automatic connects share the named connect's records
      }
      out->steps.push_back(std::move(s));
    });
    out->write_buffer = std::clamp<std::size_t>(max_payload, 256, 16384);
    return out;
  }

 private:
  const std::vector<action::Param> fields_ = declared_fields();

  static std::size_t endpoint_for(const Json& task, engine::CompileContext& ctx, TlsContexts& tls,
                                  Tasks& out, std::vector<bool>& named) {
    const char* key = url_key(task);
    std::string text = task.contains(key) ? task[key].get<std::string>() : ctx.host;
    check_fixed_authority(key, text);
    if (text.find("://") == std::string::npos && !ctx.host.empty() &&
        ctx.host.find("://") != std::string::npos) {
      std::string base = ctx.host;
      if (base.back() == '/' && !text.empty() && text.front() == '/') base.pop_back();
      text = base + text;
    }
    Endpoint ep;
    std::string error;
    if (!parse_url(text, kSchemes, ep.url, error)) {
      if (!task.contains(key)) throw ConfigError("'" + text + "': " + error, "");
      field_error(key, "'" + text + "': " + error);
    }
    std::string header_key;
    if (task.contains("headers")) {
      for (auto it = task["headers"].begin(); it != task["headers"].end(); ++it) {
        const std::string v = json_display(it.value());
        if (it.key().find_first_of("\r\n") != std::string::npos ||
            v.find_first_of("\r\n") != std::string::npos) {
          field_error("headers", "header names and values cannot contain line breaks");
        }
        ep.headers.emplace_back(it.key(), v);
        header_key += it.key() + ": " + v + "\n";
      }
    }
    // Folded text: what is still ${...} is per request, rendered at each connect.
    const params::ParseContext pc = ctx.parse_context();
    ep.target_tpl = params::Template::parse(ep.url.target, pc);
    ep.dynamic = !ep.target_tpl.is_static();
    for (const auto& [name, value] : ep.headers) {
      ep.header_tpls.push_back(params::Template::parse(value, pc));
      ep.dynamic = ep.dynamic || !ep.header_tpls.back().is_static();
    }
    ep.key = ep.url.text + "\n" + header_key + "\n" +
             (task.contains("verify") ? task["verify"].dump() : std::string("true"));
    for (std::size_t i = 0; i < out.endpoints.size(); ++i) {
      if (out.endpoints[i].key == ep.key) return i;
    }
    if (ep.url.tls) ep.ssl = tls.get(task);
    ep.endpoints = resolve_tcp(ep.url.host, ep.url.port);
    ep.connect_name = ctx.names.intern("WS", "connect " + ep.url.text);
    ctx.names.set_url(ep.connect_name, ep.url.text);
    out.endpoints.push_back(std::move(ep));
    named.push_back(false);
    return out.endpoints.size() - 1;
  }
};

}  // namespace

std::shared_ptr<engine::Protocol> make_protocol() { return std::make_shared<WebSocketProtocol>(); }

}  // namespace ld::proto::websocket
