#pragma once
// Absolute http(s) URL split into what a request needs (shared by the HTTP protocols).
#include <cstdint>
#include <string>
#include <string_view>

namespace ld {

struct Url {
  bool tls = false;
  std::string host;         // without brackets for IPv6 literals
  std::uint16_t port = 0;
  std::string target;       // path + query, at least "/"
  std::string host_header;  // host[:port] as sent in Host (port only when not the default)
};

// Parses "http://h[:p]/path?q" or "https://...". Returns false (and sets `error`) otherwise.
bool parse_url(std::string_view text, Url& out, std::string& error);

// Resolves a redirect Location against the URL it came from (absolute, "//host/..", "/path",
// or relative path).
bool resolve_location(const Url& base, std::string_view location, Url& out, std::string& error);

}  // namespace ld
