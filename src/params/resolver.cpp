#include "params/resolver.hpp"

#include <cctype>
#include <cstdlib>

#include "core/text.hpp"

namespace ld::params {

namespace {
std::string_view strip(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}
}  // namespace

std::optional<std::string> Resolver::lookup_static(std::string_view raw) const {
  const std::string_view token = strip(raw);
  if (token.empty()) return std::nullopt;
  if (token.back() == ')') return std::nullopt;  // functions: per-request, not static
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

Template Template::parse(std::string_view s, const Resolver& resolver) {
  Template t;
  std::string literal;
  std::size_t pos = 0;
  while (pos < s.size()) {
    const std::size_t open = s.find("${", pos);
    if (open == std::string_view::npos) break;
    const std::size_t close = s.find('}', open + 2);
    if (close == std::string_view::npos) break;
    literal.append(s.substr(pos, open - pos));
    const std::string_view whole = s.substr(open, close + 1 - open);
    const std::string_view token = s.substr(open + 2, close - open - 2);
    if (auto v = resolver.lookup_static(token)) {
      literal += *v;
    } else {
      // Unknown placeholders stay verbatim; they are literal text for now. Dynamic kinds
      // (extracted variables, csv, faker, functions) will become dynamic segments here.
      literal.append(whole);
    }
    pos = close + 1;
  }
  literal.append(s.substr(pos));
  t.text_ = literal;
  t.segments_.push_back(Segment{std::move(literal), false});
  return t;
}

void Template::render(std::string& out) const {
  for (const auto& seg : segments_) out += seg.text;
}

std::string resolve_static(std::string_view text, const Resolver& resolver) {
  return Template::parse(text, resolver).text();
}

Json resolve_json(const Json& value, const Resolver& resolver) {
  if (value.is_string()) return resolve_static(value.get_ref<const std::string&>(), resolver);
  if (value.is_array()) {
    Json out = Json::array();
    for (const auto& v : value) out.push_back(resolve_json(v, resolver));
    return out;
  }
  if (value.is_object()) {
    Json out = Json::object();
    for (auto it = value.begin(); it != value.end(); ++it) {
      out[it.key()] = resolve_json(it.value(), resolver);
    }
    return out;
  }
  return value;
}

}  // namespace ld::params
