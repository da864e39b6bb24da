#include "tooling/json_locate.hpp"

#include <cctype>
#include <stdexcept>

#include "core/json_util.hpp"

namespace ld::tooling {

namespace {

struct SyntaxError {
  std::string what;
  std::size_t at;
};

class Scanner {
 public:
  Scanner(std::string_view t, std::unordered_map<std::string, Span>& spans)
      : t_(t), spans_(spans) {}

  void document() {
    ws();
    value("", 0, 0, 0);
    ws();
    if (i_ != t_.size()) fail("text after the JSON value");
  }

 private:
  [[noreturn]] void fail(const std::string& what) { throw SyntaxError{what, i_}; }
  void ws() {
    while (i_ < t_.size() && (t_[i_] == ' ' || t_[i_] == '\t' || t_[i_] == '\n' || t_[i_] == '\r'))
      ++i_;
  }
  // Reads a string; returns its decoded text (escapes other than \uXXXX kept as their letter,
  // which is enough for keys).
  std::string string() {
    if (i_ >= t_.size() || t_[i_] != '"') fail("expected a string");
    ++i_;
    std::string out;
    while (i_ < t_.size() && t_[i_] != '"') {
      if (t_[i_] == '\\') {
        if (++i_ >= t_.size()) break;
        const char e = t_[i_];
        switch (e) {
          case 'n': out += '\n'; break;
          case 't': out += '\t'; break;
          case 'r': out += '\r'; break;
          case 'b': out += '\b'; break;
          case 'f': out += '\f'; break;
          case 'u': {
            if (i_ + 4 >= t_.size()) fail("bad \\u escape");
            const unsigned cp = std::stoul(std::string(t_.substr(i_ + 1, 4)), nullptr, 16);
            if (cp < 0x80) {
              out += static_cast<char>(cp);
            } else if (cp < 0x800) {
              out += static_cast<char>(0xC0 | (cp >> 6));
              out += static_cast<char>(0x80 | (cp & 0x3F));
            } else {
              out += static_cast<char>(0xE0 | (cp >> 12));
              out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
              out += static_cast<char>(0x80 | (cp & 0x3F));
            }
            i_ += 4;
            break;
          }
          default: out += e;
        }
        ++i_;
        continue;
      }
      if (static_cast<unsigned char>(t_[i_]) < 0x20) fail("control character in a string");
      out += t_[i_++];
    }
    if (i_ >= t_.size()) fail("unterminated string");
    ++i_;
    return out;
  }
  void literal(std::string_view word) {
    if (t_.substr(i_, word.size()) != word) fail("unexpected character");
    i_ += word.size();
  }
  void number() {
    const std::size_t start = i_;
    if (i_ < t_.size() && t_[i_] == '-') ++i_;
    while (i_ < t_.size() && (std::isdigit(static_cast<unsigned char>(t_[i_])) || t_[i_] == '.' ||
                              t_[i_] == 'e' || t_[i_] == 'E' || t_[i_] == '+' || t_[i_] == '-'))
      ++i_;
    if (i_ == start) fail("unexpected character");
  }
  void value(const std::string& ptr, std::size_t key_begin, std::size_t key_end, int depth) {
    if (depth > 512) fail("nested too deeply");
    if (i_ >= t_.size()) fail("unexpected end of text");
    Span s;
    s.begin = i_;
    s.key_begin = key_begin;
    s.key_end = key_end;
    const char c = t_[i_];
    if (c == '{') {
      ++i_;
      ws();
      if (i_ < t_.size() && t_[i_] == '}') {
        ++i_;
      } else {
        for (;;) {
          ws();
          const std::size_t kb = i_;
          const std::string key = string();
          const std::size_t ke = i_;
          ws();
          if (i_ >= t_.size() || t_[i_] != ':') fail("expected ':'");
          ++i_;
          ws();
          value(ptr + pointer_key(key), kb, ke, depth + 1);
          ws();
          if (i_ < t_.size() && t_[i_] == ',') {
            ++i_;
            continue;
          }
          if (i_ < t_.size() && t_[i_] == '}') {
            ++i_;
            break;
          }
          fail("expected ',' or '}'");
        }
      }
    } else if (c == '[') {
      ++i_;
      ws();
      if (i_ < t_.size() && t_[i_] == ']') {
        ++i_;
      } else {
        for (std::size_t n = 0;; ++n) {
          ws();
          value(ptr + pointer_index(n), 0, 0, depth + 1);
          ws();
          if (i_ < t_.size() && t_[i_] == ',') {
            ++i_;
            continue;
          }
          if (i_ < t_.size() && t_[i_] == ']') {
            ++i_;
            break;
          }
          fail("expected ',' or ']'");
        }
      }
    } else if (c == '"') {
      string();
    } else if (c == 't') {
      literal("true");
    } else if (c == 'f') {
      literal("false");
    } else if (c == 'n') {
      literal("null");
    } else {
      number();
    }
    s.end = i_;
    spans_[ptr] = s;
  }

  std::string_view t_;
  std::unordered_map<std::string, Span>& spans_;
  std::size_t i_ = 0;
};

}  // namespace

JsonLocator::JsonLocator(std::string_view text) : text_(text) {
  std::size_t start = 0;
  if (text.substr(0, 3) == "\xEF\xBB\xBF") start = 3;  // a UTF-8 byte order mark
  try {
    Scanner s(text.substr(start), spans_);
    s.document();
  } catch (const SyntaxError& e) {
    error_ = e.what;
    error_offset_ = e.at + start;
  } catch (const std::exception& e) {
    error_ = e.what();
  }
  if (start) {
    for (auto& [k, s] : spans_) {
      s.begin += start;
      s.end += start;
      if (s.key_end) {
        s.key_begin += start;
        s.key_end += start;
      }
    }
  }
}

Span JsonLocator::find(const std::string& pointer) const {
  std::string p = pointer;
  for (;;) {
    auto it = spans_.find(p);
    if (it != spans_.end()) return it->second;
    if (p.empty()) return Span{};
    p.erase(p.rfind('/'));
  }
}

Position JsonLocator::position(std::size_t offset) const {
  Position pos;
  if (offset > text_.size()) offset = text_.size();
  for (std::size_t i = 0; i < offset; ++i) {
    const unsigned char c = static_cast<unsigned char>(text_[i]);
    if (c == '\n') {
      ++pos.line;
      pos.column = 0;
    } else if ((c & 0xC0) != 0x80) {
      pos.column += (c >= 0xF0) ? 2 : 1;  // a 4-byte sequence is two UTF-16 units
    }
  }
  return pos;
}

std::size_t JsonLocator::offset(Position p) const {
  std::size_t i = 0, line = 0;
  while (i < text_.size() && line < p.line) {
    if (text_[i++] == '\n') ++line;
  }
  std::size_t col = 0;
  while (i < text_.size() && text_[i] != '\n' && col < p.column) {
    const unsigned char c = static_cast<unsigned char>(text_[i]);
    std::size_t n = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    col += n == 4 ? 2 : 1;
    i += n;
  }
  return i < text_.size() ? i : text_.size();
}

std::string JsonLocator::pointer_at(std::size_t offset, bool* in_key) const {
  const std::string* best = nullptr;
  const Span* best_span = nullptr;
  bool key = false;
  for (const auto& [p, s] : spans_) {
    const bool inside_value = s.begin <= offset && offset <= s.end;
    const bool inside_key = s.key_end && s.key_begin <= offset && offset <= s.key_end;
    if (!inside_value && !inside_key) continue;
    const std::size_t width = inside_key ? s.key_end - s.key_begin : s.end - s.begin;
    const std::size_t best_width =
        !best_span ? ~std::size_t{0}
                   : (key ? best_span->key_end - best_span->key_begin
                          : best_span->end - best_span->begin);
    if (!best || width < best_width) {
      best = &p;
      best_span = &s;
      key = inside_key;
    }
  }
  if (in_key) *in_key = key;
  return best ? *best : std::string();
}

}  // namespace ld::tooling
