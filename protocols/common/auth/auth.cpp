#include "common/auth/auth.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/write.hpp>
#include <openssl/evp.h>

#include <atomic>
#include <charconv>
#include <chrono>
#include <ctime>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

#include "common/auth/crypto.hpp"
#include "common/auth/digest.hpp"
#include "common/auth/jwt.hpp"
#include "common/auth/sigv4.hpp"
#include "common/connect.hpp"
#include "common/net_util.hpp"
#include "common/url.hpp"
#include "core/text.hpp"
#include "loaddensity/core/clock.hpp"
#include "loaddensity/core/error.hpp"

namespace ld::proto::auth {

namespace {

using stats::ErrorInfo;
using stats::ErrorKind;
using tcp = net::ip::tcp;

constexpr const char* kTypes[] = {"oauth2", "jwt", "sigv4", "digest"};

[[noreturn]] void bad(const std::string& field, const std::string& msg) {
  throw ConfigError("auth: " + msg, "/auth" + (field.empty() ? "" : "/" + field));
}

std::string type_of(const Json& a) { return text::lower(a["type"].get<std::string>()); }

void expect_string(const Json& a, const char* k, bool required) {
  if (!a.contains(k)) {
    if (required) bad(k, std::string("'") + k + "' is required for " + type_of(a) + " auth");
    return;
  }
  if (!a[k].is_string()) bad(k, std::string("'") + k + "' must be a string");
}

void expect_number(const Json& a, const char* k, bool positive) {
  if (!a.contains(k)) return;
  if (!a[k].is_number() || (positive && a[k].get<double>() <= 0)) {
    bad(k, std::string("'") + k + "' must be a " + (positive ? "positive " : "") + "number");
  }
}

void only_fields(const Json& a, std::initializer_list<const char*> allowed) {
  std::vector<std::string> names;
  for (const char* n : allowed) names.emplace_back(n);
  names.emplace_back("type");
  for (auto it = a.begin(); it != a.end(); ++it) {
    if (std::find(names.begin(), names.end(), it.key()) != names.end()) continue;
    std::string msg = "unknown field '" + it.key() + "' for " + type_of(a) + " auth";
    const std::string s = text::closest(it.key(), names);
    if (!s.empty()) msg += " (did you mean '" + s + "'?)";
    bad(it.key(), msg);
  }
}

std::string read_text_file(const std::string& field, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) bad(field, "cannot read file '" + path + "'");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string jwt_key_text(const Json& a) {
  if (a.contains("secret")) return a["secret"].get<std::string>();
  if (a.contains("key")) return a["key"].get<std::string>();
  return read_text_file("key_file", a["key_file"].get<std::string>());
}

// ---------------------------------------------------------------------------------------------
// A token request: one HTTP/1.1 POST on its own connection (Connection: close), read to EOF.

struct Exchange {
  ErrorInfo error;
  int status = 0;
  std::uint64_t bytes_out = 0, bytes_in = 0;
  std::string response;  // the whole response
  std::string_view body;
};

struct Endpoint {
  Url url;
  std::vector<tcp::endpoint> endpoints;
  std::shared_ptr<net::ssl::context> ssl;
};

bool decode_chunked(std::string_view in, std::string& out) {
  std::size_t i = 0;
  for (;;) {
    const std::size_t eol = in.find("\r\n", i);
    if (eol == std::string_view::npos) return false;
    std::size_t n = 0;
    const auto r = std::from_chars(in.data() + i, in.data() + eol, n, 16);
    if (r.ec != std::errc{}) return false;
    i = eol + 2;
    if (n == 0) return true;
    if (i + n > in.size()) return false;
    out.append(in.substr(i, n));
    i += n + 2;
  }
}

// Parses the status and body of `x.response`; false when it is not an HTTP response.
bool parse_response(Exchange& x, std::string& dechunked) {
  const std::string& r = x.response;
  if (r.compare(0, 5, "HTTP/") != 0) return false;
  const std::size_t sp = r.find(' ');
  if (sp == std::string::npos || sp + 4 > r.size()) return false;
  std::from_chars(r.data() + sp + 1, r.data() + sp + 4, x.status);
  const std::size_t end = r.find("\r\n\r\n");
  if (end == std::string::npos) return false;
  std::string_view headers(r.data(), end);
  x.body = std::string_view(r).substr(end + 4);
  std::string lower = text::lower(headers);
  if (lower.find("transfer-encoding: chunked") != std::string::npos) {
    dechunked.clear();
    if (!decode_chunked(x.body, dechunked)) return false;
    x.body = dechunked;
  } else if (const std::size_t cl = lower.find("\r\ncontent-length:"); cl != std::string::npos) {
    std::size_t n = 0;
    std::size_t p = cl + 17;
    while (p < lower.size() && lower[p] == ' ') ++p;
    std::from_chars(lower.data() + p, lower.data() + lower.size(), n);
    if (n < x.body.size()) x.body = x.body.substr(0, n);
  }
  return true;
}

template <class Stream>
net::awaitable<void> write_read(Stream& s, std::string_view request, Exchange& x,
                                const bool& expired) {
  boost::system::error_code ec;
  co_await net::async_write(s, net::buffer(request.data(), request.size()),
                            net::redirect_error(net::use_awaitable, ec));
  if (ec) {
    x.error = expired ? ErrorInfo{ErrorKind::kTimeout, "token request timed out", 0, false}
                      : classify_error(ec, "I/O error");
    co_return;
  }
  x.bytes_out = request.size();
  char buf[8192];
  for (;;) {
    const std::size_t n =
        co_await s.async_read_some(net::buffer(buf), net::redirect_error(net::use_awaitable, ec));
    x.response.append(buf, n);
    x.bytes_in += n;
    if (ec || x.response.size() > (1u << 20)) break;
  }
  if (ec && ec != net::error::eof && ec != net::ssl::error::stream_truncated) {
    x.error = expired ? ErrorInfo{ErrorKind::kTimeout, "token request timed out", 0, false}
                      : classify_error(ec, "I/O error");
  }
}

// Sends `request` to `ep` and reads the answer, within `timeout`.
net::awaitable<void> exchange(net::io_context& io, const Endpoint& ep, std::string_view request,
                              Nanos timeout, Exchange& x) {
  struct Guard {
    tcp::socket sock;
    bool expired = false;
    explicit Guard(net::io_context& io) : sock(io) {}
  };
  auto g = std::make_shared<Guard>(io);
  net::steady_timer timer(io);
  timer.expires_after(std::chrono::nanoseconds(timeout));
  timer.async_wait([g](const boost::system::error_code& ec) {
    if (ec) return;
    g->expired = true;
    boost::system::error_code ignored;
    g->sock.close(ignored);
  });
  boost::system::error_code ec;
  std::vector<tcp::endpoint> eps = ep.endpoints;
  if (eps.empty()) eps = resolve_tcp(ep.url.host, ep.url.port);
  if (eps.empty()) {
    x.error = {ErrorKind::kConnect, "DNS lookup failed", 0, false};
    timer.cancel();
    co_return;
  }
  co_await net::async_connect(g->sock, eps, net::redirect_error(net::use_awaitable, ec));
  if (ec) {
    x.error = g->expired ? ErrorInfo{ErrorKind::kTimeout, "token request timed out", 0, false}
                         : classify_error(ec, "connect");
    timer.cancel();
    co_return;
  }
  if (ep.url.tls) {
    net::ssl::stream<tcp::socket&> tls(g->sock, *ep.ssl);
    prepare_tls_client(tls.native_handle(), ep.url.host);
    co_await tls.async_handshake(net::ssl::stream_base::client,
                                 net::redirect_error(net::use_awaitable, ec));
    if (ec) {
      x.error = g->expired ? ErrorInfo{ErrorKind::kTimeout, "token request timed out", 0, false}
                           : ErrorInfo{ErrorKind::kTls, "TLS handshake", 0, false};
    } else {
      co_await write_read(tls, request, x, g->expired);
    }
  } else {
    co_await write_read(g->sock, request, x, g->expired);
  }
  timer.cancel();
  boost::system::error_code ignored;
  g->sock.close(ignored);
}

void form_field(std::string& body, std::string_view name, std::string_view value) {
  if (!body.empty()) body += '&';
  text::url_encode(name, body);
  body += '=';
  text::url_encode(value, body);
}

std::string token_request(const Url& url, std::string_view body, std::string_view basic) {
  std::string r = "POST " + url.target + " HTTP/1.1\r\nHost: " + url.host_header +
                  "\r\nContent-Type: application/x-www-form-urlencoded\r\nAccept: "
                  "application/json\r\nUser-Agent: loaddensity/" LD_HTTP_VERSION
                  "\r\nConnection: close\r\n";
  if (!basic.empty()) {
    r += "Authorization: Basic ";
    text::append_base64(r, basic);
    r += "\r\n";
  }
  r += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  r += body;
  return r;
}

// What a token response gave.
struct Token {
  std::string value;    // the header value: "Bearer <access_token>"
  std::string refresh;  // refresh_token, when given
  double expires_in = 0;  // 0: not given (kept for the run)
};

// Reads the token from an exchange's JSON body; null or why not (static text).
const char* read_token(const Exchange& x, std::string_view prefix, Token& t) {
  Json j = Json::parse(x.body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return "token response is not a JSON object";
  if (!j.contains("access_token") || !j["access_token"].is_string()) {
    return "token response has no access_token";
  }
  const std::string& v = j["access_token"].get_ref<const std::string&>();
  for (unsigned char c : v) {
    if (c < 0x21 || c > 0x7e) return "token response has an access_token unfit for a header";
  }
  t.value.assign(prefix);
  t.value += v;
  t.refresh.clear();
  if (j.contains("refresh_token") && j["refresh_token"].is_string()) {
    t.refresh = j["refresh_token"].get<std::string>();
  }
  t.expires_in = 0;
  if (j.contains("expires_in")) {
    const Json& e = j["expires_in"];
    if (e.is_number()) t.expires_in = e.get<double>();
    if (e.is_string()) t.expires_in = std::atof(e.get<std::string>().c_str());
  }
  return nullptr;
}

}  // namespace

// ---------------------------------------------------------------------------------------------

struct OAuth2Config {
  Endpoint endpoint;
  std::string grant;  // client_credentials | password | refresh_token
  params::Template client_id, client_secret, username, password, refresh_token, scope, audience;
  bool in_body = false;
  bool per_user = false;
  std::string prefix = "Bearer ";
  Nanos timeout = 5 * kNanosPerSecond;
  Nanos refresh_before = 30 * kNanosPerSecond;
  std::uint32_t name_id = 0;
};

// The run's token (oauth2 without per_user), shared by every worker.
struct SharedToken {
  std::mutex m;                              // taken when the token changes or a user copies it
  std::atomic<std::uint64_t> generation{0};  // bumped with every change
  std::atomic<bool> fetching{false};
  Token token;                 // under m
  Nanos refresh_at = 0, expires_at = 0;
  ErrorInfo failure;           // the last fetch's failure (kind none after a success)
  Nanos retry_at = 0;
};

struct JwtConfig {
  std::unique_ptr<JwtKey> key;
  std::string header_b64;  // base64url of the JOSE header
  params::Template claims;   // the claims object as JSON text
  double lifetime = 0;       // > 0: iat, nbf, exp
  std::string prefix;        // "Bearer " for Authorization
};

struct SchemeState {
  Type type = Type::kJwt;
  std::vector<std::string> header_names;
  OAuth2Config oauth2;
  mutable SharedToken shared;
  JwtConfig jwt;
  std::unique_ptr<SigV4> sigv4;
  params::Template user, pass;  // digest
};

Scheme::~Scheme() = default;
Type Scheme::type() const noexcept { return state->type; }
const std::vector<std::string>& Scheme::header_names() const noexcept {
  return state->header_names;
}

bool is_scheme(const Json& a) {
  if (!a.is_object() || !a.contains("type") || !a["type"].is_string()) return false;
  const std::string t = type_of(a);
  for (const char* k : kTypes) {
    if (t == k) return true;
  }
  return false;
}

void validate(const Json& a, bool /*http2*/) {
  const std::string t = type_of(a);
  if (t == "oauth2") {
    only_fields(a, {"token_url", "grant", "client_id", "client_secret", "username", "password",
                    "refresh_token", "scope", "audience", "credentials", "per_user", "name",
                    "timeout", "refresh_before", "verify", "token_prefix"});
    expect_string(a, "token_url", true);
    for (const char* k : {"grant", "client_id", "client_secret", "username", "password",
                          "refresh_token", "scope", "audience", "credentials", "name",
                          "token_prefix"}) {
      expect_string(a, k, false);
    }
    expect_number(a, "timeout", true);
    expect_number(a, "refresh_before", false);
    if (a.contains("per_user") && !a["per_user"].is_boolean()) {
      bad("per_user", "'per_user' must be true or false");
    }
    if (a.contains("verify") && !a["verify"].is_boolean() && !a["verify"].is_string()) {
      bad("verify", "'verify' must be true, false or a CA bundle path");
    }
    Url u;
    std::string error;
    const std::string url = a["token_url"].get<std::string>();
    if (!parse_url(url, u, error)) bad("token_url", "'" + url + "': " + error);
    const std::string grant = a.value("grant", std::string("client_credentials"));
    if (grant == "client_credentials") {
      expect_string(a, "client_id", true);
    } else if (grant == "password") {
      expect_string(a, "username", true);
      expect_string(a, "password", true);
    } else if (grant == "refresh_token") {
      expect_string(a, "refresh_token", true);
    } else {
      bad("grant", "grant '" + grant + "' is not client_credentials, password or refresh_token");
    }
    const std::string cred = a.value("credentials", std::string("basic"));
    if (cred != "basic" && cred != "body") {
      bad("credentials", "'credentials' must be \"basic\" (an Authorization header) or \"body\"");
    }
  } else if (t == "jwt") {
    only_fields(a, {"algorithm", "secret", "key", "key_file", "claims", "headers", "lifetime",
                    "header", "prefix"});
    for (const char* k : {"algorithm", "secret", "key", "key_file", "header", "prefix"}) {
      expect_string(a, k, false);
    }
    JwtAlg alg = JwtAlg::kHS256;
    const std::string name = a.value("algorithm", std::string("HS256"));
    if (!parse_jwt_alg(name, alg)) {
      bad("algorithm", "unsupported JWT algorithm '" + name + "' (use " + kJwtAlgs + ")");
    }
    const int keys = a.contains("secret") + a.contains("key") + a.contains("key_file");
    if (keys != 1) {
      bad("", std::string("jwt auth needs exactly one of 'secret' (HS*), 'key' (PEM text) or "
                          "'key_file' (a PEM file)"));
    }
    const bool hmac = name[0] == 'H';
    if (hmac != a.contains("secret")) {
      bad(a.contains("secret") ? "secret" : a.contains("key") ? "key" : "key_file",
          hmac ? name + " signs with a shared 'secret'"
               : name + " signs with a private key ('key' or 'key_file'), not a 'secret'");
    }
    if (a.contains("claims") && !a["claims"].is_object()) bad("claims", "'claims' must be an object");
    if (a.contains("headers") && !a["headers"].is_object()) {
      bad("headers", "'headers' must be an object (merged into the JOSE header)");
    }
    expect_number(a, "lifetime", true);
    if (a.contains("header")) {
      const std::string h = a["header"].get<std::string>();
      if (h.empty() || h.find_first_of(" :\r\n\t") != std::string::npos) {
        bad("header", "'" + h + "' is not a header name");
      }
    }
    if (!hmac) {  // the key is checked now, so a bad one is bad input (exit 2)
      try {
        JwtKey k(alg, jwt_key_text(a));
        if (!k.can_sign()) throw std::invalid_argument("the key is a public key; signing needs the private key");
      } catch (const std::invalid_argument& e) {
        bad(a.contains("key") ? "key" : "key_file", e.what());
      }
    }
  } else if (t == "sigv4") {
    only_fields(a, {"access_key", "secret_key", "session_token", "region", "service"});
    for (const char* k : {"access_key", "secret_key", "region", "service"}) {
      expect_string(a, k, true);
    }
    expect_string(a, "session_token", false);
  } else if (t == "digest") {
    only_fields(a, {"username", "password"});
    expect_string(a, "username", true);
    expect_string(a, "password", true);
  }
}

Registry::Registry() = default;
Registry::~Registry() = default;

std::shared_ptr<const Scheme> Registry::get(const Json& a, engine::CompileContext& ctx,
                                            bool http2) {
  validate(a, http2);
  // Digest challenges belong to the task (its URL's protection space): one scheme per task.
  const std::string key = type_of(a) == "digest" ? "" : a.dump();
  if (auto it = by_settings_.find(key); !key.empty() && it != by_settings_.end()) {
    return it->second;
  }
  const params::ParseContext pc = ctx.parse_context();
  auto tpl = [&](const char* k) {
    return a.contains(k) ? params::Template::parse(a[k].get<std::string>(), pc)
                         : params::Template{};
  };
  auto fixed = [&](const char* k) {
    return a.contains(k) ? params::resolve_static(a[k].get<std::string>(), ctx.resolver)
                         : std::string();
  };
  auto scheme = std::make_shared<Scheme>();
  scheme->state = std::make_unique<SchemeState>();
  SchemeState& s = *scheme->state;
  const std::string t = type_of(a);
  auto header = [&](const char* name) {
    s.header_names.push_back(http2 ? text::lower(name) : std::string(name));
  };
  if (t == "oauth2") {
    s.type = Type::kOAuth2;
    OAuth2Config& o = s.oauth2;
    const std::string url = fixed("token_url");
    std::string error;
    if (!parse_url(url, o.endpoint.url, error)) bad("token_url", "'" + url + "': " + error);
    o.endpoint.endpoints = resolve_tcp(o.endpoint.url.host, o.endpoint.url.port);
    if (o.endpoint.url.tls) {
      TlsContexts contexts;  // the endpoint keeps its context alive
      Json tls = Json::object();
      if (a.contains("verify")) tls["verify"] = a["verify"];
      o.endpoint.ssl = contexts.get(tls);
    }
    o.grant = a.value("grant", std::string("client_credentials"));
    o.client_id = tpl("client_id");
    o.client_secret = tpl("client_secret");
    o.username = tpl("username");
    o.password = tpl("password");
    o.refresh_token = tpl("refresh_token");
    o.scope = tpl("scope");
    o.audience = tpl("audience");
    o.in_body = a.value("credentials", std::string("basic")) == "body";
    o.per_user = a.value("per_user", false);
    if (a.contains("token_prefix")) o.prefix = fixed("token_prefix");
    if (a.contains("timeout")) o.timeout = seconds_to_ns(a["timeout"].get<double>());
    if (a.contains("refresh_before")) {
      o.refresh_before = seconds_to_ns(a["refresh_before"].get<double>());
    }
    o.name_id = ctx.names.intern("POST", a.contains("name") ? fixed("name") : "oauth2 token");
    header("Authorization");
  } else if (t == "jwt") {
    s.type = Type::kJwt;
    JwtAlg alg = JwtAlg::kHS256;
    parse_jwt_alg(a.value("algorithm", std::string("HS256")), alg);
    std::string key_text = jwt_key_text(a);
    if (a.contains("secret")) key_text = params::resolve_static(key_text, ctx.resolver);
    try {
      s.jwt.key = std::make_unique<JwtKey>(alg, key_text);
    } catch (const std::invalid_argument& e) {
      bad(a.contains("key") ? "key" : "key_file", e.what());
    }
    Json h = {{"alg", jwt_alg_name(alg)}, {"typ", "JWT"}};
    if (a.contains("headers")) h.update(params::resolve_json(a["headers"], ctx.resolver));
    append_base64url(s.jwt.header_b64, h.dump());
    s.jwt.claims = params::json_template(a.contains("claims") ? a["claims"] : Json::object(), pc);
    s.jwt.lifetime = a.value("lifetime", 0.0);
    const std::string name = a.value("header", std::string("Authorization"));
    s.jwt.prefix = a.contains("prefix") ? a["prefix"].get<std::string>()
                   : text::iequals(name, "authorization") ? "Bearer "
                                                          : "";
    s.header_names.push_back(http2 ? text::lower(name) : name);
  } else if (t == "sigv4") {
    s.type = Type::kSigV4;
    s.sigv4 = std::make_unique<SigV4>(SigV4Credentials{fixed("access_key"), fixed("secret_key"),
                                                       fixed("session_token"), fixed("region"),
                                                       fixed("service")});
    header("Authorization");
    header("X-Amz-Content-Sha256");
    header("X-Amz-Date");
    if (!s.sigv4->credentials().session_token.empty()) header("X-Amz-Security-Token");
  } else {
    s.type = Type::kDigest;
    s.user = tpl("username");
    s.pass = tpl("password");
    header("Authorization");
  }
  if (!key.empty()) by_settings_.emplace(key, scheme);
  return scheme;
}

// ---------------------------------------------------------------------------------------------

struct UserAuth::Entry {
  const Scheme* scheme = nullptr;
  // oauth2
  Token token;
  Nanos refresh_at = 0, expires_at = 0;
  std::uint64_t seen = 0;  // SharedToken generation copied
  ErrorInfo failure;
  Nanos retry_at = 0;
  bool fetching = false;  // per_user: a lane of this user is fetching
  // jwt
  std::string claims, payload, token_text;
  std::int64_t signed_at = -1;  // static claims: the second the cached token was signed in
  EVP_MD_CTX* md = nullptr;
  // sigv4
  SigV4Scratch sig;
  std::int64_t date_at = -1;
  char date[17] = {};
  // digest
  DigestChallenge challenge;
  bool challenged = false;
  std::uint32_t nc = 0;
  std::uint64_t rng = 0;
  std::string user, pass;

  ~Entry() { EVP_MD_CTX_free(md); }
};

UserAuth::UserAuth() = default;
UserAuth::~UserAuth() = default;

UserAuth::Entry& UserAuth::entry(const Scheme& s) {
  for (auto& e : entries_) {
    if (e->scheme == &s) return *e;
  }
  auto e = std::make_unique<Entry>();
  e->scheme = &s;
  e->md = EVP_MD_CTX_new();
  e->rng = reinterpret_cast<std::uintptr_t>(e.get()) ^
           static_cast<std::uint64_t>(steady_now()) ^ 0x9e3779b97f4a7c15ull;
  entries_.push_back(std::move(e));
  return *entries_.back();
}

namespace {

// One token request for `o`, recorded under its name on `w`. `refresh`: use the refresh grant.
net::awaitable<const char*> fetch(const OAuth2Config& o, engine::WorkerContext& w,
                                  std::string_view refresh, Token& out, ErrorInfo& failure) {
  params::UserScope& scope = *w.scope;
  std::string body;
  std::string scratch;
  auto field = [&](std::string_view name, const params::Template& t) {
    scratch.clear();
    t.render(scratch, scope);
    if (!scratch.empty()) form_field(body, name, scratch);
  };
  if (!refresh.empty()) {
    form_field(body, "grant_type", "refresh_token");
    form_field(body, "refresh_token", refresh);
  } else {
    form_field(body, "grant_type", o.grant);
    if (o.grant == "password") {
      field("username", o.username);
      field("password", o.password);
    } else if (o.grant == "refresh_token") {
      field("refresh_token", o.refresh_token);
    }
  }
  field("scope", o.scope);
  field("audience", o.audience);
  std::string basic;
  if (o.in_body) {
    field("client_id", o.client_id);
    field("client_secret", o.client_secret);
  } else if (!o.client_id.text().empty()) {
    basic = o.client_id.render(scope) + ":" + o.client_secret.render(scope);
  }
  const std::string request = token_request(o.endpoint.url, body, basic);
  stats::Record rec;
  rec.name_id = o.name_id;
  rec.start = rec.planned = steady_now();
  Exchange x;
  co_await exchange(w.io, o.endpoint, request, o.timeout, x);
  rec.end = steady_now();
  rec.bytes_out = x.bytes_out;
  rec.bytes_in = x.bytes_in;
  const char* why = nullptr;
  std::string dechunked;
  if (x.error.kind != ErrorKind::kNone) {
    rec.error = x.error;
    why = x.error.kind == ErrorKind::kTimeout ? "token request timed out"
                                              : "token request failed (connection)";
  } else if (!parse_response(x, dechunked)) {
    rec.error = {ErrorKind::kProtocol, "malformed token response", 0, false};
    why = "token request failed (malformed response)";
  } else {
    rec.status = static_cast<std::uint32_t>(x.status);
    if (x.status < 200 || x.status > 299) {
      rec.error = {ErrorKind::kHttpStatus, "HTTP", x.status, false};
      why = "token request failed (HTTP status)";
    } else if ((why = read_token(x, o.prefix, out))) {
      rec.error = {ErrorKind::kProtocol, why, 0, false};
    }
  }
  w.record(rec);
  failure = why ? ErrorInfo{ErrorKind::kAuth, why, x.status, false} : ErrorInfo{};
  co_return why;
}

Nanos refresh_time(const OAuth2Config& o, Nanos now, double expires_in, Nanos& expires_at) {
  if (expires_in <= 0) {  // no lifetime given: kept for the run
    expires_at = std::numeric_limits<Nanos>::max();
    return expires_at;
  }
  const Nanos life = seconds_to_ns(expires_in);
  expires_at = now + life;
  return now + life - std::min(o.refresh_before, life / 2);
}

}  // namespace

net::awaitable<ErrorInfo> UserAuth::prepare(const Scheme& s, engine::WorkerContext& w) {
  if (s.type() != Type::kOAuth2) co_return ErrorInfo{};
  const OAuth2Config& o = s.state->oauth2;
  Entry& e = entry(s);
  for (;;) {
    const Nanos now = steady_now();
    if (o.per_user) {
      if (!e.token.value.empty() && now < e.refresh_at) co_return ErrorInfo{};
      if (e.fetching) {  // another lane of this user is fetching
        if (!e.token.value.empty() && now < e.expires_at) co_return ErrorInfo{};
      } else if (e.failure.kind != ErrorKind::kNone && now < e.retry_at &&
                 (e.token.value.empty() || now >= e.expires_at)) {
        co_return e.failure;
      } else {
        e.fetching = true;
        Token t;
        ErrorInfo failure;
        const bool refreshing = !e.token.refresh.empty();
        const char* why = co_await fetch(o, w, e.token.refresh, t, failure);
        if (why && refreshing) why = co_await fetch(o, w, {}, t, failure);  // refresh refused
        e.fetching = false;
        const Nanos at = steady_now();
        if (!why) {
          e.token = std::move(t);
          e.refresh_at = refresh_time(o, at, e.token.expires_in, e.expires_at);
          e.failure = {};
        } else {
          e.failure = failure;
          e.retry_at = at + kNanosPerSecond;
          if (!e.token.value.empty() && at < e.expires_at) e.refresh_at = e.retry_at;
        }
        continue;
      }
    } else {
      SharedToken& sh = s.state->shared;
      const std::uint64_t g = sh.generation.load(std::memory_order_acquire);
      if (g != e.seen) {
        std::lock_guard lock(sh.m);
        e.token = sh.token;
        e.refresh_at = sh.refresh_at;
        e.expires_at = sh.expires_at;
        e.failure = sh.failure;
        e.retry_at = sh.retry_at;
        e.seen = sh.generation.load(std::memory_order_relaxed);
        continue;
      }
      if (!e.token.value.empty() && now < e.refresh_at) co_return ErrorInfo{};
      const bool valid = !e.token.value.empty() && now < e.expires_at;
      if (e.failure.kind != ErrorKind::kNone && now < e.retry_at && !valid) co_return e.failure;
      if (e.failure.kind == ErrorKind::kNone || now >= e.retry_at || valid) {
        bool expected = false;
        if (sh.fetching.compare_exchange_strong(expected, true)) {
          Token t;
          ErrorInfo failure;
          const bool refreshing = !e.token.refresh.empty();
          const char* why = co_await fetch(o, w, e.token.refresh, t, failure);
          if (why && refreshing) why = co_await fetch(o, w, {}, t, failure);
          const Nanos at = steady_now();
          {
            std::lock_guard lock(sh.m);
            if (!why) {
              sh.token = std::move(t);
              sh.refresh_at = refresh_time(o, at, sh.token.expires_in, sh.expires_at);
              sh.failure = {};
            } else {
              sh.failure = failure;
              sh.retry_at = at + kNanosPerSecond;
              if (!sh.token.value.empty() && at < sh.expires_at) sh.refresh_at = sh.retry_at;
            }
            sh.generation.fetch_add(1, std::memory_order_release);
          }
          sh.fetching.store(false, std::memory_order_release);
          continue;
        }
        if (valid) co_return ErrorInfo{};  // another user is refreshing: the old token holds
      }
    }
    // Another user (or lane) is fetching the token this one needs: look again shortly.
    net::steady_timer t(w.io, std::chrono::milliseconds(2));
    boost::system::error_code ec;
    co_await t.async_wait(net::redirect_error(net::use_awaitable, ec));
    if (w.aborting && *w.aborting) co_return engine::kAbortedError;
  }
}

const char* UserAuth::sign(const Scheme& s, const Request& r, params::UserScope& scope,
                           std::string* values) {
  Entry& e = entry(s);
  const SchemeState& st = *s.state;
  switch (st.type) {
    case Type::kOAuth2:
      if (e.token.value.empty()) return "no OAuth2 token";
      values[0].assign(e.token.value);
      return nullptr;
    case Type::kJwt: {
      const JwtConfig& j = st.jwt;
      const std::int64_t now = std::time(nullptr);
      if (j.claims.is_static() && e.signed_at >= 0 && (j.lifetime <= 0 || e.signed_at == now)) {
        values[0].assign(e.token_text);  // same claims, same second: the same token
        return nullptr;
      }
      e.claims.clear();
      j.claims.render(e.claims, scope);
      if (j.lifetime > 0) {
        // Insert iat, nbf and exp before the closing brace (unless the claims set them).
        while (!e.claims.empty() && e.claims.back() != '}') e.claims.pop_back();
        if (e.claims.empty()) return "JWT claims are not a JSON object";
        e.claims.pop_back();
        char buf[96];
        const bool empty = e.claims.find_first_not_of(" \t\r\n{") == std::string::npos;
        const auto exp = now + static_cast<std::int64_t>(j.lifetime);
        const int n = std::snprintf(buf, sizeof buf, "%s\"iat\":%lld,\"nbf\":%lld,\"exp\":%lld}",
                                    empty ? "" : ",", static_cast<long long>(now),
                                    static_cast<long long>(now), static_cast<long long>(exp));
        e.claims.append(buf, static_cast<std::size_t>(n));
      }
      std::string& t = e.token_text;
      t.assign(j.prefix);
      const std::size_t input_at = t.size();
      t += j.header_b64;
      t += '.';
      append_base64url(t, e.claims);
      e.payload.assign(t, input_at, std::string::npos);
      t += '.';
      if (!j.key->sign(e.payload, t, e.md)) return "JWT signing failed";
      e.signed_at = now;
      values[0].assign(t);
      return nullptr;
    }
    case Type::kSigV4: {
      const std::int64_t now = std::time(nullptr);
      if (now != e.date_at) {
        amz_date(now, e.date);
        e.date_at = now;
      }
      std::string& hash = values[1];
      hash.clear();
      append_hex(hash, digest(Hash::kSha256, r.body).view());
      values[2].assign(e.date, 16);
      SigV4Header h[4] = {{"host", r.host},
                          {"x-amz-content-sha256", hash},
                          {"x-amz-date", values[2]},
                          {"x-amz-security-token", st.sigv4->credentials().session_token}};
      const std::size_t n = st.sigv4->credentials().session_token.empty() ? 3 : 4;
      if (n == 4) values[3].assign(st.sigv4->credentials().session_token);
      st.sigv4->canonical_request(r.method, r.target, h, n, hash, e.sig);
      st.sigv4->authorization(values[2], e.sig, values[0]);
      return nullptr;
    }
    case Type::kDigest: {
      values[0].clear();
      if (!e.challenged) return nullptr;  // the first request draws the challenge
      e.user.clear();
      st.user.render(e.user, scope);
      e.pass.clear();
      st.pass.render(e.pass, scope);
      char cnonce[17];
      e.rng ^= e.rng << 13;
      e.rng ^= e.rng >> 7;
      e.rng ^= e.rng << 17;
      std::snprintf(cnonce, sizeof cnonce, "%016llx", static_cast<unsigned long long>(e.rng));
      digest_authorization(e.challenge, e.user, e.pass, r.method, r.target, ++e.nc, cnonce,
                           values[0]);
      return nullptr;
    }
  }
  return nullptr;
}

const char* UserAuth::append_lines(const Scheme& s, const Request& r, params::UserScope& scope,
                                   std::string& headers) {
  if (const char* bad = sign(s, r, scope, values_)) return bad;
  const auto& names = s.header_names();
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (values_[i].empty()) continue;
    headers += names[i];
    headers += ": ";
    headers += values_[i];
    headers += "\r\n";
  }
  return nullptr;
}

bool UserAuth::on_challenge(const Scheme& s, std::string_view header_block) {
  if (s.type() != Type::kDigest) return false;
  Entry& e = entry(s);
  DigestChallenge c;
  if (!parse_digest_challenge(header_block, c)) return false;
  // A known nonce refused without stale=true: the credentials are wrong, do not loop.
  if (e.challenged && c.nonce == e.challenge.nonce && c.algorithm == e.challenge.algorithm &&
      c.realm == e.challenge.realm && !c.stale) {
    return false;
  }
  e.challenge = std::move(c);
  e.challenged = true;
  e.nc = 0;
  return true;
}

// ---------------------------------------------------------------------------------------------
// The commands' helpers.

std::string sign_jwt(const Json& claims, std::string_view key, std::string_view alg_name,
                     const Json& headers, double expires_in) {
  JwtAlg alg;
  if (!parse_jwt_alg(alg_name, alg)) {
    throw std::invalid_argument("unsupported JWT algorithm: " + std::string(alg_name));
  }
  JwtKey k(alg, key);
  if (!k.can_sign()) throw std::invalid_argument("the key is a public key; signing needs the private key");
  Json h = {{"alg", jwt_alg_name(alg)}, {"typ", "JWT"}};
  if (headers.is_object()) h.update(headers);
  Json c = claims;
  if (expires_in > 0 && !c.contains("exp")) {  // as the original: exp only
    c["exp"] = static_cast<std::int64_t>(std::time(nullptr)) + static_cast<std::int64_t>(expires_in);
  }
  std::string t;
  append_base64url(t, h.dump());
  t += '.';
  append_base64url(t, c.dump());
  const std::string input = t;
  t += '.';
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  const bool ok = k.sign(input, t, md);
  EVP_MD_CTX_free(md);
  if (!ok) throw std::invalid_argument("signing failed");
  return t;
}

Json decode_jwt(std::string_view token, const std::string* key) {
  const std::size_t a = token.find('.');
  const std::size_t b = a == std::string_view::npos ? a : token.find('.', a + 1);
  if (b == std::string_view::npos || token.find('.', b + 1) != std::string_view::npos) {
    throw std::invalid_argument("invalid JWT: expected 3 dot-separated segments");
  }
  std::string header, payload, sig;
  if (!decode_base64url(token.substr(0, a), header) ||
      !decode_base64url(token.substr(a + 1, b - a - 1), payload) ||
      !decode_base64url(token.substr(b + 1), sig)) {
    throw std::invalid_argument("invalid JWT: a segment is not base64url");
  }
  Json h = Json::parse(header, nullptr, false);
  Json p = Json::parse(payload, nullptr, false);
  if (h.is_discarded() || p.is_discarded()) {
    throw std::invalid_argument("invalid JWT: header or payload is not JSON");
  }
  Json out = {{"header", h}, {"payload", p}, {"signature", std::string(token.substr(b + 1))}};
  if (key) {
    JwtAlg alg;
    if (!h.contains("alg") || !h["alg"].is_string() ||
        !parse_jwt_alg(h["alg"].get<std::string>(), alg)) {
      throw std::invalid_argument("cannot verify: the token's alg is not one of " +
                                  std::string(kJwtAlgs));
    }
    JwtKey k(alg, *key);
    out["verified"] = k.verify(token.substr(0, b), sig);
  }
  return out;
}

Json sign_aws_request(std::string_view method, std::string_view url, std::string_view body,
                      const Json& headers, const std::string& region, const std::string& service,
                      const std::string& access_key, const std::string& secret_key,
                      const std::string& session_token, std::int64_t when) {
  Url u;
  std::string error;
  if (!parse_url(url, u, error)) throw std::invalid_argument("url: " + error);
  SigV4 signer({access_key, secret_key, session_token, region, service});
  Json out = Json::object();
  bool has_host = false;
  if (headers.is_object()) {
    for (auto it = headers.begin(); it != headers.end(); ++it) {
      out[it.key()] = it->is_string() ? it->get<std::string>() : it->dump();
      has_host = has_host || text::iequals(it.key(), "host");
    }
  }
  if (!has_host) out["host"] = u.host_header;
  char date[17];
  amz_date(static_cast<std::time_t>(when), date);
  out["x-amz-date"] = date;
  std::string hash;
  append_hex(hash, digest(Hash::kSha256, body).view());
  out["x-amz-content-sha256"] = hash;
  if (!session_token.empty()) out["x-amz-security-token"] = session_token;
  std::vector<std::string> values;
  std::vector<SigV4Header> hs;
  values.reserve(out.size());
  for (auto it = out.begin(); it != out.end(); ++it) {
    values.push_back(it->get<std::string>());
  }
  std::size_t i = 0;
  for (auto it = out.begin(); it != out.end(); ++it) hs.push_back({it.key(), values[i++]});
  SigV4Scratch s;
  std::string upper(method);
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  signer.canonical_request(upper, u.target, hs.data(), hs.size(), hash, s);
  std::string authz;
  signer.authorization(date, s, authz);
  out["Authorization"] = authz;
  return out;
}

Json fetch_token(const std::string& token_url,
                 const std::vector<std::pair<std::string, std::string>>& form,
                 const std::string& client_id, const std::string& client_secret, bool in_body,
                 double timeout_s) {
  Endpoint ep;
  std::string error;
  if (!parse_url(token_url, ep.url, error)) throw std::runtime_error("token_url: " + error);
  TlsContexts contexts;
  if (ep.url.tls) ep.ssl = contexts.get(Json::object());
  std::string body;
  for (const auto& [k, v] : form) form_field(body, k, v);
  std::string basic;
  if (in_body) {
    form_field(body, "client_id", client_id);
    if (!client_secret.empty()) form_field(body, "client_secret", client_secret);
  } else if (!client_id.empty()) {
    basic = client_id + ":" + client_secret;
  }
  const std::string request = token_request(ep.url, body, basic);
  net::io_context io;
  Exchange x;
  auto done = net::co_spawn(io, exchange(io, ep, request, seconds_to_ns(timeout_s), x),
                            net::use_future);
  io.run();
  done.get();
  if (x.error.kind != ErrorKind::kNone) {
    throw std::runtime_error(std::string("token request failed: ") +
                             (x.error.what ? x.error.what : "I/O error"));
  }
  std::string dechunked;
  if (!parse_response(x, dechunked)) throw std::runtime_error("malformed token response");
  Json j = Json::parse(x.body, nullptr, false);
  if (x.status < 200 || x.status > 299) {
    throw std::runtime_error("token endpoint answered HTTP " + std::to_string(x.status) + ": " +
                             std::string(x.body.substr(0, 300)));
  }
  if (j.is_discarded()) throw std::runtime_error("token response is not JSON");
  return j;
}

}  // namespace ld::proto::auth
