#include "checks/path_scan.hpp"

#include <bit>
#include <charconv>
#include <cstring>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace ld::checks::scan {

namespace {

using U8 = unsigned char;

constexpr std::uint64_t kOnes = 0x0101010101010101ull;
constexpr std::uint64_t kHighs = 0x8080808080808080ull;

inline bool is_ws(char c) noexcept { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

// Indented bodies have runs of whitespace (a newline and the indentation): 16 bytes at a time.
inline const char* skip_ws(const char* p, const char* end) noexcept {
#if defined(__SSE2__)
  while (end - p >= 16 && is_ws(*p)) {
    const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m128i ws = _mm_or_si128(
        _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8(' ')), _mm_cmpeq_epi8(x, _mm_set1_epi8('\n'))),
        _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('\r')), _mm_cmpeq_epi8(x, _mm_set1_epi8('\t'))));
    const unsigned other = ~static_cast<unsigned>(_mm_movemask_epi8(ws)) & 0xFFFFu;
    if (other) return p + std::countr_zero(other);
    p += 16;
  }
#endif
  while (p != end && is_ws(*p)) ++p;
  return p;
}

inline int hex(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Four hex digits at p, or -1.
inline int hex4(const char* p, const char* end) noexcept {
  if (end - p < 4) return -1;
  int v = 0;
  for (int i = 0; i < 4; ++i) {
    const int h = hex(p[i]);
    if (h < 0) return -1;
    v = v * 16 + h;
  }
  return v;
}

// p after a backslash; the position after the escape, or null.
const char* scan_escape(const char* p, const char* end) noexcept {
  if (p == end) return nullptr;
  switch (*p) {
    case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't': return p + 1;
    case 'u': {
      const int cp = hex4(p + 1, end);
      if (cp < 0) return nullptr;
      p += 5;
      if (cp >= 0xDC00 && cp <= 0xDFFF) return nullptr;  // a low surrogate alone
      if (cp >= 0xD800 && cp <= 0xDBFF) {                // must be followed by a low one
        if (end - p < 6 || p[0] != '\\' || p[1] != 'u') return nullptr;
        const int lo = hex4(p + 2, end);
        if (lo < 0xDC00 || lo > 0xDFFF) return nullptr;
        p += 6;
      }
      return p;
    }
    default: return nullptr;
  }
}

inline bool in(const char* p, U8 lo, U8 hi) noexcept {
  const U8 c = static_cast<U8>(*p);
  return c >= lo && c <= hi;
}

// p at a byte >= 0x80: the position after one well-formed UTF-8 sequence, or null.
const char* scan_utf8(const char* p, const char* end) noexcept {
  const U8 c = static_cast<U8>(*p);
  const std::ptrdiff_t left = end - p;
  if (c >= 0xC2 && c <= 0xDF) return left >= 2 && in(p + 1, 0x80, 0xBF) ? p + 2 : nullptr;
  if (c >= 0xE0 && c <= 0xEF) {
    if (left < 3) return nullptr;
    const U8 lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
    return in(p + 1, lo, hi) && in(p + 2, 0x80, 0xBF) ? p + 3 : nullptr;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (left < 4) return nullptr;
    const U8 lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
    return in(p + 1, lo, hi) && in(p + 2, 0x80, 0xBF) && in(p + 3, 0x80, 0xBF) ? p + 4 : nullptr;
  }
  return nullptr;
}

// p after the opening quote: the closing quote, or null when the string is not valid.
const char* scan_string(const char* p, const char* end, bool& escaped) noexcept {
  for (;;) {
#if defined(__SSE2__)
    // Signed compare: bytes below 0x20 and from 0x80 up are both "less than 0x20".
    while (end - p >= 16) {
      const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
      const __m128i stops = _mm_or_si128(
          _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('"')), _mm_cmpeq_epi8(x, _mm_set1_epi8('\\'))),
          _mm_cmplt_epi8(x, _mm_set1_epi8(0x20)));
      const unsigned m = static_cast<unsigned>(_mm_movemask_epi8(stops));
      if (m) {
        p += std::countr_zero(m);
        break;
      }
      p += 16;
    }
#endif
    if constexpr (std::endian::native == std::endian::little) {
      while (end - p >= 8) {
        std::uint64_t x;
        std::memcpy(&x, p, 8);
        const std::uint64_t q = x ^ (kOnes * '"');
        const std::uint64_t b = x ^ (kOnes * '\\');
        const std::uint64_t stops =
            (((q - kOnes) & ~q) | ((b - kOnes) & ~b) | ((x - kOnes * 0x20) & ~x) | x) & kHighs;
        if (stops) {
          p += std::countr_zero(stops) >> 3;
          break;
        }
        p += 8;
      }
    }
    if (p == end) return nullptr;
    const U8 c = static_cast<U8>(*p);
    if (c == '"') return p;
    if (c == '\\') {
      escaped = true;
      p = scan_escape(p + 1, end);
    } else if (c < 0x20) {
      return nullptr;
    } else if (c >= 0x80) {
      p = scan_utf8(p, end);
    } else {
      ++p;
    }
    if (!p) return nullptr;
  }
}

// A number the DOM parser reads as a double that is not finite ("number overflow").
bool overflows(const char* begin, const char* end) noexcept {
  double d;
  const auto r = std::from_chars(begin, end, d);
  return r.ec == std::errc::result_out_of_range;  // only asked about values >= 1e308
}

// p at '-' or a digit: the position after the number, or null. Numbers whose magnitude is at
// least 1e309 are refused (the DOM parser's strtod gives infinity); 1e308..1e309 are converted.
const char* scan_number(const char* p, const char* end) noexcept {
  const char* const start = p;
  if (*p == '-') ++p;
  if (p == end) return nullptr;
  const char* const int_begin = p;
  if (*p == '0') {
    ++p;
  } else if (*p >= '1' && *p <= '9') {
    while (p != end && *p >= '0' && *p <= '9') ++p;
  } else {
    return nullptr;
  }
  const bool int_zero = *int_begin == '0';
  const std::ptrdiff_t int_digits = p - int_begin;
  const char* frac_begin = nullptr;
  const char* frac_end = nullptr;
  if (p != end && *p == '.') {
    frac_begin = ++p;
    while (p != end && *p >= '0' && *p <= '9') ++p;
    if (p == frac_begin) return nullptr;
    frac_end = p;
  }
  std::int64_t exp = 0;
  if (p != end && (*p == 'e' || *p == 'E')) {
    ++p;
    bool neg = false;
    if (p != end && (*p == '+' || *p == '-')) neg = *p++ == '-';
    const char* const exp_begin = p;
    while (p != end && *p >= '0' && *p <= '9') {
      if (exp < 100'000'000) exp = exp * 10 + (*p - '0');
      ++p;
    }
    if (p == exp_begin) return nullptr;
    if (neg) exp = -exp;
  }
  // The value lies in [10^m, 10^(m+1)).
  std::int64_t m;
  if (!int_zero) {
    m = int_digits - 1 + exp;
  } else {
    const char* q = frac_begin;
    while (q && q != frac_end && *q == '0') ++q;
    if (!q || q == frac_end) return p;  // zero
    m = exp - (q - frac_begin) - 1;
  }
  if (m < 308) return p;
  if (m > 308) return nullptr;
  return overflows(start, p) ? nullptr : p;
}

// Left uninitialised (the scanner sets a frame when it opens a container, a pending entry when
// it sets its bit): a scan costs no clearing of state it does not use.
struct Frame {
  std::uint64_t hit;    // paths whose value is this container
  std::uint64_t alive;  // paths whose next step selects a member of it
  std::uint64_t neg;    // of those, the ones counting from the end (arrays)
  std::size_t begin;
  std::int64_t count;   // elements started (arrays)
};

struct Pending {  // a negative index: resolved once the array's length is known
  std::size_t begin;
  std::int64_t length;
  std::uint32_t depth;
};

class Scanner {
 public:
  Scanner(const char* base, const char* end, std::span<const Path> paths, std::span<Hit> hits,
          std::int64_t first_index, bool override_first)
      : base_(base), end_(end), paths_(paths), hits_(hits), first_index_(first_index),
        override_first_(override_first) {}

  // `document`: the whole text must be one value (BOM allowed, only whitespace after it);
  // otherwise one value is read from `p` (already validated) and the rest ignored.
  bool run(const char* p, const char* end, bool document) noexcept;
  void resolve_pending() noexcept;

 private:
  Step step(std::size_t path, std::size_t depth) const noexcept {
    Step s = paths_[path].steps[depth];
    if (depth == 0 && override_first_) {
      s.index = first_index_;
      s.array_ok = true;
    }
    return s;
  }
  // Paths of `alive` whose step at `depth` selects this member; resets what they found before
  // (a repeated name replaces the earlier member).
  void select(std::uint64_t matched, std::size_t depth, std::uint64_t& hit, std::uint64_t& alive) noexcept {
    hit = alive = 0;
    while (matched) {
      const int i = std::countr_zero(matched);
      matched &= matched - 1;
      hits_[i] = Hit{};
      pending_ &= ~(std::uint64_t{1} << i);
      if (paths_[i].size == depth + 1) {
        hit |= std::uint64_t{1} << i;
      } else {
        alive |= std::uint64_t{1} << i;
      }
    }
  }
  void record(std::uint64_t hit, Kind kind, std::size_t begin, std::size_t end, bool escaped) noexcept {
    while (hit) {
      const int i = std::countr_zero(hit);
      hit &= hit - 1;
      if (kind == Kind::kNull && paths_[i].size != 0) continue;  // a null counts as not found
      hits_[i] = Hit{kind, escaped, begin, end};
    }
  }

  const char* base_;
  const char* end_;
  std::span<const Path> paths_;
  std::span<Hit> hits_;
  std::int64_t first_index_;
  bool override_first_;
  std::uint64_t pending_ = 0;
  Pending pend_[kMaxPaths];
  Frame frames_[kMaxSteps + 1];
  std::uint64_t is_array_[kMaxDepth / 64] = {};
};

bool Scanner::run(const char* p, const char* end, bool document) noexcept {
  std::size_t open = 0;  // containers open
  std::uint64_t hit = 0, alive = 0;  // paths selecting the value about to be read
  for (std::size_t i = 0; i < paths_.size(); ++i) {
    (paths_[i].size == 0 ? hit : alive) |= std::uint64_t{1} << i;
  }
  if (document && p != end && static_cast<U8>(*p) == 0xEF) {
    if (end - p < 3 || static_cast<U8>(p[1]) != 0xBB || static_cast<U8>(p[2]) != 0xBF) return false;
    p += 3;
  }
  bool escaped;
value:
  p = skip_ws(p, end);
  if (p == end) return false;
  switch (*p) {
    case '{':
    case '[': {
      const bool array = *p == '[';
      if (open == kMaxDepth) return false;
      if (array) {
        is_array_[open / 64] |= std::uint64_t{1} << (open % 64);
      } else {
        is_array_[open / 64] &= ~(std::uint64_t{1} << (open % 64));
      }
      if (open <= kMaxSteps) {
        Frame& f = frames_[open];
        f.hit = hit;
        f.alive = alive;
        f.neg = 0;
        f.begin = static_cast<std::size_t>(p - base_);
        f.count = 0;
        if (array && alive) {
          for (std::uint64_t a = alive; a;) {
            const int i = std::countr_zero(a);
            a &= a - 1;
            const Step s = step(static_cast<std::size_t>(i), open);
            if (s.array_ok && s.index < 0) f.neg |= std::uint64_t{1} << i;
          }
        }
      }
      ++open;
      p = skip_ws(p + 1, end);
      if (p == end) return false;
      if (*p == (array ? ']' : '}')) goto close;
      if (array) goto element;
      goto member;
    }
    case '"': {
      escaped = false;
      const char* q = scan_string(p + 1, end, escaped);
      if (!q) return false;
      if (hit) record(hit, Kind::kString, p + 1 - base_, q - base_, escaped);
      p = q + 1;
      goto after;
    }
    case 't':
      if (end - p < 4 || std::memcmp(p, "true", 4) != 0) return false;
      if (hit) record(hit, Kind::kTrue, p - base_, p + 4 - base_, false);
      p += 4;
      goto after;
    case 'f':
      if (end - p < 5 || std::memcmp(p, "false", 5) != 0) return false;
      if (hit) record(hit, Kind::kFalse, p - base_, p + 5 - base_, false);
      p += 5;
      goto after;
    case 'n':
      if (end - p < 4 || std::memcmp(p, "null", 4) != 0) return false;
      if (hit) record(hit, Kind::kNull, p - base_, p + 4 - base_, false);
      p += 4;
      goto after;
    default: {
      const char* q = scan_number(p, end);
      if (!q) return false;
      if (hit) record(hit, Kind::kNumber, p - base_, q - base_, false);
      p = q;
      goto after;
    }
  }

after:
  if (open == 0) {
    if (!document) return true;
    // The DOM parser takes a NUL byte for the end of its input: what follows is ignored.
    p = skip_ws(p, end);
    return p == end || *p == '\0';
  }
  p = skip_ws(p, end);
  if (p == end) return false;
  {
    const bool array = (is_array_[(open - 1) / 64] >> ((open - 1) % 64)) & 1;
    if (*p == ',') {
      p = skip_ws(p + 1, end);
      if (array) goto element;
      goto member;
    }
    if (*p == (array ? ']' : '}')) goto close;
    return false;
  }

close:  // p at the closing bracket of the innermost container
  ++p;
  --open;
  if (open <= kMaxSteps) {
    const Frame& f = frames_[open];
    if (f.hit) {
      const bool array = (is_array_[open / 64] >> (open % 64)) & 1;
      record(f.hit, array ? Kind::kArray : Kind::kObject, f.begin, p - base_, false);
    }
    for (std::uint64_t n = f.neg; n;) {
      const int i = std::countr_zero(n);
      n &= n - 1;
      pending_ |= std::uint64_t{1} << i;
      pend_[i] = Pending{f.begin, f.count, static_cast<std::uint32_t>(open)};
    }
  }
  goto after;

element:  // p at the first byte of an element (whitespace skipped)
  hit = alive = 0;
  if (open - 1 <= kMaxSteps) {
    Frame& f = frames_[open - 1];
    if (f.alive) {
      std::uint64_t matched = 0;
      for (std::uint64_t a = f.alive; a;) {
        const int i = std::countr_zero(a);
        a &= a - 1;
        const Step s = step(static_cast<std::size_t>(i), open - 1);
        if (s.array_ok && s.index == f.count) matched |= std::uint64_t{1} << i;
      }
      if (matched) select(matched, open - 1, hit, alive);
    }
    ++f.count;
  }
  goto value;

member:  // p at the opening quote of a member name (whitespace skipped)
  if (p == end || *p != '"') return false;
  {
    escaped = false;
    const char* q = scan_string(p + 1, end, escaped);
    if (!q) return false;
    hit = alive = 0;
    if (open - 1 <= kMaxSteps && frames_[open - 1].alive) {
      const Frame& f = frames_[open - 1];
      const std::string_view raw(p + 1, static_cast<std::size_t>(q - p - 1));
      std::string_view key = raw;
      thread_local std::string decoded;
      if (escaped) {
        decoded.clear();
        decode_string(raw, decoded);
        key = decoded;
      }
      std::uint64_t matched = 0;
      for (std::uint64_t a = f.alive; a;) {
        const int i = std::countr_zero(a);
        a &= a - 1;
        if (step(static_cast<std::size_t>(i), open - 1).key == key) matched |= std::uint64_t{1} << i;
      }
      if (matched) select(matched, open - 1, hit, alive);
    }
    p = skip_ws(q + 1, end);
    if (p == end || *p != ':') return false;
    ++p;
  }
  goto value;
}

void Scanner::resolve_pending() noexcept {
  while (pending_) {
    const int i = std::countr_zero(pending_);
    pending_ &= pending_ - 1;
    const Pending& pd = pend_[i];
    const Step s = step(static_cast<std::size_t>(i), pd.depth);
    const std::int64_t index = pd.length + s.index;
    if (index < 0) continue;  // before the first element
    // The rest of the path, from the array, with the index now counted from the start.
    const Path rest{paths_[i].steps + pd.depth, paths_[i].size - pd.depth};
    Hit found{};
    Scanner sub(base_, end_, std::span<const Path>(&rest, 1), std::span<Hit>(&found, 1), index,
                true);
    if (sub.run(base_ + pd.begin, end_, false)) sub.resolve_pending();
    hits_[i] = found;
  }
}

}  // namespace

bool find_paths(std::string_view text, std::span<const Path> paths, std::span<Hit> hits) noexcept {
  for (std::size_t i = 0; i < paths.size(); ++i) hits[i] = Hit{};
  Scanner s(text.data(), text.data() + text.size(), paths, hits, 0, false);
  if (!s.run(text.data(), text.data() + text.size(), true)) {
    for (std::size_t i = 0; i < paths.size(); ++i) hits[i] = Hit{};
    return false;
  }
  s.resolve_pending();
  return true;
}

void decode_string(std::string_view in, std::string& out) {
  std::size_t i = 0;
  while (i < in.size()) {
    const std::size_t bs = in.find('\\', i);
    if (bs == std::string_view::npos) {
      out.append(in.substr(i));
      return;
    }
    out.append(in.substr(i, bs - i));
    const char c = in[bs + 1];
    i = bs + 2;
    switch (c) {
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case 'u': {
        std::uint32_t cp = static_cast<std::uint32_t>(hex4(in.data() + i, in.data() + in.size()));
        i += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          const auto lo = static_cast<std::uint32_t>(hex4(in.data() + i + 2, in.data() + in.size()));
          i += 6;
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        }
        if (cp < 0x80) {
          out += static_cast<char>(cp);
        } else if (cp < 0x800) {
          out += static_cast<char>(0xC0 | (cp >> 6));
          out += static_cast<char>(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
          out += static_cast<char>(0xE0 | (cp >> 12));
          out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
          out += static_cast<char>(0x80 | (cp & 0x3F));
        } else {
          out += static_cast<char>(0xF0 | (cp >> 18));
          out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
          out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
          out += static_cast<char>(0x80 | (cp & 0x3F));
        }
        break;
      }
      default: out += c; break;  // " \ /
    }
  }
}

}  // namespace ld::checks::scan
