#include "common/cookie_jar.hpp"

#include <algorithm>
#include <chrono>

#include "core/text.hpp"

namespace ld::proto {

namespace {

std::string_view trim(std::string_view s) { return text::trim_header(s); }

bool is_digit(char c) { return c >= '0' && c <= '9'; }

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool is_ip(std::string_view host) {
  if (host.find(':') != std::string_view::npos) return true;  // IPv6 literal
  if (host.empty()) return false;
  return std::all_of(host.begin(), host.end(), [](char c) { return is_digit(c) || c == '.'; });
}

// RFC 6265 5.1.1 delimiter.
bool is_delimiter(unsigned char c) {
  return c == 0x09 || (c >= 0x20 && c <= 0x2F) || (c >= 0x3B && c <= 0x40) ||
         (c >= 0x5B && c <= 0x60) || (c >= 0x7B && c <= 0x7E);
}

// Leading 1..max_digits digits of `s` not followed by another digit; `rest` is what follows.
bool leading_number(std::string_view s, std::size_t min_digits, std::size_t max_digits, int& value,
                    std::string_view& rest) {
  std::size_t n = 0;
  value = 0;
  while (n < s.size() && is_digit(s[n])) {
    if (n == max_digits) return false;
    value = value * 10 + (s[n] - '0');
    ++n;
  }
  if (n < min_digits) return false;
  rest = s.substr(n);
  return true;
}

// hh:mm:ss (1-2 digits each), optionally followed by non-digits.
bool parse_time(std::string_view token, int& h, int& m, int& s) {
  std::string_view rest;
  if (!leading_number(token, 1, 2, h, rest) || rest.empty() || rest[0] != ':') return false;
  if (!leading_number(rest.substr(1), 1, 2, m, rest) || rest.empty() || rest[0] != ':')
    return false;
  return leading_number(rest.substr(1), 1, 2, s, rest);
}

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

}  // namespace

std::int64_t CookieJar::now() noexcept {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool CookieJar::parse_date(std::string_view text, std::int64_t& unix_seconds) {
  static constexpr std::string_view kMonths[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                                 "jul", "aug", "sep", "oct", "nov", "dec"};
  bool have_time = false, have_day = false, have_month = false, have_year = false;
  int hour = 0, minute = 0, second = 0, day = 0, month = 0, year = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && is_delimiter(static_cast<unsigned char>(text[i]))) ++i;
    std::size_t end = i;
    while (end < text.size() && !is_delimiter(static_cast<unsigned char>(text[end]))) ++end;
    // A time token holds ':' which is a delimiter: take the token up to the next delimiter
    // other than ':'.
    std::size_t tend = i;
    while (tend < text.size() &&
           (text[tend] == ':' || !is_delimiter(static_cast<unsigned char>(text[tend])))) {
      ++tend;
    }
    const std::string_view token = text.substr(i, end - i);
    if (token.empty()) break;
    std::string_view rest;
    int v = 0;
    if (!have_time && parse_time(text.substr(i, tend - i), hour, minute, second)) {
      have_time = true;
      end = tend;
    } else if (!have_day && leading_number(token, 1, 2, v, rest) &&
               (rest.empty() || !is_digit(rest[0]))) {
      have_day = true;
      day = v;
    } else if (!have_month && token.size() >= 3 &&
               std::find_if(std::begin(kMonths), std::end(kMonths), [&](std::string_view m) {
                 return text::iequals(token.substr(0, 3), m);
               }) != std::end(kMonths)) {
      have_month = true;
      for (int k = 0; k < 12; ++k) {
        if (text::iequals(token.substr(0, 3), kMonths[k])) month = k + 1;
      }
    } else if (!have_year && leading_number(token, 2, 4, v, rest)) {
      have_year = true;
      year = v;
    }
    i = end;
  }
  if (!(have_time && have_day && have_month && have_year)) return false;
  if (year >= 70 && year <= 99) year += 1900;
  if (year >= 0 && year <= 69) year += 2000;
  if (day < 1 || day > 31 || year < 1601 || hour > 23 || minute > 59 || second > 59) return false;
  unix_seconds =
      days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day)) * 86400 +
      hour * 3600 + minute * 60 + second;
  return true;
}

bool CookieJar::domain_match(std::string_view host, std::string_view domain) noexcept {
  if (text::iequals(host, domain)) return true;
  if (domain.empty() || host.size() <= domain.size() || is_ip(host)) return false;
  const std::size_t at = host.size() - domain.size();
  return host[at - 1] == '.' && text::iequals(host.substr(at), domain);
}

bool CookieJar::path_match(std::string_view request_path, std::string_view cookie_path) noexcept {
  if (request_path == cookie_path) return true;
  if (!request_path.starts_with(cookie_path)) return false;
  return cookie_path.ends_with('/') || request_path[cookie_path.size()] == '/';
}

std::string_view CookieJar::path_of(std::string_view target) noexcept {
  return target.substr(0, std::min(target.find_first_of("?#"), target.size()));
}

bool CookieJar::set(std::string_view set_cookie, std::string_view host,
                    std::string_view request_path, std::int64_t now) {
  // name=value, then ;-separated attributes (RFC 6265 5.2).
  const std::size_t semi = set_cookie.find(';');
  const std::string_view pair = set_cookie.substr(0, semi);
  std::string_view attrs =
      semi == std::string_view::npos ? std::string_view{} : set_cookie.substr(semi + 1);
  const std::size_t eq = pair.find('=');
  if (eq == std::string_view::npos) return false;
  const std::string_view name = trim(pair.substr(0, eq));
  const std::string_view value = trim(pair.substr(eq + 1));
  if (name.empty() || name.size() + value.size() > kMaxCookieBytes) return false;

  std::int64_t expires = kSession;
  bool have_max_age = false;
  std::string_view domain_attr, path_attr;
  bool secure = false;
  while (!attrs.empty()) {
    const std::size_t next = attrs.find(';');
    const std::string_view av = attrs.substr(0, next);
    attrs = next == std::string_view::npos ? std::string_view{} : attrs.substr(next + 1);
    const std::size_t aeq = av.find('=');
    const std::string_view key = trim(av.substr(0, aeq));
    const std::string_view val =
        aeq == std::string_view::npos ? std::string_view{} : trim(av.substr(aeq + 1));
    if (text::iequals(key, "expires")) {
      std::int64_t t;
      if (!have_max_age && parse_date(val, t)) expires = t;
    } else if (text::iequals(key, "max-age")) {
      // -?DIGIT+; anything else ignores the attribute. It wins over Expires.
      std::string_view digits = val;
      const bool negative = !digits.empty() && digits[0] == '-';
      if (negative) digits.remove_prefix(1);
      if (digits.empty() || !std::all_of(digits.begin(), digits.end(), is_digit)) continue;
      have_max_age = true;
      std::int64_t delta = 0;
      for (char c : digits) {
        if (delta > (kSession / 10)) break;  // saturate: far enough in the future
        delta = delta * 10 + (c - '0');
      }
      if (negative || delta == 0) {
        expires = std::numeric_limits<std::int64_t>::min();
      } else {
        expires = delta > kSession - now ? kSession - 1 : now + delta;
      }
    } else if (text::iequals(key, "domain")) {
      if (!val.empty()) domain_attr = val.front() == '.' ? val.substr(1) : val;
    } else if (text::iequals(key, "path")) {
      path_attr = val;
    } else if (text::iequals(key, "secure")) {
      secure = true;
    }
  }

  Cookie c;
  if (!domain_attr.empty()) {
    // A single label is treated as a public suffix: only the host itself may be named.
    const bool single_label = domain_attr.find('.') == std::string_view::npos;
    if (single_label && !text::iequals(domain_attr, host)) return false;
    if (!domain_match(host, domain_attr)) return false;
    // Domain=<the host> from that host is a domain cookie (it reaches subdomains), except for
    // a single label, which stays host-only.
    c.host_only = single_label;
    c.domain.assign(domain_attr);
  } else {
    c.host_only = true;
    c.domain.assign(host);
  }
  for (auto& ch : c.domain) ch = lower(ch);
  if (!path_attr.empty() && path_attr.front() == '/') {
    c.path.assign(path_attr);
  } else {
    // Default path: the request path up to its last '/', or "/".
    const std::size_t slash = request_path.rfind('/');
    if (request_path.empty() || request_path.front() != '/' || slash == 0 ||
        slash == std::string_view::npos) {
      c.path = "/";
    } else {
      c.path.assign(request_path.substr(0, slash));
    }
  }
  c.name.assign(name);
  c.value.assign(value);
  c.expires = expires;
  c.secure = secure;

  auto same = std::find_if(cookies_.begin(), cookies_.end(), [&](const Cookie& o) {
    return o.name == c.name && o.domain == c.domain && o.path == c.path;
  });
  if (same != cookies_.end()) {
    if (c.expires <= now) {
      cookies_.erase(same);
      return true;
    }
    c.created = same->created;
    *same = std::move(c);  // same path: its place in the order is unchanged
    return true;
  }
  if (c.expires <= now) return true;  // already expired: nothing to store
  c.created = next_created_++;
  if (cookies_.size() >= kMaxCookies) {
    cookies_.erase(
        std::min_element(cookies_.begin(), cookies_.end(),
                         [](const Cookie& a, const Cookie& b) { return a.created < b.created; }));
  }
  // Newest: after every cookie whose path is at least as long.
  auto at = std::find_if(cookies_.begin(), cookies_.end(),
                         [&](const Cookie& o) { return o.path.size() < c.path.size(); });
  cookies_.insert(at, std::move(c));
  return true;
}

std::size_t CookieJar::append_header(std::string& out, std::string_view host, std::string_view path,
                                     bool secure, std::int64_t now, std::string_view overrides) {
  auto overridden = [&](std::string_view name) {
    std::string_view rest = overrides;
    while (!rest.empty()) {
      const std::size_t semi = rest.find(';');
      const std::string_view pair = trim(rest.substr(0, semi));
      rest = semi == std::string_view::npos ? std::string_view{} : rest.substr(semi + 1);
      if (trim(pair.substr(0, pair.find('='))) == name) return true;
    }
    return false;
  };
  std::size_t n = 0;
  bool any_expired = false;
  for (const Cookie& c : cookies_) {
    if (c.expires <= now) {
      any_expired = true;
      continue;
    }
    if (c.secure && !secure) continue;
    if (c.host_only ? !text::iequals(host, c.domain) : !domain_match(host, c.domain)) continue;
    if (!path_match(path, c.path)) continue;
    if (!overrides.empty() && overridden(c.name)) continue;
    if (!out.empty()) out += "; ";
    out += c.name;
    out += '=';
    out += c.value;
    ++n;
  }
  if (any_expired) {
    std::erase_if(cookies_, [now](const Cookie& c) { return c.expires <= now; });
  }
  return n;
}

}  // namespace ld::proto
