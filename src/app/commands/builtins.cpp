// The original's safe Python builtins on JSON values, and the refused names (docs/builtins.md).
// Every argument is literal JSON, so each pure builtin runs once as its own validator: a
// TypeError or ValueError Python would raise is bad input found before the first action runs.
#include "app/commands/builtins.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <ostream>
#include <random>
#include <string_view>
#include <vector>

#include "action/registry.hpp"
#include "app/app.hpp"
#include "app/commands/commands.hpp"
#include "common/format.hpp"
#include "loaddensity/core/error.hpp"

namespace ld::app {

using action::Args;
using action::Command;
namespace A = action;

namespace {

using i128 = __int128;
using u128 = unsigned __int128;

[[noreturn]] void fail(const std::string& msg) { throw ConfigError(msg); }

std::string py_type(const Json& v) {
  switch (v.type()) {
    case Json::value_t::null:
      return "NoneType";
    case Json::value_t::boolean:
      return "bool";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
      return "int";
    case Json::value_t::number_float:
      return "float";
    case Json::value_t::string:
      return "str";
    case Json::value_t::array:
      return "list";
    case Json::value_t::object:
      return "dict";
    default:
      return "object";
  }
}

bool is_int(const Json& v) { return v.is_boolean() || v.is_number_integer(); }
bool is_num(const Json& v) { return v.is_boolean() || v.is_number(); }

i128 to_i128(const Json& v) {
  if (v.is_boolean()) return v.get<bool>() ? 1 : 0;
  if (v.is_number_unsigned()) return static_cast<i128>(v.get<std::uint64_t>());
  return v.get<std::int64_t>();
}
double to_double(const Json& v) {
  if (v.is_boolean()) return v.get<bool>() ? 1.0 : 0.0;
  return v.get<double>();
}

u128 magnitude(i128 v) { return v < 0 ? -static_cast<u128>(v) : static_cast<u128>(v); }

// The digits of `u` in `base` (2 to 16), lower case.
std::string digits_of(u128 u, int base) {
  std::string s;
  do {
    s += "0123456789abcdef"[static_cast<int>(u % static_cast<unsigned>(base))];
    u /= static_cast<unsigned>(base);
  } while (u);
  std::reverse(s.begin(), s.end());
  return s;
}

std::string i128_text(i128 v) { return (v < 0 ? "-" : "") + digits_of(magnitude(v), 10); }

constexpr i128 kIntMax = static_cast<i128>(std::numeric_limits<std::uint64_t>::max());
constexpr i128 kIntMin = static_cast<i128>(std::numeric_limits<std::int64_t>::min());

// A Python int as JSON: int64, else uint64; anything larger is refused (Python's ints are
// unbounded, JSON numbers here are not).
Json from_i128(i128 v) {
  if (v >= kIntMin && v <= std::numeric_limits<std::int64_t>::max()) {
    return static_cast<std::int64_t>(v);
  }
  if (v > 0 && v <= kIntMax) return static_cast<std::uint64_t>(v);
  fail("OverflowError: the result " + i128_text(v) +
       " does not fit in a JSON integer (-2**63 to 2**64-1)");
}

// An exact int from a finite double already known to be integral (or truncated).
Json int_from_double(double d) {
  if (!(d > -0x1p64 && d < 0x1p64)) {
    fail("OverflowError: the result " + reports::py_float(d) +
         " does not fit in a JSON integer (-2**63 to 2**64-1)");
  }
  return from_i128(static_cast<i128>(d));
}

// ---- UTF-8

std::size_t utf8_len(unsigned char lead) {
  return lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
}

std::vector<std::uint32_t> code_points(std::string_view s) {
  std::vector<std::uint32_t> out;
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    const std::size_t n = std::min(utf8_len(c), s.size() - i);
    std::uint32_t cp = n == 1 ? c : n == 2 ? (c & 0x1Fu) : n == 3 ? (c & 0x0Fu) : (c & 0x07u);
    for (std::size_t k = 1; k < n; ++k)
      cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3Fu);
    out.push_back(cp);
    i += n;
  }
  return out;
}

std::string utf8(std::uint32_t cp) {
  std::string s;
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else if (cp < 0x800) {
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    s += static_cast<char>(0xE0 | (cp >> 12));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    s += static_cast<char>(0xF0 | (cp >> 18));
    s += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return s;
}

std::size_t str_len(std::string_view s) {
  std::size_t n = 0;
  for (const char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

// str.isprintable() without Unicode's tables: controls, separators other than the space,
// format characters, surrogates, private use and noncharacters are not printable; unassigned
// code points count as printable.
bool printable(std::uint32_t cp) {
  if (cp < 0x20 || (cp >= 0x7F && cp <= 0xA0) || cp == 0xAD) return false;
  if (cp < 0x100) return true;
  static constexpr std::uint32_t kRanges[][2] = {
      {0x600, 0x605},     {0x61C, 0x61C},     {0x6DD, 0x6DD},     {0x70F, 0x70F},
      {0x890, 0x891},     {0x8E2, 0x8E2},     {0x1680, 0x1680},   {0x180E, 0x180E},
      {0x2000, 0x200F},   {0x2028, 0x202F},   {0x205F, 0x2064},   {0x2066, 0x206F},
      {0x3000, 0x3000},   {0xD800, 0xF8FF},   {0xFDD0, 0xFDEF},   {0xFEFF, 0xFEFF},
      {0xFFF9, 0xFFFB},   {0x110BD, 0x110BD}, {0x110CD, 0x110CD}, {0x13430, 0x1343F},
      {0x1BCA0, 0x1BCA3}, {0x1D173, 0x1D17A}, {0xE0000, 0xE007F}, {0xF0000, 0x10FFFF}};
  for (const auto& r : kRanges) {
    if (cp >= r[0] && cp <= r[1]) return false;
  }
  return (cp & 0xFFFE) != 0xFFFE;
}

std::string hex_escape(std::uint32_t cp) {
  char buf[16];
  if (cp < 0x100) {
    std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned>(cp));
  } else if (cp < 0x10000) {
    std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(cp));
  } else {
    std::snprintf(buf, sizeof buf, "\\U%08x", static_cast<unsigned>(cp));
  }
  return buf;
}

// Python's repr of a str; `ascii_only` escapes everything past U+007F (ascii()).
std::string str_repr(std::string_view s, bool ascii_only) {
  const bool single =
      s.find('\'') == std::string_view::npos || s.find('"') != std::string_view::npos;
  const char quote = single ? '\'' : '"';
  std::string out(1, quote);
  for (const std::uint32_t cp : code_points(s)) {
    if (cp == static_cast<std::uint32_t>(quote) || cp == '\\') {
      out += '\\';
      out += static_cast<char>(cp);
    } else if (cp == '\t') {
      out += "\\t";
    } else if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\r') {
      out += "\\r";
    } else if (cp < 0x7F && cp >= 0x20) {
      out += static_cast<char>(cp);
    } else if (!printable(cp) || (ascii_only && cp >= 0x7F)) {
      out += hex_escape(cp);
    } else {
      out += utf8(cp);
    }
  }
  out += quote;
  return out;
}

std::string repr_impl(const Json& v, bool ascii_only) {
  switch (v.type()) {
    case Json::value_t::null:
      return "None";
    case Json::value_t::boolean:
      return v.get<bool>() ? "True" : "False";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
      return i128_text(to_i128(v));
    case Json::value_t::number_float:
      return reports::py_float(v.get<double>());
    case Json::value_t::string:
      return str_repr(v.get_ref<const std::string&>(), ascii_only);
    case Json::value_t::array: {
      std::string out = "[";
      for (std::size_t i = 0; i < v.size(); ++i) {
        if (i) out += ", ";
        out += repr_impl(v[i], ascii_only);
      }
      return out + "]";
    }
    case Json::value_t::object: {
      std::string out = "{";
      bool first = true;
      for (auto it = v.begin(); it != v.end(); ++it) {
        if (!first) out += ", ";
        first = false;
        out += str_repr(it.key(), ascii_only) + ": " + repr_impl(it.value(), ascii_only);
      }
      return out + "}";
    }
    default:
      return "<object>";
  }
}

bool truthy(const Json& v) {
  switch (v.type()) {
    case Json::value_t::null:
      return false;
    case Json::value_t::boolean:
      return v.get<bool>();
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
      return to_i128(v) != 0;
    case Json::value_t::number_float:
      return v.get<double>() != 0.0;
    case Json::value_t::string:
      return !v.get_ref<const std::string&>().empty();
    default:
      return !v.empty();
  }
}

// iter(v): a list's items, a str's characters, a dict's keys.
std::vector<Json> items_of(const Json& v) {
  std::vector<Json> out;
  if (v.is_array()) {
    out.assign(v.begin(), v.end());
  } else if (v.is_string()) {
    for (const std::uint32_t cp : code_points(v.get_ref<const std::string&>())) {
      out.emplace_back(utf8(cp));
    }
  } else if (v.is_object()) {
    for (auto it = v.begin(); it != v.end(); ++it) out.emplace_back(it.key());
  } else {
    fail("TypeError: '" + py_type(v) + "' object is not iterable");
  }
  return out;
}

// ---- comparison

// -1, 0, 1 for an int and a finite double, exactly.
int cmp_int_double(i128 n, double d) {
  if (d >= 0x1p100) return -1;
  if (d <= -0x1p100) return 1;
  const double fl = std::floor(d);
  const auto f = static_cast<i128>(fl);
  if (n != f) return n < f ? -1 : 1;
  return d > fl ? -1 : 0;
}

int num_cmp(const Json& a, const Json& b) {
  const bool fa = a.is_number_float(), fb = b.is_number_float();
  if (!fa && !fb) {
    const i128 x = to_i128(a), y = to_i128(b);
    return (x > y) - (x < y);
  }
  if (fa && fb) {
    const double x = a.get<double>(), y = b.get<double>();
    return (x > y) - (x < y);
  }
  return fa ? -cmp_int_double(to_i128(b), a.get<double>())
            : cmp_int_double(to_i128(a), b.get<double>());
}

bool py_eq(const Json& a, const Json& b) {
  if (is_num(a) && is_num(b)) return num_cmp(a, b) == 0;
  if (a.type() != b.type()) return false;
  if (a.is_array()) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (!py_eq(a[i], b[i])) return false;
    }
    return true;
  }
  if (a.is_object()) {
    if (a.size() != b.size()) return false;
    for (auto it = a.begin(); it != a.end(); ++it) {
      const auto other = b.find(it.key());
      if (other == b.end() || !py_eq(it.value(), *other)) return false;
    }
    return true;
  }
  return a == b;
}

// a < b (or a > b with `greater`), as Python orders numbers, strs and lists.
bool py_order(const Json& a, const Json& b, bool greater) {
  int c = 0;
  if (is_num(a) && is_num(b)) {
    c = num_cmp(a, b);
  } else if (a.is_string() && b.is_string()) {
    c = a.get_ref<const std::string&>().compare(b.get_ref<const std::string&>());  // code points
  } else if (a.is_array() && b.is_array()) {
    for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) {
      if (!py_eq(a[i], b[i])) return py_order(a[i], b[i], greater);
    }
    c = (a.size() > b.size()) - (a.size() < b.size());
  } else {
    fail(std::string("TypeError: '") + (greater ? ">" : "<") +
         "' not supported between instances of '" + py_type(a) + "' and '" + py_type(b) + "'");
  }
  return greater ? c > 0 : c < 0;
}

// ---- arithmetic

Json py_add(const Json& a, const Json& b) {
  if (is_num(a) && is_num(b)) {
    if (a.is_number_float() || b.is_number_float()) return to_double(a) + to_double(b);
    return from_i128(to_i128(a) + to_i128(b));
  }
  if (a.is_array() && b.is_array()) {
    Json out = a;
    for (const auto& x : b) out.push_back(x);
    return out;
  }
  if (a.is_string() && b.is_string()) {
    return a.get_ref<const std::string&>() + b.get_ref<const std::string&>();
  }
  fail("TypeError: unsupported operand type(s) for +: '" + py_type(a) + "' and '" + py_type(b) +
       "'");
}

i128 checked_mul(i128 a, i128 b) {
  const u128 ua = magnitude(a);
  const u128 ub = magnitude(b);
  if (ua != 0 && ub > static_cast<u128>(kIntMax) / ua) {
    fail("OverflowError: the result does not fit in a JSON integer (-2**63 to 2**64-1)");
  }
  return a * b;
}

u128 mulmod(u128 a, u128 b, u128 m) { return (a * b) % m; }  // a, b < m <= 2**64

Json int_pow(i128 base, i128 exp, const Json& mod) {
  if (!mod.is_null()) {
    i128 m = to_i128(mod);
    if (m == 0) fail("ValueError: pow() 3rd argument cannot be 0");
    const u128 um = magnitude(m);
    i128 b = base % static_cast<i128>(um);
    if (b < 0) b += static_cast<i128>(um);
    if (exp < 0) {  // the modular inverse, then the positive power (Python 3.8)
      i128 r0 = static_cast<i128>(um), r1 = b, t0 = 0, t1 = 1;
      while (r1 != 0) {
        const i128 q = r0 / r1;
        std::swap(r0, r1);
        r1 -= q * r0;
        std::swap(t0, t1);
        t1 -= q * t0;
      }
      if (r0 != 1) fail("ValueError: base is not invertible for the given modulus");
      b = t0 % static_cast<i128>(um);
      if (b < 0) b += static_cast<i128>(um);
      exp = -exp;
    }
    u128 result = 1 % um, x = static_cast<u128>(b);
    for (u128 e = static_cast<u128>(exp); e; e >>= 1) {
      if (e & 1) result = mulmod(result, x, um);
      x = mulmod(x, x, um);
    }
    i128 r = static_cast<i128>(result);
    if (m < 0 && r != 0) r -= static_cast<i128>(um);  // the sign of the modulus, as Python
    return from_i128(r);
  }
  if (exp < 0) {
    if (base == 0) fail("ZeroDivisionError: 0.0 cannot be raised to a negative power");
    return std::pow(static_cast<double>(base), static_cast<double>(exp));
  }
  i128 r = 1;
  for (i128 e = 0; e < exp; ++e) {
    if (r == 0 || base == 1) break;
    if (base == -1) {
      r = (exp % 2) ? -1 : 1;
      break;
    }
    r = checked_mul(r, base);
  }
  return from_i128(base == 0 && exp == 0 ? 1 : r);
}

// ---- round: the exact decimal digits of a value, rounded half to even (Python's algorithm:
// correctly rounded decimal, then strtod).

struct Decimal {
  std::string digits;  // value = digits * 10**exp
  long exp = 0;
};

Decimal round_digits(const std::string& int_part, const std::string& frac, long ndigits) {
  const std::string d = int_part + frac;
  const long keep = static_cast<long>(int_part.size()) + ndigits;
  if (keep >= static_cast<long>(d.size())) return {d, -static_cast<long>(frac.size())};
  if (keep < 0) return {"0", -ndigits};
  std::string kept = d.substr(0, static_cast<std::size_t>(keep));
  const char first = d[static_cast<std::size_t>(keep)];
  const bool rest =
      d.find_first_not_of('0', static_cast<std::size_t>(keep) + 1) != std::string::npos;
  const bool odd = !kept.empty() && (kept.back() - '0') % 2 == 1;
  if (first > '5' || (first == '5' && (rest || odd))) {
    std::size_t i = kept.size();
    while (i > 0 && kept[i - 1] == '9') kept[--i] = '0';
    if (i == 0) {
      kept.insert(kept.begin(), '1');
    } else {
      ++kept[i - 1];
    }
  }
  if (kept.empty()) kept = "0";
  return {kept, -ndigits};
}

Json round_int(i128 n, long ndigits) {
  if (ndigits >= 0) return from_i128(n);
  const std::string text = i128_text(n < 0 ? -n : n);
  const Decimal r = round_digits(text, "", ndigits);
  i128 v = 0;
  for (const char c : r.digits) v = checked_mul(v, 10) + (c - '0');
  for (long e = 0; e < r.exp && v != 0; ++e) v = checked_mul(v, 10);
  return from_i128(n < 0 ? -v : v);
}

double round_float(double x, long ndigits) {
  if (ndigits > 323 || x == 0) return x;
  if (ndigits < -308) return std::copysign(0.0, x);
  std::vector<char> buf(1500);
  std::snprintf(buf.data(), buf.size(), "%.1100f", std::fabs(x));  // exact in glibc
  const std::string s(buf.data());
  const std::size_t dot = s.find('.');
  const Decimal r = round_digits(s.substr(0, dot), s.substr(dot + 1), ndigits);
  const std::string text = (x < 0 ? "-" : "") + r.digits + "e" + std::to_string(r.exp);
  const double v = std::strtod(text.c_str(), nullptr);
  if (std::isinf(v)) fail("OverflowError: rounded value too large to represent");
  return v;
}

// ---- format(): Python's format-specification mini-language

struct Spec {
  std::string fill;  // one character (UTF-8); empty: default
  char align = 0;    // < > = ^
  char sign = 0;     // + - space
  bool z = false;
  bool alt = false;
  int width = -1;
  char group = 0;  // , _
  int precision = -1;
  char type = 0;
};

Spec parse_spec(const std::string& text, const std::string& type_name) {
  Spec s;
  const auto cps = code_points(text);
  std::size_t i = 0;
  auto is_align = [](std::uint32_t c) { return c == '<' || c == '>' || c == '=' || c == '^'; };
  if (cps.size() >= 2 && is_align(cps[1])) {
    s.fill = utf8(cps[0]);
    s.align = static_cast<char>(cps[1]);
    i = 2;
  } else if (!cps.empty() && is_align(cps[0])) {
    s.align = static_cast<char>(cps[0]);
    i = 1;
  }
  if (i < cps.size() && (cps[i] == '+' || cps[i] == '-' || cps[i] == ' '))
    s.sign = static_cast<char>(cps[i++]);
  if (i < cps.size() && cps[i] == 'z') s.z = true, ++i;
  if (i < cps.size() && cps[i] == '#') s.alt = true, ++i;
  if (i < cps.size() && cps[i] == '0') {
    if (s.fill.empty()) s.fill = "0";
    if (!s.align) s.align = '=';
    ++i;
  }
  auto number = [&](int& out) {
    const std::size_t start = i;
    long v = 0;
    while (i < cps.size() && cps[i] >= '0' && cps[i] <= '9') {
      v = v * 10 + static_cast<long>(cps[i++] - '0');
      if (v > 100000) fail("ValueError: Too many decimal digits in format string");
    }
    if (i > start) out = static_cast<int>(v);
    return i > start;
  };
  number(s.width);
  if (i < cps.size() && (cps[i] == ',' || cps[i] == '_')) s.group = static_cast<char>(cps[i++]);
  if (i < cps.size() && cps[i] == '.') {
    ++i;
    if (!number(s.precision)) fail("ValueError: Format specifier missing precision");
  }
  if (i < cps.size()) {
    if (cps[i] >= 0x80)
      fail("ValueError: Invalid format specifier '" + text + "' for object of type '" + type_name +
           "'");
    s.type = static_cast<char>(cps[i++]);
  }
  if (i < cps.size())
    fail("ValueError: Invalid format specifier '" + text + "' for object of type '" + type_name +
         "'");
  return s;
}

// Separators every `every` digits of the leading run of digits of `body`.
std::string group_digits(const std::string& body, char sep, std::size_t every) {
  std::size_t end = 0;
  while (end < body.size() && std::isxdigit(static_cast<unsigned char>(body[end]))) ++end;
  std::string out;
  for (std::size_t i = 0; i < end; ++i) {
    if (i && (end - i) % every == 0) out += sep;
    out += body[i];
  }
  return out + body.substr(end);
}

std::string pad(const Spec& s, const std::string& sign_prefix, const std::string& body,
                char default_align) {
  const std::string fill = s.fill.empty() ? " " : s.fill;
  const std::size_t len = str_len(sign_prefix) + str_len(body);
  const std::size_t width = s.width < 0 ? 0 : static_cast<std::size_t>(s.width);
  if (len >= width) return sign_prefix + body;
  const std::size_t n = width - len;
  auto fills = [&](std::size_t k) {
    std::string out;
    for (std::size_t j = 0; j < k; ++j) out += fill;
    return out;
  };
  switch (s.align ? s.align : default_align) {
    case '<':
      return sign_prefix + body + fills(n);
    case '^':
      return fills(n / 2) + sign_prefix + body + fills(n - n / 2);
    case '=':
      return sign_prefix + fills(n) + body;
    default:
      return fills(n) + sign_prefix + body;
  }
}

std::string sign_text(const Spec& s, bool negative) {
  if (negative) return "-";
  return s.sign == '+' ? "+" : s.sign == ' ' ? " " : "";
}

std::string printf_double(const char* fmt, int precision, double v) {
  char buf[512];
  const int n = std::snprintf(buf, sizeof buf, fmt, precision, v);
  if (n >= 0 && static_cast<std::size_t>(n) < sizeof buf) return buf;
  std::vector<char> big(static_cast<std::size_t>(n) + 1);
  std::snprintf(big.data(), big.size(), fmt, precision, v);
  return big.data();
}

std::string strip_zeros(std::string m) {  // "1.2300" -> "1.23", "1.000" -> "1"
  if (m.find('.') == std::string::npos) return m;
  while (!m.empty() && m.back() == '0') m.pop_back();
  if (!m.empty() && m.back() == '.') m.pop_back();
  return m;
}

std::string format_float(double x, const Spec& s, const std::string& spec_text) {
  static const std::string kFloatTypes = "eEfFgGn%";
  if (s.type && kFloatTypes.find(s.type) == std::string::npos) {
    fail(std::string("ValueError: Unknown format code '") + s.type +
         "' for object of type 'float'");
  }
  if (s.group == '_' && s.type == 'n') fail("ValueError: Cannot specify '_' with 'n'.");
  (void)spec_text;
  const double a = std::fabs(x);
  std::string body;
  const std::string alt = s.alt ? "#" : "";
  switch (s.type) {
    case 'e':
    case 'E':
    case 'f':
    case 'F': {
      const std::string fmt = "%" + alt + ".*" + std::string(1, s.type);
      body = printf_double(fmt.c_str(), s.precision < 0 ? 6 : s.precision, a);
      break;
    }
    case '%': {
      const std::string fmt = "%" + alt + ".*f";
      body = printf_double(fmt.c_str(), s.precision < 0 ? 6 : s.precision, a * 100) + "%";
      break;
    }
    case 'g':
    case 'G':
    case 'n': {
      const std::string fmt = "%" + alt + ".*" + std::string(1, s.type == 'G' ? 'G' : 'g');
      body = printf_double(fmt.c_str(), s.precision < 0 ? 6 : s.precision, a);
      break;
    }
    default: {
      if (s.precision < 0) {
        body = reports::py_float(a);
        break;
      }
      // Like 'g', but scientific from an exponent of precision-1, and a fixed-point result
      // keeps one digit after the point.
      const int p = s.precision == 0 ? 1 : s.precision;
      const std::string e = printf_double("%.*e", p - 1, a);
      const int exp = std::atoi(e.c_str() + e.find('e') + 1);
      if (exp < -4 || exp >= p - 1) {
        const std::size_t epos = e.find('e');
        body = (s.alt ? e.substr(0, epos) : strip_zeros(e.substr(0, epos))) + e.substr(epos);
      } else {
        body = printf_double(s.alt ? "%#.*f" : "%.*f", p - 1 - exp, a);
        if (!s.alt) body = strip_zeros(body);
        if (body.find('.') == std::string::npos) body += ".0";
      }
    }
  }
  bool negative = std::signbit(x);
  if (s.z && body.find_first_of("123456789") == std::string::npos) negative = false;
  if (s.group) body = group_digits(body, s.group, 3);
  return pad(s, sign_text(s, negative), body, '>');
}

std::string format_value(const Json& v, const std::string& spec_text) {
  if (spec_text.empty()) return py_str(v);
  if (!v.is_string() && !is_num(v)) {
    fail("TypeError: unsupported format string passed to " + py_type(v) + ".__format__");
  }
  const Spec s = parse_spec(spec_text, py_type(v));
  if (v.is_string()) {
    if (s.type && s.type != 's') {
      fail(std::string("ValueError: Unknown format code '") + s.type +
           "' for object of type 'str'");
    }
    if (s.sign) fail("ValueError: Sign not allowed in string format specifier");
    if (s.alt) fail("ValueError: Alternate form (#) not allowed in string format specifier");
    if (s.align == '=') fail("ValueError: '=' alignment not allowed in string format specifier");
    if (s.group) fail(std::string("ValueError: Cannot specify '") + s.group + "' with 's'.");
    std::string body = v.get<std::string>();
    if (s.precision >= 0 && str_len(body) > static_cast<std::size_t>(s.precision)) {
      std::string cut;
      std::size_t n = 0;
      for (const std::uint32_t cp : code_points(body)) {
        if (n++ == static_cast<std::size_t>(s.precision)) break;
        cut += utf8(cp);
      }
      body = cut;
    }
    return pad(s, "", body, '<');
  }
  if (v.is_number_float()) return format_float(v.get<double>(), s, spec_text);
  if (is_int(v)) {
    static const std::string kIntTypes = "bcdoxXn";
    if (s.type && kIntTypes.find(s.type) == std::string::npos) {
      if (std::string("eEfFgG%").find(s.type) != std::string::npos) {
        return format_float(to_double(v), s, spec_text);
      }
      fail(std::string("ValueError: Unknown format code '") + s.type +
           "' for object of type 'int'");
    }
    if (s.precision >= 0) fail("ValueError: Precision not allowed in integer format specifier");
    const i128 n = to_i128(v);
    if (s.type == 'c') {
      if (s.sign) fail("ValueError: Sign not allowed with integer format specifier 'c'");
      if (n < 0 || n > 0x10FFFF) fail("OverflowError: %c arg not in range(0x110000)");
      return pad(s, "", utf8(static_cast<std::uint32_t>(n)), '>');
    }
    const int base = s.type == 'b'                      ? 2
                     : s.type == 'o'                    ? 8
                     : (s.type == 'x' || s.type == 'X') ? 16
                                                        : 10;
    if (s.group == ',' && base != 10) {
      fail(std::string("ValueError: Cannot specify ',' with '") + s.type + "'.");
    }
    std::string body = digits_of(magnitude(n), base);
    if (s.type == 'X') std::transform(body.begin(), body.end(), body.begin(), ::toupper);
    if (s.group) body = group_digits(body, s.group, base == 10 ? 3 : 4);
    std::string prefix;
    if (s.alt && base != 10) prefix = std::string("0") + (s.type == 'X' ? 'X' : s.type);
    return pad(s, sign_text(s, n < 0) + prefix, body, '>');
  }
  fail("TypeError: unsupported format string passed to " + py_type(v) + ".__format__");
}

// ---- hash(): Python's numeric hash (exact: equal numbers hash equal); strs with a key chosen
// per process, as Python randomises them.

constexpr std::uint64_t kHashModulus = (std::uint64_t{1} << 61) - 1;

std::int64_t finish_hash(std::int64_t h) { return h == -1 ? -2 : h; }

std::int64_t hash_int(i128 n) {
  const u128 mag = magnitude(n);
  const auto h = static_cast<std::int64_t>(mag % kHashModulus);
  return finish_hash(n < 0 ? -h : h);
}

std::int64_t hash_double(double v) {  // CPython's _Py_HashDouble
  int e = 0;
  double m = std::frexp(v, &e);
  int sign = 1;
  if (m < 0) {
    sign = -1;
    m = -m;
  }
  std::uint64_t x = 0;
  while (m) {
    x = ((x << 28) & kHashModulus) | x >> (61 - 28);
    m *= 268435456.0;
    e -= 28;
    const auto y = static_cast<std::uint64_t>(m);
    m -= static_cast<double>(y);
    x += y;
    if (x >= kHashModulus) x -= kHashModulus;
  }
  e = e >= 0 ? e % 61 : 61 - 1 - ((-1 - e) % 61);
  x = ((x << e) & kHashModulus) | x >> (61 - e);
  return finish_hash(static_cast<std::int64_t>(x) * sign);
}

std::int64_t hash_str(const std::string& s) {
  if (s.empty()) return 0;
  static const std::uint64_t key = [] {
    std::random_device rd;
    return (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
  }();
  std::uint64_t h = 1469598103934665603ull ^ key;  // FNV-1a from a per-process key
  for (const char c : s) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  h ^= h >> 29;
  return finish_hash(static_cast<std::int64_t>(h));
}

Json py_hash(const Json& v) {
  if (v.is_null()) return std::int64_t{0xFCA86420};  // a constant, as in Python 3.12
  if (is_int(v)) return hash_int(to_i128(v));
  if (v.is_number_float()) return hash_double(v.get<double>());
  if (v.is_string()) return hash_str(v.get_ref<const std::string&>());
  fail("TypeError: unhashable type: '" + py_type(v) + "'");
}

// ---- int() and float() from text

std::string strip_ws(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\n\r\f\v");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\n\r\f\v") - b + 1);
}

// Digits with single underscores between them; `allow_leading_underscore` after a base prefix.
bool digits_ok(const std::string& d, bool allow_leading_underscore) {
  if (d.empty() || d.back() == '_') return false;
  if (d.front() == '_' && !allow_leading_underscore) return false;
  return d.find("__") == std::string::npos;
}

Json int_from_text(const std::string& original, i128 base) {
  auto invalid = [&]() {
    fail("ValueError: invalid literal for int() with base " + i128_text(base) + ": " +
         str_repr(original, false));
  };
  std::string s = strip_ws(original);
  bool negative = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    negative = s[0] == '-';
    s.erase(0, 1);
  }
  auto prefix_base = [&](char c) -> int {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return c == 'x' ? 16 : c == 'o' ? 8 : c == 'b' ? 2 : 0;
  };
  int b = static_cast<int>(base);
  bool prefixed = false;
  if (s.size() >= 2 && s[0] == '0' && prefix_base(s[1]) && (b == 0 || b == prefix_base(s[1]))) {
    b = prefix_base(s[1]);
    s.erase(0, 2);
    prefixed = true;
  }
  if (b == 0) {
    b = 10;
    // Base 0 takes no leading zeros in a non-zero decimal number ("010").
    if (s.size() > 1 && s[0] == '0' && s.find_first_not_of("0_") != std::string::npos) invalid();
  }
  if (!digits_ok(s, prefixed)) invalid();
  i128 v = 0;
  for (const char c : s) {
    if (c == '_') continue;
    const int d = std::isdigit(static_cast<unsigned char>(c)) ? c - '0'
                  : std::isalpha(static_cast<unsigned char>(c))
                      ? std::tolower(static_cast<unsigned char>(c)) - 'a' + 10
                      : 99;
    if (d >= b) invalid();
    v = checked_mul(v, b) + d;
  }
  return from_i128(negative ? -v : v);
}

double float_from_text(const std::string& original) {
  const std::string s = strip_ws(original);
  std::size_t i = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
  std::string lower;
  for (std::size_t k = i; k < s.size(); ++k) {
    lower += static_cast<char>(std::tolower(static_cast<unsigned char>(s[k])));
  }
  if (lower == "inf" || lower == "infinity" || lower == "nan") {
    fail("ValueError: float(" + str_repr(original, false) +
         ") is not a finite number, which JSON cannot hold");
  }
  auto bad = [&]() {
    fail("ValueError: could not convert string to float: " + str_repr(original, false));
  };
  auto digit_run = [&](std::string& out) {
    const std::size_t start = i;
    while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '_')) ++i;
    out = s.substr(start, i - start);
    return !out.empty();
  };
  std::string ipart, fpart, epart;
  const bool has_int = digit_run(ipart);
  if (has_int && !digits_ok(ipart, false)) bad();
  bool has_frac = false;
  if (i < s.size() && s[i] == '.') {
    ++i;
    has_frac = digit_run(fpart);
    if (has_frac && !digits_ok(fpart, false)) bad();
  }
  if (!has_int && !has_frac) bad();
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (!digit_run(epart) || !digits_ok(epart, false)) bad();
  }
  if (i != s.size()) bad();
  std::string clean;
  for (const char c : s) {
    if (c != '_') clean += c;
  }
  const double v = std::strtod(clean.c_str(), nullptr);
  if (std::isinf(v)) {
    fail("ValueError: float(" + str_repr(original, false) +
         ") is infinite, which JSON cannot hold");
  }
  return v;
}

// ---- the builtins

const Json& single(const Args& a) { return a["object"]; }

Json require_int(const Json& v, const char* what) {
  if (!is_int(v)) {
    fail("TypeError: '" + py_type(v) + "' object cannot be interpreted as an integer" +
         (what[0] ? std::string(" (") + what + ")" : ""));
  }
  return v;
}

std::string base_text(const Json& v, int base, const char* prefix) {
  const i128 n = to_i128(require_int(v, ""));
  return (n < 0 ? "-" : "") + std::string(prefix) + digits_of(magnitude(n), base);
}

Json extreme(const Args& a, bool want_max) {
  const std::string fn = want_max ? "max" : "min";
  const Json& args = a["args"];
  std::vector<Json> items;
  if (args.empty()) fail("TypeError: " + fn + " expected at least 1 argument, got 0");
  if (args.size() == 1) {
    items = items_of(args[0]);
  } else {
    if (a.given("default")) {
      fail("TypeError: Cannot specify a default for " + fn +
           "() with multiple positional arguments");
    }
    items.assign(args.begin(), args.end());
  }
  if (items.empty()) {
    if (a.given("default")) return a["default"];
    fail("ValueError: " + fn + "() arg is an empty sequence");
  }
  std::size_t best = 0;
  for (std::size_t i = 1; i < items.size(); ++i) {
    if (py_order(items[i], items[best], want_max)) best = i;
  }
  return items[best];
}

Json py_round(const Args& a) {
  const Json& x = a["number"];
  if (!is_num(x)) fail("TypeError: type " + py_type(x) + " doesn't define __round__ method");
  const Json& nd = a["ndigits"];
  if (!nd.is_null()) require_int(nd, "ndigits");
  const i128 n = nd.is_null() ? 0 : to_i128(nd);
  const long ndigits = static_cast<long>(std::clamp<i128>(n, -100000, 100000));
  if (is_int(x)) return round_int(to_i128(x), nd.is_null() ? 0 : ndigits);
  const double d = x.get<double>();
  if (nd.is_null()) return int_from_double(std::nearbyint(d));  // half to even
  return round_float(d, ndigits);
}

Json py_divmod(const Json& x, const Json& y) {
  if (!is_num(x) || !is_num(y)) {
    fail("TypeError: unsupported operand type(s) for divmod(): '" + py_type(x) + "' and '" +
         py_type(y) + "'");
  }
  if (!x.is_number_float() && !y.is_number_float()) {
    const i128 a = to_i128(x), b = to_i128(y);
    if (b == 0) fail("ZeroDivisionError: integer division or modulo by zero");
    i128 q = a / b, r = a % b;
    if (r != 0 && ((r < 0) != (b < 0))) {
      r += b;
      q -= 1;
    }
    return Json::array({from_i128(q), from_i128(r)});
  }
  const double vx = to_double(x), wx = to_double(y);  // CPython's float_divmod
  if (wx == 0) fail("ZeroDivisionError: float divmod()");
  double mod = std::fmod(vx, wx);
  double div = (vx - mod) / wx;
  if (mod != 0) {
    if ((wx < 0) != (mod < 0)) {
      mod += wx;
      div -= 1.0;
    }
  } else {
    mod = std::copysign(0.0, wx);
  }
  double floordiv = 0;
  if (div != 0) {
    floordiv = std::floor(div);
    if (div - floordiv > 0.5) floordiv += 1.0;
  } else {
    floordiv = std::copysign(0.0, vx / wx);
  }
  return Json::array({floordiv, mod});
}

Json py_pow(const Args& a) {
  const Json &base = a["base"], &exp = a["exp"], &mod = a["mod"];
  if (!is_num(base) || !is_num(exp)) {
    fail("TypeError: unsupported operand type(s) for ** or pow(): '" + py_type(base) + "' and '" +
         py_type(exp) + "'");
  }
  if (!mod.is_null() && (!is_int(base) || !is_int(exp) || !is_int(mod))) {
    fail("TypeError: pow() 3rd argument not allowed unless all arguments are integers");
  }
  if (is_int(base) && is_int(exp)) return int_pow(to_i128(base), to_i128(exp), mod);
  const double x = to_double(base), y = to_double(exp);
  if (x == 0 && y < 0) fail("ZeroDivisionError: 0.0 cannot be raised to a negative power");
  if (x < 0 && y != std::floor(y)) {
    fail(
        "ValueError: a negative number to a fractional power is a complex number, which JSON "
        "cannot hold");
  }
  const double r = std::pow(x, y);
  if (std::isinf(r)) fail("OverflowError: (34, 'Numerical result out of range')");
  return r;
}

Json py_sum(const Args& a) {
  const Json& start = a["start"];
  if (start.is_string()) fail("TypeError: sum() can't sum strings [use ''.join(seq) instead]");
  Json acc = start;
  for (const Json& item : items_of(a["iterable"])) acc = py_add(acc, item);
  return acc;
}

Json py_sorted(const Args& a) {
  std::vector<Json> items = items_of(a["iterable"]);
  const bool reverse = truthy(a["reverse"]);
  std::stable_sort(items.begin(), items.end(), [reverse](const Json& x, const Json& y) {
    return reverse ? py_order(y, x, false) : py_order(x, y, false);
  });
  return Json(items);
}

Json py_int(const Args& a) {
  const Json& x = a["x"];
  const Json& base = a["base"];
  if (!base.is_null()) {
    require_int(base, "base");
    const i128 b = to_i128(base);
    if (!x.is_string()) fail("TypeError: int() can't convert non-string with explicit base");
    if (b != 0 && (b < 2 || b > 36)) fail("ValueError: int() base must be >= 2 and <= 36, or 0");
    return int_from_text(x.get<std::string>(), b);
  }
  if (is_int(x)) return from_i128(to_i128(x));
  if (x.is_number_float()) return int_from_double(std::trunc(x.get<double>()));
  if (x.is_string()) return int_from_text(x.get<std::string>(), 10);
  fail("TypeError: int() argument must be a string, a bytes-like object or a real number, not '" +
       py_type(x) + "'");
}

Json py_float_of(const Json& x) {
  if (is_num(x)) return to_double(x);
  if (x.is_string()) return float_from_text(x.get<std::string>());
  fail("TypeError: float() argument must be a string or a real number, not '" + py_type(x) + "'");
}

Json py_chr(const Json& x) {
  const i128 n = to_i128(require_int(x, ""));
  if (n < 0 || n > 0x10FFFF) fail("ValueError: chr() arg not in range(0x110000)");
  if (n >= 0xD800 && n <= 0xDFFF) {
    fail("ValueError: chr(" + i128_text(n) +
         ") is a lone surrogate, which JSON text (UTF-8) cannot hold");
  }
  return utf8(static_cast<std::uint32_t>(n));
}

Json py_ord(const Json& x) {
  if (!x.is_string()) {
    fail("TypeError: ord() expected string of length 1, but " + py_type(x) + " found");
  }
  const auto cps = code_points(x.get_ref<const std::string&>());
  if (cps.size() != 1) {
    fail("TypeError: ord() expected a character, but string of length " +
         std::to_string(cps.size()) + " found");
  }
  return cps[0];
}

Json py_len(const Json& x) {
  if (x.is_string()) return str_len(x.get_ref<const std::string&>());
  if (x.is_array() || x.is_object()) return x.size();
  fail("TypeError: object of type '" + py_type(x) + "' has no len()");
}

Json py_abs(const Json& x) {
  if (x.is_number_float()) return std::fabs(x.get<double>());
  if (is_int(x)) {
    const i128 n = to_i128(x);
    return from_i128(n < 0 ? -n : n);
  }
  fail("TypeError: bad operand type for abs(): '" + py_type(x) + "'");
}

// A pure builtin: the handler, and the same function as the validator (the arguments are
// literal JSON, so whatever Python would raise is found by the static check).
using Pure = Json (*)(const Args&);

void add_pure(action::CommandRegistry& r, const char* name, const char* summary,
              std::vector<action::Param> params, Pure fn) {
  r.add(Command{name, summary, std::move(params), [fn](const Args& a) { return fn(a); },
                [fn](const Args& a) { (void)fn(a); }});
}

std::vector<A::Param> extreme_params() {  // max and min
  return {{"args", A::kArray, true, nullptr, "one iterable, or two or more values", true},
          {"default", A::kAny, false, nullptr, "the result for an empty iterable"}};
}

const A::Param kObject{"object", A::kAny, true, nullptr, "any JSON value"};
const A::Param kIterable{"iterable", A::kString | A::kArray | A::kObject, true, nullptr,
                         "a list, a string (its characters) or an object (its keys)"};

void add_refusals(action::CommandRegistry& r) {
  const std::string plugin =
      " (to run code of your own, write a plugin: LD_load_plugin, "
      "docs/plugins.md)";
  const std::pair<const char*, std::string> refused[] = {
      {"eval",
       "it evaluates Python source text; a document holds data and cannot run code" + plugin},
      {"exec", "it runs Python source text; a document holds data and cannot run code" + plugin},
      {"compile",
       "it turns source text into code objects; a document cannot make or run code" + plugin},
      {"__import__", "it imports Python modules; a document loads no code" + plugin},
      {"__build_class__", "it defines Python classes; a document holds data, not code" + plugin},
      {"open",
       "it opens files; a document reads and writes files only through the commands that name "
       "them (data sources, reports)"},
      {"input", "it reads the terminal; a document runs unattended"},
      {"breakpoint", "it starts a debugger; a document runs unattended"},
      {"id", "it gives an object's memory address; a document cannot read memory"},
      {"getattr",
       "it reads a Python object's attributes; JSON values have none, and a document "
       "cannot reach into the program's objects"},
      {"hasattr",
       "it looks up a Python object's attributes; JSON values have none, and a "
       "document cannot reach into the program's objects"},
      {"setattr",
       "it changes a Python object's attributes; a document cannot change the "
       "program's objects"},
      {"delattr",
       "it deletes a Python object's attributes; a document cannot change the "
       "program's objects"},
      {"dir",
       "it lists an object's attributes or the caller's names; JSON values have no "
       "attributes and a document has no scope (`loaddensity --list-commands` lists the "
       "commands)"},
      {"globals",
       "it exposes the interpreter's variables; a document has none (register "
       "variables with LD_register_variable and read them as ${var.NAME})"},
      {"locals",
       "it exposes the interpreter's variables; a document has none (register "
       "variables with LD_register_variable and read them as ${var.NAME})"},
      {"vars",
       "it exposes an object's or the interpreter's variables; a document has none "
       "(register variables with LD_register_variable and read them as ${var.NAME})"},
      {"isinstance", "it takes Python type objects, which a document cannot name"},
      {"issubclass", "it takes Python type objects, which a document cannot name"},
      {"iter",
       "iterators do not exist among JSON values; the builtins that take a list "
       "(all, any, max, min, sorted, sum) consume it whole"},
      {"next",
       "iterators do not exist among JSON values; the builtins that take a list "
       "(all, any, max, min, sorted, sum) consume it whole"},
      {"aiter", "asynchronous iterators do not exist among JSON values"},
      {"anext", "asynchronous iterators do not exist among JSON values"},
  };
  for (const auto& [name, why] : refused)
    r.refuse(name, "Python's " + std::string(name) + ": " + why);
}

}  // namespace

std::string py_repr(const Json& v) { return repr_impl(v, false); }
std::string py_str(const Json& v) { return v.is_string() ? v.get<std::string>() : py_repr(v); }

void add_builtin_commands(action::CommandRegistry& r, std::ostream& out) {
  r.add(Command{
      "print",
      "Python's print: writes str() of each value, separated by sep, then end, to standard "
      "output.",
      {{"values", A::kArray, false, Json::array(), "the values (the positional arguments)", true},
       {"sep", A::kString | A::kNull, false, " ", "between values"},
       {"end", A::kString | A::kNull, false, "\n", "after the last value"},
       {"file", A::kAny, false, nullptr, "refused: print writes to standard output only"},
       {"flush", A::kBool, false, false, "flush standard output"}},
      [&out](const Args& a) -> Json {
        const std::string sep = a.str("sep", " "), end = a.str("end", "\n");
        std::string line;
        const Json& values = a["values"];
        for (std::size_t i = 0; i < values.size(); ++i) {
          if (i) line += sep;
          line += py_str(values[i]);
        }
        out << line << end;
        if (a.flag("flush")) out.flush();
        return nullptr;
      },
      [](const Args& a) {
        if (a.has("file")) {
          throw ConfigError(
              "print writes to standard output only: file= takes a Python file object, which "
              "a document cannot make",
              "/file");
        }
      }});

  add_pure(r, "abs", "Python's abs: the absolute value of a number.", {{"x", A::kAny, true}},
           [](const Args& a) { return py_abs(a["x"]); });
  add_pure(r, "all", "Python's all: true when every item is truthy (true for an empty list).",
           {kIterable}, [](const Args& a) -> Json {
             for (const Json& x : items_of(a["iterable"])) {
               if (!truthy(x)) return false;
             }
             return true;
           });
  add_pure(r, "any", "Python's any: true when some item is truthy.", {kIterable},
           [](const Args& a) -> Json {
             for (const Json& x : items_of(a["iterable"])) {
               if (truthy(x)) return true;
             }
             return false;
           });
  add_pure(r, "ascii", "Python's ascii: repr() with every non-ASCII character escaped.", {kObject},
           [](const Args& a) -> Json { return repr_impl(single(a), true); });
  add_pure(r, "bin", "Python's bin: an integer in binary, '0b101'.", {{"x", A::kAny, true}},
           [](const Args& a) -> Json { return base_text(a["x"], 2, "0b"); });
  add_pure(r, "bool", "Python's bool: whether a value is truthy.",
           {{"x", A::kAny, false, false, "any JSON value"}},
           [](const Args& a) -> Json { return truthy(a["x"]); });
  add_pure(r, "callable", "Python's callable: always false, since no JSON value can be called.",
           {kObject}, [](const Args&) -> Json { return false; });
  add_pure(r, "chr", "Python's chr: the character of a Unicode code point.", {{"i", A::kAny, true}},
           [](const Args& a) { return py_chr(a["i"]); });
  add_pure(r, "divmod", "Python's divmod: [floor quotient, remainder] of two numbers.",
           {{"a", A::kAny, true}, {"b", A::kAny, true}},
           [](const Args& a) { return py_divmod(a["a"], a["b"]); });
  add_pure(r, "float", "Python's float: a number or numeric string as a float.",
           {{"x", A::kAny, false, 0.0, "a number or a string such as \"1.5e3\""}},
           [](const Args& a) { return py_float_of(a["x"]); });
  add_pure(r, "format",
           "Python's format: a value formatted by a format specification (\">10\", \".2f\", "
           "\",\", \"#x\", ...).",
           {{"value", A::kAny, true},
            {"format_spec", A::kString, false, "", "Python's format-specification mini-language"}},
           [](const Args& a) -> Json { return format_value(a["value"], a.str("format_spec")); });
  add_pure(r, "hash",
           "Python's hash: equal numbers hash equal (Python's numeric hash); strings use a key "
           "chosen per process, as Python's do.",
           {kObject}, [](const Args& a) { return py_hash(single(a)); });
  add_pure(r, "hex", "Python's hex: an integer in hexadecimal, '0x1f'.", {{"x", A::kAny, true}},
           [](const Args& a) -> Json { return base_text(a["x"], 16, "0x"); });
  add_pure(r, "int",
           "Python's int: a number truncated to an integer, or a string parsed in a base (2 to "
           "36, or 0 for its prefix).",
           {{"x", A::kAny, false, 0, "a number or a string"},
            {"base", A::kAny, false, nullptr, "the base of a string (default 10)"}},
           [](const Args& a) { return py_int(a); });
  add_pure(r, "len", "Python's len: characters of a string, items of a list or object.", {kObject},
           [](const Args& a) { return py_len(single(a)); });
  add_pure(r, "max",
           "Python's max: the largest item of one list (or string, or object's keys), or of "
           "several values.",
           extreme_params(), [](const Args& a) { return extreme(a, true); });
  add_pure(r, "min",
           "Python's min: the smallest item of one list (or string, or object's keys), or of "
           "several values.",
           extreme_params(), [](const Args& a) { return extreme(a, false); });
  add_pure(r, "oct", "Python's oct: an integer in octal, '0o17'.", {{"x", A::kAny, true}},
           [](const Args& a) -> Json { return base_text(a["x"], 8, "0o"); });
  add_pure(r, "ord", "Python's ord: the code point of a one-character string.",
           {{"c", A::kAny, true}}, [](const Args& a) { return py_ord(a["c"]); });
  add_pure(r, "pow",
           "Python's pow: base ** exp, or (base ** exp) % mod computed exactly for integers.",
           {{"base", A::kAny, true},
            {"exp", A::kAny, true},
            {"mod", A::kAny, false, nullptr, "an integer modulus"}},
           [](const Args& a) { return py_pow(a); });
  add_pure(r, "repr", "Python's repr: the Python literal of a value (None, True, 'text', [1, 2]).",
           {kObject}, [](const Args& a) -> Json { return py_repr(single(a)); });
  add_pure(r, "round",
           "Python's round: a number rounded half to even, to an integer or to ndigits decimals.",
           {{"number", A::kAny, true}, {"ndigits", A::kAny, false, nullptr, "decimal places"}},
           [](const Args& a) { return py_round(a); });
  add_pure(r, "sorted",
           "Python's sorted: the items in ascending order (stable; numbers, strings and lists "
           "compare as in Python).",
           {kIterable, {"reverse", A::kBool, false, false, "descending"}},
           [](const Args& a) { return py_sorted(a); });
  add_pure(r, "str", "Python's str: a string as itself, any other value as its repr().",
           {{"object", A::kAny, false, "", "any JSON value"}},
           [](const Args& a) -> Json { return py_str(single(a)); });
  add_pure(r, "sum", "Python's sum: start plus every item (numbers, or lists with a list start).",
           {kIterable, {"start", A::kAny, false, 0, "the value the items are added to"}},
           [](const Args& a) { return py_sum(a); });
  add_refusals(r);
}

void register_builtin_commands(action::CommandRegistry& r, App& app) {
  add_builtin_commands(r, app.out_);
}

}  // namespace ld::app
