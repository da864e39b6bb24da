#pragma once
// RESP2, the Redis wire format: a small incremental parser and encoder shared by the
// redis_user client (protocols/redis) and the embedded target's RESP listener (src/target).
//
// Parsing never allocates and never copies: scan_reply() looks at the bytes received so far
// and says whether one complete reply starts there (and how long it is) without building
// anything; the views it returns point into the caller's buffer. Nested arrays are walked with
// a counter, not recursion, so a hostile reply cannot exhaust the stack while being framed.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ld::resp {

enum class Type : std::uint8_t { kSimple, kError, kInteger, kBulk, kNil, kArray };

enum class Scan : std::uint8_t { kComplete, kIncomplete, kMalformed };

// The top-level reply found by scan_reply().
struct Reply {
  Type type = Type::kNil;
  std::string_view text;  // simple string, error message, bulk payload, integer digits
  std::int64_t integer = 0;  // kInteger; element count for kArray
  std::size_t size = 0;      // bytes of the whole reply, nested elements included
};

// Largest bulk string and array accepted (Redis' own proto-max-bulk-len default is 512 MiB).
inline constexpr std::int64_t kMaxBulk = 512ll * 1024 * 1024;
inline constexpr std::int64_t kMaxElements = 1ll << 32;

// Frames one reply at the start of `in`.
Scan scan_reply(std::string_view in, Reply& out) noexcept;

// A complete reply (as framed by scan_reply) as JSON text appended to `out`: strings become
// JSON strings, integers numbers, nil (`$-1`, `*-1`) null, arrays arrays, and an error inside an
// array the string "ERR ...". Arrays nested deeper than `max_depth` render as null.
void append_json(std::string_view reply, std::string& out, std::size_t max_depth = 64);
// `s` as a quoted JSON string (quotes, backslashes and control bytes escaped).
void append_json_string(std::string& out, std::string_view s);

// --- encoding
// "*N\r\n" / "$LEN\r\nBYTES\r\n": a command is an array header and one bulk per argument.
void append_array_header(std::string& out, std::size_t n);
void append_bulk(std::string& out, std::string_view bytes);
void append_command(std::string& out, const std::vector<std::string_view>& args);
// Server replies (for the embedded target): "+OK", "-ERR msg", ":42", "$-1".
void append_simple(std::string& out, std::string_view text);
void append_error(std::string& out, std::string_view message);
void append_integer(std::string& out, std::int64_t value);
void append_nil(std::string& out);

// --- server side: one command at the start of `in`, either an array of bulk strings (what
// clients send) or an inline command ("PING\r\n", words split on spaces). `args` views point
// into `in`; `consumed` is its length. An empty inline line yields no arguments.
Scan scan_command(std::string_view in, std::vector<std::string_view>& args,
                  std::size_t& consumed);

}  // namespace ld::resp
