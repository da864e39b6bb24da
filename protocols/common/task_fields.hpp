#pragma once
// Helpers shared by the stream protocols (websocket, sse, socket) for checking and compiling
// task fields: unknown-field detection with a suggestion, typed field checks, payload decoding
// ("hex:..."), timeouts, URLs and "host:port" targets. Errors are ConfigErrors whose pointer is
// relative to the task; compile_each() prefixes the task index.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "action/registry.hpp"
#include "core/json_util.hpp"
#include "loaddensity/core/error.hpp"
#include "common/url.hpp"  // Url, parse_url, parse_host_port (moved there)
#include "params/resolver.hpp"

namespace ld::proto {

// Throws ConfigError("task field 'FIELD': MSG", "/FIELD").
[[noreturn]] void field_error(std::string_view field, const std::string& msg);

// The declared-field check every protocol's validate_task starts with (fields as declared by
// Protocol::task_fields): `task` must be an object; a key not declared is rejected with the
// closest declared name as a suggestion ("unknown task field 'paylod' for a websocket_user (did
// you mean 'payload'?)", pointer "/paylod"); a value whose JSON type the field does not declare
// is rejected with its pointer ("task field 'count': must be integer, got string \"3\"").
// `user` names the user template in messages ("a websocket_user").
void check_task_fields(const Json& task, const std::vector<action::Param>& fields,
                       std::string_view user);

// The fields of an HTTP task (HTTP/1.1 and HTTP/2; `files`: multipart uploads too).
std::vector<action::Param> http_task_fields(bool files);

// Shorthand for a field declaration: name, accepted JSON types (action::TypeMask), default
// (null: none) and one-line help.
action::Param field(std::string name, unsigned types, Json default_value, std::string help);

// Appends the fields every user type shares: name (default `name_default`), weight, and the
// assertions / extract (src/checks) on `reply` ("the response", "the reply bytes"); `http`:
// status and header checks too.
void add_result_fields(std::vector<action::Param>& f, std::string_view name_default,
                       std::string_view reply, bool http);

// Throws a field_error naming the wanted and the actual type unless `ok`.
void expect_type(const Json& task, std::string_view field, bool ok, std::string_view want);

// task["method"] lower-cased, `fallback` when absent; throws on a value not in `methods`.
std::string method_of(const Json& task, const std::vector<std::string>& methods,
                      std::string_view fallback, std::string_view user);

// True when `s` still holds an unresolved "${...}" placeholder.
bool has_placeholder(std::string_view s) noexcept;

// Payload text: strings as written, other JSON values serialised ({"a":1} -> compact JSON).
std::string payload_text(const Json& v);

// Bytes a payload or expectation stands for. "hex:DE AD be ef" -> 4 bytes (whitespace between
// byte pairs is allowed); anything else is the text itself. `binary` is set for "hex:" values.
// Returns false with `error` set on bad hex.
bool decode_payload(std::string_view text, std::string& out, bool& binary, std::string& error);

// Checks an optional payload-like field (string or JSON value; "hex:" must be valid unless it
// holds a placeholder).
void check_payload_field(const Json& task, std::string_view field);
// The decoded bytes of a payload-like field ("" when absent); throws on bad hex.
std::string compile_payload_field(const Json& task, std::string_view field, bool* binary = nullptr);

// A payload-like field compiled once (static placeholders folded): its bytes when nothing in it
// changes per request, else a template rendered per request into the session's buffers. A
// string is text or "hex:..." (decoded after rendering); any other JSON value is sent as JSON,
// its placeholders JSON-escaped.
struct PayloadTemplate {
  std::string bytes;     // static: the decoded bytes
  params::Template tpl;  // dynamic: the text before decoding
  bool dynamic = false;
  bool binary = false;  // "hex:..."

  // The bytes for one request: `bytes` when static (no work), else rendered into `text` and,
  // for "hex:", decoded into `decoded`. Null `error` on success; on failure (hex that is not
  // hex once rendered) a static message and an empty view.
  std::string_view render(params::UserScope& scope, std::string& text, std::string& decoded,
                          const char*& error) const;
  // The largest static payload (for buffer sizing): bytes.size(), or 0 when dynamic.
  std::size_t static_size() const noexcept { return dynamic ? 0 : bytes.size(); }
};
// Throws a field_error when the scheme, host or port of `url` (placeholders fixed for the run
// folded) holds a per-request placeholder: a connection's target is fixed for the run, and
// per-request parts go in the path, query and headers.
void check_fixed_authority(std::string_view field, std::string_view url);

// CR, LF and NUL bytes in `s`: a rendered request with more than its literal text has was
// split by a placeholder's value.
std::size_t line_breaks(std::string_view s) noexcept;

// Appends an HTTP task's `params` to a target/URL template (a '?' already present continues
// with '&'): a query string as written, or {name: value or [values]} percent-encoded (values
// when rendered).
void append_query(params::Template& t, bool has_query, const Json& params,
                  const params::ParseContext& ctx);

// Compiles `task[field]` (absent: empty) from the task as written. Throws a field_error on bad
// static hex.
PayloadTemplate compile_payload_template(const Json& task, std::string_view field,
                                         const params::ParseContext& ctx);

// Optional positive number of seconds; `fallback` when absent.
void check_timeout_field(const Json& task);

// The request fields the HTTP users share (HTTP/1.1 and HTTP/2): params, headers, cookies
// (and files when `files`), json/data, timeout, allow/follow_redirects, verify, name, cert,
// auth. Types and shapes only; placeholders are not resolved yet.
// Also the request rules both HTTP versions keep (docs/http-requests.md): header and cookie
// names are RFC 9110 tokens; Content-Length and Transfer-Encoding cannot be given (the body
// decides them); no CR, LF or NUL in the URL, header and cookie values or auth strings as
// written (values folded from registered variables are checked again when compiling).
void check_http_request_fields(const Json& task, bool files);

// RFC 9110 token (header names, methods): letters, digits and !#$%&'*+-.^_`|~, not empty.
bool is_http_token(std::string_view s) noexcept;
// Content-Length or Transfer-Encoding (any case): framing is decided by the body.
bool is_framing_header(std::string_view name) noexcept;
// Throws ConfigError("task field 'FIELD': 'KEY' MSG", "/FIELD/KEY").
[[noreturn]] void entry_error(std::string_view field, std::string_view key, const std::string& msg);
// Throws an entry_error when `value` (the header or cookie value as it will be sent, static
// placeholders folded) holds CR, LF or NUL.
void check_header_value(std::string_view field, std::string_view key, std::string_view value);
double timeout_of(const Json& task, double fallback);

// Runs `fn(i)` for each task index, re-throwing a ConfigError as "task i: ..." with the
// pointer "/i/..." (relative to the task list).
template <class Fn>
void compile_each(std::size_t count, Fn&& fn) {
  for (std::size_t i = 0; i < count; ++i) {
    try {
      fn(i);
    } catch (const ConfigError& e) {
      throw ConfigError("task " + std::to_string(i) + ": " + e.what(),
                        pointer_index(i) + e.pointer());
    }
  }
}

}  // namespace ld::proto
