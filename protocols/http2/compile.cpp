// HTTP/2 task checking and compilation: everything that can be decided once per task is decided
// here (header block, body, TLS context with ALPN "h2", resolved endpoints), so a request on
// the hot path is "submit this header array, wait for the stream to close, record".
#include <openssl/ssl.h>

#include <boost/asio/io_context.hpp>
#include <map>

#include "common/net_util.hpp"
#include "common/task_fields.hpp"
#include "core/text.hpp"
#include "http2.hpp"
#include "http2_impl.hpp"
#include "loaddensity/core/error.hpp"
#include "params/resolver.hpp"

namespace ld::proto::http2 {

namespace {

// Connection-specific header fields are not allowed in HTTP/2 (RFC 9113 8.2.2).
const std::vector<std::string> kConnectionHeaders = {"connection", "keep-alive", "proxy-connection",
                                                     "transfer-encoding", "upgrade"};

[[noreturn]] void fail(const std::string& field, const std::string& msg) {
  throw ConfigError("task field '" + field + "': " + msg, pointer_key(field));
}

void expect_type(const Json& task, const std::string& field, bool ok, const std::string& want) {
  if (!ok) {
    fail(field, "must be " + want + ", got " + json_type_name(task[field]) + " " +
                    json_brief(task[field], 60));
  }
}

// RFC 9110 token characters (methods and header names).
bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s) {
    if (std::isalnum(c)) continue;
    if (std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) == std::string_view::npos) {
      return false;
    }
  }
  return true;
}

std::string upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

class Http2Protocol final : public engine::Protocol {
 public:
  explicit Http2Protocol(std::shared_ptr<engine::Protocol> http1,
                         const char* user_label = "an HTTP/2 user")
      : http1_(std::move(http1)), user_label_(user_label) {}

  void set_http3(std::shared_ptr<engine::Protocol> http3) { http3_ = std::move(http3); }

  std::vector<std::string> user_types() const override { return {"async_http_user", "http2_user"}; }

  std::vector<action::Param> task_fields(const std::string&) const override { return fields_; }

  std::vector<action::Param> options() const override {
    return {max_streams_option("requests"),
            {"http2", action::kBool | action::kNull, false, nullptr,
             "false runs the tasks on the HTTP/1.1 client (default true)"},
            {"http3", action::kBool | action::kNull, false, nullptr,
             "true runs the tasks on the HTTP/3 (QUIC) client, as http3_user (default false)"}};
  }

  void validate_options(const Json& args) const override {
    check_max_streams(args);
    if (args.contains("http2") && !args["http2"].is_null() && !args["http2"].is_boolean()) {
      throw ConfigError("http2 must be true or false, got " + json_brief(args["http2"], 40),
                        "/http2");
    }
    if (args.contains("http3") && !args["http3"].is_null() && !args["http3"].is_boolean()) {
      throw ConfigError("http3 must be true or false, got " + json_brief(args["http3"], 40),
                        "/http3");
    }
    if (http3_enabled(args)) {
      if (http1_disabled(args)) {
        throw ConfigError("\"http3\": true cannot go with \"http2\": false", "/http3");
      }
      if (!http3_) {
        throw ConfigError(
            "\"http3\": true (HTTP/3) is not built into this binary (configure with "
            "-DLD_WITH_HTTP3=ON)",
            "/http3");
      }
      http3_->validate_options(args);
    }
    if (http1_disabled(args) && !http1_) {
      throw ConfigError("\"http2\": false (HTTP/1.1) is not available in this build", "/http2");
    }
  }

  void validate_task(const Json& task) const override {
    proto::check_task_fields(task, fields_, user_label_);
    if (!task.contains("method")) fail("method", "missing (get, post, put, ...)");
    expect_type(task, "method", task["method"].is_string(), "a string");
    if (!is_token(task["method"].get<std::string>())) {
      fail("method", "'" + task["method"].get<std::string>() + "' is not an HTTP method name");
    }
    const char* url_key = task.contains("request_url") ? "request_url" : "url";
    if (!task.contains(url_key)) throw ConfigError("task needs 'request_url' (or 'url')", "");
    expect_type(task, url_key, task[url_key].is_string(), "a string");
    proto::check_http_request_fields(task, /*files=*/false);
    if (task.contains("auth") && auth::is_scheme(task["auth"])) auth::validate(task["auth"], true);
    checks::Checks::validate(task);
    if (task.contains("headers")) {
      for (auto it = task["headers"].begin(); it != task["headers"].end(); ++it) {
        const std::string name = text::lower(it.key());
        std::string why;
        if (!is_token(name)) {
          why = "is not a valid header name";
        } else if (std::find(kConnectionHeaders.begin(), kConnectionHeaders.end(), name) !=
                   kConnectionHeaders.end()) {
          why = "is a connection-specific header, not allowed in HTTP/2";
        } else if (name == "te" && !(it.value().is_string() &&
                                     text::lower(it.value().get<std::string>()) == "trailers")) {
          why = "may only be \"trailers\" in HTTP/2";
        }
        if (!why.empty()) {
          throw ConfigError("task field 'headers': '" + it.key() + "' " + why,
                            pointer_key("headers") + pointer_key(it.key()));
        }
      }
    }
  }

  std::unique_ptr<engine::CompiledTasks> compile(const std::vector<Json>& tasks,
                                                 engine::CompileContext& ctx) const override {
    // validate_options() ran when the document was checked.
    if (http1_disabled(ctx.options) && http1_) return http1_->compile(tasks, ctx);
    if (http3_enabled(ctx.options) && http3_) return http3_->compile(tasks, ctx);
    return compile_all(*this, tasks, ctx, /*openssl=*/true);
  }

  // The steps of `tasks` as this client sends them, each checked by `checker`; `openssl`
  // false makes no OpenSSL context for https URLs (HTTP/3 brings its own TLS).
  static std::unique_ptr<Tasks> compile_all(const engine::Protocol& checker,
                                            const std::vector<Json>& tasks,
                                            engine::CompileContext& ctx, bool openssl) {
    auto out = std::make_unique<Tasks>();
    out->max_streams = max_streams_of(ctx.options);
    std::map<std::string, std::vector<tcp::endpoint>> dns;
    // Placeholders fixed for the run are folded here; per-request ones stay as written.
    engine::CompileContext resolved_ctx = ctx;
    resolved_ctx.host = ctx.host.empty() ? "" : params::resolve_static(ctx.host, ctx.resolver);
    for (std::size_t i = 0; i < tasks.size(); ++i) {
      try {
        checker.validate_task(tasks[i]);
        // Fixed placeholders folded; per-request ones stay ${...} and become templates.
        const Json task = params::resolve_json(tasks[i], ctx.parse_context());
        out->steps.push_back(compile_one(task, tasks[i], resolved_ctx, *out, dns, openssl));
      } catch (const ConfigError& e) {
        throw ConfigError(std::string("task ") + std::to_string(i) + ": " + e.what(),
                          pointer_index(i) + e.pointer());
      }
    }
    for (auto& s : out->steps) finalize(s);  // the steps do not move any more
    return out;
  }

 private:
  static bool http1_disabled(const Json& args) {
    return args.contains("http2") && args["http2"].is_boolean() && !args["http2"].get<bool>();
  }
  static bool http3_enabled(const Json& args) {
    return args.contains("http3") && args["http3"].is_boolean() && args["http3"].get<bool>();
  }

  static Step compile_one(const Json& task, const Json& raw_task, engine::CompileContext& ctx,
                          Tasks& tasks, std::map<std::string, std::vector<tcp::endpoint>>& dns,
                          bool openssl) {
    Step s;
    s.method = upper(task["method"].get<std::string>());
    const char* url_key = task.contains("request_url") ? "request_url" : "url";
    std::string url_text = task[url_key].get<std::string>();
    if (url_text.find("://") == std::string::npos) {
      if (ctx.host.empty()) {
        fail(url_key,
             "'" + url_text + "' is not an absolute URL and LD_start_test has no 'host' to prefix");
      }
      std::string base = ctx.host;
      if (!base.empty() && base.back() == '/' && !url_text.empty() && url_text.front() == '/') {
        base.pop_back();
      }
      url_text = base + url_text;
    }
    proto::check_fixed_authority(url_key, url_text);
    std::string error;
    if (!parse_url(url_text, s.url, error)) fail(url_key, "'" + url_text + "': " + error);
    s.scheme = s.url.tls ? "https" : "http";
    const std::string display_url = url_text;
    const params::ParseContext pc = ctx.parse_context();
    // :path with the task's params; per-request parts are rendered and percent-encoded per
    // request (session.cpp), fixed ones once here.
    s.path_tpl = params::Template::parse(s.url.target, pc);
    if (task.contains("params")) {
      proto::append_query(s.path_tpl, s.url.target.find('?') != std::string::npos, task["params"],
                          pc);
    }
    if (s.path_tpl.is_static()) {
      s.url.target.clear();
      if (!append_target(s.url.target, s.path_tpl.text())) {
        fail("params", "contains a line break or NUL byte (it would split the request)");
      }
      s.path_tpl = params::Template{};
    } else {
      s.dynamic = true;
    }

    // Results are grouped by (method, name); the name defaults to the URL.
    const std::string name = task.contains("name") ? task["name"].get<std::string>() : display_url;
    s.name_id = ctx.names.intern(s.method, name);
    // Per-request reports show the URL requested: once per name, else with each record.
    s.url_text = s.scheme + "://" + s.url.host_header + s.url.target;
    s.record_url = !ctx.names.set_url(s.name_id, s.url_text);

    if (task.contains("allow_redirects")) s.allow_redirects = task["allow_redirects"].get<bool>();
    if (task.contains("follow_redirects")) s.allow_redirects = task["follow_redirects"].get<bool>();
    double timeout_s = kDefaultTimeoutS;
    if (task.contains("timeout")) {
      const Json& t = task["timeout"];
      timeout_s = t.is_number() ? t.get<double>() : t[0].get<double>() + t[1].get<double>();
    }
    s.timeout = seconds_to_ns(timeout_s);

    auto has_header = [&](std::string_view n) {
      for (const auto& [k, v] : s.headers) {
        if (k == n) return true;
      }
      return false;
    };
    if (task.contains("headers")) {
      for (auto it = task["headers"].begin(); it != task["headers"].end(); ++it) {
        std::string key = text::lower(it.key());
        std::string v = json_display(it.value());
        proto::check_header_value("headers", it.key(), v);  // static placeholders folded
        if (key == "host" && proto::has_placeholder(v)) {
          proto::entry_error("headers", it.key(),
                             "cannot hold a per-request placeholder: it is the connection's "
                             ":authority, fixed for the run");
        }
        if (key == "host") {
          // HTTP/2 carries the host in :authority (RFC 9113 8.3.1: a Host header must not
          // differ from it), so the task's Host replaces the URL's authority, as curl does.
          if (v.empty() || nghttp2_check_authority(reinterpret_cast<const std::uint8_t*>(v.data()),
                                                   v.size()) == 0) {
            proto::entry_error("headers", it.key(),
                               "is not a valid HTTP/2 :authority (host[:port], no spaces or "
                               "control characters)");
          }
          s.url.host_header = v;
          continue;
        }
        s.headers.emplace_back(std::move(key), std::move(v));
      }
    }
    // A cookie header the task sets itself replaces the jar's cookies (as requests does).
    s.use_jar = !has_header("cookie");
    if (!has_header("user-agent"))
      s.headers.emplace_back("user-agent", "loaddensity/" LD_HTTP2_VERSION);
    // Compressed answers are decoded only when a check reads the body.
    if (!has_header("accept-encoding")) s.headers.emplace_back("accept-encoding", "gzip, deflate");
    if (!has_header("accept")) s.headers.emplace_back("accept", "*/*");
    if (task.contains("cookies") && !task["cookies"].empty()) {
      std::string cookie;
      for (auto it = task["cookies"].begin(); it != task["cookies"].end(); ++it) {
        if (!cookie.empty()) cookie += "; ";
        const std::string v = json_display(it.value());
        proto::check_header_value("cookies", it.key(), v);
        cookie += it.key() + "=" + v;
      }
      s.headers.emplace_back("cookie", cookie);
    }
    if (task.contains("auth") && auth::is_scheme(task["auth"])) {
      s.auth = tasks.auth.get(raw_task["auth"], ctx, /*http2=*/true);
      s.auth_at = s.headers.size();
      for (const auto& n : s.auth->header_names()) s.headers.emplace_back(n, "");
    } else if (task.contains("auth") && !has_header("authorization")) {
      const Json& a = task["auth"];
      std::string value;
      if (a.is_array()) {
        value =
            "Basic " + text::base64_encode(a[0].get<std::string>() + ":" + a[1].get<std::string>());
      } else if (text::lower(a["type"].get<std::string>()) == "basic") {
        value = "Basic " + text::base64_encode(a["username"].get<std::string>() + ":" +
                                               a["password"].get<std::string>());
      } else {
        value = "Bearer " + a["token"].get<std::string>();
      }
      proto::check_header_value("auth", a.is_object() && a.contains("token") ? "token" : "username",
                                value);
      if (value.starts_with("Basic ")) {  // the credentials as written, for per-request ones
        const std::string user =
            a.is_array() ? a[0].get<std::string>() : a["username"].get<std::string>();
        const std::string pass =
            a.is_array() ? a[1].get<std::string>() : a["password"].get<std::string>();
        params::Template t = params::Template::parse(user + ":" + pass, pc);
        if (!t.is_static()) {
          s.dyn_headers.push_back({s.headers.size(), std::move(t), /*basic=*/true});
        }
      }
      s.headers.emplace_back("authorization", value);
    }
    // Header values with per-request placeholders (cookies, bearer tokens included).
    for (std::size_t i = 0; i < s.headers.size(); ++i) {
      bool basic = false;
      for (const auto& d : s.dyn_headers) basic = basic || d.index == i;
      if (basic) continue;
      params::Template t = params::Template::parse(s.headers[i].second, pc);
      if (!t.is_static()) s.dyn_headers.push_back({i, std::move(t), /*basic=*/false});
    }
    s.dynamic = s.dynamic || !s.dyn_headers.empty() || s.auth != nullptr;

    if (task.contains("json")) {
      s.body_tpl = params::json_template(task["json"], pc);
      s.content_type = "application/json";
    } else if (task.contains("data")) {
      const Json& d = task["data"];
      if (d.is_string()) {
        s.body_tpl = params::Template::parse(d.get<std::string>(), pc);
      } else {
        bool first = true;
        for (auto it = d.begin(); it != d.end(); ++it) {
          std::string key;
          text::url_encode(it.key(), key);
          s.body_tpl.append_literal((first ? "" : "&") + key + "=");
          s.body_tpl.append(params::Template::parse(json_display(it.value()), pc),
                            params::Escape::kUrl);
          first = false;
        }
        s.content_type = "application/x-www-form-urlencoded";
      }
    }
    if (s.body_tpl.is_static()) {
      s.body = s.body_tpl.text();
      s.body_tpl = params::Template{};
    } else {
      s.dynamic = s.dynamic_body = true;
    }
    if (has_header("content-type")) s.content_type.clear();
    // content-length is advisory in HTTP/2 but servers (nginx) use it to accept bodies early.
    // A task's own Content-Length was rejected by check_http_request_fields.
    if (!s.body.empty() || s.dynamic_body || s.method == "POST" || s.method == "PUT" ||
        s.method == "PATCH") {
      s.content_length = std::to_string(s.body.size());  // a dynamic body's: per request
    }

    if (task.contains("assertions") || task.contains("extract")) {
      s.checks = checks::Checks::compile(raw_task, pc);
      if (s.checks->empty()) s.checks.reset();
    }

    if (s.url.tls && openssl) s.ssl = tasks.tls.get(task, "\x02h2");

    // Resolve once here; a name that does not resolve now is retried per connection at run time
    // and then counted as a connect failure.
    const std::string key = s.url.host + ":" + std::to_string(s.url.port);
    auto it = dns.find(key);
    if (it == dns.end()) {
      it = dns.emplace(key, proto::resolve_tcp(s.url.host, s.url.port)).first;
    }
    s.endpoints = it->second;
    return s;
  }

  std::shared_ptr<engine::Protocol> http1_;
  std::shared_ptr<engine::Protocol> http3_;  // "http3": true (null: not built)
  const char* user_label_;                   // "an HTTP/2 user", in unknown-field errors
  const std::vector<action::Param> fields_ = proto::http_task_fields(/*files=*/false);
};

nghttp2_nv nv(const std::string& name, const std::string& value) {
  return {reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
          reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())), name.size(),
          value.size(), NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE};
}

}  // namespace

action::Param max_streams_option(const std::string& what) {
  return {"max_streams", action::kInteger | action::kNull, false, nullptr,
          "concurrent " + what + " per user connection, 1 to " + std::to_string(kMaxStreamsLimit) +
              " (default 1)"};
}

void check_max_streams(const Json& args) {
  if (!args.contains("max_streams") || args["max_streams"].is_null()) return;
  const Json& m = args["max_streams"];
  if (!m.is_number_integer() || m.get<long long>() < 1 ||
      m.get<long long>() > static_cast<long long>(kMaxStreamsLimit)) {
    throw ConfigError("max_streams must be an integer from 1 to " +
                          std::to_string(kMaxStreamsLimit) + ", got " + json_brief(m, 40),
                      "/max_streams");
  }
}

std::size_t max_streams_of(const Json& args) {
  return args.contains("max_streams") && args["max_streams"].is_number_integer()
             ? args["max_streams"].get<std::size_t>()
             : 1;
}

void finalize(Step& s) {
  static const std::string kMethod = ":method", kScheme = ":scheme", kAuthority = ":authority",
                           kPath = ":path", kContentType = "content-type",
                           kContentLength = "content-length";
  s.nva.clear();
  s.nva.push_back(nv(kMethod, s.method));
  s.nva.push_back(nv(kScheme, s.scheme));
  s.nva.push_back(nv(kAuthority, s.url.host_header));
  s.nva.push_back(nv(kPath, s.url.target));
  s.common_begin = s.nva.size();
  for (const auto& [k, v] : s.headers) s.nva.push_back(nv(k, v));
  s.common_end = s.nva.size();
  if (!s.content_type.empty()) s.nva.push_back(nv(kContentType, s.content_type));
  s.content_length_at = s.content_length.empty() ? s.nva.size() + 1 : s.nva.size();
  if (!s.content_length.empty()) s.nva.push_back(nv(kContentLength, s.content_length));
  s.request_bytes = s.body.size();
  for (const auto& h : s.nva) s.request_bytes += h.namelen + h.valuelen + 4;
}

std::shared_ptr<engine::Protocol> make_protocol(std::shared_ptr<engine::Protocol> http1) {
  return std::make_shared<Http2Protocol>(std::move(http1));
}

void set_http3(engine::Protocol& http2, std::shared_ptr<engine::Protocol> http3) {
  if (auto* p = dynamic_cast<Http2Protocol*>(&http2)) p->set_http3(std::move(http3));
}

std::unique_ptr<Tasks> compile_steps(const engine::Protocol& checker,
                                     const std::vector<Json>& tasks, engine::CompileContext& ctx,
                                     bool openssl) {
  return Http2Protocol::compile_all(checker, tasks, ctx, openssl);
}

void validate_http_task(const Json& task, const char* user_label) {
  const Http2Protocol checker(nullptr, user_label);
  checker.validate_task(task);
}

std::vector<action::Param> http_task_fields() { return proto::http_task_fields(/*files=*/false); }

}  // namespace ld::proto::http2
