// The embedded target's endpoints: an httpbin-compatible subset. Every JSON document has the
// shape httpbin.org returns (keys sorted, two-space indent, trailing newline).
// clang-format off
#include <utility>  // first: Boost 1.74's Asio uses std::exchange without including it
// clang-format on

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstring>
#include <new>
#include <random>
#include <stdexcept>
#include <vector>

#include <zlib.h>

#include "core/json_util.hpp"
#include "target/handlers.hpp"

namespace ld::target {
namespace {

namespace http = boost::beast::http;

constexpr std::string_view kJson = "application/json";
constexpr std::string_view kText = "text/plain; charset=utf-8";
constexpr std::string_view kOctets = "application/octet-stream";
constexpr std::size_t kMaxBytes = 10u * 1024u * 1024u;  // /bytes/{n} cap
constexpr double kMaxDelaySeconds = 10.0;               // /delay/{s} cap

constexpr std::string_view kIndex =
    "loaddensity embedded target (httpbin-compatible subset)\n"
    "\n"
    "  GET /get  POST /post  PUT /put  PATCH /patch  DELETE /delete\n"
    "  ANY /anything[/...]       echo of the request, with \"method\"\n"
    "  ANY /status/{code}        that status code, empty body\n"
    "  ANY /redirect/{n}         302 chain ending at /get\n"
    "  ANY /delay/{seconds}      answers like /get after min(seconds, 10) s\n"
    "  GET /bytes/{n}            n bytes of application/octet-stream (at most 10 MiB)\n"
    "  GET /json                 a sample JSON document\n"
    "  GET /headers /ip /user-agent /uuid /cookies\n"
    "  GET /cookies/set?name=value  /cookies/set/{name}/{value}  /cookies/delete?name\n"
    "                            Set-Cookie, then a 302 to /cookies\n"
    "  GET /gzip  /deflate       the request echo, Content-Encoding gzip / deflate\n"
    "  GET /bearer               401 unless Authorization: Bearer <token>\n"
    "  GET /basic-auth/{user}/{passwd}\n"
    "  GET /sse?rate=&count=     text/event-stream (also lines, retry, event, data, crlf,\n"
    "                            comment, abort; Last-Event-ID resumes the numbering)\n"
    "  GET /ws                   WebSocket echo (text and binary)\n"
    "  TCP and UDP echo listeners on their own ports\n";

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

bool istarts_with(std::string_view s, std::string_view prefix) noexcept {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decoding; '+' becomes a space when `plus_is_space` (query strings and forms).
// Malformed escapes are kept literally, as Python's unquote does.
std::string url_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '%' && i + 2 < s.size()) {
      const int hi = hex_value(s[i + 1]);
      const int lo = hex_value(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(plus_is_space && c == '+' ? ' ' : c);
  }
  return out;
}

// "a=1&b=2&b=3" -> {"a": "1", "b": ["2", "3"]} (httpbin's MultiDict flattening).
Json parse_urlencoded(std::string_view s) {
  Json out = Json::object();
  while (!s.empty()) {
    const std::size_t amp = s.find('&');
    const std::string_view pair = s.substr(0, amp);
    s = amp == std::string_view::npos ? std::string_view{} : s.substr(amp + 1);
    if (pair.empty()) continue;
    const std::size_t eq = pair.find('=');
    std::string key = url_decode(pair.substr(0, eq), true);
    std::string value =
        eq == std::string_view::npos ? std::string{} : url_decode(pair.substr(eq + 1), true);
    auto it = out.find(key);
    if (it == out.end()) {
      out.emplace(std::move(key), std::move(value));
    } else if (it->is_array()) {
      it->push_back(std::move(value));
    } else {
      Json both = Json::array({std::move(*it), std::move(value)});
      *it = std::move(both);
    }
  }
  return out;
}

// Python's str.title(), which werkzeug applies to header names: "user-agent" -> "User-Agent".
std::string title_case(std::string_view name) {
  std::string out(name);
  bool prev_cased = false;
  for (char& c : out) {
    const bool lower = c >= 'a' && c <= 'z';
    const bool upper = c >= 'A' && c <= 'Z';
    if (lower && !prev_cased) c = static_cast<char>(c - 'a' + 'A');
    if (upper && prev_cased) c = static_cast<char>(c - 'A' + 'a');
    prev_cased = lower || upper;
  }
  return out;
}

Json headers_json(const Request& req) {
  Json out = Json::object();
  for (const auto& field : req) {
    std::string name = title_case(field.name_string());
    auto it = out.find(name);
    if (it == out.end()) {
      out.emplace(std::move(name), std::string(field.value()));
    } else {
      it->get_ref<std::string&>().append(",").append(field.value());
    }
  }
  return out;
}

std::string_view header(const Request& req, http::field name) {
  auto it = req.find(name);
  return it == req.end() ? std::string_view{} : std::string_view(it->value());
}

std::string_view header(const Request& req, std::string_view name) {
  auto it = req.find(name);
  return it == req.end() ? std::string_view{} : std::string_view(it->value());
}

// The request target split into path and query; absolute-form targets lose scheme and host.
struct Target {
  std::string_view path;
  std::string_view query;  // without '?'; empty if none
};

Target split_target(std::string_view target) {
  if (istarts_with(target, "http://") || istarts_with(target, "https://")) {
    const std::size_t authority = target.find("//") + 2;
    const std::size_t slash = target.find_first_of("/?", authority);
    target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
  }
  Target t;
  const std::size_t q = target.find('?');
  t.path = target.substr(0, q);
  if (q != std::string_view::npos) t.query = target.substr(q + 1);
  if (t.path.empty()) t.path = "/";
  return t;
}

std::string request_url(const Request& req, const ServerInfo& info, const Target& t) {
  const std::string_view target = req.target();
  if (istarts_with(target, "http://") || istarts_with(target, "https://")) {
    return std::string(target);
  }
  std::string_view host = header(req, http::field::host);
  if (host.empty()) host = info.host_port;
  std::string url;
  url.reserve(7 + host.size() + target.size());
  url.append("http://").append(host).append(t.path);
  if (!t.query.empty()) url.append("?").append(t.query);
  return url;
}

void set_json(const Json& doc, Reply& reply) {
  reply.content_type = kJson;
  reply.body = doc.dump(2, ' ', false, Json::error_handler_t::replace);
  reply.body.push_back('\n');
}

void add_header(Reply& reply, std::string_view name, std::string_view value) {
  reply.extra_headers.append(name).append(": ").append(value).append("\r\n");
}

// The /get document: args, headers, origin, url.
Json echo_document(const Request& req, const ServerInfo& info, const Target& t) {
  Json doc = Json::object();
  doc["args"] = parse_urlencoded(t.query);
  doc["headers"] = headers_json(req);
  doc["origin"] = info.origin;
  doc["url"] = request_url(req, info, t);
  return doc;
}

// Adds what httpbin reports for a request body: data, files, form, json.
void add_body_fields(const Request& req, Json& doc) {
  const std::string& body = req.body();
  const bool is_form =
      istarts_with(header(req, http::field::content_type), "application/x-www-form-urlencoded");
  doc["files"] = Json::object();
  if (is_form) {
    doc["data"] = "";
    doc["form"] = parse_urlencoded(body);
    doc["json"] = nullptr;
    return;
  }
  doc["data"] = body;
  doc["form"] = Json::object();
  Json parsed = body.empty() ? Json() : Json::parse(body, nullptr, false);
  doc["json"] = parsed.is_discarded() ? Json() : std::move(parsed);
}

void method_not_allowed(std::string_view allow, Reply& reply) {
  error_reply(405, "method not allowed", reply);
  add_header(reply, "Allow", allow);
}

template <typename T>
bool parse_number(std::string_view s, T& out) {
  if (s.empty()) return false;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && end == s.data() + s.size();
}

// True if `path` is `prefix` followed by at least one character; `rest` gets that remainder.
bool strip_prefix(std::string_view path, std::string_view prefix, std::string_view& rest) {
  if (path.size() <= prefix.size() || path.substr(0, prefix.size()) != prefix) return false;
  rest = path.substr(prefix.size());
  return true;
}

void handle_status(std::string_view code_text, Reply& reply) {
  unsigned code = 0;
  if (!parse_number(code_text, code) || code < 100 || code > 599) {
    error_reply(400, "invalid status code", reply);
    return;
  }
  reply.status = code;
  if (code == 301 || code == 302 || code == 303 || code == 307 || code == 308) {
    add_header(reply, "Location", "/get");
  }
  // A 1xx is not a final response: the peer will wait for another one, so end the exchange.
  if (code < 200) reply.close = true;
}

void handle_redirect(std::string_view n_text, Reply& reply) {
  unsigned long n = 0;
  if (!parse_number(n_text, n) || n < 1) {
    error_reply(400, "invalid redirect count", reply);
    return;
  }
  reply.status = 302;
  if (n == 1) {
    add_header(reply, "Location", "/get");
  } else {
    add_header(reply, "Location", "/redirect/" + std::to_string(n - 1));
  }
}

std::uint64_t splitmix64(std::uint64_t& state) noexcept {
  std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

void handle_bytes(std::string_view n_text, Reply& reply) {
  std::size_t n = 0;
  if (!parse_number(n_text, n)) {
    error_reply(400, "invalid byte count", reply);
    return;
  }
  n = std::min(n, kMaxBytes);
  reply.content_type = kOctets;
  reply.body.resize(n);
  // Deterministic pseudo-random fill (same n, same bytes): cheap and reproducible.
  std::uint64_t state = n;
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const std::uint64_t v = splitmix64(state);
    std::memcpy(reply.body.data() + i, &v, 8);
  }
  if (i < n) {
    const std::uint64_t v = splitmix64(state);
    std::memcpy(reply.body.data() + i, &v, n - i);
  }
}

const std::string& slideshow_body() {
  static const std::string body = [] {
    const Json doc = Json::parse(R"({
      "slideshow": {
        "author": "Yours Truly",
        "date": "date of publication",
        "slides": [
          {"title": "Wake up to WonderWidgets!", "type": "all"},
          {"items": ["Why <em>WonderWidgets</em> are great", "Who <em>buys</em> WonderWidgets"],
           "title": "Overview", "type": "all"}
        ],
        "title": "Sample Slide Show"
      }
    })");
    return doc.dump(2) + "\n";
  }();
  return body;
}

std::mt19937_64& rng() {
  thread_local std::mt19937_64 engine{std::random_device{}()};
  return engine;
}

std::string uuid4() {
  std::array<unsigned char, 16> b{};
  const std::uint64_t hi = rng()();
  const std::uint64_t lo = rng()();
  std::memcpy(b.data(), &hi, 8);
  std::memcpy(b.data() + 8, &lo, 8);
  b[6] = static_cast<unsigned char>((b[6] & 0x0F) | 0x40);  // version 4
  b[8] = static_cast<unsigned char>((b[8] & 0x3F) | 0x80);  // RFC 4122 variant
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (std::size_t i = 0; i < b.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(kHex[b[i] >> 4]);
    out.push_back(kHex[b[i] & 0x0F]);
  }
  return out;
}

// Standard base64 (padding optional); false on any invalid character.
bool base64_decode(std::string_view in, std::string& out) {
  out.clear();
  std::uint32_t acc = 0;
  int bits = 0;
  for (const char c : in) {
    int v;
    if (c >= 'A' && c <= 'Z')
      v = c - 'A';
    else if (c >= 'a' && c <= 'z')
      v = c - 'a' + 26;
    else if (c >= '0' && c <= '9')
      v = c - '0' + 52;
    else if (c == '+')
      v = 62;
    else if (c == '/')
      v = 63;
    else if (c == '=')
      break;
    else
      return false;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

void handle_bearer(const Request& req, Reply& reply) {
  const std::string_view auth = header(req, http::field::authorization);
  constexpr std::string_view kScheme = "Bearer ";
  if (auth.size() <= kScheme.size() || auth.substr(0, kScheme.size()) != kScheme) {
    reply.status = 401;
    add_header(reply, "WWW-Authenticate", "Bearer");
    return;
  }
  set_json({{"authenticated", true}, {"token", auth.substr(kScheme.size())}}, reply);
}

void handle_basic_auth(const Request& req, std::string_view rest, Reply& reply) {
  const std::size_t slash = rest.find('/');
  if (slash == std::string_view::npos || rest.find('/', slash + 1) != std::string_view::npos) {
    error_reply(404, "not found", reply);
    return;
  }
  const std::string user = url_decode(rest.substr(0, slash), false);
  const std::string passwd = url_decode(rest.substr(slash + 1), false);
  const std::string_view auth = header(req, http::field::authorization);
  std::string decoded;
  const bool ok = istarts_with(auth, "Basic ") && base64_decode(trim(auth.substr(6)), decoded) &&
                  decoded == user + ":" + passwd;
  if (!ok) {
    reply.status = 401;
    add_header(reply, "WWW-Authenticate", "Basic realm=\"Fake Realm\"");
    return;
  }
  set_json({{"authenticated", true}, {"user", user}}, reply);
}

void handle_cookies(const Request& req, Reply& reply) {
  Json cookies = Json::object();
  std::string_view s = header(req, http::field::cookie);
  while (!s.empty()) {
    const std::size_t semi = s.find(';');
    const std::string_view pair = trim(s.substr(0, semi));
    s = semi == std::string_view::npos ? std::string_view{} : s.substr(semi + 1);
    if (pair.empty()) continue;
    const std::size_t eq = pair.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view value = trim(pair.substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
      value = value.substr(1, value.size() - 2);
    }
    cookies[std::string(trim(pair.substr(0, eq)))] = value;
  }
  set_json({{"cookies", std::move(cookies)}}, reply);
}

// /sse?rate=10&count=0&lines=1&retry=&event=&data=event&crlf=0&comment=0&abort=0
void handle_sse(const Request& req, const Target& t, Reply& reply) {
  SseSpec spec;
  spec.active = true;
  const Json args = parse_urlencoded(t.query);
  auto text_arg = [&](const char* name) -> std::string {
    if (!args.contains(name)) return {};
    const Json& v = args[name];
    return v.is_array() ? v.back().get<std::string>() : v.get<std::string>();
  };
  auto bad = [&](const char* what) { error_reply(400, what, reply); };
  if (const std::string v = text_arg("rate"); !v.empty()) {
    if (!parse_number(v, spec.rate) || !(spec.rate > 0) || spec.rate > 100000) {
      return bad("rate must be a number of events per second in (0, 100000]");
    }
  }
  if (const std::string v = text_arg("count"); !v.empty() && !parse_number(v, spec.count)) {
    return bad("count must be a whole number");
  }
  if (const std::string v = text_arg("lines"); !v.empty()) {
    if (!parse_number(v, spec.lines) || spec.lines < 1 || spec.lines > 1000) {
      return bad("lines must be 1 to 1000");
    }
  }
  if (const std::string v = text_arg("retry"); !v.empty()) {
    if (!parse_number(v, spec.retry_ms) || spec.retry_ms < 0) return bad("retry must be ms >= 0");
  }
  spec.event = text_arg("event");
  if (args.contains("data")) spec.data = text_arg("data");
  for (const std::string& s : {spec.event, spec.data}) {
    if (s.find_first_of("\r\n") != std::string::npos) return bad("event and data are one line");
  }
  spec.crlf = text_arg("crlf") == "1";
  spec.comment = text_arg("comment") == "1";
  spec.abort = text_arg("abort") == "1";
  std::uint64_t last = 0;
  if (const std::string_view id = header(req, "Last-Event-ID"); parse_number(id, last)) {
    spec.first_id = last + 1;
  }
  reply.sse = spec;
}

// Whether a cookie name or value can go into a Set-Cookie line as it is.
bool cookie_text_ok(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n;,\0", 5)) == std::string_view::npos;
}

// Sets (or, with `remove`, expires) cookies and redirects to /cookies, as httpbin does.
void handle_cookies_set(const std::vector<std::pair<std::string, std::string>>& pairs, bool remove,
                        Reply& reply) {
  for (const auto& [name, value] : pairs) {
    if (name.empty() || name.find('=') != std::string::npos || !cookie_text_ok(name) ||
        !cookie_text_ok(value)) {
      continue;
    }
    add_header(reply, "Set-Cookie",
               remove ? name + "=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/"
                      : name + "=" + value + "; Path=/");
  }
  reply.status = 302;
  add_header(reply, "Location", "/cookies");
}

std::vector<std::pair<std::string, std::string>> query_pairs(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> out;
  const Json args = parse_urlencoded(query);
  for (auto it = args.begin(); it != args.end(); ++it) {
    const Json& v = it.value();
    out.emplace_back(it.key(), v.is_array() ? v.back().get<std::string>() : v.get<std::string>());
  }
  return out;
}

// The body compressed with zlib: gzip wrapper (/gzip) or zlib wrapper (/deflate, as httpbin).
std::string compress_body(std::string_view in, bool gzip) {
  z_stream zs{};
  if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, gzip ? 16 + MAX_WBITS : MAX_WBITS, 8,
                   Z_DEFAULT_STRATEGY) != Z_OK) {
    throw std::bad_alloc();
  }
  std::string out(deflateBound(&zs, static_cast<uLong>(in.size())), '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  const int r = deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  if (r != Z_STREAM_END) throw std::runtime_error("deflate failed");
  return out;
}

// Accepts GET and HEAD only; on anything else fills a 405 and returns false.
bool allow_get(const Request& req, Reply& reply) {
  if (req.method() == http::verb::get || req.method() == http::verb::head) return true;
  method_not_allowed("GET, HEAD", reply);
  return false;
}

void route_or_throw(const Request& req, const ServerInfo& info, Reply& reply) {
  const Target t = split_target(req.target());
  const std::string_view path = t.path;
  const http::verb method = req.method();
  std::string_view rest;

  if (path == "/get") {
    if (allow_get(req, reply)) set_json(echo_document(req, info, t), reply);
    return;
  }
  struct BodyRoute {
    std::string_view path;
    http::verb verb;
    std::string_view allow;
  };
  static constexpr std::array<BodyRoute, 4> kBodyRoutes{{
      {"/post", http::verb::post, "POST"},
      {"/put", http::verb::put, "PUT"},
      {"/patch", http::verb::patch, "PATCH"},
      {"/delete", http::verb::delete_, "DELETE"},
  }};
  for (const BodyRoute& r : kBodyRoutes) {
    if (path != r.path) continue;
    if (method != r.verb) {
      method_not_allowed(r.allow, reply);
      return;
    }
    Json doc = echo_document(req, info, t);
    add_body_fields(req, doc);
    set_json(doc, reply);
    return;
  }
  if (path == "/anything" || strip_prefix(path, "/anything/", rest)) {
    Json doc = echo_document(req, info, t);
    add_body_fields(req, doc);
    doc["method"] = req.method_string();
    set_json(doc, reply);
    return;
  }
  if (strip_prefix(path, "/status/", rest)) return handle_status(rest, reply);
  if (strip_prefix(path, "/redirect/", rest)) return handle_redirect(rest, reply);
  if (strip_prefix(path, "/delay/", rest)) {
    double seconds = 0;
    if (!parse_number(rest, seconds) || !std::isfinite(seconds)) {
      error_reply(400, "invalid delay", reply);
      return;
    }
    seconds = std::clamp(seconds, 0.0, kMaxDelaySeconds);
    Json doc = echo_document(req, info, t);
    add_body_fields(req, doc);
    set_json(doc, reply);
    reply.delay = std::chrono::nanoseconds(static_cast<std::int64_t>(seconds * 1e9));
    return;
  }
  if (strip_prefix(path, "/bytes/", rest)) {
    if (allow_get(req, reply)) handle_bytes(rest, reply);
    return;
  }
  if (path == "/json") {
    if (allow_get(req, reply)) {
      reply.content_type = kJson;
      reply.body = slideshow_body();
    }
    return;
  }
  if (path == "/headers") {
    if (allow_get(req, reply)) set_json({{"headers", headers_json(req)}}, reply);
    return;
  }
  if (path == "/ip") {
    if (allow_get(req, reply)) set_json({{"origin", info.origin}}, reply);
    return;
  }
  if (path == "/user-agent") {
    if (allow_get(req, reply)) {
      set_json({{"user-agent", header(req, http::field::user_agent)}}, reply);
    }
    return;
  }
  if (path == "/uuid") {
    if (allow_get(req, reply)) set_json({{"uuid", uuid4()}}, reply);
    return;
  }
  if (path == "/cookies") {
    if (allow_get(req, reply)) handle_cookies(req, reply);
    return;
  }
  if (path == "/cookies/set" || path == "/cookies/delete") {
    if (!allow_get(req, reply)) return;
    auto pairs = query_pairs(t.query);
    if (path == "/cookies/delete") {
      // httpbin deletes the names given (?a&b or ?a=&b=).
      for (auto& p : pairs) p.second.clear();
    }
    handle_cookies_set(pairs, path == "/cookies/delete", reply);
    return;
  }
  if (strip_prefix(path, "/cookies/set/", rest)) {
    if (!allow_get(req, reply)) return;
    const std::size_t slash = rest.find('/');
    if (slash == std::string_view::npos) {
      error_reply(404, "use /cookies/set/{name}/{value}", reply);
      return;
    }
    handle_cookies_set(
        {{url_decode(rest.substr(0, slash), false), url_decode(rest.substr(slash + 1), false)}},
        false, reply);
    return;
  }
  if (path == "/gzip" || path == "/deflate") {
    if (!allow_get(req, reply)) return;
    const bool gzip = path == "/gzip";
    Json doc = Json::object();
    doc[gzip ? "gzipped" : "deflated"] = true;
    doc["headers"] = headers_json(req);
    doc["method"] = req.method_string();
    doc["origin"] = info.origin;
    set_json(doc, reply);
    reply.body = compress_body(reply.body, gzip);
    add_header(reply, "Content-Encoding", gzip ? "gzip" : "deflate");
    return;
  }
  if (path == "/bearer") {
    if (allow_get(req, reply)) handle_bearer(req, reply);
    return;
  }
  if (strip_prefix(path, "/basic-auth/", rest)) {
    if (allow_get(req, reply)) handle_basic_auth(req, rest, reply);
    return;
  }
  if (path == "/sse") {
    if (allow_get(req, reply)) handle_sse(req, t, reply);
    return;
  }
  if (path == "/") {
    reply.content_type = kText;
    reply.body = kIndex;
    return;
  }
  set_json({{"error", "not found"}, {"path", path}}, reply);
  reply.status = 404;
}

}  // namespace

void error_reply(unsigned status, std::string_view message, Reply& reply) noexcept {
  reply.status = status;
  reply.content_type = kJson;
  try {
    reply.body.clear();
    set_json({{"error", message}}, reply);
  } catch (...) {
    reply.body.clear();
  }
}

void route(const Request& request, const ServerInfo& info, Reply& reply) noexcept {
  try {
    route_or_throw(request, info, reply);
  } catch (...) {
    reply.clear();
    error_reply(500, "internal error", reply);
  }
}

void add_request_field(Request& request, std::string_view name, std::string_view value) {
  if (name == ":method") {
    request.method_string(value);
  } else if (name == ":path") {
    request.target(value);
  } else if (name == ":authority") {
    request.set(http::field::host, value);
  } else if (!name.empty() && name.front() != ':') {
    request.insert(name, value);
  }
}

void response_fields(const Reply& reply, bool with_body, std::vector<std::string>& fields) {
  fields.clear();
  auto add = [&](std::string name, std::string value) {
    fields.push_back(std::move(name));
    fields.push_back(std::move(value));
  };
  add(":status", std::to_string(reply.status));
  add("server", "loaddensity-target");
  if (with_body) {
    if (!reply.content_type.empty()) add("content-type", std::string(reply.content_type));
    add("content-length", std::to_string(reply.body.size()));
  }
  // Preformatted "Name: value\r\n" lines; connection-specific fields do not exist in HTTP/2 or 3.
  std::string_view rest = reply.extra_headers;
  while (!rest.empty()) {
    const std::size_t eol = rest.find("\r\n");
    const std::string_view line = rest.substr(0, eol);
    rest = eol == std::string_view::npos ? std::string_view() : rest.substr(eol + 2);
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string name(line.substr(0, colon));
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    if (name == "connection" || name == "keep-alive" || name == "transfer-encoding" ||
        name == "upgrade") {
      continue;
    }
    add(std::move(name), std::string(value));
  }
}

}  // namespace ld::target
