#pragma once
// A virtual user's cookies (RFC 6265 storage and retrieval): host-only and domain cookies,
// path matching, Expires and Max-Age (Max-Age <= 0 deletes), Secure sent over https only, and
// replacement by (name, domain, path). Public suffixes are not known: a Domain attribute with a
// single label ("com") is refused unless it is the request host itself, and a Domain that does
// not domain-match the request host is refused.
//
// Time is passed in (Unix seconds), so tests choose the clock. One jar per user, used from the
// user's thread only. Storing allocates; sending to a user whose jar is empty costs one test.
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

namespace ld::proto {

class CookieJar {
 public:
  static constexpr std::int64_t kSession = std::numeric_limits<std::int64_t>::max();
  static constexpr std::size_t kMaxCookies = 1000;      // the oldest goes when a new one exceeds it
  static constexpr std::size_t kMaxCookieBytes = 4096;  // name + value; larger ones are ignored

  struct Cookie {
    std::string name, value;
    std::string domain;  // lower case, no leading dot
    std::string path;
    std::int64_t expires = kSession;  // Unix seconds; kSession: until the user ends
    std::uint64_t created = 0;        // insertion order (kept when replaced)
    bool host_only = true;
    bool secure = false;
  };

  // Current Unix time in seconds (the system clock).
  static std::int64_t now() noexcept;

  // Stores the cookie of one Set-Cookie header value received for a request to `host` with
  // path `request_path` (the URL path, without the query). Returns false when it was ignored
  // (malformed, too large, or a Domain the host may not set). An expired cookie deletes the
  // stored one of the same (name, domain, path).
  bool set(std::string_view set_cookie, std::string_view host, std::string_view request_path,
           std::int64_t now);

  // Appends "name=value; name2=value2" for the cookies to send to host/path (`secure`: the
  // request goes over https), longest path first, then oldest first. Cookies whose name is set
  // in `overrides` (a Cookie header value such as "a=1; b=2", the task's own cookies) are
  // left out. "; " goes before each cookie when `out` is not empty. Expired cookies are
  // dropped. Returns how many were appended.
  std::size_t append_header(std::string& out, std::string_view host, std::string_view path,
                            bool secure, std::int64_t now, std::string_view overrides = {});

  bool empty() const noexcept { return cookies_.empty(); }
  std::size_t size() const noexcept { return cookies_.size(); }
  const std::vector<Cookie>& cookies() const noexcept { return cookies_; }
  void clear() noexcept { cookies_.clear(); }

  // RFC 6265 5.1.1 cookie-date ("Wed, 21 Oct 2015 07:28:00 GMT" and its variants); false when
  // it is not a date.
  static bool parse_date(std::string_view text, std::int64_t& unix_seconds);
  // RFC 6265 5.1.3 and 5.1.4 (host case-insensitive; IP addresses only match themselves).
  static bool domain_match(std::string_view host, std::string_view domain) noexcept;
  static bool path_match(std::string_view request_path, std::string_view cookie_path) noexcept;
  // The path of a request target ("/a/b?q" -> "/a/b").
  static std::string_view path_of(std::string_view target) noexcept;

 private:
  std::vector<Cookie> cookies_;  // ordered: longer path first, then older first
  std::uint64_t next_created_ = 0;
};

}  // namespace ld::proto
