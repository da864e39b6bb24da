// sse_user task checking and compilation. Each distinct (URL, headers, verify) becomes one
// Stream whose request head is built here; wait and close tasks without a URL use the stream
// of the closest open task before them (or, looping around, the last one in the list).
#include <utility>  // before Asio (Boost 1.74 trap)

#include <algorithm>
#include <optional>

#include "checks/checks.hpp"
#include "common/net_util.hpp"
#include "common/task_fields.hpp"
#include "core/text.hpp"
#include "params/resolver.hpp"
#include "sse.hpp"
#include "sse_impl.hpp"

namespace ld::proto::sse {

namespace {

std::vector<action::Param> declared_fields() {
  using namespace action;
  std::vector<Param> f = {
      field("method", kString, "wait", "open (or connect), wait or close"),
      field("request_url", kString, nullptr,
            "http:// or https:// URL of the event stream (or a path joined to LD_start_test "
            "'host'); wait and close use the stream of the open before them"),
      field("url", kString, nullptr, "same as request_url"),
      field("headers", kObject, nullptr, "request headers {name: value}"),
      field("timeout", kNumber, kDefaultTimeoutS,
            "seconds: open until the response head, wait for all its events"),
      field("expect", kString, nullptr, "wait: text an event's data must contain to count"),
      field("count", kInteger, 1, "wait: events to wait for (1 to 1000000)"),
      field("verify", kBool | kString, true, "https: verify certificates, or a CA bundle path"),
  };
  add_result_fields(f, "URL + event", "the data of each event a wait counts", /*http=*/false);
  return f;
}
const std::vector<std::string> kMethods = {"open", "connect", "wait", "close"};
constexpr std::string_view kUser = "an sse_user";
const std::vector<Scheme> kSchemes = {{"http", 80, false}, {"https", 443, true}};
constexpr const char* kOpenNeedsUrl =
    "an open task needs 'request_url' (or 'url'), or LD_start_test needs a 'host'";
constexpr const char* kNoStream =
    "no event stream to use: give this task a 'request_url', add an open task with one, or set "
    "LD_start_test 'host'";

const char* url_key(const Json& task) {
  return task.contains("request_url") ? "request_url" : "url";
}

Op op_of(const std::string& m) {
  if (m == "open" || m == "connect") return Op::kOpen;
  if (m == "close") return Op::kClose;
  return Op::kWait;
}

void check_header_text(const std::string& s) {
  if (s.find_first_of("\r\n") != std::string::npos) {
    field_error("headers", "header names and values cannot contain line breaks");
  }
}

class SseProtocol final : public engine::Protocol {
 public:
  std::vector<std::string> user_types() const override { return {"sse_user"}; }

  std::vector<action::Param> task_fields(const std::string&) const override { return fields_; }

  void validate_task(const Json& task) const override {
    check_task_fields(task, fields_, kUser);
    const Op op = op_of(method_of(task, kMethods, "wait", "sse_user"));
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
    if (task.contains("expect")) {
      expect_type(task, "expect", task["expect"].is_string(), "a string");
      if (op != Op::kWait) field_error("expect", "only a wait task takes 'expect'");
    }
    if (task.contains("count")) {
      const Json& c = task["count"];
      expect_type(
          task, "count",
          c.is_number_integer() && c.get<std::int64_t>() >= 1 && c.get<std::int64_t>() <= 1000000,
          "a whole number of events from 1 to 1000000");
      if (op != Op::kWait) field_error("count", "only a wait task takes 'count'");
    }
    checks::Checks::validate(task, /*http=*/false);
    for (const char* f : {"assertions", "extract"}) {
      if (task.contains(f) && op != Op::kWait)
        field_error(f, "only a wait task has events to check");
    }
    if (task.contains("name")) expect_type(task, "name", task["name"].is_string(), "a string");
    check_verify_field(task);
  }

  void validate_list(const std::vector<Json>& tasks, const std::string& host) const override {
    if (!host.empty()) return;
    bool any_url = false;
    for (const Json& task : tasks) any_url = any_url || task.contains(url_key(task));
    compile_each(tasks.size(), [&](std::size_t i) {
      const Json& task = tasks[i];
      if (task.contains(url_key(task))) return;
      if (op_of(method_of(task, kMethods, "wait", "sse_user")) == Op::kOpen) {
        throw ConfigError(kOpenNeedsUrl, "");
      }
      if (!any_url) throw ConfigError(kNoStream, "");
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
    TlsContexts tls;
    std::vector<bool> named;  // per stream: a named open task already set its record names
    // Pass 1: check every task, build the streams of tasks that name a URL.
    std::vector<std::optional<std::size_t>> own(tasks.size());
    compile_each(tasks.size(), [&](std::size_t i) {
      const Json& task = tasks[i];
      validate_task(task);
      const Op op = op_of(method_of(task, kMethods, "wait", "sse_user"));
      if (task.contains(url_key(task)) || (op == Op::kOpen && !ctx.host.empty())) {
        own[i] = stream_for(task, ctx, tls, *out, named);
      } else if (op == Op::kOpen) {
        throw ConfigError(kOpenNeedsUrl, "");
      }
    });
    // Pass 2: tasks without a URL take the closest open stream before them, else the last one.
    std::optional<std::size_t> last;
    for (std::size_t i = tasks.size(); i-- > 0;) {
      if (own[i]) {
        last = own[i];
        break;
      }
    }
    std::optional<std::size_t> current = last;
    compile_each(tasks.size(), [&](std::size_t i) {
      const Json& task = tasks[i];
      Step s;
      s.op = op_of(method_of(task, kMethods, "wait", "sse_user"));
      if (own[i]) current = own[i];
      if (!current) {
        throw ConfigError(kNoStream, "");
      }
      s.stream = *current;
      s.timeout = seconds_to_ns(timeout_of(task, kDefaultTimeoutS));
      if (task.contains("expect")) s.expect = task["expect"].get<std::string>();
      if (task.contains("count"))
        s.count = static_cast<std::uint32_t>(task["count"].get<std::int64_t>());
      if (task.contains("assertions") || task.contains("extract")) {
        s.checks = checks::Checks::compile(raw_tasks[i], pc, /*http=*/false);
        if (s.checks->empty()) s.checks.reset();
      }
      const Stream& st = out->streams[s.stream];
      if (s.op == Op::kWait) {
        const std::string name =
            task.contains("name") ? task["name"].get<std::string>() : st.url.text + " event";
        s.name_id = ctx.names.intern("SSE", name);
        ctx.names.set_url(s.name_id, st.url.text);  // per-request reports: the URL used
      }
      if (s.op == Op::kOpen && task.contains("name")) {
        // A named open renames its stream's records (first named open wins).
        Stream& mst = out->streams[s.stream];
        if (!named[s.stream]) {
          named[s.stream] = true;
          mst.open_name = ctx.names.intern("SSE", task["name"].get<std::string>());
          mst.first_event_name =
              ctx.names.intern("SSE", task["name"].get<std::string>() + " first event");
          ctx.names.set_url(mst.open_name, mst.url.text);
          ctx.names.set_url(mst.first_event_name, mst.url.text);
        }
      }
      out->steps.push_back(std::move(s));
    });
    return out;
  }

 private:
  const std::vector<action::Param> fields_ = declared_fields();

  static std::size_t stream_for(const Json& task, engine::CompileContext& ctx, TlsContexts& tls,
                                Tasks& out, std::vector<bool>& named) {
    const char* key = url_key(task);
    std::string text = task.contains(key) ? task[key].get<std::string>() : ctx.host;
    check_fixed_authority(key, text);
    if (text.find("://") == std::string::npos && !ctx.host.empty()) {
      std::string base = ctx.host;
      if (!base.empty() && base.back() == '/' && !text.empty() && text.front() == '/')
        base.pop_back();
      text = base + text;
    }
    Stream st;
    std::string error;
    if (!parse_url(text, kSchemes, st.url, error)) {
      if (!task.contains(key)) {
        throw ConfigError("LD_start_test 'host' '" + text + "': " + error, "");
      }
      field_error(key, "'" + text + "': " + error);
    }
    std::string headers;
    bool has_accept = false, has_agent = false;
    if (task.contains("headers")) {
      for (auto it = task["headers"].begin(); it != task["headers"].end(); ++it) {
        const std::string v = json_display(it.value());
        check_header_text(it.key());
        check_header_text(v);
        if (text::iequals(it.key(), "Accept")) has_accept = true;
        if (text::iequals(it.key(), "User-Agent")) has_agent = true;
        headers += it.key() + ": " + v + "\r\n";
      }
    }
    const bool verify =
        !task.contains("verify") || !task["verify"].is_boolean() || task["verify"].get<bool>();
    st.key =
        st.url.text + "\n" + headers + "\n" + (verify ? "1" : "0") +
        (task.contains("verify") && task["verify"].is_string() ? task["verify"].get<std::string>()
                                                               : "");
    for (std::size_t i = 0; i < out.streams.size(); ++i) {
      if (out.streams[i].key == st.key) return i;
    }
    st.request = "GET " + st.url.target + " HTTP/1.1\r\nHost: " + st.url.host_header + "\r\n";
    if (!has_accept) st.request += "Accept: text/event-stream\r\n";
    if (!has_agent) st.request += "User-Agent: loaddensity/" LD_SSE_VERSION "\r\n";
    st.request += "Cache-Control: no-cache\r\n" + headers;
    // Folded text: what is still ${...} (target, header values) is rendered at each open.
    st.head_tpl = params::Template::parse(st.request, ctx.parse_context());
    st.dynamic = !st.head_tpl.is_static();
    st.head_breaks = line_breaks(st.head_tpl.text());
    if (!st.dynamic) st.head_tpl = params::Template{};
    if (st.url.tls) st.ssl = tls.get(task);
    st.endpoints = resolve_tcp(st.url.host, st.url.port);
    st.open_name = ctx.names.intern("SSE", st.url.text);
    st.first_event_name = ctx.names.intern("SSE", st.url.text + " first event");
    ctx.names.set_url(st.open_name, st.url.text);  // per-request reports: the URL used
    ctx.names.set_url(st.first_event_name, st.url.text);
    out.streams.push_back(std::move(st));
    named.push_back(false);
    return out.streams.size() - 1;
  }
};

}  // namespace

std::shared_ptr<engine::Protocol> make_protocol() { return std::make_shared<SseProtocol>(); }

}  // namespace ld::proto::sse
