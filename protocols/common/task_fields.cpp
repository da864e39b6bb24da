#include "common/task_fields.hpp"

#include <algorithm>
#include <charconv>

#include "core/text.hpp"

namespace ld::proto {

void field_error(std::string_view field, const std::string& msg) {
  throw ConfigError("task field '" + std::string(field) + "': " + msg, pointer_key(field));
}

void check_task_fields(const Json& task, const std::vector<action::Param>& fields,
                       std::string_view user) {
  if (!task.is_object()) {
    throw ConfigError("a task must be an object, got " + std::string(json_type_name(task)), "");
  }
  for (auto it = task.begin(); it != task.end(); ++it) {
    const action::Param* declared = nullptr;
    for (const auto& f : fields) {
      if (f.name == it.key()) declared = &f;
    }
    if (!declared) {
      std::vector<std::string> names;
      for (const auto& f : fields) names.push_back(f.name);
      std::string msg = "unknown task field '" + it.key() + "' for " + std::string(user);
      const std::string s = text::closest(it.key(), names);
      if (!s.empty()) msg += " (did you mean '" + s + "'?)";
      throw ConfigError(msg, pointer_key(it.key()));
    }
    if (!action::type_matches(it.value(), declared->types)) {
      field_error(it.key(), "must be " + action::type_mask_name(declared->types) + ", got " +
                                json_type_name(it.value()) + " " + json_brief(it.value(), 60));
    }
  }
}

action::Param field(std::string name, unsigned types, Json default_value, std::string help) {
  return action::Param{std::move(name), types, false, std::move(default_value), std::move(help)};
}

void add_result_fields(std::vector<action::Param>& f, std::string_view name_default,
                       std::string_view reply, bool http) {
  const std::string r(reply);
  const std::string types = http ? "status_code | contains | not_contains | json_path | header"
                                 : "contains | not_contains | json_path";
  const std::string from = http ? "json_path | header | status_code" : "json_path";
  const std::string where = http ? "path | name" : "path";
  f.push_back(
      field("name", action::kString, nullptr,
            "the name results are grouped by (default: " + std::string(name_default) + ")"));
  f.push_back(field("weight", action::kNumber, 1, "relative pick weight in the weighted mode"));
  f.push_back(field("assertions", action::kArray, nullptr,
                    "checks on " + r + ", in order ({type: " + types + ", value, " + where +
                        "}); the first that fails fails the task (kind assertion)"));
  f.push_back(field("extract", action::kArray, nullptr,
                    "per-user variables taken from " + r + " once every assertion passed " +
                        "({var, from: " + from + ", " + where + "}), for ${NAME} in later tasks"));
}

std::vector<action::Param> http_task_fields(bool files) {
  using namespace action;
  std::vector<Param> f = {
      {"method", kString, true, nullptr, "the HTTP method (get, post, put, patch, delete, ...)"},
      field("request_url", kString, nullptr,
            "absolute URL, or a path joined to LD_start_test 'host'; placeholders render per "
            "request"),
      field("url", kString, nullptr, "same as request_url"),
      field("params", kObject | kString, nullptr,
            "query parameters ({name: value or [values]}) or a query string"),
      field("headers", kObject, nullptr, "request headers {name: value}"),
      field("cookies", kObject, nullptr, "cookies {name: value}, sent before the jar's"),
      field("json", kAny, nullptr, "JSON body (Content-Type: application/json)"),
      field("data", kString | kObject, nullptr, "body text, or form fields {name: value}"),
      field("timeout", kNumber | kArray, nullptr, "seconds, or [connect, read]"),
      field("allow_redirects", kBool, true, "follow 3xx redirects"),
      field("follow_redirects", kBool, true, "same as allow_redirects"),
      field("verify", kBool | kString, true, "verify TLS certificates, or a CA bundle path"),
      field("auth", kArray | kObject, nullptr,
            "[user, password], {type: basic|bearer|oauth2|jwt|sigv4|digest, ...} (docs/auth.md)"),
      field("cert", kString | kArray, nullptr, "client certificate: PEM path or [cert, key]"),
  };
  if (files) {
    f.push_back(field("files", kObject, nullptr,
                      "multipart upload {field: file path}, with 'data' as form fields"));
  }
  add_result_fields(f, "the URL", "the response", /*http=*/true);
  return f;
}

void expect_type(const Json& task, std::string_view field, bool ok, std::string_view want) {
  if (ok) return;
  const Json& v = task[std::string(field)];
  field_error(field, "must be " + std::string(want) + ", got " + json_type_name(v) + " " +
                         json_brief(v, 60));
}

std::string method_of(const Json& task, const std::vector<std::string>& methods,
                      std::string_view fallback, std::string_view user) {
  if (!task.contains("method")) return std::string(fallback);
  expect_type(task, "method", task["method"].is_string(), "a string");
  const std::string m = text::lower(task["method"].get<std::string>());
  if (std::find(methods.begin(), methods.end(), m) != methods.end()) return m;
  std::string msg =
      "unknown " + std::string(user) + " method '" + task["method"].get<std::string>() + "'";
  const std::string s = text::closest(m, methods);
  if (!s.empty()) msg += " (did you mean '" + s + "'?)";
  msg += "; use ";
  for (std::size_t i = 0; i < methods.size(); ++i) {
    if (i) msg += i + 1 == methods.size() ? " or " : ", ";
    msg += methods[i];
  }
  field_error("method", msg);
}

bool has_placeholder(std::string_view s) noexcept { return s.find("${") != std::string_view::npos; }

std::string payload_text(const Json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "";
  return v.dump();
}

namespace {
int hex_digit(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
bool is_space(char c) noexcept { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
}  // namespace

bool decode_payload(std::string_view text, std::string& out, bool& binary, std::string& error) {
  out.clear();
  binary = false;
  if (text.substr(0, 4) != "hex:") {
    out.assign(text);
    return true;
  }
  binary = true;
  const std::string_view hex = text.substr(4);
  int high = -1;  // first digit of the byte being read
  for (std::size_t i = 0; i < hex.size(); ++i) {
    const char c = hex[i];
    if (is_space(c)) {
      if (high >= 0) {
        error = "space inside a byte at offset " + std::to_string(i + 4) +
                " (hex:... takes whole bytes, two digits each)";
        return false;
      }
      continue;
    }
    const int d = hex_digit(c);
    if (d < 0) {
      error = "bad hex digit '" + std::string(1, c) + "' at offset " + std::to_string(i + 4) +
              " (hex:... takes pairs of 0-9a-f)";
      return false;
    }
    if (high < 0) {
      high = d;
    } else {
      out.push_back(static_cast<char>(high * 16 + d));
      high = -1;
    }
  }
  if (high >= 0) {
    error = "odd number of hex digits (hex:... takes whole bytes, two digits each)";
    return false;
  }
  return true;
}

void check_payload_field(const Json& task, std::string_view field) {
  const std::string key(field);
  if (!task.contains(key)) return;
  const Json& v = task[key];
  if (v.is_string()) {
    const std::string s = v.get<std::string>();
    if (has_placeholder(s)) return;  // checked again once resolved
    std::string out, error;
    bool binary = false;
    if (!decode_payload(s, out, binary, error)) field_error(field, error);
    return;
  }
  expect_type(task, field, v.is_object() || v.is_array() || v.is_number() || v.is_boolean(),
              "a string (text or \"hex:...\") or a JSON value");
}

std::string compile_payload_field(const Json& task, std::string_view field, bool* binary) {
  const std::string key(field);
  bool is_binary = false;
  std::string out;
  if (task.contains(key)) {
    const Json& v = task[key];
    if (v.is_string()) {
      std::string error;
      if (!decode_payload(v.get<std::string>(), out, is_binary, error)) field_error(field, error);
    } else {
      out = payload_text(v);
    }
  }
  if (binary) *binary = is_binary;
  return out;
}

void append_query(params::Template& t, bool has_query, const Json& p,
                  const params::ParseContext& ctx) {
  if (p.is_string()) {
    const std::string q = p.get<std::string>();
    if (q.empty()) return;
    t.append_literal(has_query ? "&" : "?");
    t.append(params::Template::parse(q, ctx), params::Escape::kNone);
    return;
  }
  for (auto it = p.begin(); it != p.end(); ++it) {
    auto add = [&](const Json& v) {
      std::string key;
      text::url_encode(it.key(), key);
      t.append_literal(has_query ? "&" : "?");
      has_query = true;
      t.append_literal(key + "=");
      t.append(params::Template::parse(json_display(v), ctx), params::Escape::kUrl);
    };
    if (it.value().is_array()) {
      for (const auto& v : it.value()) add(v);
    } else if (!it.value().is_null()) {
      add(it.value());
    }
  }
}

std::size_t line_breaks(std::string_view s) noexcept {
  std::size_t n = 0;
  for (const char c : s) n += c == '\r' || c == '\n' || c == '\0';
  return n;
}

void check_fixed_authority(std::string_view field, std::string_view url) {
  const std::size_t sep = url.find("://");
  const std::size_t start = sep == std::string_view::npos ? 0 : sep + 3;
  const std::size_t end = std::min(url.find_first_of("/?#", start), url.size());
  if (has_placeholder(url.substr(0, end))) {
    field_error(field, "'" + std::string(url) +
                           "': a per-request placeholder can go in the path, query or headers, "
                           "not in the scheme, host or port (the connection target is fixed for "
                           "the run)");
  }
}

PayloadTemplate compile_payload_template(const Json& task, std::string_view field,
                                         const params::ParseContext& ctx) {
  PayloadTemplate p;
  const std::string key(field);
  if (!task.contains(key) || task[key].is_null()) return p;
  const Json& v = task[key];
  p.tpl = v.is_string() ? params::Template::parse(v.get_ref<const std::string&>(), ctx)
                        : params::json_template(v, ctx);
  p.dynamic = !p.tpl.is_static();
  const std::string& text = p.tpl.text();  // static: the text; dynamic: ${...} still verbatim
  p.binary = v.is_string() && text.starts_with("hex:");
  if (!p.dynamic) {
    std::string error;
    bool binary = false;
    if (!v.is_string()) {
      p.bytes = text;
    } else if (!decode_payload(text, p.bytes, binary, error)) {
      field_error(field, error);
    }
    p.tpl = params::Template{};
  }
  return p;
}

std::string_view PayloadTemplate::render(params::UserScope& scope, std::string& text,
                                         std::string& decoded, const char*& error) const {
  error = nullptr;
  if (!dynamic) return bytes;
  text.clear();
  tpl.render(text, scope);
  if (!binary) return text;
  std::string why;  // failure path only
  bool is_binary = false;
  if (!decode_payload(text, decoded, is_binary, why)) {
    error = "payload is not valid hex once its placeholders were rendered";
    return {};
  }
  return decoded;
}

void check_timeout_field(const Json& task) {
  if (!task.contains("timeout")) return;
  const Json& t = task["timeout"];
  expect_type(task, "timeout", t.is_number() && t.get<double>() > 0 && t.get<double>() <= 86400,
              "a positive number of seconds (at most 86400)");
}

double timeout_of(const Json& task, double fallback) {
  return task.contains("timeout") ? task["timeout"].get<double>() : fallback;
}

bool is_http_token(std::string_view s) noexcept {
  if (s.empty()) return false;
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) continue;
    if (std::string_view("!#$%&'*+-.^_`|~").find(ch) == std::string_view::npos) return false;
  }
  return true;
}

bool is_framing_header(std::string_view name) noexcept {
  return text::iequals(name, "content-length") || text::iequals(name, "transfer-encoding");
}

void entry_error(std::string_view field, std::string_view key, const std::string& msg) {
  throw ConfigError("task field '" + std::string(field) + "': '" + std::string(key) + "' " + msg,
                    pointer_key(field) + pointer_key(key));
}

void check_header_value(std::string_view field, std::string_view key, std::string_view value) {
  if (has_line_break_or_nul(value)) {
    entry_error(field, key,
                "has a value with a line break or NUL byte (it would split the request)");
  }
}

namespace {

bool is_scalar(const Json& v) { return v.is_string() || v.is_number() || v.is_boolean(); }

void check_auth(const Json& a) {
  if (a.is_array()) {
    if (a.size() == 2 && a[0].is_string() && a[1].is_string()) return;
    throw ConfigError("task field 'auth': a list must be [username, password]", "/auth");
  }
  if (!a.is_object() || !a.contains("type") || !a["type"].is_string()) {
    throw ConfigError(
        "task field 'auth' must be {\"type\": \"basic\", \"username\", \"password\"} or "
        "{\"type\": \"bearer\", \"token\"}",
        "/auth");
  }
  const std::string type = text::lower(a["type"].get<std::string>());
  if (type == "basic") {
    for (const char* k : {"username", "password"}) {
      if (!a.contains(k) || !a[k].is_string()) {
        throw ConfigError(std::string("basic auth needs a string '") + k + "'",
                          std::string("/auth/") + k);
      }
    }
  } else if (type == "bearer") {
    if (!a.contains("token") || !a["token"].is_string()) {
      throw ConfigError("bearer auth needs a string 'token'", "/auth/token");
    }
  } else if (type != "oauth2" && type != "jwt" && type != "sigv4" && type != "digest") {
    // (the four signing types are checked by the HTTP users with common/auth)
    throw ConfigError("auth type '" + type + "' is not basic, bearer, oauth2, jwt, sigv4 or digest",
                      "/auth/type");
  }
}

}  // namespace

void check_http_request_fields(const Json& task, bool files) {
  if (task.contains("params")) {
    expect_type(task, "params", task["params"].is_object() || task["params"].is_string(),
                "an object or a query string");
  }
  for (const char* f : {"headers", "cookies", "files"}) {
    if (!task.contains(f) || (!files && std::string_view(f) == "files")) continue;
    expect_type(task, f, task[f].is_object(), "an object");
    for (auto it = task[f].begin(); it != task[f].end(); ++it) {
      if (!is_scalar(it.value())) {
        throw ConfigError(std::string("task field '") + f + "': value of '" + it.key() +
                              "' must be a string or number",
                          pointer_key(f) + pointer_key(it.key()));
      }
      if (std::string_view(f) == "files") continue;
      if (!is_http_token(it.key())) {
        entry_error(f, it.key(),
                    std::string("is not a valid ") +
                        (std::string_view(f) == "headers" ? "header" : "cookie") +
                        " name (letters, digits and !#$%&'*+-.^_`|~ only; no spaces, colons or "
                        "line breaks)");
      }
      if (std::string_view(f) == "headers" && is_framing_header(it.key())) {
        entry_error(f, it.key(),
                    "cannot be set: the body decides Content-Length and Transfer-Encoding");
      }
      if (it.value().is_string()) check_header_value(f, it.key(), it.value().get<std::string>());
    }
  }
  for (const char* f : {"request_url", "url"}) {
    if (task.contains(f) && task[f].is_string() &&
        has_line_break_or_nul(task[f].get<std::string>())) {
      field_error(f, "contains a line break or NUL byte (it would split the request line)");
    }
  }
  if (task.contains("json") && task.contains("data")) {
    field_error("data", "give either 'json' or 'data', not both");
  }
  if (task.contains("data")) {
    expect_type(task, "data", task["data"].is_string() || task["data"].is_object(),
                "a string or an object (form fields)");
  }
  if (task.contains("timeout")) {
    const Json& t = task["timeout"];
    const bool ok = t.is_number() || (t.is_array() && t.size() == 2);
    expect_type(task, "timeout", ok, "a positive number of seconds or [connect, read]");
    if (t.is_number()) {
      seconds_in_range(t, "task field 'timeout'", "/timeout");
    } else {
      seconds_in_range(t[0], "task field 'timeout' (connect)", "/timeout/0");
      seconds_in_range(t[1], "task field 'timeout' (read)", "/timeout/1");
    }
  }
  for (const char* f : {"allow_redirects", "follow_redirects"}) {
    if (task.contains(f)) expect_type(task, f, task[f].is_boolean(), "true or false");
  }
  if (task.contains("verify")) {
    expect_type(task, "verify", task["verify"].is_boolean() || task["verify"].is_string(),
                "true, false or a CA bundle path");
  }
  if (task.contains("name")) expect_type(task, "name", task["name"].is_string(), "a string");
  if (task.contains("cert")) {
    const Json& c = task["cert"];
    const bool ok =
        c.is_string() || (c.is_array() && c.size() == 2 && c[0].is_string() && c[1].is_string());
    expect_type(task, "cert", ok, "a PEM path or [cert_path, key_path]");
  }
  if (task.contains("auth")) {
    check_auth(task["auth"]);
    const Json& a = task["auth"];
    if (a.is_object() && a.contains("token") &&
        has_line_break_or_nul(a["token"].get<std::string>())) {
      throw ConfigError("task field 'auth': the token contains a line break or NUL byte",
                        "/auth/token");
    }
  }
}

}  // namespace ld::proto
