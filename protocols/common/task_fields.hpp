#pragma once
// Helpers shared by the stream protocols (websocket, sse, socket) for checking and compiling
// task fields: unknown-field detection with a suggestion, typed field checks, payload decoding
// ("hex:..."), timeouts, URLs and "host:port" targets. Errors are ConfigErrors whose pointer is
// relative to the task; compile_each() prefixes the task index.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/json_util.hpp"
#include "loaddensity/core/error.hpp"
#include "common/url.hpp"  // Url, parse_url, parse_host_port (moved there)

namespace ld::proto {

// Throws ConfigError("task field 'FIELD': MSG", "/FIELD").
[[noreturn]] void field_error(std::string_view field, const std::string& msg);

// Rejects any key of `task` not in `known`, suggesting the closest one. `user` names the user
// template in the message ("a websocket_user").
void check_known_fields(const Json& task, const std::vector<std::string>& known,
                        std::string_view user);

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
