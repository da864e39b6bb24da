#include "core/json_util.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <utility>
#include <vector>

#include "loaddensity/core/error.hpp"

namespace ld {

const char* json_type_name(const Json& v) noexcept {
  switch (v.type()) {
    case Json::value_t::object: return "object";
    case Json::value_t::array: return "array";
    case Json::value_t::string: return "string";
    case Json::value_t::boolean: return "boolean";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned: return "integer";
    case Json::value_t::number_float: return "number";
    case Json::value_t::null: return "null";
    default: return "value";
  }
}

std::string pointer_token(std::string_view key) {
  std::string out;
  out.reserve(key.size());
  for (char c : key) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

std::string json_display(const Json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "None";
  return v.dump();
}

namespace {

// Writes compact JSON until `limit` characters are out. Every nested level writes at least
// one character first, so the recursion is never deeper than `limit` (and kMaxBriefDepth).
class BriefWriter {
 public:
  BriefWriter(std::string& out, std::size_t limit) : out_(out), limit_(limit) {}

  void value(const Json& v, std::size_t depth) {
    if (full()) return;
    if (depth > kMaxBriefDepth) {
      out_ += "...";
      return;
    }
    switch (v.type()) {
      case Json::value_t::object: {
        out_ += '{';
        bool first = true;
        for (auto it = v.begin(); it != v.end(); ++it) {
          if (full()) return;
          if (!first) out_ += ',';
          first = false;
          string(it.key());
          out_ += ':';
          value(it.value(), depth + 1);
        }
        out_ += '}';
        break;
      }
      case Json::value_t::array: {
        out_ += '[';
        bool first = true;
        for (const Json& e : v) {
          if (full()) return;
          if (!first) out_ += ',';
          first = false;
          value(e, depth + 1);
        }
        out_ += ']';
        break;
      }
      case Json::value_t::string:
        string(v.get_ref<const std::string&>());
        break;
      default:
        out_ += v.dump(-1, ' ', false, Json::error_handler_t::replace);
        break;
    }
  }

 private:
  static constexpr std::size_t kMaxBriefDepth = 64;
  bool full() const noexcept { return out_.size() > limit_; }
  void string(const std::string& s) {
    // Escape only what can still be shown.
    const std::size_t room = limit_ + 1 > out_.size() ? limit_ + 1 - out_.size() : 1;
    const Json head = s.size() > room ? s.substr(0, room) : s;
    std::string d = head.dump(-1, ' ', false, Json::error_handler_t::replace);
    if (s.size() > room) d.pop_back();  // the string goes on: no closing quote
    out_ += d;
  }

  std::string& out_;
  std::size_t limit_;
};

std::string number_text(double d) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.15g", d);
  return buf;
}

[[noreturn]] void fail_at(std::string_view text, std::size_t byte, const std::string& source,
                          const std::string& why) {
  const LineCol lc = line_col(text, byte);
  throw ConfigError(source + ":" + std::to_string(lc.line) + ":" + std::to_string(lc.column) +
                    ": " + why);
}

// One pass over the text outside strings: nesting depth and number magnitudes.
void prescan(std::string_view text, const std::string& source, std::size_t max_depth) {
  std::size_t depth = 0;
  const std::size_t n = text.size();
  for (std::size_t i = 0; i < n; ++i) {
    const char c = text[i];
    switch (c) {
      case '"':
        for (++i; i < n && text[i] != '"'; ++i) {
          if (text[i] == '\\') ++i;
        }
        break;
      case '[':
      case '{':
        if (++depth > max_depth) {
          fail_at(text, i, source,
                  "JSON nested more than " + std::to_string(max_depth) +
                      " levels deep (the limit for [ and {; see docs/limits.md)");
        }
        break;
      case ']':
      case '}':
        if (depth > 0) --depth;
        break;
      case '-':
      case '0':
      case '1':
      case '2':
      case '3':
      case '4':
      case '5':
      case '6':
      case '7':
      case '8':
      case '9': {
        std::size_t j = i;
        bool exponent = false;
        while (j < n && (std::isdigit(static_cast<unsigned char>(text[j])) || text[j] == '.' ||
                         text[j] == 'e' || text[j] == 'E' || text[j] == '+' || text[j] == '-')) {
          exponent = exponent || text[j] == 'e' || text[j] == 'E';
          ++j;
        }
        // Only an exponent or a very long mantissa can leave the range of a double.
        if (exponent || j - i > 300) {
          const std::string token(text.substr(i, j - i));
          const double d = std::strtod(token.c_str(), nullptr);
          if (std::isinf(d)) {
            fail_at(text, i, source,
                    "number " + (token.size() > 40 ? token.substr(0, 37) + "..." : token) +
                        " is out of range (a number must fit a double, |x| < 1.8e308)");
          }
        }
        i = j - 1;
        break;
      }
      default:
        break;
    }
  }
}

}  // namespace

std::string json_brief(const Json& v, std::size_t max) {
  if (max < 4) max = 4;
  std::string s;
  BriefWriter w(s, max);
  w.value(v, 0);
  if (s.size() > max) {
    s.resize(max - 3);
    s += "...";
  }
  return s;
}

LineCol line_col(std::string_view text, std::size_t pos) {
  LineCol lc;
  for (std::size_t i = 0; i < pos && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++lc.line;
      lc.column = 1;
    } else {
      ++lc.column;
    }
  }
  return lc;
}

Json parse_json_text(std::string_view text, const std::string& source, std::size_t max_depth) {
  prescan(text, source, max_depth);
  try {
    return Json::parse(text.begin(), text.end());
  } catch (const Json::parse_error& e) {
    // nlohmann reports the byte at which parsing stopped; turn it into line:column.
    std::string what = e.what();
    if (auto p = what.find("parse error"); p != std::string::npos) what = what.substr(p);
    fail_at(text, e.byte > 0 ? e.byte - 1 : 0, source, "not valid JSON: " + what);
  } catch (const Json::exception& e) {
    std::string what = e.what();
    if (auto p = what.find("] "); p != std::string::npos) what = what.substr(p + 2);
    throw ConfigError(source + ": not valid JSON: " + what);
  }
}

std::size_t json_depth(const Json& v) {
  std::size_t deepest = 0;
  std::vector<std::pair<const Json*, std::size_t>> stack{{&v, 0}};
  while (!stack.empty()) {
    auto [j, d] = stack.back();
    stack.pop_back();
    if (!j->is_structured()) continue;
    deepest = std::max(deepest, d + 1);
    for (const Json& child : *j) stack.emplace_back(&child, d + 1);
  }
  return deepest;
}

std::string byte_size_text(std::uint64_t bytes) {
  const char* units[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  if (u == 0) return std::to_string(bytes) + " bytes";
  char buf[32];
  std::snprintf(buf, sizeof buf, v == std::floor(v) ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

std::string read_input_file(const std::string& path, std::size_t max_bytes,
                            const std::string& what) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    throw ConfigError("cannot open '" + path + "' (" + what + "): " + std::strerror(errno));
  }
  if (S_ISDIR(st.st_mode)) {
    throw ConfigError(path + ": is a directory; the " + what + " must be a regular file");
  }
  if (!S_ISREG(st.st_mode)) {
    throw ConfigError(path + ": not a regular file; the " + what +
                      " must be a regular file (devices, pipes and sockets are refused)");
  }
  auto too_big = [&](std::uint64_t size) {
    return ConfigError(path + ": " + what + " of " + byte_size_text(size) + " is over the " +
                       byte_size_text(max_bytes) + " limit (see docs/limits.md)");
  };
  if (static_cast<std::uint64_t>(st.st_size) > max_bytes) throw too_big(st.st_size);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError("cannot open '" + path + "' (" + what + "): " + std::strerror(errno));
  std::string data(static_cast<std::size_t>(st.st_size), '\0');
  in.read(data.data(), static_cast<std::streamsize>(data.size()));
  data.resize(static_cast<std::size_t>(in.gcount()));
  if (in && in.peek() != std::char_traits<char>::eof()) {
    throw too_big(max_bytes + 1);  // the file grew while being read
  }
  return data;
}

double number_in_range(const Json& v, const std::string& what, double lo, double hi, bool lo_open,
                       const std::string& ptr, std::string_view unit) {
  const bool num = v.is_number();
  const double d = num ? v.get<double>() : 0.0;
  if (num && (lo_open ? d > lo : d >= lo) && d <= hi) return d;
  std::string range = lo_open ? "a number > " + number_text(lo) + " and <= " + number_text(hi)
                              : "a number between " + number_text(lo) + " and " + number_text(hi);
  if (!unit.empty()) range += " " + std::string(unit);
  throw ConfigError(
      what + " must be " + range + ", got " +
          (num ? number_text(d) : std::string(json_type_name(v)) + " " + json_brief(v, 40)),
      ptr);
}

double seconds_in_range(const Json& v, const std::string& what, const std::string& ptr,
                        bool zero_ok) {
  return number_in_range(v, what, 0, limits::kMaxSeconds, !zero_ok, ptr, "seconds (10 years)");
}

}  // namespace ld
