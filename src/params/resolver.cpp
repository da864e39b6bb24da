#include "params/resolver.hpp"

#include <cctype>
#include <charconv>
#include <cstdlib>
#include <ctime>

#include "core/text.hpp"
#include "loaddensity/core/error.hpp"
#include "params/faker.hpp"

namespace ld::params {

namespace {

std::string_view strip(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

bool parse_int(std::string_view s, std::int64_t& out) {
  s = strip(s);
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && p == s.data() + s.size();
}

// "name(args)" -> name, args; false when the token is not a call.
bool split_call(std::string_view token, std::string_view& name, std::string_view& args) {
  if (token.empty() || token.back() != ')') return false;
  const auto open = token.find('(');
  if (open == std::string_view::npos || open == 0) return false;
  name = token.substr(0, open);
  if (!(std::isalpha(static_cast<unsigned char>(name[0])) || name[0] == '_')) return false;
  for (char c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
  }
  args = token.substr(open + 1, token.size() - open - 2);
  return true;
}

}  // namespace

// ---------------------------------------------------------------- DataSource, UserScope

int DataSource::column(std::string_view col) const {
  for (std::size_t i = 0; i < columns.size(); ++i) {
    if (columns[i] == col) return static_cast<int>(i);
  }
  return -1;
}

std::int64_t DataSource::take_row() noexcept {
  if (rows.empty()) return -1;
  const std::uint64_t i = next_.fetch_add(1, std::memory_order_relaxed);
  if (cycle) return static_cast<std::int64_t>(i % rows.size());
  return i < rows.size() ? static_cast<std::int64_t>(i) : -1;
}

UserScope::UserScope(std::uint64_t seed, std::size_t sources)
    : rows(sources, kNoRow), rng_(seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull) {
  if (rng_ == 0) rng_ = 0x2545F4914F6CDD1Dull;
}

const std::string* UserScope::find(std::string_view name) const noexcept {
  for (const auto& [k, v] : vars_) {
    if (k == name) return &v;
  }
  return nullptr;
}

void UserScope::set(std::string_view name, std::string_view value) {
  for (auto& [k, v] : vars_) {
    if (k == name) {
      v.assign(value);
      return;
    }
  }
  vars_.emplace_back(std::string(name), std::string(value));
}

void UserScope::begin_task() noexcept {
  for (auto& r : rows) r = kNoRow;
}

std::uint64_t UserScope::next_random() noexcept {
  rng_ ^= rng_ >> 12;
  rng_ ^= rng_ << 25;
  rng_ ^= rng_ >> 27;
  return rng_ * 0x2545F4914F6CDD1Dull;
}

// ---------------------------------------------------------------- Resolver

void Resolver::clear() {
  vars_.clear();
  sources_.clear();
  failed_.clear();
}

void Resolver::mark_failed(const std::string& kind, const std::string& name, std::string why) {
  failed_[kind + ":" + name] = std::move(why);
}

const std::string* Resolver::failure(const std::string& kind, std::string_view name) const {
  auto it = failed_.find(kind + ":" + std::string(name));
  return it == failed_.end() ? nullptr : &it->second;
}

void Resolver::add_source(const std::string& kind, std::shared_ptr<DataSource> source) {
  const std::string key = kind + ":" + source->name;
  failed_.erase(key);
  for (auto& [k, s] : sources_) {
    if (k == key) {
      s = std::move(source);
      return;
    }
  }
  sources_.emplace_back(key, std::move(source));
}

DataSource* Resolver::source(const std::string& kind, std::string_view name,
                             std::size_t* index) const {
  const std::string key = kind + ":" + std::string(name);
  for (std::size_t i = 0; i < sources_.size(); ++i) {
    if (sources_[i].first == key) {
      if (index) *index = i;
      return sources_[i].second.get();
    }
  }
  return nullptr;
}

void Resolver::rewind_sources() {
  for (auto& [k, s] : sources_) s->rewind();
}

std::optional<std::string> Resolver::lookup_static(std::string_view raw) const {
  const std::string_view token = strip(raw);
  if (token.empty() || token.back() == ')') return std::nullopt;
  const auto dot = token.find('.');
  if (dot == std::string_view::npos) {
    auto it = vars_.find(std::string(token));
    if (it == vars_.end()) return std::nullopt;
    return it->second;
  }
  const std::string_view prefix = token.substr(0, dot);
  const std::string_view rest = token.substr(dot + 1);
  if (text::iequals(prefix, "var")) {
    auto it = vars_.find(std::string(rest));
    if (it == vars_.end()) return std::nullopt;
    return it->second;
  }
  if (text::iequals(prefix, "env")) {
    const char* v = std::getenv(std::string(rest).c_str());
    if (!v) return std::nullopt;
    return std::string(v);
  }
  return std::nullopt;
}

// ---------------------------------------------------------------- escaping

void append_escaped(std::string& out, std::string_view s, Escape e) {
  switch (e) {
    case Escape::kNone: out.append(s); return;
    case Escape::kUrl: text::url_encode(s, out); return;
    case Escape::kHeader:
      for (char c : s) out += (c == '\r' || c == '\n') ? ' ' : c;
      return;
    case Escape::kJson: {
      static constexpr char kHex[] = "0123456789abcdef";
      for (unsigned char c : s) {
        switch (c) {
          case '"': out += "\\\""; break;
          case '\\': out += "\\\\"; break;
          case '\n': out += "\\n"; break;
          case '\r': out += "\\r"; break;
          case '\t': out += "\\t"; break;
          default:
            if (c < 0x20) {
              out += "\\u00";
              out += kHex[c >> 4];
              out += kHex[c & 15];
            } else {
              out += static_cast<char>(c);
            }
        }
      }
      return;
    }
  }
}

// ---------------------------------------------------------------- Template

void Template::push_literal(std::string_view s) {
  if (s.empty()) return;
  if (!segments_.empty() && segments_.back().kind == Kind::kLiteral) {
    segments_.back().text.append(s);
  } else {
    Segment seg;
    seg.text.assign(s);
    segments_.push_back(std::move(seg));
  }
  text_.append(s);
}

Template Template::literal(std::string_view text) {
  Template t;
  t.push_literal(text);
  return t;
}

Template Template::parse(std::string_view s, const ParseContext& ctx) {
  Template t;
  std::size_t pos = 0;
  while (pos < s.size()) {
    const std::size_t open = s.find("${", pos);
    if (open == std::string_view::npos) break;
    const std::size_t close = s.find('}', open + 2);
    if (close == std::string_view::npos) break;
    t.push_literal(s.substr(pos, open - pos));
    pos = close + 1;
    const std::string_view whole = s.substr(open, close + 1 - open);
    const std::string_view token = strip(s.substr(open + 2, close - open - 2));

    Segment seg;
    seg.text.assign(whole);
    std::string_view fname, fargs;
    if (split_call(token, fname, fargs)) {
      if (text::iequals(fname, "uuid") && strip(fargs).empty()) {
        seg.kind = Kind::kUuid;
      } else if (text::iequals(fname, "now") && strip(fargs).empty()) {
        seg.kind = Kind::kNow;
      } else if (text::iequals(fname, "randint")) {
        const auto comma = fargs.find(',');
        if (comma == std::string_view::npos || fargs.find(',', comma + 1) != std::string_view::npos ||
            !parse_int(fargs.substr(0, comma), seg.lo) || !parse_int(fargs.substr(comma + 1), seg.hi) ||
            seg.lo > seg.hi) {
          t.push_literal(whole);
          continue;
        }
        seg.kind = Kind::kRandint;
      } else {
        t.push_literal(whole);  // unknown function: verbatim
        continue;
      }
    } else {
      const auto dot = token.find('.');
      const std::string_view prefix = dot == std::string_view::npos ? "" : token.substr(0, dot);
      const std::string_view rest = dot == std::string_view::npos ? token : token.substr(dot + 1);
      const bool is_var = dot == std::string_view::npos || text::iequals(prefix, "var");
      if (is_var) {
        const std::string name(rest);
        if (ctx.user_vars && ctx.user_vars->count(name)) {
          seg.kind = Kind::kVar;
          auto fallback = ctx.resolver.lookup_static(token);
          seg.fallback = fallback ? *fallback : std::string(whole);
          seg.text = name;
        } else if (auto v = ctx.resolver.lookup_static(token)) {
          t.push_literal(*v);
          continue;
        } else {
          t.push_literal(whole);
          continue;
        }
      } else if (text::iequals(prefix, "env")) {
        auto v = ctx.resolver.lookup_static(token);
        t.push_literal(v ? std::string_view(*v) : whole);
        continue;
      } else if (text::iequals(prefix, "csv") || text::iequals(prefix, "db")) {
        const auto dot2 = rest.find('.');
        DataSource* src = nullptr;
        int col = -1;
        std::size_t index = 0;
        if (dot2 != std::string_view::npos) {
          const std::string kind = text::lower(prefix);
          const std::string_view name = rest.substr(0, dot2);
          src = ctx.resolver.source(kind, name, &index);
          if (src) {
            col = src->column(rest.substr(dot2 + 1));
            if (col < 0) {
              std::string cols;
              for (const auto& c : src->columns) cols += (cols.empty() ? "" : ", ") + c;
              throw ConfigError(std::string(whole) + ": " + kind + " source '" + std::string(name) +
                                "' (" + src->origin + ") has no column '" +
                                std::string(rest.substr(dot2 + 1)) + "' (columns: " + cols + ")");
            }
          } else if (const std::string* why = ctx.resolver.failure(kind, name)) {
            throw ConfigError(std::string(whole) + ": " + kind + " source '" + std::string(name) +
                              "' could not be registered: " + *why);
          }
        }
        if (!src || col < 0) {
          t.push_literal(whole);
          continue;
        }
        seg.kind = Kind::kSource;
        seg.source = src;
        seg.source_index = index;
        seg.column = col;
      } else if (text::iequals(prefix, "faker")) {
        const int id = faker::method_id(rest);
        if (id < 0) {
          t.push_literal(whole);
          continue;
        }
        seg.kind = Kind::kFaker;
        seg.column = id;
      } else {
        t.push_literal(whole);
        continue;
      }
    }
    t.text_.append(whole);
    t.segments_.push_back(std::move(seg));
    ++t.dynamic_count_;
  }
  t.push_literal(s.substr(pos));
  return t;
}

void Template::append_literal(std::string_view text) { push_literal(text); }

void Template::append(const Template& o, Escape e) {
  for (const Segment& seg : o.segments_) {
    if (seg.kind == Kind::kLiteral) {
      std::string escaped;
      append_escaped(escaped, seg.text, e);
      push_literal(escaped);
    } else {
      Segment copy = seg;
      copy.escape = e;
      segments_.push_back(std::move(copy));
      text_.append(seg.kind == Kind::kVar ? "${" + seg.text + "}" : seg.text);
      ++dynamic_count_;
    }
  }
}

void Template::render_segment(const Segment& s, std::string& out, UserScope& scope) const {
  // Dynamic text goes through a small local buffer only when it needs escaping.
  auto emit = [&](std::string_view v) { append_escaped(out, v, s.escape); };
  switch (s.kind) {
    case Kind::kLiteral: out.append(s.text); return;
    case Kind::kVar: {
      const std::string* v = scope.find(s.text);
      emit(v ? std::string_view(*v) : std::string_view(s.fallback));
      return;
    }
    case Kind::kSource: {
      std::int64_t& row = scope.rows[s.source_index];
      if (row == UserScope::kNoRow) row = s.source->take_row();
      if (row < 0) {
        emit(s.text);  // exhausted, non-cycling source: stays verbatim
        return;
      }
      const auto& r = s.source->rows[static_cast<std::size_t>(row)];
      emit(static_cast<std::size_t>(s.column) < r.size() ? std::string_view(r[s.column]) : "");
      return;
    }
    case Kind::kFaker: {
      if (s.escape == Escape::kNone) {
        faker::generate(s.column, out, scope);
      } else {
        thread_local std::string tmp;  // reused: rendering allocates nothing once it has grown
        tmp.clear();
        faker::generate(s.column, tmp, scope);
        emit(tmp);
      }
      return;
    }
    case Kind::kUuid: faker::uuid4(out, scope); return;
    case Kind::kNow: {
      const std::time_t t = std::time(nullptr);
      std::tm tm{};
      localtime_r(&t, &tm);
      char buf[32];
      std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
      out.append(buf);
      return;
    }
    case Kind::kRandint: {
      const auto span = static_cast<std::uint64_t>(s.hi - s.lo) + 1;
      const std::int64_t v = s.lo + static_cast<std::int64_t>(span ? scope.next_random() % span
                                                                    : scope.next_random());
      char buf[24];
      auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
      out.append(buf, p);
      return;
    }
  }
}

void Template::render(std::string& out, UserScope& scope) const {
  for (const auto& seg : segments_) render_segment(seg, out, scope);
}

// ---------------------------------------------------------------- JSON helpers

std::string resolve_static(std::string_view text, const Resolver& resolver) {
  return Template::parse(text, ParseContext{resolver}).text();
}

Json resolve_json(const Json& value, const ParseContext& ctx) {
  if (value.is_string()) return Template::parse(value.get_ref<const std::string&>(), ctx).text();
  if (value.is_array()) {
    Json out = Json::array();
    for (const auto& v : value) out.push_back(resolve_json(v, ctx));
    return out;
  }
  if (value.is_object()) {
    Json out = Json::object();
    for (auto it = value.begin(); it != value.end(); ++it) {
      out[it.key()] = resolve_json(it.value(), ctx);
    }
    return out;
  }
  return value;
}

Json resolve_json(const Json& value, const Resolver& resolver) {
  return resolve_json(value, ParseContext{resolver});
}

std::vector<Json> resolve_json_list(const std::vector<Json>& values, const ParseContext& ctx) {
  std::vector<Json> out;
  out.reserve(values.size());
  for (const auto& v : values) out.push_back(resolve_json(v, ctx));
  return out;
}

Json resolve_json_for(const Json& value, const ParseContext& ctx, UserScope& scope) {
  if (value.is_string()) {
    return Template::parse(value.get_ref<const std::string&>(), ctx).render(scope);
  }
  if (value.is_array()) {
    Json out = Json::array();
    for (const auto& v : value) out.push_back(resolve_json_for(v, ctx, scope));
    return out;
  }
  if (value.is_object()) {
    Json out = Json::object();
    for (auto it = value.begin(); it != value.end(); ++it) {
      out[it.key()] = resolve_json_for(it.value(), ctx, scope);
    }
    return out;
  }
  return value;
}

namespace {

// Replaces dynamic string values by numbered sentinels and folds static ones.
Json with_sentinels(const Json& v, const ParseContext& ctx, std::vector<Template>& dyn) {
  if (v.is_string()) {
    Template t = Template::parse(v.get_ref<const std::string&>(), ctx);
    if (t.is_static()) return t.text();
    dyn.push_back(std::move(t));
    return "\x01" + std::to_string(dyn.size() - 1) + "\x01";
  }
  if (v.is_array()) {
    Json out = Json::array();
    for (const auto& x : v) out.push_back(with_sentinels(x, ctx, dyn));
    return out;
  }
  if (v.is_object()) {
    Json out = Json::object();
    for (auto it = v.begin(); it != v.end(); ++it) out[it.key()] = with_sentinels(it.value(), ctx, dyn);
    return out;
  }
  return v;
}

}  // namespace

Template json_template(const Json& value, const ParseContext& ctx) {
  std::vector<Template> dyn;
  const std::string dumped = with_sentinels(value, ctx, dyn).dump();
  Template t;
  // nlohmann writes the sentinel "\x01N\x01" as "\u0001N\u0001" inside quotes.
  const std::string_view marker = "\"\\u0001";
  std::size_t pos = 0;
  while (true) {
    const std::size_t at = dumped.find(marker, pos);
    if (at == std::string::npos) break;
    const std::size_t num_start = at + marker.size();
    const std::size_t end = dumped.find("\\u0001\"", num_start);
    if (end == std::string::npos) break;
    const std::size_t idx = std::stoul(dumped.substr(num_start, end - num_start));
    t.append_literal(std::string_view(dumped).substr(pos, at - pos));
    t.append_literal("\"");
    t.append(dyn[idx], Escape::kJson);
    t.append_literal("\"");
    pos = end + 7;
  }
  t.append_literal(std::string_view(dumped).substr(pos));
  return t;
}

}  // namespace ld::params
