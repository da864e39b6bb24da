// kafka_user task checking and compilation: every string field is a template rendered per
// request; the brokers (bootstrap_servers, config) are fixed for the run, and tasks naming the
// same ones share one Cluster and so the run's producer. librdkafka checks `config` here, so a
// misspelt setting is bad input (exit 2) rather than a failed run.
#include <utility>  // before Asio (Boost 1.74 trap)

#include "action/registry.hpp"
#include "common/task_fields.hpp"
#include "core/text.hpp"
#include "kafka.hpp"
#include "kafka_impl.hpp"

namespace ld::proto::kafka {

namespace {

constexpr std::string_view kUser = "a kafka_user";
const std::vector<std::string> kMethods = {"produce", "consume", "flush", "close"};

std::vector<action::Param> declared_fields() {
  using namespace action;
  std::vector<Param> f = {
      field("method", kString, nullptr,
            "produce, consume, flush or close (the original's methods)"),
      field("topic", kString, nullptr, "the topic (produce and consume)"),
      field("value", kAny & ~kNull, nullptr,
            "produce: the message value; a JSON object or list is sent as compact JSON"),
      field("key", kString | kNumber, nullptr, "produce: the message key"),
      field("headers", kObject, nullptr, "produce: message headers {name: value}"),
      field("group", kString, nullptr,
            "consume: join this consumer group (subscribe); default: no group, every "
            "partition assigned"),
      field("from", kString, "latest",
            "consume: where a new consumer starts, latest (as the original) or earliest"),
      field("expect", kString | kNumber, nullptr, "consume: the message value must contain it"),
      field("bootstrap_servers", kString | kArray, nullptr,
            "brokers, \"host:port,...\" or a list; default LD_start_test 'bootstrap_servers', "
            "else localhost:9092"),
      field("config", kObject, nullptr,
            "librdkafka settings {name: value} for the producer and consumers, e.g. "
            "{\"linger.ms\": \"0\"}"),
      field("timeout", kNumber, kDefaultTimeoutS,
            "seconds: produce until the delivery report, consume until a message, flush"),
  };
  add_result_fields(f, "the method and topic", "a consumed message's value", /*http=*/false);
  return f;
}

Method method_enum(const std::string& m) {
  if (m == "produce") return Method::kProduce;
  if (m == "consume") return Method::kConsume;
  if (m == "flush") return Method::kFlush;
  return Method::kClose;
}

bool is_scalar(const Json& v) { return v.is_string() || v.is_number() || v.is_boolean(); }
std::string scalar_text(const Json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

// "a:1,b:2" from a string or a list of strings.
std::string servers_text(const Json& v) {
  if (v.is_string()) return v.get<std::string>();
  std::string s;
  for (const auto& e : v) {
    if (!s.empty()) s += ',';
    s += e.get<std::string>();
  }
  return s;
}

bool servers_ok(const Json& v) {
  if (v.is_string()) return !v.get<std::string>().empty();
  if (!v.is_array() || v.empty()) return false;
  for (const auto& e : v) {
    if (!e.is_string() || e.get<std::string>().empty()) return false;
  }
  return true;
}

class KafkaProtocol final : public engine::Protocol {
 public:
  std::vector<std::string> user_types() const override { return {"kafka_user"}; }

  std::vector<action::Param> task_fields(const std::string&) const override { return fields_; }

  void validate_options(const Json& args) const override {
    if (args.contains("bootstrap_servers") && !args["bootstrap_servers"].is_null() &&
        !servers_ok(args["bootstrap_servers"])) {
      throw ConfigError("bootstrap_servers must be \"host:port,...\" or a list of them, got " +
                            json_brief(args["bootstrap_servers"], 60),
                        "/bootstrap_servers");
    }
  }

  void validate_task(const Json& task) const override {
    check_task_fields(task, fields_, kUser);
    if (!task.contains("method")) {
      throw ConfigError("task needs 'method' (produce, consume, flush or close)", "");
    }
    const Method m = method_enum(method_of(task, kMethods, "", kUser));
    const bool produce = m == Method::kProduce, consume = m == Method::kConsume;
    auto only = [&](const char* f, bool allowed, const char* which) {
      if (task.contains(f) && !allowed) {
        field_error(f, std::string("only ") + which + " reads it");
      }
    };
    only("topic", produce || consume, "produce and consume");
    for (const char* f : {"value", "key", "headers"}) only(f, produce, "produce");
    for (const char* f : {"group", "from", "expect", "assertions", "extract"}) {
      only(f, consume, "consume");
    }
    if (produce || consume) {
      if (!task.contains("topic"))
        field_error("topic", "missing (produce and consume name a topic)");
      expect_type(task, "topic", !task["topic"].get<std::string>().empty(), "a non-empty string");
    }
    if (task.contains("headers")) {
      for (auto it = task["headers"].begin(); it != task["headers"].end(); ++it) {
        if (!is_scalar(it.value())) {
          entry_error("headers", it.key(),
                      std::string("must be a string or number, got ") + json_type_name(it.value()));
        }
      }
    }
    if (task.contains("from")) {
      const std::string f = text::lower(task["from"].get<std::string>());
      if (f != "latest" && f != "earliest") {
        field_error("from",
                    "must be latest or earliest, got '" + task["from"].get<std::string>() + "'");
      }
    }
    if (task.contains("bootstrap_servers") && !servers_ok(task["bootstrap_servers"])) {
      field_error("bootstrap_servers", "must be \"host:port,...\" or a non-empty list of them");
    }
    if (task.contains("config")) {
      // librdkafka checks each setting now (a value with a placeholder once it is folded).
      rd_kafka_conf_t* conf = rd_kafka_conf_new();
      char errstr[512];
      for (auto it = task["config"].begin(); it != task["config"].end(); ++it) {
        if (!is_scalar(it.value())) {
          rd_kafka_conf_destroy(conf);
          entry_error("config", it.key(),
                      std::string("must be a string (librdkafka settings are text), got ") +
                          json_type_name(it.value()));
        }
        const std::string v = scalar_text(it.value());
        if (!has_placeholder(v) && rd_kafka_conf_set(conf, it.key().c_str(), v.c_str(), errstr,
                                                     sizeof errstr) != RD_KAFKA_CONF_OK) {
          rd_kafka_conf_destroy(conf);
          entry_error("config", it.key(), std::string("librdkafka refused it: ") + errstr);
        }
      }
      rd_kafka_conf_destroy(conf);
    }
    check_timeout_field(task);
    checks::Checks::validate(task, /*http=*/false);
  }

  std::unique_ptr<engine::CompiledTasks> compile(const std::vector<Json>& tasks,
                                                 engine::CompileContext& ctx) const override {
    auto out = std::make_unique<Tasks>();
    std::string default_servers(kDefaultBootstrap);
    if (ctx.options.contains("bootstrap_servers") && !ctx.options["bootstrap_servers"].is_null()) {
      default_servers = servers_text(ctx.options["bootstrap_servers"]);
    }
    const params::ParseContext pc = ctx.parse_context();
    compile_each(tasks.size(), [&](std::size_t i) {
      const Json& task = tasks[i];
      validate_task(task);
      Step s;
      const std::string m = method_of(task, kMethods, "", kUser);
      s.method = method_enum(m);
      s.timeout = seconds_to_ns(timeout_of(task, kDefaultTimeoutS));
      s.cluster = cluster_of(task, default_servers, ctx, *out);
      Cluster& cl = *out->clusters[s.cluster];
      if (s.method == Method::kProduce || s.method == Method::kFlush) cl.produces = true;
      if (s.method == Method::kProduce) {
        cl.max_produce_timeout = std::max(cl.max_produce_timeout, s.timeout);
      }
      std::string label = m;
      if (task.contains("topic")) {
        s.topic = params::Template::parse(task["topic"].get<std::string>(), pc);
        label += " " + s.topic.text();
      }
      if (task.contains("value")) {
        s.has_value = true;
        s.value = params::Template::parse(payload_text(task["value"]), pc);
      }
      if (task.contains("key")) {
        s.has_key = true;
        s.key = params::Template::parse(scalar_text(task["key"]), pc);
      }
      if (task.contains("headers")) {
        for (auto it = task["headers"].begin(); it != task["headers"].end(); ++it) {
          s.headers.push_back({it.key(), params::Template::parse(scalar_text(it.value()), pc)});
        }
      }
      if (task.contains("group")) {
        s.has_group = true;
        s.group = params::Template::parse(task["group"].get<std::string>(), pc);
      }
      s.from_earliest =
          task.contains("from") && text::lower(task["from"].get<std::string>()) == "earliest";
      if (task.contains("expect")) {
        s.has_expect = true;
        const std::string e = scalar_text(task["expect"]);
        s.expect = params::Template::parse(e, pc);
        s.expect_message = "expect failed: value contains '" + e + "'";
      }
      if (task.contains("assertions") || task.contains("extract")) {
        s.checks = checks::Checks::compile(task, pc, /*http=*/false);
        if (s.checks->empty()) s.checks.reset();
      }
      if (task.contains("name")) {
        label = params::resolve_static(task["name"].get<std::string>(), ctx.resolver);
      }
      s.name_id = ctx.names.intern("KAFKA", label);
      ctx.names.set_url(s.name_id, "kafka://" + cl.bootstrap);
      out->steps.push_back(std::move(s));
    });
    return out;
  }

 private:
  std::vector<action::Param> fields_ = declared_fields();

  // The Cluster of a task (bootstrap servers and config fixed for the run), shared by tasks
  // that name the same ones. Throws ConfigError on a setting librdkafka refuses.
  static std::size_t cluster_of(const Json& task, const std::string& default_servers,
                                engine::CompileContext& ctx, Tasks& tasks) {
    auto c = std::make_unique<Cluster>();
    const char* pointer = "";
    std::string raw = default_servers;
    if (task.contains("bootstrap_servers")) {
      raw = servers_text(task["bootstrap_servers"]);
      pointer = "/bootstrap_servers";
    }
    c->bootstrap = params::resolve_static(raw, ctx.resolver);
    if (has_placeholder(c->bootstrap)) {
      throw ConfigError("bootstrap_servers '" + raw +
                            "' holds a placeholder that is not fixed for the run (the brokers "
                            "are chosen once; use registered variables and env)",
                        pointer);
    }
    if (task.contains("config")) {
      for (auto it = task["config"].begin(); it != task["config"].end(); ++it) {
        std::string v = params::resolve_static(scalar_text(it.value()), ctx.resolver);
        c->config.emplace_back(it.key(), std::move(v));
      }
    }
    std::string error;
    rd_kafka_conf_t* conf = make_conf(*c, error);
    if (!conf) {
      const std::string key = error.substr(0, error.find(':'));
      throw ConfigError(
          "librdkafka refused a setting: " + error,
          key == "bootstrap.servers" ? std::string(pointer) : "/config" + pointer_key(key));
    }
    rd_kafka_conf_destroy(conf);
    for (std::size_t i = 0; i < tasks.clusters.size(); ++i) {
      const Cluster& have = *tasks.clusters[i];
      if (have.bootstrap == c->bootstrap && have.config == c->config) return i;
    }
    tasks.clusters.push_back(std::move(c));
    return tasks.clusters.size() - 1;
  }
};

}  // namespace

std::shared_ptr<engine::Protocol> make_protocol() { return std::make_shared<KafkaProtocol>(); }

}  // namespace ld::proto::kafka
