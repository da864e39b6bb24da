#pragma once
// Absolute http(s) URL split into what a request needs (shared by the HTTP protocols).
#include <cstdint>
#include <string>
#include <string_view>

namespace ld {

struct Url {
  bool tls = false;
  std::string host;  // without brackets for IPv6 literals
  std::uint16_t port = 0;
  std::string target;       // path + query, at least "/"
  std::string host_header;  // host[:port] as sent in Host (port only when not the default)
};

// Parses "http://h[:p]/path?q" or "https://...". Returns false (and sets `error`) otherwise.
// The target is percent-encoded as by append_target(); CR, LF or NUL anywhere, or a host with
// spaces or control characters, is an error.
bool parse_url(std::string_view text, Url& out, std::string& error);

// Appends a request target (path + query) to `out`, percent-encoding what cannot go on the
// request line as it is, as curl and browsers do: space, other control characters, DEL and
// bytes >= 0x80 become %XX; '%' (existing escapes) and every other printable character are
// kept. Returns false, with `out` partly written, at a CR, LF or NUL byte: those are never
// encoded (they would split the request) but rejected. One pass, no allocation once `out` has
// grown.
bool append_target(std::string& out, std::string_view target);

// True when `text` holds a CR, LF or NUL byte (not allowed in a request line or a header).
bool has_line_break_or_nul(std::string_view text) noexcept;

// Resolves a redirect Location against the URL it came from (absolute, "//host/..", "/path",
// or relative path).
bool resolve_location(const Url& base, std::string_view location, Url& out, std::string& error);

}  // namespace ld
