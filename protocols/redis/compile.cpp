// redis_user task checking and compilation: every command is encoded once when nothing in it
// varies per request, and each distinct server URL becomes one Endpoint with its AUTH/SELECT
// handshake pre-encoded.
#include <utility>  // before Asio (Boost 1.74 trap)

#include "action/registry.hpp"
#include "common/net_util.hpp"
#include "common/task_fields.hpp"
#include "core/resp.hpp"
#include "core/text.hpp"
#include "redis.hpp"
#include "redis_impl.hpp"

namespace ld::proto::redis {

namespace {

std::vector<action::Param> declared_fields() {
  using namespace action;
  std::vector<Param> f = {
      field("method", kString, nullptr,
            "get, set, incr, lpush, rpop, delete or exists (the original's methods)"),
      field("key", kString | kNumber, nullptr, "the key (required with 'method')"),
      field("value", kAny & ~kNull, nullptr,
            "for set and lpush; a JSON object or list is sent as compact JSON"),
      field("command", kArray, nullptr,
            "any command as a list, e.g. [\"HSET\", \"h\", \"f\", \"${uuid()}\"]"),
      field("expect", kAny, nullptr, "the reply as text must equal it (null: nil)"),
      field("url", kString, nullptr,
            "redis://[user:password@]host:port/db or rediss://; default LD_start_test "
            "'connection'"),
      field("verify", kBool | kString, nullptr,
            "rediss://: true (system CAs), false, or a CA bundle path"),
      field("timeout", kNumber, 5, "seconds for the command, including connecting"),
  };
  add_result_fields(f, "the method, or the command name", "the reply as JSON", /*http=*/false);
  return f;
}
const std::vector<std::string> kMethods = {"get",    "set",    "incr",  "lpush",
                                           "rpop",   "delete", "exists"};
constexpr std::string_view kUser = "a redis_user";

struct MethodSpec {
  std::string_view method, command;
  bool value;  // takes `value` after `key`
};
constexpr MethodSpec kSpecs[] = {{"get", "GET", false},     {"set", "SET", true},
                                 {"incr", "INCR", false},   {"lpush", "LPUSH", true},
                                 {"rpop", "RPOP", false},   {"delete", "DEL", false},
                                 {"exists", "EXISTS", false}};

const MethodSpec& spec_of(const std::string& method) {
  for (const auto& s : kSpecs) {
    if (s.method == method) return s;
  }
  return kSpecs[0];  // method_of() has rejected anything else
}

bool is_arg(const Json& v) { return v.is_string() || v.is_number() || v.is_boolean(); }

// A command argument as text: strings as written, numbers and booleans as JSON prints them.
std::string arg_text(const Json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

void check_url_text(std::string_view field, const std::string& text, const char* pointer) {
  if (has_placeholder(text)) return;  // checked again once static placeholders are folded
  RedisUrl u;
  std::string error;
  if (!parse_redis_url(text, u, error)) {
    throw ConfigError(std::string(field) + " '" + text + "' " + error, pointer);
  }
}

// LD_start_test `connection`: "redis://..." or {"url": "redis://...", "verify": ...}.
const Json* connection_url(const Json& args) {
  if (!args.contains("connection") || args["connection"].is_null()) return nullptr;
  const Json& c = args["connection"];
  if (c.is_string()) return &c;
  if (c.is_object() && c.contains("url")) return &c["url"];
  return nullptr;
}

class RedisProtocol final : public engine::Protocol {
 public:
  std::vector<std::string> user_types() const override { return {"redis_user"}; }

  std::vector<action::Param> task_fields(const std::string&) const override { return fields_; }

  std::vector<action::Param> options() const override {
    return {{"pipeline", action::kInteger | action::kNull, false, nullptr,
             "commands each user keeps in flight on its connection, 1 to " +
                 std::to_string(kMaxPipeline) + " (default 1)"},
            {"connection", action::kString | action::kObject | action::kNull, false, nullptr,
             "the default server: a redis:// URL or {\"url\": ..., \"verify\": ...}"}};
  }

  void validate_options(const Json& args) const override {
    if (args.contains("pipeline") && !args["pipeline"].is_null()) {
      const Json& p = args["pipeline"];
      if (!p.is_number_integer() || p.get<long long>() < 1 ||
          p.get<long long>() > static_cast<long long>(kMaxPipeline)) {
        throw ConfigError("pipeline must be an integer from 1 to " +
                              std::to_string(kMaxPipeline) + ", got " + json_brief(p, 40),
                          "/pipeline");
      }
    }
    if (args.contains("connection") && !args["connection"].is_null()) {
      const Json& c = args["connection"];
      if (!c.is_string() && !c.is_object()) {
        throw ConfigError("connection must be a redis:// URL or {\"url\": \"redis://...\"}, got " +
                              json_brief(c, 60),
                          "/connection");
      }
      if (c.is_object()) {
        for (auto it = c.begin(); it != c.end(); ++it) {
          if (it.key() != "url" && it.key() != "verify") {
            throw ConfigError("connection: unknown key '" + it.key() +
                                  "' (a redis_user reads \"url\" and \"verify\")",
                              "/connection" + pointer_key(it.key()));
          }
        }
        if (c.contains("verify") && !c["verify"].is_boolean() && !c["verify"].is_string()) {
          throw ConfigError("connection.verify must be true, false or a CA bundle path, got " +
                                json_brief(c["verify"], 60),
                            "/connection/verify");
        }
        if (c.contains("url") && !c["url"].is_string()) {
          throw ConfigError("connection.url must be a string, got " + json_brief(c["url"], 60),
                            "/connection/url");
        }
      }
      if (const Json* u = connection_url(args)) {
        check_url_text("connection", u->get<std::string>(),
                       c.is_string() ? "/connection" : "/connection/url");
      }
    }
  }

  void validate_task(const Json& task) const override {
    check_task_fields(task, fields_, kUser);
    const bool command = task.contains("command");
    if (command) {
      if (task.contains("method")) {
        field_error("command", "give either 'method' or 'command', not both");
      }
      const Json& c = task["command"];
      expect_type(task, "command", c.is_array() && !c.empty(),
                  "a non-empty list like [\"HSET\", \"h\", \"f\", \"v\"]");
      for (std::size_t i = 0; i < c.size(); ++i) {
        if (!is_arg(c[i])) {
          throw ConfigError("task field 'command': argument " + std::to_string(i) +
                                " must be a string or number, got " + json_type_name(c[i]),
                            "/command" + pointer_index(i));
        }
      }
      if (!c[0].is_string() || c[0].get<std::string>().empty() ||
          has_placeholder(c[0].get<std::string>())) {
        throw ConfigError("task field 'command': the command name (first element) must be a "
                          "fixed, non-empty string",
                          "/command/0");
      }
      for (const char* f : {"key", "value"}) {
        if (task.contains(f)) field_error(f, "'command' carries its own arguments; drop this field");
      }
    } else {
      if (!task.contains("method")) {
        throw ConfigError("task needs 'method' (get, set, incr, lpush, rpop, delete, exists) or "
                          "'command' ([\"HSET\", \"h\", \"f\", \"v\"])",
                          "");
      }
      const std::string m = method_of(task, kMethods, "", kUser);
      if (!task.contains("key")) field_error("key", "missing (the " + m + " command needs a key)");
      expect_type(task, "key", is_arg(task["key"]), "a string");
      const MethodSpec& spec = spec_of(m);
      if (spec.value && !task.contains("value")) {
        field_error("value", "missing (the " + m + " command needs a value)");
      }
      if (!spec.value && task.contains("value")) {
        field_error("value", "the " + m + " command takes no value");
      }
      if (task.contains("value")) {
        expect_type(task, "value", !task["value"].is_null(), "a string, number or JSON value");
      }
    }
    if (task.contains("expect")) {
      expect_type(task, "expect", is_arg(task["expect"]) || task["expect"].is_null(),
                  "a string, number or null (nil)");
    }
    if (task.contains("url")) {
      expect_type(task, "url", task["url"].is_string(), "a redis:// URL string");
      check_url_text("task field 'url':", task["url"].get<std::string>(), "/url");
    }
    check_verify_field(task);
    check_timeout_field(task);
    if (task.contains("name")) expect_type(task, "name", task["name"].is_string(), "a string");
    checks::Checks::validate(task);
    // A Redis reply has no status code and no headers.
    if (task.contains("assertions")) {
      const Json& list = task["assertions"];
      for (std::size_t i = 0; i < list.size(); ++i) {
        const std::string t = text::lower(list[i]["type"].get<std::string>());
        if (t == "status_code" || t == "header") {
          throw ConfigError("a Redis reply has no " + std::string(t == "header" ? "headers" : "status code") +
                                "; use expect, contains, not_contains or json_path",
                            "/assertions" + pointer_index(i) + "/type");
        }
      }
    }
    if (task.contains("extract")) {
      const Json& list = task["extract"];
      for (std::size_t i = 0; i < list.size(); ++i) {
        if (list[i].contains("from") && text::lower(list[i]["from"].get<std::string>()) != "json_path") {
          throw ConfigError("a Redis reply is extracted with json_path (\"$\" is the whole reply)",
                            "/extract" + pointer_index(i) + "/from");
        }
      }
    }
  }

  std::unique_ptr<engine::CompiledTasks> compile(const std::vector<Json>& tasks,
                                                 engine::CompileContext& ctx) const override {
    auto out = std::make_unique<Tasks>();
    if (ctx.options.contains("pipeline") && ctx.options["pipeline"].is_number_integer()) {
      out->pipeline = ctx.options["pipeline"].get<std::size_t>();
    }
    // The default server: connection.url, else a redis:// `host`, else 127.0.0.1:6379/0.
    std::string default_url(kDefaultUrl);
    std::string default_what = "the default url";
    if (const Json* u = connection_url(ctx.options)) {
      default_url = u->get<std::string>();
      default_what = "LD_start_test connection url";
    } else if (ctx.host.rfind("redis://", 0) == 0 || ctx.host.rfind("rediss://", 0) == 0) {
      default_url = ctx.host;
      default_what = "LD_start_test host";
    }
    // TLS settings (rediss://): connection.verify, a task's own `verify` for its `url`.
    Json default_tls = Json::object();
    if (ctx.options.contains("connection") && ctx.options["connection"].is_object() &&
        ctx.options["connection"].contains("verify")) {
      default_tls["verify"] = ctx.options["connection"]["verify"];
    }
    // Not a task's field: its errors point at the task list as a whole.
    std::size_t default_endpoint = 0;
    for (const auto& t : tasks) {
      if (t.is_object() && !t.contains("url")) {
        default_endpoint = endpoint_of(default_url, default_tls, ctx, *out, default_what, "");
        break;
      }
    }
    const params::ParseContext pc = ctx.parse_context();
    compile_each(tasks.size(), [&](std::size_t i) {
      const Json& task = tasks[i];
      validate_task(task);
      Step s;
      Json tls = default_tls;
      if (task.contains("verify")) tls["verify"] = task["verify"];
      s.endpoint = task.contains("url") ? endpoint_of(task["url"].get<std::string>(), tls, ctx,
                                                      *out, "url", "/url")
                                        : default_endpoint;
      std::vector<params::Template> args;
      std::string label;
      if (task.contains("command")) {
        for (const auto& a : task["command"]) args.push_back(params::Template::parse(arg_text(a), pc));
        label = args.front().text();
        for (auto& ch : label) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      } else {
        const std::string m = method_of(task, kMethods, "", kUser);
        const MethodSpec& spec = spec_of(m);
        args.push_back(params::Template::literal(spec.command));
        args.push_back(params::Template::parse(arg_text(task["key"]), pc));
        if (spec.value) args.push_back(params::Template::parse(payload_text(task["value"]), pc));
        label = m;  // the original names results by the method
      }
      s.dynamic = false;
      for (const auto& a : args) s.dynamic = s.dynamic || !a.is_static();
      if (s.dynamic) {
        s.args = std::move(args);
      } else {
        resp::append_array_header(s.command, args.size());
        for (const auto& a : args) resp::append_bulk(s.command, a.text());
      }
      if (task.contains("name")) label = params::resolve_static(task["name"].get<std::string>(), ctx.resolver);
      s.name_id = ctx.names.intern("REDIS", label);
      ctx.names.set_url(s.name_id, out->endpoints[s.endpoint].url.display);
      s.timeout = seconds_to_ns(timeout_of(task, kDefaultTimeoutS));
      if (task.contains("expect")) {
        s.has_expect = true;
        const Json& e = task["expect"];
        s.expect_nil = e.is_null();
        s.expect = params::Template::parse(s.expect_nil ? "" : arg_text(e), pc);
        s.expect_message = "expect failed: reply == " + (s.expect_nil ? std::string("nil") : "'" + arg_text(e) + "'");
      }
      if (task.contains("assertions") || task.contains("extract")) {
        s.checks = checks::Checks::compile(task, pc);
        if (s.checks->empty()) s.checks.reset();
      }
      out->steps.push_back(std::move(s));
    });
    return out;
  }

 private:
  std::vector<action::Param> fields_ = declared_fields();
  // The Endpoint for a URL (static placeholders folded), shared by tasks that name the same one.
  static std::size_t endpoint_of(const std::string& raw, const Json& tls,
                                 engine::CompileContext& ctx, Tasks& tasks,
                                 const std::string& what, const char* pointer) {
    const std::string text = params::resolve_static(raw, ctx.resolver);
    if (has_placeholder(text)) {
      throw ConfigError(what + " '" + raw +
                            "' holds a placeholder that is not fixed for the run; a user's "
                            "connection is chosen once per task, so the URL may use registered "
                            "variables and env only",
                        pointer);
    }
    RedisUrl u;
    std::string error;
    if (!parse_redis_url(text, u, error)) throw ConfigError(what + " '" + text + "' " + error, pointer);
    std::shared_ptr<net::ssl::context> ssl;
    if (u.tls) {
      try {
        ssl = tasks.tls.get(tls);
      } catch (const ConfigError& e) {
        throw ConfigError(std::string(e.what()), pointer);
      }
    }
    for (std::size_t i = 0; i < tasks.endpoints.size(); ++i) {
      const Endpoint& e = tasks.endpoints[i];
      if (e.url.tls == u.tls && e.url.host == u.host && e.url.port == u.port &&
          e.url.db == u.db && e.url.user == u.user && e.url.password == u.password &&
          e.url.auth == u.auth && e.ssl == ssl) {
        return i;
      }
    }
    Endpoint ep;
    ep.url = u;
    ep.ssl = std::move(ssl);
    if (u.auth) {
      std::vector<std::string_view> auth{"AUTH"};
      if (!u.user.empty()) auth.push_back(u.user);
      auth.push_back(u.password);
      resp::append_command(ep.handshake, auth);
      ++ep.handshake_replies;
    }
    if (u.db != 0) {
      const std::string db = std::to_string(u.db);
      resp::append_command(ep.handshake, {"SELECT", db});
      ++ep.handshake_replies;
    }
    ep.resolved = resolve_tcp(u.host, u.port);
    tasks.endpoints.push_back(std::move(ep));
    return tasks.endpoints.size() - 1;
  }
};

}  // namespace

std::shared_ptr<engine::Protocol> make_protocol() { return std::make_shared<RedisProtocol>(); }

}  // namespace ld::proto::redis
