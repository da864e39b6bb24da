#pragma once
// Request authentication beyond basic/bearer, for the HTTP users (HTTP/1.1 and HTTP/2): task
// field `auth` of type oauth2, jwt, sigv4 or digest.
//
//   compile:  registry.get(task["auth"], ctx)   -> shared Scheme (keys parsed, URLs resolved)
//   per user: UserAuth (buffers, the user's token, digest nonce count), then per request
//     co_await prepare(scheme, worker)          (oauth2: a token, fetched and recorded if due)
//     sign(scheme, request, scope, values)      (the values of scheme.header_names())
//     on_challenge(scheme, response headers)    (digest: a 401's challenge; retry when true)
//
// Schemes with the same settings share one Scheme per run (digest: one per task, its challenge
// is the task's), so an oauth2 token is fetched once
// per run (or once per user with per_user) whatever the number of tasks using it.
#include <utility>  // before Asio (Boost 1.74 trap)

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/json_util.hpp"
#include "loaddensity/protocol/protocol.hpp"
#include "loaddensity/stats/record.hpp"
#include "params/resolver.hpp"

namespace ld::proto::auth {

namespace net = boost::asio;

enum class Type : std::uint8_t { kOAuth2, kJwt, kSigV4, kDigest };

// True when `auth` is an object whose type is one of the four above (basic and bearer stay
// with the HTTP users' own code).
bool is_scheme(const Json& auth);
// Checks an `auth` object of one of the four types: ConfigError with a pointer under "/auth".
// `http2`: the user speaks HTTP/2 (digest is refused there).
void validate(const Json& auth, bool http2);

// The request as it will be sent, for signing.
struct Request {
  std::string_view method;  // upper case
  std::string_view host;    // the Host header (:authority)
  std::string_view target;  // path?query, percent-encoded as sent
  std::string_view body;
};

class Scheme;
struct SchemeState;

// Compiled schemes of one run, shared by the tasks with identical settings.
class Registry {
 public:
  Registry();
  ~Registry();
  std::shared_ptr<const Scheme> get(const Json& auth, engine::CompileContext& ctx, bool http2);

 private:
  std::map<std::string, std::shared_ptr<const Scheme>> by_settings_;
};

class Scheme {
 public:
  ~Scheme();
  Type type() const noexcept;
  // Header names sign() fills, in order ("Authorization", ...).
  const std::vector<std::string>& header_names() const noexcept;
  bool needs_token() const noexcept { return type() == Type::kOAuth2; }

  // Private to auth.cpp.
  std::unique_ptr<SchemeState> state;
};

class UserAuth {
 public:
  UserAuth();
  ~UserAuth();
  UserAuth(const UserAuth&) = delete;
  UserAuth& operator=(const UserAuth&) = delete;

  // oauth2: makes sure this user holds a valid token, fetching it (on `w`'s thread, recorded
  // under the scheme's name) when none is cached or it is due for refresh. Other types: nothing.
  // A failure is kind `auth` for the task that needed the token.
  net::awaitable<stats::ErrorInfo> prepare(const Scheme& s, engine::WorkerContext& w);
  // Writes the values of s.header_names() into values[0..n) (an empty value: do not send the
  // header, e.g. digest before its first challenge). Returns null, or why the request cannot
  // be signed (recorded as kind `auth`).
  const char* sign(const Scheme& s, const Request& r, params::UserScope& scope,
                   std::string* values);
  // HTTP/1.1: sign() and append "Name: value\r\n" for every non-empty value to `headers`.
  const char* append_lines(const Scheme& s, const Request& r, params::UserScope& scope,
                           std::string& headers);
  // digest: reads a 401's challenge from its header lines; true when the request should be
  // sent again with an answer (a first challenge, or a stale nonce).
  bool on_challenge(const Scheme& s, std::string_view header_block);

 private:
  struct Entry;
  Entry& entry(const Scheme& s);
  std::vector<std::unique_ptr<Entry>> entries_;
  std::string values_[4];
};

// ---- The original's helper functions, for the LD_* commands (blocking, JSON in and out) ----

// A compact JWT of `claims` signed with `key` (secret or PEM) by `alg` ("HS256"...); `headers`
// are merged into the JOSE header; `expires_in` > 0 adds exp = now + expires_in unless present.
// Throws std::invalid_argument on a bad algorithm or key.
std::string sign_jwt(const Json& claims, std::string_view key, std::string_view alg,
                     const Json& headers, double expires_in);
// {"header", "payload", "signature"(base64url)} and, when `key` is given, "verified".
// Throws std::invalid_argument on a malformed token.
Json decode_jwt(std::string_view token, const std::string* key);
// The headers to send for a SigV4-signed request (host, x-amz-date, x-amz-content-sha256,
// x-amz-security-token, authorization), every given header signed. `when` is a Unix time.
Json sign_aws_request(std::string_view method, std::string_view url, std::string_view body,
                      const Json& headers, const std::string& region, const std::string& service,
                      const std::string& access_key, const std::string& secret_key,
                      const std::string& session_token, std::int64_t when);
// A token request (grant_type and its fields in `form`) to `token_url`, client credentials in a
// Basic header (or in the body when `in_body`); the parsed JSON answer. Throws
// std::runtime_error with the reason (connection, HTTP status and body, not JSON).
Json fetch_token(const std::string& token_url, const std::vector<std::pair<std::string, std::string>>& form,
                 const std::string& client_id, const std::string& client_secret, bool in_body,
                 double timeout_s);

}  // namespace ld::proto::auth
