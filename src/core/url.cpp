#include "core/url.hpp"

#include <charconv>

#include "core/text.hpp"

namespace ld {

bool has_line_break_or_nul(std::string_view text) noexcept {
  for (const char c : text) {
    if (c == '\r' || c == '\n' || c == '\0') return true;
  }
  return false;
}

bool append_target(std::string& out, std::string_view target) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (const char ch : target) {
    const auto c = static_cast<unsigned char>(ch);
    if (c > 0x20 && c < 0x7f) {
      out.push_back(ch);
    } else if (c == '\r' || c == '\n' || c == 0) {
      return false;
    } else {
      const char esc[3] = {'%', kHex[c >> 4], kHex[c & 15]};
      out.append(esc, 3);
    }
  }
  return true;
}

bool parse_url(std::string_view s, Url& out, std::string& error) {
  if (has_line_break_or_nul(s)) {
    error = "URL contains a line break or NUL byte";
    return false;
  }
  const auto scheme_end = s.find("://");
  if (scheme_end == std::string_view::npos) {
    error = "not an absolute URL (expected http://host/path or https://...)";
    return false;
  }
  const std::string_view scheme = s.substr(0, scheme_end);
  if (text::iequals(scheme, "http")) {
    out.tls = false;
  } else if (text::iequals(scheme, "https")) {
    out.tls = true;
  } else {
    error = "unsupported scheme '" + std::string(scheme) + "' (http or https)";
    return false;
  }
  std::string_view rest = s.substr(scheme_end + 3);
  const auto path_start = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, path_start);
  std::string_view target = path_start == std::string_view::npos ? "" : rest.substr(path_start);
  if (const auto at = authority.rfind('@'); at != std::string_view::npos) {
    authority = authority.substr(at + 1);  // credentials in URLs are not sent
  }
  std::string_view host = authority;
  std::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) {
      error = "bad IPv6 host";
      return false;
    }
    host = authority.substr(1, close - 1);
    if (close + 1 < authority.size() && authority[close + 1] == ':') {
      port_text = authority.substr(close + 2);
    }
  } else if (const auto colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port_text = authority.substr(colon + 1);
  }
  if (host.empty()) {
    error = "URL has no host";
    return false;
  }
  for (const char ch : host) {
    const auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c == 0x7f) {
      error = "URL host contains a space or control character";
      return false;
    }
  }
  out.host.assign(host);
  out.port = out.tls ? 443 : 80;
  if (!port_text.empty()) {
    unsigned p = 0;
    auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), p);
    if (ec != std::errc{} || ptr != port_text.data() + port_text.size() || p == 0 || p > 65535) {
      error = "bad port '" + std::string(port_text) + "'";
      return false;
    }
    out.port = static_cast<std::uint16_t>(p);
  }
  if (const auto hash = target.find('#'); hash != std::string_view::npos) {
    target = target.substr(0, hash);
  }
  out.target.clear();
  if (target.empty() || target.front() == '?') out.target.push_back('/');
  append_target(out.target, target);  // line breaks and NUL were rejected above
  const bool v6 = out.host.find(':') != std::string::npos;
  out.host_header = v6 ? "[" + out.host + "]" : out.host;
  if (out.port != (out.tls ? 443 : 80)) out.host_header += ":" + std::to_string(out.port);
  return true;
}

bool resolve_location(const Url& base, std::string_view loc, Url& out, std::string& error) {
  if (loc.find("://") != std::string_view::npos) return parse_url(loc, out, error);
  if (has_line_break_or_nul(loc)) {
    error = "redirect location contains a line break or NUL byte";
    return false;
  }
  out = base;
  if (loc.starts_with("//")) {
    return parse_url(std::string(base.tls ? "https:" : "http:") + std::string(loc), out, error);
  }
  if (const auto hash = loc.find('#'); hash != std::string_view::npos) loc = loc.substr(0, hash);
  if (loc.starts_with("/")) {
    out.target.clear();
    append_target(out.target, loc);
    return true;
  }
  // Relative path: replace the last segment of the base path.
  std::string dir = base.target.substr(0, base.target.find('?'));
  dir = dir.substr(0, dir.rfind('/') + 1);
  out.target = dir;
  append_target(out.target, loc);
  return true;
}

}  // namespace ld
