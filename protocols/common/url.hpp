#pragma once
// The one URL type of the protocols: an absolute URL of a scheme the caller accepts (http and
// https by default; ws/wss for WebSocket) split into what a client needs. Every protocol parses
// the same way: the target is percent-encoded as curl sends it, CR/LF/NUL anywhere is an error,
// credentials in the URL are refused, IPv6 literals go in brackets.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace ld::proto {

// An accepted scheme: its lower-case name, default port and whether it runs over TLS.
struct Scheme {
  std::string_view name;
  std::uint16_t default_port;
  bool tls;
};
inline constexpr Scheme kHttpSchemes[] = {{"http", 80, false}, {"https", 443, true}};

struct Url {
  std::string_view scheme;  // lower case, one of the accepted Scheme names (static text)
  bool tls = false;
  std::string host;  // without brackets for IPv6 literals
  std::uint16_t port = 0;
  std::string target;       // path + query, percent-encoded, at least "/"
  std::string host_header;  // host[:port] as sent in Host (port only when not the default)
  std::string text;         // the URL as given
};

// Parses "SCHEME://host[:port][/path][?query][#fragment]" for one of `schemes` (the fragment is
// dropped). The target is percent-encoded as by append_target(). Returns false with `error`
// set on: a CR, LF or NUL byte anywhere, a relative URL, another scheme, user:password@, an
// empty host or one with spaces or control characters, an unbracketed IPv6 address with a
// port, a port outside 1..65535. Reuses `out`'s buffers (no allocation once they have grown).
bool parse_url(std::string_view text, std::span<const Scheme> schemes, Url& out,
               std::string& error);
// http:// and https:// URLs.
inline bool parse_url(std::string_view text, Url& out, std::string& error) {
  return parse_url(text, kHttpSchemes, out, error);
}

// "host:port" or "[v6]:port" -> parts. Returns false with `error` set otherwise.
bool parse_host_port(std::string_view text, std::string& host, std::uint16_t& port,
                     std::string& error);

// Appends a request target (path + query) to `out`, percent-encoding what cannot go on the
// request line as it is, as curl and browsers do: space, other control characters, DEL and
// bytes >= 0x80 become %XX; '%' (existing escapes) and every other printable character are
// kept. Returns false, with `out` partly written, at a CR, LF or NUL byte: those are never
// encoded (they would split the request) but rejected. One pass, no allocation once `out` has
// grown.
bool append_target(std::string& out, std::string_view target);

// `in` with its %XX escapes decoded into `out`; false at a bad escape ('%' without two hex
// digits). For the user and password of a database or Redis URL.
bool percent_decode(std::string_view in, std::string& out);

// True when `text` holds a CR, LF or NUL byte (not allowed in a request line or a header).
bool has_line_break_or_nul(std::string_view text) noexcept;

// Resolves a redirect Location against the URL it came from (absolute, "//host/..", "/path",
// or relative path). An absolute location must have an http or https scheme.
bool resolve_location(const Url& base, std::string_view location, Url& out, std::string& error);

}  // namespace ld::proto
