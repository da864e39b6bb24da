// mqtt_user task checking and compilation: every string field (topic, payload, client_id,
// username, password, expect) is a template parsed once, each task's connection settings become
// one ConnSpec (with the TLS context of an mqtts:// URL), and the URL is checked.
#include <algorithm>
#include <cmath>
#include <fstream>

#include "action/registry.hpp"
#include "common/task_fields.hpp"
#include "common/url.hpp"
#include "core/data_path.hpp"
#include "mqtt.hpp"
#include "mqtt_impl.hpp"

namespace ld::proto::mqtt {

namespace {

std::vector<action::Param> declared_fields() {
  using namespace action;
  std::vector<Param> f = {
      field("method", kString, "publish",
            "connect, publish, subscribe, unsubscribe, wait (or receive), disconnect"),
      field("url", kString, nullptr,
            "mqtt://host:port or mqtts://host:port; default LD_start_test 'host' when it is "
            "one, else mqtt://127.0.0.1:1883"),
      field("topic", kString, nullptr, "publish: the topic; subscribe/unsubscribe: the filter"),
      field("payload", kAny & ~kNull, "",
            "publish: text, \"hex:...\" bytes, or a JSON value sent as compact JSON"),
      field("qos", kInteger, 0, "publish and subscribe: 0, 1 or 2"),
      field("retain", kBool, false, "publish: the retain flag"),
      field("measure", kString, "ack",
            "publish: 'ack' (until the broker acknowledges; QoS 0 until written) or 'delivery' "
            "(until this user receives the message back)"),
      field("count", kInteger, 1, "wait: messages to receive"),
      field("expect", kString, nullptr, "wait: only messages whose payload contains this count"),
      field("client_id", kString, nullptr, "connect: the client id (default unique per user)"),
      field("username", kString, nullptr, "connect: user name"),
      field("password", kString, nullptr, "connect: password"),
      field("clean_session", kBool, true, "connect: clean session (MQTT 5: clean start)"),
      field("keepalive", kInteger, 60, "connect: keep-alive interval in seconds"),
      field("version", kString | kNumber, "3.1.1", "connect: MQTT version, \"3.1.1\" or 5"),
      field("verify", kBool | kString, nullptr,
            "mqtts://: true (system CAs), false, or a CA bundle path"),
      field("timeout", kNumber, 5, "seconds for the operation (a wait: for all its messages)"),
  };
  add_result_fields(f, "the method", "the received payload (wait)", /*http=*/false);
  return f;
}

const std::vector<std::string> kMethods = {"connect", "publish", "subscribe", "unsubscribe",
                                           "wait",    "receive", "disconnect"};
constexpr std::string_view kUser = "an mqtt_user";
constexpr Scheme kMqttSchemes[] = {
    {"mqtt", 1883, false}, {"mqtts", 8883, true}, {"tcp", 1883, false}, {"ssl", 8883, true}};

Method method_enum(const std::string& m) {
  if (m == "connect") return Method::kConnect;
  if (m == "subscribe") return Method::kSubscribe;
  if (m == "unsubscribe") return Method::kUnsubscribe;
  if (m == "wait" || m == "receive") return Method::kReceive;
  if (m == "disconnect") return Method::kDisconnect;
  return Method::kPublish;
}

bool parse_mqtt_url(std::string_view text, Url& u, std::string& error) {
  if (!parse_url(text, kMqttSchemes, u, error)) return false;
  if (u.target != "/") {
    error = "has a path; an MQTT URL is mqtt://host:port (the topic is a task field)";
    return false;
  }
  return true;
}

void check_url_text(const std::string& text, const char* what, const char* pointer) {
  if (has_placeholder(text)) return;  // checked again once static placeholders are folded
  Url u;
  std::string error;
  if (!parse_mqtt_url(text, u, error)) {
    throw ConfigError(std::string(what) + " '" + text + "' " + error, pointer);
  }
}

// "3.1.1" -> 4, "5" / 5 -> 5; 0 when neither.
int version_of(const Json& v) {
  if (v.is_number()) return v.get<double>() == 5 ? 5 : 0;
  if (!v.is_string()) return 0;
  const std::string s = v.get<std::string>();
  if (s == "3.1.1") return 4;
  if (s == "5" || s == "5.0") return 5;
  return 0;
}

// Fields that only mean something for some methods; the others refuse them.
struct FieldUse {
  const char* field;
  bool (*allowed)(Method);
  const char* which;
};
constexpr FieldUse kUses[] = {
    {"topic",
     [](Method m) {
       return m == Method::kPublish || m == Method::kSubscribe || m == Method::kUnsubscribe;
     },
     "publish, subscribe and unsubscribe"},
    {"payload", [](Method m) { return m == Method::kPublish; }, "publish"},
    {"retain", [](Method m) { return m == Method::kPublish; }, "publish"},
    {"measure", [](Method m) { return m == Method::kPublish; }, "publish"},
    {"qos", [](Method m) { return m == Method::kPublish || m == Method::kSubscribe; },
     "publish and subscribe"},
    {"count", [](Method m) { return m == Method::kReceive; }, "wait"},
    {"expect", [](Method m) { return m == Method::kReceive; }, "wait"},
    {"assertions", [](Method m) { return m == Method::kReceive; }, "wait"},
    {"extract", [](Method m) { return m == Method::kReceive; }, "wait"},
};

class MqttProtocol final : public engine::Protocol {
 public:
  std::vector<std::string> user_types() const override { return {"mqtt_user"}; }

  std::vector<action::Param> task_fields(const std::string&) const override { return fields_; }

  std::vector<action::Param> options() const override {
    return {{"mqtt_inbox", action::kInteger | action::kNull, false, nullptr,
             "messages an mqtt_user holds for its next wait before dropping (default " +
                 std::to_string(kDefaultInbox) + ")"}};
  }

  void validate_options(const Json& args) const override {
    if (!args.contains("mqtt_inbox") || args["mqtt_inbox"].is_null()) return;
    const Json& v = args["mqtt_inbox"];
    if (!v.is_number_integer() || v.get<long long>() < 1 ||
        v.get<long long>() > static_cast<long long>(kMaxInbox)) {
      throw ConfigError("mqtt_inbox must be an integer from 1 to " + std::to_string(kMaxInbox) +
                            ", got " + json_brief(v, 40),
                        "/mqtt_inbox");
    }
  }

  void validate_task(const Json& task) const override {
    check_task_fields(task, fields_, kUser);
    const Method m = method_enum(method_of(task, kMethods, "publish", kUser));
    for (const auto& u : kUses) {
      if (task.contains(u.field) && !u.allowed(m)) {
        field_error(u.field, std::string("only ") + u.which + " tasks take it");
      }
    }
    if ((m == Method::kPublish || m == Method::kSubscribe || m == Method::kUnsubscribe)) {
      if (!task.contains("topic")) field_error("topic", "missing (this method needs a topic)");
      const std::string t = task["topic"].get<std::string>();
      expect_type(task, "topic", !t.empty(), "a non-empty topic");
      if (m == Method::kPublish && !has_placeholder(t) &&
          t.find_first_of("+#") != std::string::npos) {
        field_error("topic", "a published topic cannot hold the wildcards + or #");
      }
    }
    if (task.contains("qos")) {
      const long long q = task["qos"].get<long long>();
      expect_type(task, "qos", q >= 0 && q <= 2, "0, 1 or 2");
    }
    if (task.contains("measure")) {
      const std::string v = task["measure"].get<std::string>();
      expect_type(task, "measure", v == "ack" || v == "delivery", "\"ack\" or \"delivery\"");
    }
    if (task.contains("count")) {
      const long long c = task["count"].get<long long>();
      expect_type(task, "count", c >= 1 && c <= 1000000, "an integer from 1 to 1000000");
    }
    if (task.contains("keepalive")) {
      const long long k = task["keepalive"].get<long long>();
      expect_type(task, "keepalive", k >= 0 && k <= 65535, "0 to 65535 seconds");
    }
    if (task.contains("version")) {
      expect_type(task, "version", version_of(task["version"]) != 0, "\"3.1.1\" or 5");
    }
    check_payload_field(task, "payload");
    if (task.contains("url")) {
      check_url_text(task["url"].get<std::string>(), "task field 'url':", "/url");
    }
    check_verify_field(task);
    check_timeout_field(task);
    if (m == Method::kReceive) checks::Checks::validate(task, /*http=*/false);
  }

  void validate_list(const std::vector<Json>& tasks, const std::string& host) const override {
    if (host.rfind("mqtt://", 0) == 0 || host.rfind("mqtts://", 0) == 0) {
      check_url_text(host, "LD_start_test host", "");
    }
    (void)tasks;
  }

  std::unique_ptr<engine::CompiledTasks> compile(const std::vector<Json>& tasks,
                                                 engine::CompileContext& ctx) const override {
    auto out = std::make_unique<Tasks>();
    if (ctx.options.contains("mqtt_inbox") && ctx.options["mqtt_inbox"].is_number_integer()) {
      out->inbox = ctx.options["mqtt_inbox"].get<std::size_t>();
    }
    std::string default_url(kDefaultUrl);
    // The host may be a registered variable (${target_mqtt}): resolved now, fixed for the run.
    const std::string host = params::resolve_static(ctx.host, ctx.resolver);
    if (host.rfind("mqtt://", 0) == 0 || host.rfind("mqtts://", 0) == 0) default_url = host;
    const params::ParseContext pc = ctx.parse_context();
    bool auto_connect = false;
    compile_each(tasks.size(), [&](std::size_t i) {
      const Json& task = tasks[i];
      validate_task(task);
      const std::string method = method_of(task, kMethods, "publish", kUser);
      Step s;
      s.method = method_enum(method);
      s.conn = conn_of(task, default_url, ctx, pc, *out);
      if (task.contains("topic"))
        s.topic = params::Template::parse(task["topic"].get<std::string>(), pc);
      if (s.method == Method::kPublish) s.payload = compile_payload_template(task, "payload", pc);
      if (task.contains("qos")) s.qos = task["qos"].get<int>();
      if (task.contains("retain")) s.retain = task["retain"].get<bool>();
      s.delivery = task.contains("measure") && task["measure"].get<std::string>() == "delivery";
      if (task.contains("count")) s.count = task["count"].get<std::size_t>();
      if (task.contains("expect")) {
        s.has_expect = true;
        s.expect = params::Template::parse(task["expect"].get<std::string>(), pc);
        s.expect_message =
            "expect failed: payload contains '" + task["expect"].get<std::string>() + "'";
      }
      if (s.method == Method::kReceive &&
          (task.contains("assertions") || task.contains("extract"))) {
        s.checks = checks::Checks::compile(task, pc, /*http=*/false);
        if (s.checks->empty()) s.checks.reset();
      }
      const std::string label =
          task.contains("name")
              ? params::resolve_static(task["name"].get<std::string>(), ctx.resolver)
              : method;
      s.name_id = ctx.names.intern("MQTT", label);
      ctx.names.set_url(s.name_id, out->conns[s.conn].display);
      s.timeout = seconds_to_ns(timeout_of(task, kDefaultTimeoutS));
      if (s.method != Method::kConnect && s.method != Method::kDisconnect) auto_connect = true;
      out->steps.push_back(std::move(s));
    });
    if (auto_connect) out->connect_name_id = ctx.names.intern("MQTT", "connect");
    return out;
  }

 private:
  std::vector<action::Param> fields_ = declared_fields();

  // The ConnSpec of a task's connection fields, shared by tasks that give the same ones.
  static std::size_t conn_of(const Json& task, const std::string& default_url,
                             engine::CompileContext& ctx, const params::ParseContext& pc,
                             Tasks& tasks) {
    const bool own = task.contains("url");
    const std::string raw = own ? task["url"].get<std::string>() : default_url;
    const char* pointer = own ? "/url" : "";
    const std::string text = params::resolve_static(raw, ctx.resolver);
    if (has_placeholder(text)) {
      throw ConfigError(std::string(own ? "task field 'url'" : "LD_start_test host") + " '" + raw +
                            "' holds a placeholder that is not fixed for the run (registered "
                            "variables and env only)",
                        pointer);
    }
    Url u;
    std::string error;
    if (!parse_mqtt_url(text, u, error)) {
      throw ConfigError(
          std::string(own ? "task field 'url'" : "LD_start_test host") + " '" + text + "' " + error,
          pointer);
    }
    ConnSpec c;
    c.display = text;
    c.host = u.host;
    c.port = u.port;
    c.resolved = resolve_tcp(u.host, u.port);
    c.tls = u.tls;
    if (task.contains("verify")) {
      const Json& v = task["verify"];
      if (v.is_boolean()) {
        c.verify = v.get<bool>();
      } else {
        c.ca_file = data_path(params::resolve_static(v.get<std::string>(), ctx.resolver));
        if (!std::ifstream(c.ca_file)) {
          field_error("verify", "cannot read the CA bundle '" + c.ca_file + "'");
        }
      }
    }
    if (c.tls) {
      Json verify = Json::object();
      if (!c.verify) verify["verify"] = false;
      if (!c.ca_file.empty()) verify["verify"] = c.ca_file;
      c.ssl = tasks.tls.get(verify);
    }
    auto tpl = [&](const char* f, bool& has, params::Template& t) {
      has = task.contains(f);
      if (has) t = params::Template::parse(task[f].get<std::string>(), pc);
    };
    tpl("client_id", c.has_client_id, c.client_id);
    tpl("username", c.has_username, c.username);
    tpl("password", c.has_password, c.password);
    if (task.contains("clean_session")) c.clean_session = task["clean_session"].get<bool>();
    if (task.contains("keepalive")) c.keepalive = task["keepalive"].get<int>();
    if (task.contains("version")) c.version = version_of(task["version"]);
    // Same fields as written: the same connection settings.
    for (std::size_t i = 0; i < tasks.conns.size(); ++i) {
      const ConnSpec& e = tasks.conns[i];
      if (e.host == c.host && e.port == c.port && e.tls == c.tls && e.verify == c.verify && e.ca_file == c.ca_file &&
          e.has_client_id == c.has_client_id && e.client_id.text() == c.client_id.text() &&
          e.has_username == c.has_username && e.username.text() == c.username.text() &&
          e.has_password == c.has_password && e.password.text() == c.password.text() &&
          e.clean_session == c.clean_session && e.keepalive == c.keepalive &&
          e.version == c.version && e.client_id.is_static() == c.client_id.is_static() &&
          e.username.is_static() == c.username.is_static() &&
          e.password.is_static() == c.password.is_static()) {
        return i;
      }
    }
    tasks.conns.push_back(std::move(c));
    return tasks.conns.size() - 1;
  }
};

}  // namespace

std::shared_ptr<engine::Protocol> make_protocol() { return std::make_shared<MqttProtocol>(); }

}  // namespace ld::proto::mqtt
