#include "common/url.hpp"

#include <charconv>

#include "core/text.hpp"

namespace ld::proto {

bool has_line_break_or_nul(std::string_view text) noexcept {
  return text.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
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

bool parse_host_port(std::string_view text, std::string& host, std::uint16_t& port,
                     std::string& error) {
  std::string_view h, p;
  if (!text.empty() && text.front() == '[') {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos) {
      error = "unterminated '[' in an IPv6 address";
      return false;
    }
    h = text.substr(1, close - 1);
    if (close + 1 >= text.size() || text[close + 1] != ':') {
      error = "needs a port after the address (\"[::1]:9000\")";
      return false;
    }
    p = text.substr(close + 2);
  } else {
    const std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      error = "needs a port (\"host:port\")";
      return false;
    }
    h = text.substr(0, colon);
    p = text.substr(colon + 1);
    if (h.find(':') != std::string_view::npos) {
      error = "IPv6 addresses go in brackets (\"[::1]:9000\")";
      return false;
    }
  }
  if (h.empty()) {
    error = "empty host";
    return false;
  }
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), value);
  if (p.empty() || ec != std::errc() || end != p.data() + p.size() || value == 0 || value > 65535) {
    error = "port '" + std::string(p) + "' is not a number from 1 to 65535";
    return false;
  }
  host.assign(h);
  port = static_cast<std::uint16_t>(value);
  return true;
}

namespace {

void set_host_header(Url& u, std::uint16_t default_port) {
  const bool v6 = u.host.find(':') != std::string::npos;
  u.host_header.clear();
  if (v6) u.host_header += '[';
  u.host_header += u.host;
  if (v6) u.host_header += ']';
  if (u.port != default_port) {
    char digits[8];
    const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, u.port);
    u.host_header += ':';
    u.host_header.append(digits, end);
  }
}

std::string expected(std::span<const Scheme> schemes) {
  std::string allowed;
  for (const auto& s : schemes)
    allowed += (allowed.empty() ? "" : ", ") + std::string(s.name) + "://";
  return allowed;
}

}  // namespace

bool parse_url(std::string_view text, std::span<const Scheme> schemes, Url& out,
               std::string& error) {
  if (has_line_break_or_nul(text)) {
    error = "URL contains a line break or NUL byte";
    return false;
  }
  const std::size_t sep = text.find("://");
  if (sep == std::string_view::npos) {
    error = "not an absolute URL (expected " + expected(schemes) + ")";
    return false;
  }
  const std::string_view scheme = text.substr(0, sep);
  const Scheme* found = nullptr;
  for (const auto& s : schemes) {
    if (text::iequals(s.name, scheme)) found = &s;
  }
  if (!found) {
    error = "scheme '" + text::lower(scheme) + "' is not supported here (expected " +
            expected(schemes) + ")";
    return false;
  }
  const std::string_view rest = text.substr(sep + 3);
  const std::size_t path_at = rest.find_first_of("/?#");
  const std::string_view authority = rest.substr(0, path_at);
  std::string_view target =
      path_at == std::string_view::npos ? std::string_view{} : rest.substr(path_at);
  if (const std::size_t hash = target.find('#'); hash != std::string_view::npos) {
    target = target.substr(0, hash);
  }
  if (authority.find('@') != std::string_view::npos) {
    error = "user:password@ in the URL is not supported; send an Authorization header";
    return false;
  }
  const bool has_port = !authority.empty() && authority.front() == '['
                            ? authority.find("]:") != std::string_view::npos
                            : authority.find(':') != std::string_view::npos;
  if (has_port) {
    if (!parse_host_port(authority, out.host, out.port, error)) return false;
  } else {
    std::string_view host = authority;
    if (!host.empty() && host.front() == '[') {
      if (host.back() != ']') {
        error = "unterminated '[' in an IPv6 address";
        return false;
      }
      host = host.substr(1, host.size() - 2);
    }
    if (host.empty()) {
      error = "no host";
      return false;
    }
    out.host.assign(host);
    out.port = found->default_port;
  }
  for (const char ch : out.host) {
    const auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c == 0x7f) {
      error = "URL host contains a space or control character";
      return false;
    }
  }
  out.scheme = found->name;
  out.tls = found->tls;
  out.target.clear();
  if (target.empty() || target.front() == '?') out.target.push_back('/');
  append_target(out.target, target);  // line breaks and NUL were rejected above
  set_host_header(out, found->default_port);
  out.text.assign(text);
  return true;
}

bool resolve_location(const Url& base, std::string_view loc, Url& out, std::string& error) {
  if (loc.find("://") != std::string_view::npos) return parse_url(loc, out, error);
  if (has_line_break_or_nul(loc)) {
    error = "redirect location contains a line break or NUL byte";
    return false;
  }
  if (loc.starts_with("//")) {
    return parse_url(std::string(base.scheme) + ":" + std::string(loc), out, error);
  }
  out = base;
  if (const auto hash = loc.find('#'); hash != std::string_view::npos) loc = loc.substr(0, hash);
  if (loc.starts_with("/")) {
    out.target.clear();
    append_target(out.target, loc);
  } else {
    // Relative path: replace the last segment of the base path.
    out.target.assign(base.target, 0, base.target.find('?'));
    out.target.resize(out.target.rfind('/') + 1);
    append_target(out.target, loc);
  }
  out.text.assign(base.scheme);
  out.text += "://";
  out.text += out.host_header;
  out.text += out.target;
  return true;
}

bool percent_decode(std::string_view in, std::string& out) {
  out.clear();
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out += in[i];
      continue;
    }
    if (i + 2 >= in.size()) return false;
    int v = 0;
    auto [p, ec] = std::from_chars(in.data() + i + 1, in.data() + i + 3, v, 16);
    if (ec != std::errc{} || p != in.data() + i + 3) return false;
    out += static_cast<char>(v);
    i += 2;
  }
  return true;
}

}  // namespace ld::proto
