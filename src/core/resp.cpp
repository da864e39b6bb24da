#include "core/resp.hpp"

#include <charconv>

namespace ld::resp {

namespace {

bool parse_int(std::string_view s, std::int64_t& out) noexcept {
  if (s.empty() || s.size() > 20) return false;
  const char* b = s.data();
  const char* e = b + s.size();
  if (*b == '+') ++b;  // from_chars takes '-' but not '+'
  auto [p, ec] = std::from_chars(b, e, out);
  return ec == std::errc{} && p == e;
}

void append_number(std::string& out, std::int64_t v) {
  char buf[24];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, p);
}

// Appends the element at `pos` of a complete reply as JSON; returns the position after it.
std::size_t element_json(std::string_view in, std::size_t pos, std::string& out, std::size_t depth,
                         std::size_t max_depth) {
  const std::size_t crlf = in.find("\r\n", pos + 1);
  const std::string_view body = in.substr(pos + 1, crlf - pos - 1);
  std::size_t next = crlf + 2;
  std::int64_t n = 0;
  switch (in[pos]) {
    case '+': append_json_string(out, body); break;
    case '-': append_json_string(out, body); break;
    case ':':
      parse_int(body, n);
      append_number(out, n);
      break;
    case '$':
      parse_int(body, n);
      if (n < 0) {
        out += "null";
        break;
      }
      append_json_string(out, in.substr(next, static_cast<std::size_t>(n)));
      next += static_cast<std::size_t>(n) + 2;
      break;
    default:  // '*'
      parse_int(body, n);
      if (n < 0) {
        out += "null";
        break;
      }
      if (depth >= max_depth) {
        Reply skipped;
        scan_reply(in.substr(pos), skipped);
        out += "null";
        return pos + skipped.size;
      }
      out += '[';
      for (std::int64_t i = 0; i < n; ++i) {
        if (i > 0) out += ',';
        next = element_json(in, next, out, depth + 1, max_depth);
      }
      out += ']';
      break;
  }
  return next;
}

}  // namespace

void append_json_string(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20) {
      out += "\\u00";
      out += kHex[u >> 4];
      out += kHex[u & 15];
    } else {
      out += c;
    }
  }
  out += '"';
}

Scan scan_reply(std::string_view in, Reply& out) noexcept {
  std::size_t pos = 0;
  std::uint64_t pending = 1;  // elements still to frame
  bool first = true;
  while (pending > 0) {
    if (pos >= in.size()) return Scan::kIncomplete;
    const char type = in[pos];
    const std::size_t crlf = in.find("\r\n", pos + 1);
    if (crlf == std::string_view::npos) {
      // A header line is short; a type byte we do not know is malformed at once.
      if (type != '+' && type != '-' && type != ':' && type != '$' && type != '*') {
        return Scan::kMalformed;
      }
      return Scan::kIncomplete;
    }
    const std::string_view body = in.substr(pos + 1, crlf - pos - 1);
    std::size_t next = crlf + 2;
    Reply r;
    switch (type) {
      case '+': r.type = Type::kSimple, r.text = body; break;
      case '-': r.type = Type::kError, r.text = body; break;
      case ':':
        if (!parse_int(body, r.integer)) return Scan::kMalformed;
        r.type = Type::kInteger;
        r.text = body;
        break;
      case '$': {
        std::int64_t n = 0;
        if (!parse_int(body, n) || n < -1 || n > kMaxBulk) return Scan::kMalformed;
        if (n == -1) {
          r.type = Type::kNil;
          break;
        }
        const auto len = static_cast<std::size_t>(n);
        if (in.size() < next + len + 2) return Scan::kIncomplete;
        if (in[next + len] != '\r' || in[next + len + 1] != '\n') return Scan::kMalformed;
        r.type = Type::kBulk;
        r.text = in.substr(next, len);
        next += len + 2;
        break;
      }
      case '*': {
        std::int64_t n = 0;
        if (!parse_int(body, n) || n < -1 || n > kMaxElements) return Scan::kMalformed;
        if (n == -1) {
          r.type = Type::kNil;
          break;
        }
        r.type = Type::kArray;
        r.integer = n;
        pending += static_cast<std::uint64_t>(n);
        break;
      }
      default: return Scan::kMalformed;
    }
    if (first) out = r;
    first = false;
    --pending;
    pos = next;
  }
  out.size = pos;
  return Scan::kComplete;
}

void append_json(std::string_view reply, std::string& out, std::size_t max_depth) {
  if (reply.empty()) return;
  element_json(reply, 0, out, 0, max_depth);
}

void append_array_header(std::string& out, std::size_t n) {
  out += '*';
  append_number(out, static_cast<std::int64_t>(n));
  out += "\r\n";
}

void append_bulk(std::string& out, std::string_view bytes) {
  out += '$';
  append_number(out, static_cast<std::int64_t>(bytes.size()));
  out += "\r\n";
  out.append(bytes);
  out += "\r\n";
}

void append_command(std::string& out, const std::vector<std::string_view>& args) {
  append_array_header(out, args.size());
  for (const auto a : args) append_bulk(out, a);
}

void append_simple(std::string& out, std::string_view text) {
  out += '+';
  out.append(text);
  out += "\r\n";
}

void append_error(std::string& out, std::string_view message) {
  out += '-';
  out.append(message);
  out += "\r\n";
}

void append_integer(std::string& out, std::int64_t value) {
  out += ':';
  append_number(out, value);
  out += "\r\n";
}

void append_nil(std::string& out) { out += "$-1\r\n"; }

Scan scan_command(std::string_view in, std::vector<std::string_view>& args,
                  std::size_t& consumed) {
  args.clear();
  if (in.empty()) return Scan::kIncomplete;
  if (in.front() != '*') {  // inline command
    const std::size_t eol = in.find('\n');
    if (eol == std::string_view::npos) return Scan::kIncomplete;
    std::string_view line = in.substr(0, eol);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    std::size_t i = 0;
    while (i < line.size()) {
      while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
      const std::size_t start = i;
      while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
      if (i > start) args.push_back(line.substr(start, i - start));
    }
    consumed = eol + 1;
    return Scan::kComplete;
  }
  const std::size_t crlf = in.find("\r\n");
  if (crlf == std::string_view::npos) return Scan::kIncomplete;
  std::int64_t n = 0;
  if (!parse_int(in.substr(1, crlf - 1), n) || n < 0 || n > 1024 * 1024) return Scan::kMalformed;
  std::size_t pos = crlf + 2;
  for (std::int64_t i = 0; i < n; ++i) {
    if (pos >= in.size()) return Scan::kIncomplete;
    if (in[pos] != '$') return Scan::kMalformed;
    const std::size_t e = in.find("\r\n", pos + 1);
    if (e == std::string_view::npos) return Scan::kIncomplete;
    std::int64_t len = 0;
    if (!parse_int(in.substr(pos + 1, e - pos - 1), len) || len < 0 || len > kMaxBulk) {
      return Scan::kMalformed;
    }
    const std::size_t start = e + 2;
    const auto ulen = static_cast<std::size_t>(len);
    if (in.size() < start + ulen + 2) return Scan::kIncomplete;
    if (in[start + ulen] != '\r' || in[start + ulen + 1] != '\n') return Scan::kMalformed;
    args.push_back(in.substr(start, ulen));
    pos = start + ulen + 2;
  }
  consumed = pos;
  return Scan::kComplete;
}

}  // namespace ld::resp
