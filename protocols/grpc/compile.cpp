// grpc_user task checking and compilation. Message types come from a .proto or the server's
// reflection once per run; a request whose messages hold no per-request placeholder is encoded
// and framed here once, so a call on the hot path is an HTTP/2 stream with a prebuilt header
// block and body.
#include <utility>  // before Asio (Boost 1.74 trap)

#include <google/protobuf/descriptor.h>
#include <google/protobuf/util/json_util.h>

#include <filesystem>
#include <map>
#include <mutex>

#include "action/registry.hpp"
#include "common/net_util.hpp"
#include "common/task_fields.hpp"
#include "core/data_path.hpp"
#include "core/text.hpp"
#include "grpc/grpc.hpp"
#include "grpc/grpc_impl.hpp"
#include "params/resolver.hpp"

namespace ld::proto::grpc {

namespace {

namespace pb = google::protobuf;
namespace pbu = google::protobuf::util;

constexpr std::string_view kUser = "a grpc_user";

std::vector<action::Param> declared_fields() {
  using namespace action;
  std::vector<Param> f = {
      {"method", kString, true, nullptr, "the call: package.Service/Method"},
      field("target", kString, std::string(kDefaultTarget), "the server, host:port"),
      field("host", kString, nullptr, "same as target (the original's alias)"),
      field("proto", kString, nullptr, "the .proto file that defines the service"),
      field("import_paths", kArray, nullptr, "directories searched for the .proto's imports"),
      field("reflection", kBool, false,
            "true: take the message types from the server's reflection service"),
      field("payload", kObject, nullptr,
            "the request message as JSON (proto3 JSON mapping); placeholders render per request"),
      field("messages", kArray, nullptr,
            "client and bidirectional streaming: the request messages sent, in order"),
      field("metadata", kObject, nullptr, "request metadata {name: value}"),
      field("timeout", kNumber, kDefaultTimeoutS,
            "the call's deadline in seconds (sent as grpc-timeout when set)"),
      field("tls", kBool, false, "TLS (h2 over TLS) instead of plaintext HTTP/2"),
      field("ca", kString, nullptr, "TLS: PEM CA bundle that verifies the server"),
      field("cert", kString, nullptr, "TLS: PEM client certificate (with key)"),
      field("key", kString, nullptr, "TLS: PEM client private key"),
      field("authority", kString, nullptr, ":authority and TLS server name, when not the target"),
      field("expect_messages", kInteger, nullptr,
            "server and bidirectional streaming: how many response messages must arrive"),
      field("stub_path", kString, nullptr,
            "the original's generated Python stubs: not loadable here (use proto and method)"),
      field("request_path", kString, nullptr,
            "the original's generated Python request class: not loadable here"),
  };
  add_result_fields(f, "the method", "the response as JSON", /*http=*/true);
  for (auto& p : f) {
    if (p.name == "assertions") {
      p.help = "checks on the response, in order: status (a gRPC code name or number; with it a "
               "non-OK status can pass), json_path and contains on the response message as JSON "
               "(an array of them for a streamed response), header on the response metadata; "
               "the first that fails fails the call (kind assertion)";
    }
  }
  return f;
}

// Metadata names gRPC reserves for itself.
bool reserved_metadata(std::string_view n) {
  return n.empty() || n.front() == ':' || n == "content-type" || n == "te" ||
         n == "grpc-timeout" || n == "grpc-encoding" || n == "grpc-accept-encoding" ||
         n == "content-length" || n == "connection" || n == "transfer-encoding" || n == "host";
}

bool valid_metadata_name(std::string_view n) {
  for (unsigned char c : n) {
    if (!(std::islower(c) || std::isdigit(c) || c == '-' || c == '_' || c == '.')) return false;
  }
  return !n.empty();
}

// The task's assertions with `status` rules turned into status_code rules on the gRPC code,
// so the shared checks apply them. `checked`: some rule tests the status.
Json with_status_rules(const Json& task, bool& checked) {
  checked = false;
  if (!task.contains("assertions") || !task["assertions"].is_array()) return task;
  Json out = task;
  Json& rules = out["assertions"];
  for (std::size_t i = 0; i < rules.size(); ++i) {
    Json& r = rules[i];
    if (!r.is_object() || !r.contains("type") || !r["type"].is_string()) continue;
    const std::string type = text::lower(r["type"].get<std::string>());
    if (type == "status_code") checked = true;
    if (type != "status") continue;
    checked = true;
    const Json& v = r.contains("value") ? r["value"] : Json();
    const std::string text = v.is_string() ? v.get<std::string>()
                             : v.is_number_integer() ? std::to_string(v.get<long long>())
                                                     : std::string();
    const int code = status_code_of(text);
    if (code < 0) {
      std::string names;
      for (int k = 0; k < kStatusCount; ++k) names += (k ? ", " : "") + std::string(kStatusNames[k]);
      throw ConfigError("assertion 'status': " + json_brief(v, 40) +
                            " is not a gRPC status code (a name or 0-16: " + names + ")",
                        "/assertions/" + std::to_string(i) + "/value");
    }
    r = Json{{"type", "status_code"}, {"value", code}};
  }
  return out;
}

class GrpcProtocol final : public engine::Protocol {
 public:
  std::vector<std::string> user_types() const override { return {"grpc_user"}; }
  std::vector<action::Param> task_fields(const std::string&) const override { return fields_; }
  std::vector<action::Param> options() const override {
    return {http2::max_streams_option("calls")};
  }
  void validate_options(const Json& args) const override { http2::check_max_streams(args); }

  void validate_task(const Json& task) const override {
    check_task_fields(task, fields_, kUser);
    for (const char* legacy : {"stub_path", "request_path"}) {
      if (task.contains(legacy)) {
        field_error(legacy,
                    "generated Python stubs cannot be loaded by loaddensity: give the service's "
                    "`proto` file (or `reflection: true`) and `method` as package.Service/Method; "
                    "`payload` is the request message as JSON");
      }
    }
    if (!task.contains("method")) field_error("method", "missing (package.Service/Method)");
    const bool reflection = task.contains("reflection") && task["reflection"].get<bool>();
    if (reflection && task.contains("proto")) {
      field_error("proto", "give either `proto` or `reflection: true`, not both");
    }
    if (!reflection && !task.contains("proto")) {
      field_error("proto",
                  "missing: the message types come from a .proto file (`proto`) or from the "
                  "server's reflection service (`reflection: true`)");
    }
    if (task.contains("import_paths")) {
      for (const auto& p : task["import_paths"]) {
        if (!p.is_string()) field_error("import_paths", "must be a list of directory names");
      }
    }
    if (task.contains("payload") && task.contains("messages")) {
      field_error("messages", "give `payload` (one message) or `messages` (a stream), not both");
    }
    if (task.contains("messages")) {
      std::size_t i = 0;
      for (const auto& m : task["messages"]) {
        if (!m.is_object()) {
          throw ConfigError(std::string("task field 'messages': each message must be a JSON object, got ") +
                                json_type_name(m),
                            "/messages/" + std::to_string(i));
        }
        ++i;
      }
    }
    if (task.contains("metadata")) {
      for (auto it = task["metadata"].begin(); it != task["metadata"].end(); ++it) {
        const std::string n = text::lower(it.key());
        if (!valid_metadata_name(n)) {
          entry_error("metadata", it.key(), "is not a valid metadata name (a-z 0-9 - _ .)");
        }
        if (reserved_metadata(n)) entry_error("metadata", it.key(), "is reserved by gRPC");
        if (!(it.value().is_string() || it.value().is_number() || it.value().is_boolean())) {
          entry_error("metadata", it.key(), "must be a string, number or boolean");
        }
      }
    }
    if (task.contains("timeout") &&
        !(task["timeout"].get<double>() > 0 && task["timeout"].get<double>() <= 86400.0 * 365)) {
      field_error("timeout", "must be a positive number of seconds");
    }
    if (task.contains("expect_messages") && task["expect_messages"].get<long long>() < 0) {
      field_error("expect_messages", "must be 0 or more");
    }
    if (task.contains("cert") != task.contains("key")) {
      field_error(task.contains("cert") ? "key" : "cert",
                  "a client certificate needs both `cert` and `key`");
    }
    const bool tls = task.contains("tls") && task["tls"].get<bool>();
    for (const char* f : {"ca", "cert", "key"}) {
      if (task.contains(f) && !tls) field_error(f, "needs \"tls\": true");
    }
    bool checked = false;
    checks::Checks::validate(with_status_rules(task, checked));
    check_against_proto(task);
  }

  std::unique_ptr<engine::CompiledTasks> compile(const std::vector<Json>& tasks,
                                                 engine::CompileContext& ctx) const override {
    auto out = std::make_unique<Tasks>();
    out->h2.max_streams = http2::max_streams_of(ctx.options);
    std::map<std::string, std::shared_ptr<const Schema>> schemas;
    std::map<std::string, std::vector<http2::tcp::endpoint>> dns;
    for (std::size_t i = 0; i < tasks.size(); ++i) {
      try {
        validate_task(tasks[i]);
        const Json task = params::resolve_json(tasks[i], ctx.parse_context());
        out->h2.steps.push_back(compile_one(task, tasks[i], ctx, *out, schemas, dns));
      } catch (const ConfigError& e) {
        throw ConfigError(std::string("task ") + std::to_string(i) + ": " + e.what(),
                          pointer_index(i) + e.pointer());
      } catch (const std::runtime_error& e) {
        throw std::runtime_error("task " + std::to_string(i) + ": " + e.what());
      }
    }
    for (auto& s : out->h2.steps) http2::finalize(s);
    return out;
  }

 private:
  static std::string str(const Json& task, const char* k, std::string fallback = {}) {
    return task.contains(k) ? task[k].get<std::string>() : fallback;
  }

  // The call a task makes on `schema`: the method, its request messages (encoded and framed
  // into `body` when fixed) and how its answer is judged. Shared by the static check (with
  // placeholders unresolved) and the compilation.
  static std::shared_ptr<Call> build_call(const Json& task, const Json& raw,
                                          std::shared_ptr<const Schema> schema,
                                          const params::ParseContext& pc, std::string& body,
                                          const pb::MethodDescriptor*& method) {
    std::string error;
    const std::string method_text = task["method"].get<std::string>();
    const pb::MethodDescriptor* m = schema->method(method_text, error);
    method = m;
    if (!m) field_error("method", error);

    auto call = std::make_shared<Call>();
    call->schema = schema;
    call->in_type = type_url(m->input_type()->full_name());
    call->out_type = type_url(m->output_type()->full_name());
    call->server_streaming = m->server_streaming();
    const std::string kind = m->client_streaming()
                                 ? (m->server_streaming() ? "bidirectional streaming"
                                                          : "client streaming")
                                 : (m->server_streaming() ? "server streaming" : "unary");

    // Request messages: `payload` is one message, `messages` a stream of them.
    std::vector<const Json*> msgs;
    const char* msg_field = "payload";
    static const Json kEmpty = Json::object();
    if (task.contains("messages")) {
      if (!m->client_streaming()) {
        field_error("messages", "'" + method_text + "' is a " + kind +
                                    " method: it takes one request message (`payload`)");
      }
      msg_field = "messages";
      for (const auto& v : task["messages"]) msgs.push_back(&v);
      call->streamed_out = static_cast<std::uint32_t>(msgs.size());
    } else {
      msgs.push_back(task.contains("payload") ? &task["payload"] : &kEmpty);
    }
    bool dynamic = false;
    std::vector<params::Template> tpls;
    for (std::size_t k = 0; k < msgs.size(); ++k) {
      tpls.push_back(params::json_template(*msgs[k], pc));
      dynamic = dynamic || !tpls.back().is_static();
    }
    for (std::size_t k = 0; k < msgs.size(); ++k) {
      // A fixed message is encoded now; one with placeholders is checked with them as written
      // when they sit in string fields (the common case), so a wrong field name fails here.
      std::string bin;
      const auto status = pbu::JsonToBinaryString(schema->resolver(), call->in_type,
                                                  tpls[k].text(), &bin);
      const std::string where = std::string("/") + msg_field +
                                (task.contains("messages") ? "/" + std::to_string(k) : "");
      if (!status.ok() && (tpls[k].is_static() ||
                           status.ToString().find("Cannot find field") != std::string::npos)) {
        throw ConfigError("task field '" + std::string(msg_field) + "': does not match " +
                              m->input_type()->full_name() + ": " +
                              std::string(status.message()),
                          where);
      }
      if (!dynamic) append_frame(body, bin);
    }
    if (dynamic) call->messages = std::move(tpls);

    if (task.contains("expect_messages")) {
      if (!m->server_streaming()) {
        field_error("expect_messages", "'" + method_text + "' is a " + kind +
                                           " method: it answers one message");
      }
      call->expect_messages = task["expect_messages"].get<long long>();
      call->expect_message =
          "expect_messages failed: expected " + std::to_string(call->expect_messages) +
          " response messages";
    }
    if (task.contains("assertions") || task.contains("extract")) {
      call->checks = checks::Checks::compile(with_status_rules(raw, call->status_checked), pc);
      if (call->checks->empty()) call->checks.reset();
    }

    return call;
  }

  http2::Step compile_one(const Json& task, const Json& raw, engine::CompileContext& ctx,
                                 Tasks& tasks,
                                 std::map<std::string, std::shared_ptr<const Schema>>& schemas,
                                 std::map<std::string, std::vector<http2::tcp::endpoint>>& dns) const {
    const params::ParseContext pc = ctx.parse_context();
    Endpoint ep;
    ep.target = str(task, "target", str(task, "host", std::string(kDefaultTarget)));
    for (std::string_view prefix : {"grpc://", "dns:///", "http://"}) {
      if (ep.target.starts_with(prefix)) ep.target.erase(0, prefix.size());
    }
    ep.tls = task.contains("tls") && task["tls"].get<bool>();
    if (ep.target.starts_with("grpcs://") || ep.target.starts_with("https://")) {
      ep.target.erase(0, ep.target.find("://") + 3);
      ep.tls = true;
    }
    const char* target_field = task.contains("target") ? "target" : "host";
    if (has_placeholder(ep.target)) {
      field_error(target_field, "cannot hold a per-request placeholder: it is the connection's "
                                "server, fixed for the run");
    }
    std::string host, error;
    std::uint16_t port = 0;
    if (!parse_host_port(ep.target, host, port, error)) {
      field_error(target_field, "'" + ep.target + "': " + error + " (write host:port)");
    }
    ep.ca = data_path(str(task, "ca"));
    ep.cert = data_path(str(task, "cert"));
    ep.key = data_path(str(task, "key"));
    ep.authority = str(task, "authority");
    if (task.contains("timeout")) ep.timeout_s = task["timeout"].get<double>();

    // The schema, once per distinct source.
    std::shared_ptr<const Schema> schema;
    if (task.contains("proto")) schema = proto_schema(task);
    const std::string method_text = task["method"].get<std::string>();
    if (!schema) {
      std::string service, name;
      if (!split_method(method_text, service, name, error)) field_error("method", error);
      const std::string key = "reflection|" + ep.target + (ep.tls ? "|tls|" : "|") + ep.ca + "|" +
                              ep.cert + "|" + ep.authority + "|" + service;
      auto& slot = schemas[key];
      if (!slot) slot = Schema::from_reflection(ep, service);  // a server fault: exit 1
      schema = slot;
    }
    const pb::MethodDescriptor* m = nullptr;
    std::string body;
    std::shared_ptr<Call> call = build_call(task, raw, schema, pc, body, m);
    const bool dynamic = !call->messages.empty();

    http2::Step s;
    s.method = "POST";
    std::string url_text = (ep.tls ? "https://" : "http://") + ep.target + "/" +
                           m->service()->full_name() + "/" + m->name();
    if (!parse_url(url_text, s.url, error)) field_error(target_field, error);
    s.scheme = s.url.tls ? "https" : "http";
    const std::string connect_host = s.url.host;
    if (!ep.authority.empty()) {
      if (has_placeholder(ep.authority) || ep.authority.find_first_of(" \r\n/") != std::string::npos) {
        field_error("authority", "must be host[:port], fixed for the run");
      }
      s.url.host_header = ep.authority;
      // TLS verifies (and SNI names) the authority's host; the connection goes to the target.
      std::string ahost = ep.authority;
      std::uint16_t aport = 0;
      std::string ignored;
      if (parse_host_port(ep.authority, ahost, aport, ignored)) s.url.host = ahost;
      else s.url.host = ep.authority;
    }
    s.url_text = url_text;
    const std::string name = task.contains("name") ? task["name"].get<std::string>()
                                                    : m->service()->full_name() + "/" + m->name();
    s.name_id = ctx.names.intern("GRPC", name);
    s.record_url = !ctx.names.set_url(s.name_id, s.url_text);
    s.allow_redirects = false;
    s.use_jar = false;
    s.timeout = seconds_to_ns(task.contains("timeout") ? task["timeout"].get<double>()
                                                       : kDefaultTimeoutS);
    s.content_type = "application/grpc";
    s.headers.emplace_back("te", "trailers");
    s.headers.emplace_back("user-agent", "loaddensity/" LD_GRPC_VERSION);
    if (task.contains("timeout")) {
      // grpc-timeout: at most 8 digits and a unit (gRPC over HTTP/2).
      const long long ms = std::max<long long>(1, static_cast<long long>(
                                                      task["timeout"].get<double>() * 1000.0));
      s.headers.emplace_back("grpc-timeout", ms < 100000000 ? std::to_string(ms) + "m"
                                                            : std::to_string(ms / 1000) + "S");
    }
    if (task.contains("metadata")) {
      for (auto it = task["metadata"].begin(); it != task["metadata"].end(); ++it) {
        const std::string n = text::lower(it.key());
        std::string v = json_display(it.value());
        check_header_value("metadata", it.key(), v);
        if (n.ends_with("-bin") && !has_placeholder(v)) v = text::base64_encode(v);
        s.headers.emplace_back(n, std::move(v));
      }
    }
    for (std::size_t k = 0; k < s.headers.size(); ++k) {
      params::Template t = params::Template::parse(s.headers[k].second, pc);
      if (!t.is_static()) s.dyn_headers.push_back({k, std::move(t), /*basic=*/false});
    }
    s.dynamic = !s.dyn_headers.empty() || dynamic;
    s.dynamic_body = dynamic;
    s.body = std::move(body);
    if (ep.tls) {
      Json tls = Json::object();
      tls["verify"] = ep.ca.empty() ? Json(true) : Json(ep.ca);
      if (!ep.cert.empty()) tls["cert"] = Json::array({ep.cert, ep.key});
      s.ssl = tasks.h2.tls.get(tls, "\x02h2");
    }
    const std::string key = connect_host + ":" + std::to_string(s.url.port);
    auto it = dns.find(key);
    if (it == dns.end()) it = dns.emplace(key, resolve_tcp(connect_host, s.url.port)).first;
    s.endpoints = it->second;
    if (s.endpoints.empty() && connect_host != s.url.host) {
      field_error(target_field, "'" + connect_host + "' does not resolve (needed with `authority`)");
    }
    s.hooks = std::move(call);
    return s;
  }

  // The schema of the task's `proto` (with its import_paths), parsed once per file version.
  std::shared_ptr<const Schema> proto_schema(const Json& task) const {
    // Relative paths: the working directory, then the document's directory.
    const std::string proto = data_path(task["proto"].get<std::string>());
    std::vector<std::string> imports;
    if (task.contains("import_paths")) {
      for (const auto& p : task["import_paths"]) imports.push_back(data_path(p.get<std::string>()));
    }
    std::error_code ec;
    const auto mtime = std::filesystem::last_write_time(proto, ec);
    std::string key = proto + "|" + std::to_string(ec ? 0 : mtime.time_since_epoch().count());
    for (const auto& p : imports) key += "|" + p;
    std::lock_guard lock(mu_);
    auto& slot = proto_cache_[key];
    if (!slot) {
      try {
        slot = Schema::from_proto(proto, imports);
      } catch (const std::runtime_error& e) {
        proto_cache_.erase(key);
        field_error("proto", e.what());
      }
    }
    return slot;
  }

  // Static check against the .proto when the task names one with no placeholder: the method,
  // the messages and the kind of call are known before anything runs.
  void check_against_proto(const Json& task) const {
    if (!task.contains("proto") || has_placeholder(task["proto"].get<std::string>())) return;
    if (task.contains("import_paths")) {
      for (const auto& p : task["import_paths"]) {
        if (has_placeholder(p.get<std::string>())) return;
      }
    }
    const params::Resolver none;
    const pb::MethodDescriptor* m = nullptr;
    std::string body;
    build_call(task, task, proto_schema(task), params::ParseContext{none}, body, m);
  }

  const std::vector<action::Param> fields_ = declared_fields();
  mutable std::mutex mu_;
  mutable std::map<std::string, std::shared_ptr<const Schema>> proto_cache_;
};

}  // namespace

std::shared_ptr<engine::Protocol> make_protocol() { return std::make_shared<GrpcProtocol>(); }

}  // namespace ld::proto::grpc
