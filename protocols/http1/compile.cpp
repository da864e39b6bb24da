// HTTP task checking and compilation: everything that can be decided once per task is decided
// here, so a request on the hot path is "write these bytes, parse the answer".
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <fstream>
#include <map>
#include <sstream>

#include "checks/checks.hpp"
#include "common/net_util.hpp"
#include "common/uring/ring.hpp"
#include "common/task_fields.hpp"
#include "core/text.hpp"
#include "http1.hpp"
#include "http1_impl.hpp"
#include "loaddensity/core/error.hpp"
#include "params/resolver.hpp"

namespace ld::proto::http1 {

namespace {

const std::vector<std::string> kMethods = {"get",    "post", "put",    "patch",
                                           "delete", "head", "options"};

[[noreturn]] void fail(const std::string& field, const std::string& msg) {
  throw ConfigError("task field '" + field + "': " + msg, pointer_key(field));
}

void expect_type(const Json& task, const std::string& field, bool ok, const std::string& want) {
  if (!ok)
    fail(field, "must be " + want + ", got " + json_type_name(task[field]) + " " +
                    json_brief(task[field], 60));
}

std::string method_of(const Json& task) {
  const std::string m = text::lower(task["method"].get<std::string>());
  if (std::find(kMethods.begin(), kMethods.end(), m) == kMethods.end()) {
    std::string msg = "unknown HTTP method '" + task["method"].get<std::string>() + "'";
    const std::string s = text::closest(m, kMethods);
    if (!s.empty()) msg += " (did you mean '" + s + "'?)";
    fail("method", msg + "; use get, post, put, patch, delete, head or options");
  }
  return m;
}

std::string read_file(const std::string& field, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(field, "cannot read file '" + path + "'");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class Http1Protocol final : public engine::Protocol {
 public:
  std::vector<std::string> user_types() const override { return {"fast_http_user", "http_user"}; }

  std::vector<action::Param> task_fields(const std::string&) const override { return fields_; }

  std::vector<action::Param> options() const override { return {uring::backend_option()}; }
  void validate_options(const Json& args) const override { uring::validate_backend_option(args); }

  void validate_task(const Json& task) const override {
    proto::check_task_fields(task, fields_, "an HTTP user");
    if (!task.contains("method")) fail("method", "missing (get, post, put, ...)");
    expect_type(task, "method", task["method"].is_string(), "a string");
    method_of(task);
    const char* url_key = task.contains("request_url") ? "request_url" : "url";
    if (!task.contains(url_key)) {
      throw ConfigError("task needs 'request_url' (or 'url')", "");
    }
    expect_type(task, url_key, task[url_key].is_string(), "a string");
    proto::check_http_request_fields(task, /*files=*/true);
    if (task.contains("auth") && auth::is_scheme(task["auth"])) auth::validate(task["auth"], false);
    checks::Checks::validate(task);
  }

  std::unique_ptr<engine::CompiledTasks> compile(const std::vector<Json>& tasks,
                                                 engine::CompileContext& ctx) const override {
    auto out = std::make_unique<Tasks>();
    out->io_uring = uring::choose_backend(ctx.options) == uring::Backend::kIoUring;
    std::map<std::string, std::vector<tcp::endpoint>> dns;
    for (std::size_t i = 0; i < tasks.size(); ++i) {
      try {
        validate_task(tasks[i]);
        out->steps.push_back(compile_one(tasks[i], ctx, *out, dns));
      } catch (const ConfigError& e) {
        throw ConfigError(std::string("task ") + std::to_string(i) + ": " + e.what(),
                          pointer_index(i) + e.pointer());
      }
    }
    return out;
  }

 private:
  const std::vector<action::Param> fields_ = proto::http_task_fields(/*files=*/true);

  static Step compile_one(const Json& task, engine::CompileContext& ctx, Tasks& tasks,
                          std::map<std::string, std::vector<tcp::endpoint>>& dns) {
    const params::ParseContext pc = ctx.parse_context();
    auto text_of = [&](const Json& v) { return params::Template::parse(json_display(v), pc); };
    Step s;
    const std::string method = method_of(task);
    s.method = method;
    for (auto& c : s.method) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    s.head = method == "head";
    const char* url_key = task.contains("request_url") ? "request_url" : "url";
    std::string url_text = task[url_key].get<std::string>();
    std::string host = ctx.host.empty() ? "" : params::resolve_static(ctx.host, ctx.resolver);
    // The URL with fixed placeholders folded and per-request ones still written as ${...}.
    const params::Template url_parsed = params::Template::parse(url_text, pc);
    std::string skeleton = url_parsed.text();
    if (has_line_break_or_nul(skeleton)) {
      fail(url_key, json_brief(Json(skeleton), 80) +
                        " contains a line break or NUL byte (it would split the request line)");
    }
    // A URL that starts with a per-request placeholder may carry its own scheme and host.
    const bool host_from_placeholder = !url_parsed.is_static() && skeleton.rfind("${", 0) == 0;
    if (skeleton.find("://") == std::string::npos && !host_from_placeholder) {
      if (host.empty()) {
        fail(url_key,
             "'" + skeleton + "' is not an absolute URL and LD_start_test has no 'host' to prefix");
      }
      if (host.back() == '/' && !skeleton.empty() && skeleton.front() == '/') host.pop_back();
      skeleton = host + skeleton;
    }
    const std::size_t scheme_end = skeleton.find("://");
    const std::size_t authority_end = scheme_end == std::string::npos
                                          ? std::string::npos
                                          : skeleton.find_first_of("/?#", scheme_end + 3);
    const std::string authority = skeleton.substr(0, authority_end);
    s.dynamic_authority =
        scheme_end == std::string::npos || authority.find("${") != std::string::npos;
    bool has_query;
    if (s.dynamic_authority) {
      s.url_tpl = params::Template::parse(skeleton, pc);
      has_query = skeleton.find('?') != std::string::npos;
      if (task.contains("params")) proto::append_query(s.url_tpl, has_query, task["params"], pc);
      s.dynamic = true;
    } else {
      std::string error;
      if (!parse_url(authority + "/", s.url, error)) fail(url_key, "'" + skeleton + "': " + error);
      std::string rest = authority_end == std::string::npos ? "/" : skeleton.substr(authority_end);
      if (auto hash = rest.find('#'); hash != std::string::npos) rest.resize(hash);
      if (rest.empty()) rest = "/";
      if (rest.front() == '?') rest.insert(rest.begin(), '/');
      s.target_tpl = params::Template::parse(rest, pc);
      has_query = rest.find('?') != std::string::npos;
      if (task.contains("params")) proto::append_query(s.target_tpl, has_query, task["params"], pc);
      s.dynamic = !s.target_tpl.is_static();
      // Static targets are percent-encoded once here; dynamic ones per request (session.cpp).
      s.url.target.clear();
      if (!append_target(s.url.target, s.target_tpl.text())) {
        fail(url_key, "contains a line break or NUL byte (it would split the request line)");
      }
    }

    // Name results by the task's name, else by the URL as written (as Locust does).
    s.label = task.contains("name")
                  ? params::resolve_static(task["name"].get<std::string>(), ctx.resolver)
                  : skeleton;
    s.name_id = ctx.names.intern(s.method, s.label);
    // Per-request reports show the URL requested: once per name when it is fixed, else each
    // record carries its own (rendered, or a second URL under the same name).
    s.record_url = s.dynamic;
    if (!s.dynamic) {
      s.url_text = (s.url.tls ? "https://" : "http://") + s.url.host_header + s.url.target;
      s.record_url = !ctx.names.set_url(s.name_id, s.url_text);
    }

    s.allow_redirects = true;
    if (task.contains("allow_redirects")) s.allow_redirects = task["allow_redirects"].get<bool>();
    if (task.contains("follow_redirects")) s.allow_redirects = task["follow_redirects"].get<bool>();
    double timeout_s = kDefaultTimeoutS;
    if (task.contains("timeout")) {
      const Json& t = task["timeout"];
      timeout_s = t.is_number() ? t.get<double>() : t[0].get<double>() + t[1].get<double>();
    }
    s.timeout = seconds_to_ns(timeout_s);

    // Header lines after Host, in order.
    std::vector<std::string> names;
    auto has_header = [&](std::string_view n) {
      for (const auto& k : names) {
        if (text::iequals(k, n)) return true;
      }
      return false;
    };
    // Values go in as rendered; the session rejects a request whose rendered header block has
    // a line break or NUL that the literal text did not (header_lines counts the literal ones).
    auto add_header = [&](const std::string& name, const params::Template& value) {
      names.push_back(name);
      s.headers_tpl.append_literal(name + ": ");
      s.headers_tpl.append(value, params::Escape::kNone);
      s.headers_tpl.append_literal("\r\n");
      ++s.header_lines;
    };
    if (task.contains("headers")) {
      for (auto it = task["headers"].begin(); it != task["headers"].end(); ++it) {
        params::Template value = text_of(it.value());
        proto::check_header_value("headers", it.key(), value.text());  // folded values too
        if (text::iequals(it.key(), "host")) {  // replaces the URL's host:port (as curl does)
          s.custom_host = true;
          s.host_tpl = std::move(value);
          names.push_back(it.key());
          continue;
        }
        add_header(it.key(), value);
      }
    }
    // A Cookie header the task sets itself replaces the jar's cookies (as requests does).
    s.use_jar = !has_header("Cookie");
    if (!has_header("User-Agent")) {
      add_header("User-Agent", params::Template::literal("loaddensity/" LD_HTTP_VERSION));
    }
    // Compressed answers are decoded only when a check reads the body.
    if (!has_header("Accept-Encoding")) {
      add_header("Accept-Encoding", params::Template::literal("gzip, deflate"));
    }
    if (!has_header("Accept")) add_header("Accept", params::Template::literal("*/*"));
    if (task.contains("cookies") && !task["cookies"].empty()) {
      params::Template cookie;
      bool first = true;
      for (auto it = task["cookies"].begin(); it != task["cookies"].end(); ++it) {
        cookie.append_literal((first ? "" : "; ") + it.key() + "=");
        params::Template value = text_of(it.value());
        proto::check_header_value("cookies", it.key(), value.text());
        cookie.append(value, params::Escape::kNone);
        first = false;
      }
      add_header("Cookie", cookie);
    }
    if (task.contains("auth") && auth::is_scheme(task["auth"])) {
      s.auth = tasks.auth.get(task["auth"], ctx, /*http2=*/false);
      for (const auto& n : s.auth->header_names()) names.push_back(n);
      s.dynamic = true;  // signed per request
    } else if (task.contains("auth") && !has_header("Authorization")) {
      const Json& a = task["auth"];
      const bool list = a.is_array();
      const std::string type = list ? "basic" : text::lower(a["type"].get<std::string>());
      if (type == "basic") {
        params::Template user = text_of(list ? a[0] : a["username"]);
        params::Template pass = text_of(list ? a[1] : a["password"]);
        if (user.is_static() && pass.is_static()) {
          add_header("Authorization",
                     params::Template::literal(
                         "Basic " + text::base64_encode(user.text() + ":" + pass.text())));
        } else {
          s.dynamic_basic_auth = true;
          s.auth_user_tpl = std::move(user);
          s.auth_pass_tpl = std::move(pass);
          names.push_back("Authorization");
          s.dynamic = true;
        }
      } else {
        params::Template bearer = params::Template::literal("Bearer ");
        params::Template token = text_of(a["token"]);
        proto::check_header_value("auth", "token", token.text());
        bearer.append(token, params::Escape::kNone);
        add_header("Authorization", bearer);
      }
    }

    // Body.
    if (task.contains("json")) {
      s.body_tpl = params::json_template(task["json"], pc);
      s.content_type = "application/json";
    } else if (task.contains("data")) {
      const Json& d = task["data"];
      if (d.is_string()) {
        s.body_tpl = text_of(d);
      } else {
        bool first = true;
        for (auto it = d.begin(); it != d.end(); ++it) {
          std::string key;
          text::url_encode(it.key(), key);
          s.body_tpl.append_literal((first ? "" : "&") + key + "=");
          s.body_tpl.append(text_of(it.value()), params::Escape::kUrl);
          first = false;
        }
        s.content_type = "application/x-www-form-urlencoded";
      }
    }
    if (task.contains("files") && !task["files"].empty()) {
      // multipart/form-data: form fields from `data` (object) and one part per file.
      const std::string boundary = "----loaddensity-boundary-7d3f9a2c";
      std::string mp;
      if (task.contains("data") && task["data"].is_object()) {
        for (auto it = task["data"].begin(); it != task["data"].end(); ++it) {
          mp += "--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + it.key() +
                "\"\r\n\r\n" + params::resolve_static(json_display(it.value()), ctx.resolver) +
                "\r\n";
        }
      }
      for (auto it = task["files"].begin(); it != task["files"].end(); ++it) {
        const std::string path = params::resolve_static(json_display(it.value()), ctx.resolver);
        const std::string filename = path.substr(path.find_last_of('/') + 1);
        mp += "--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + it.key() +
              "\"; filename=\"" + filename +
              "\"\r\nContent-Type: application/octet-stream\r\n\r\n" + read_file("files", path) +
              "\r\n";
      }
      mp += "--" + boundary + "--\r\n";
      s.body_tpl = params::Template::literal(mp);
      s.content_type = "multipart/form-data; boundary=" + boundary;
    }
    if (has_header("Content-Type")) s.content_type.clear();
    s.send_length = s.method == "POST" || s.method == "PUT" || s.method == "PATCH";
    s.dynamic = s.dynamic || !s.headers_tpl.is_static() || !s.body_tpl.is_static() ||
                (s.custom_host && !s.host_tpl.is_static());

    if (!s.dynamic) {
      const std::string& body = s.body_tpl.text();
      s.request = s.method + " " + s.url.target +
                  " HTTP/1.1\r\nHost: " + (s.custom_host ? s.host_tpl.text() : s.url.host_header) +
                  "\r\n" + s.headers_tpl.text();
      if (!body.empty() && !s.content_type.empty()) {
        s.request += "Content-Type: " + s.content_type + "\r\n";
      }
      if (!body.empty() || s.send_length) {
        s.request += "Content-Length: " + std::to_string(body.size()) + "\r\n";
      }
      s.request += "\r\n";
      s.request += body;
    }

    if (task.contains("assertions") || task.contains("extract")) {
      s.checks = checks::Checks::compile(task, pc);
      if (s.checks->empty()) s.checks.reset();
    }

    // TLS contexts are per settings; a dynamic host may turn out to be https at run time.
    const bool maybe_tls = s.dynamic_authority || s.url.tls;
    if (maybe_tls) s.ssl = tasks.tls.get(task);

    // Resolve once here; a name that does not resolve now is retried per connection at run time
    // and then counted as a connect failure.
    if (!s.dynamic_authority) {
      const std::string key = s.url.host + ":" + std::to_string(s.url.port);
      auto it = dns.find(key);
      if (it == dns.end()) {
        it = dns.emplace(key, proto::resolve_tcp(s.url.host, s.url.port)).first;
      }
      s.endpoints = it->second;
    }
    return s;
  }
};

}  // namespace

std::shared_ptr<engine::Protocol> make_protocol() { return std::make_shared<Http1Protocol>(); }

}  // namespace ld::proto::http1
