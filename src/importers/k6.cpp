// k6 scripts, read and never run. A tokenizer that knows JavaScript strings, template
// literals, comments and regex literals finds the calls: http.get/post/put/patch/del/head/
// options/request, check(), sleep() and `export const options`. Arguments are evaluated as far
// as literals, string constants, JSON.stringify and __ENV allow; the rest is reported by line.
#include <cctype>
#include <cmath>
#include <map>
#include <optional>

#include "core/text.hpp"
#include "importers/importers.hpp"
#include "loaddensity/core/error.hpp"

namespace ld::importers {

namespace {

enum class Tok { kIdent, kNumber, kString, kTemplate, kRegex, kPunct };

struct Token {
  Tok kind;
  std::string text;  // identifier, punctuation, number text, decoded string, raw template
  std::size_t line;
};

[[noreturn]] void fail_at(std::size_t line, const std::string& what) {
  throw ConfigError("k6 line " + std::to_string(line) + ": " + what, "");
}

std::vector<Token> tokenize(std::string_view s) {
  std::vector<Token> out;
  std::size_t i = 0, line = 1;
  auto regex_allowed = [&]() {
    if (out.empty()) return true;
    const Token& t = out.back();
    if (t.kind == Tok::kIdent) {
      return t.text == "return" || t.text == "typeof" || t.text == "case" || t.text == "in" ||
             t.text == "of" || t.text == "new" || t.text == "delete" || t.text == "void";
    }
    if (t.kind == Tok::kPunct) return t.text != ")" && t.text != "]" && t.text != "}";
    return false;
  };
  while (i < s.size()) {
    const char c = s[i];
    if (c == '\n') {
      ++line, ++i;
      continue;
    }
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
      continue;
    }
    if (c == '/' && i + 1 < s.size() && s[i + 1] == '/') {
      while (i < s.size() && s[i] != '\n') ++i;
      continue;
    }
    if (c == '/' && i + 1 < s.size() && s[i + 1] == '*') {
      const std::size_t start = line;
      const auto end = s.find("*/", i + 2);
      if (end == std::string_view::npos) fail_at(start, "unterminated /* comment");
      for (std::size_t k = i; k < end; ++k) line += s[k] == '\n';
      i = end + 2;
      continue;
    }
    const std::size_t at = line;
    if (c == '\'' || c == '"') {
      std::string v;
      ++i;
      for (;;) {
        if (i >= s.size() || s[i] == '\n') fail_at(at, "unterminated string");
        const char d = s[i];
        if (d == c) {
          ++i;
          break;
        }
        if (d == '\\' && i + 1 < s.size()) {
          const char e = s[i + 1];
          i += 2;
          switch (e) {
            case '\n':
              ++line;
              break;  // line continuation
            default:
              v += detail::simple_escape(e);
          }
          continue;
        }
        v += d;
        ++i;
      }
      out.push_back({Tok::kString, std::move(v), at});
      continue;
    }
    if (c == '`') {
      // Raw text up to the closing backquote; ${...} may nest braces, strings and templates.
      std::size_t k = i + 1;
      int depth = 0;
      for (;;) {
        if (k >= s.size()) fail_at(at, "unterminated template literal");
        const char d = s[k];
        if (d == '\n') ++line;
        if (d == '\\') {
          k += 2;
          continue;
        }
        if (depth == 0 && d == '`') break;
        if (d == '$' && k + 1 < s.size() && s[k + 1] == '{') {
          ++depth, k += 2;
          continue;
        }
        if (depth > 0 && d == '{') ++depth;
        if (depth > 0 && d == '}') --depth;
        ++k;
      }
      out.push_back({Tok::kTemplate, std::string(s.substr(i + 1, k - i - 1)), at});
      i = k + 1;
      continue;
    }
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == '$') {
      std::size_t k = i;
      while (k < s.size() &&
             (std::isalnum(static_cast<unsigned char>(s[k])) || s[k] == '_' || s[k] == '$'))
        ++k;
      out.push_back({Tok::kIdent, std::string(s.substr(i, k - i)), at});
      i = k;
      continue;
    }
    if (std::isdigit(static_cast<unsigned char>(c)) ||
        (c == '.' && i + 1 < s.size() && std::isdigit(static_cast<unsigned char>(s[i + 1])))) {
      std::size_t k = i;
      while (k < s.size() &&
             (std::isalnum(static_cast<unsigned char>(s[k])) || s[k] == '.' || s[k] == '_'))
        ++k;
      out.push_back({Tok::kNumber, std::string(s.substr(i, k - i)), at});
      i = k;
      continue;
    }
    if (c == '/' && regex_allowed()) {
      std::size_t k = i + 1;
      bool cls = false;
      for (;;) {
        if (k >= s.size() || s[k] == '\n') fail_at(at, "unterminated regular expression");
        if (s[k] == '\\') {
          k += 2;
          continue;
        }
        if (s[k] == '[') cls = true;
        if (s[k] == ']') cls = false;
        if (s[k] == '/' && !cls) break;
        ++k;
      }
      ++k;
      while (k < s.size() && std::isalpha(static_cast<unsigned char>(s[k]))) ++k;
      out.push_back({Tok::kRegex, std::string(s.substr(i, k - i)), at});
      i = k;
      continue;
    }
    static const char* const kMulti[] = {"===", "!==", "...", "=>", "==", "!=", "&&", "||",
                                         "??",  "<=",  ">=",  "++", "--", "+=", "-="};
    std::string p(1, c);
    for (const char* m : kMulti) {
      if (s.substr(i, std::char_traits<char>::length(m)) == m) {
        p = m;
        break;
      }
    }
    out.push_back({Tok::kPunct, p, at});
    i += p.size();
  }
  return out;
}

// A value of the script: JSON, or JSON that JSON.stringify turned into text.
struct Val {
  Json v;
  bool stringified = false;
};

class Reader {
 public:
  Reader(std::vector<Token> t, Import& imp) : t_(std::move(t)), imp_(imp) {}

  void run() {
    for (std::size_t i = 0; i < t_.size(); ++i) {
      const Token& k = t_[i];
      if (k.kind != Tok::kIdent) continue;
      // const NAME = ...; (any level: constants used by URLs and bodies)
      if ((k.text == "const" || k.text == "let" || k.text == "var") && is(i + 1, Tok::kIdent) &&
          punct(i + 2, "=")) {
        const std::string name = t_[i + 1].text;
        if (name == "options" && i > 0 && t_[i - 1].text == "export") {
          const std::size_t end = expr_end(i + 3);
          options(i + 3, end);
          i = end;
          continue;
        }
        if (is_http_call(i + 3)) {
          response_vars_[name] = imp_.tasks.size();  // the task the call is about to add
          continue;
        }
        const std::size_t end = expr_end(i + 3);
        if (auto v = eval(i + 3, end, /*quiet=*/true)) constants_[name] = *v;
        continue;
      }
      if (is_http_call(i)) {
        if (i >= 2 && punct(i - 1, "=") && is(i - 2, Tok::kIdent)) {
          response_vars_[t_[i - 2].text] = imp_.tasks.size();  // res = http.get(...)
        }
        i = http_call(i);
        continue;
      }
      if (k.text == "check" && punct(i + 1, "(") && (i == 0 || !punct(i - 1, "."))) {
        i = check(i);
        continue;
      }
      if (k.text == "sleep" && punct(i + 1, "(") && (i == 0 || !punct(i - 1, "."))) {
        const std::size_t close = match(i + 1);
        auto v = eval(i + 2, close, true);
        if (v && v->v.is_number() && !imp_.tasks.empty()) {
          imp_.tasks.back()["think_time"] = v->v;
        } else if (!v || !v->v.is_number()) {
          imp_.warn(where(i) + "sleep() with a value that is not a number is not converted");
        } else {
          imp_.warn(where(i) + "sleep() before the first request is not converted");
        }
        i = close;
        continue;
      }
      if (k.text == "http" && punct(i + 1, ".") && is(i + 2, Tok::kIdent)) {
        const std::string& f = t_[i + 2].text;
        if (f == "batch" || f == "asyncRequest") {
          imp_.warn(where(i) + "http." + f + "() is not converted");
        }
      }
    }
  }

 private:
  bool is(std::size_t i, Tok kind) const { return i < t_.size() && t_[i].kind == kind; }
  bool punct(std::size_t i, const char* p) const {
    return i < t_.size() && t_[i].kind == Tok::kPunct && t_[i].text == p;
  }
  std::string where(std::size_t i) const {
    return "k6 line " + std::to_string(t_[std::min(i, t_.size() - 1)].line) + ": ";
  }

  bool is_http_call(std::size_t i) const {
    static const char* const kFns[] = {"get", "post", "put",     "patch",
                                       "del", "head", "options", "request"};
    if (!(is(i, Tok::kIdent) && t_[i].text == "http" && punct(i + 1, ".") &&
          is(i + 2, Tok::kIdent) && punct(i + 3, "(")))
      return false;
    if (i > 0 && punct(i - 1, ".")) return false;  // foo.http.get
    for (const char* f : kFns) {
      if (t_[i + 2].text == f) return true;
    }
    return false;
  }

  // Index of the bracket closing the one at `open`.
  std::size_t match(std::size_t open) const {
    int depth = 0;
    for (std::size_t k = open; k < t_.size(); ++k) {
      if (t_[k].kind != Tok::kPunct) continue;
      const std::string& p = t_[k].text;
      if (p == "(" || p == "[" || p == "{") ++depth;
      if (p == ")" || p == "]" || p == "}") {
        if (--depth == 0) return k;
      }
    }
    fail_at(t_[open].line, "'" + t_[open].text + "' is never closed");
  }

  // End (exclusive) of the expression starting at `b`: a top-level ; , ) ] } or a new line
  // that starts a statement.
  std::size_t expr_end(std::size_t b) const {
    std::size_t k = b;
    while (k < t_.size()) {
      const Token& t = t_[k];
      if (t.kind == Tok::kPunct) {
        if (t.text == "(" || t.text == "[" || t.text == "{") {
          k = match(k) + 1;
          continue;
        }
        if (t.text == ";" || t.text == "," || t.text == ")" || t.text == "]" || t.text == "}")
          break;
      }
      if (k > b && t.kind == Tok::kIdent && t.line > t_[k - 1].line &&
          (t.text == "const" || t.text == "let" || t.text == "var" || t.text == "export" ||
           t.text == "function" || t.text == "import")) {
        break;
      }
      ++k;
    }
    return k;
  }

  // Top-level comma-separated ranges in [b, e).
  std::vector<std::pair<std::size_t, std::size_t>> split(std::size_t b, std::size_t e) const {
    std::vector<std::pair<std::size_t, std::size_t>> out;
    std::size_t start = b;
    for (std::size_t k = b; k < e; ++k) {
      if (t_[k].kind == Tok::kPunct &&
          (t_[k].text == "(" || t_[k].text == "[" || t_[k].text == "{")) {
        k = match(k);
        continue;
      }
      if (punct(k, ",")) {
        out.emplace_back(start, k);
        start = k + 1;
      }
    }
    if (start < e) out.emplace_back(start, e);
    return out;
  }

  std::string placeholder_for(const std::string& expr, std::size_t line_tok, bool quiet) {
    std::string e(text::trim_header(expr));
    if (e.rfind("__ENV.", 0) == 0) return "${env." + e.substr(6) + "}";
    if (auto it = constants_.find(e); it != constants_.end() && it->second.v.is_primitive()) {
      return json_display(it->second.v);
    }
    bool ident = !e.empty();
    for (char c : e)
      ident = ident && (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.');
    if (!quiet) {
      imp_.warn(where(line_tok) + "'" + e + "' is computed by the script; it became ${var." +
                (ident ? e : "?") + "}: register it");
    }
    return "${var." + (ident ? e : std::string("expr")) + "}";
  }

  std::string template_text(const std::string& raw, std::size_t tok, bool quiet) {
    std::string out;
    for (std::size_t k = 0; k < raw.size(); ++k) {
      if (raw[k] == '\\' && k + 1 < raw.size()) {
        const char e = raw[++k];
        out += e == 'n' ? '\n' : e == 't' ? '\t' : e;
        continue;
      }
      if (raw[k] == '$' && k + 1 < raw.size() && raw[k + 1] == '{') {
        int depth = 1;
        std::size_t j = k + 2;
        while (j < raw.size() && depth) {
          if (raw[j] == '{') ++depth;
          if (raw[j] == '}') --depth;
          ++j;
        }
        out += placeholder_for(raw.substr(k + 2, j - k - 3), tok, quiet);
        k = j - 1;
        continue;
      }
      out += raw[k];
    }
    return out;
  }

  // Evaluates [b, e): literals, object and array literals, constants, string concatenation,
  // templates, JSON.stringify(x), __ENV.X (|| 'default' takes the default). nullopt otherwise.
  std::optional<Val> eval(std::size_t b, std::size_t e, bool quiet) {
    if (b >= e) return std::nullopt;
    // a || b: the left side when known, else the right.
    for (const auto& [x, y] : split_op(b, e, "||")) {
      (void)y;
      if (x != b) {
        if (is(b, Tok::kIdent) && t_[b].text == "__ENV") {
          imp_.warn(where(b) + "__ENV." + (b + 2 < e ? t_[b + 2].text : "") +
                    " has a default in the script; the default was taken");
          return eval(x, e, quiet);
        }
        auto l = eval(b, x - 1, true);
        return l ? l : eval(x, e, quiet);
      }
    }
    // Concatenation with +: [b, p1 - 1), [p1, p2 - 1), ..., [pn, e).
    auto parts = split_op(b, e, "+");
    if (!parts.empty()) {
      std::vector<std::pair<std::size_t, std::size_t>> segs;
      std::size_t start = b;
      for (const auto& [after, unused] : parts) {
        (void)unused;
        segs.emplace_back(start, after - 1);
        start = after;
      }
      segs.emplace_back(start, e);
      std::string s;
      for (const auto& [sb, se] : segs) {
        auto v = eval(sb, se, quiet);
        if (!v) {
          s += placeholder_for(source(sb, se), sb, quiet);
        } else {
          s += json_display(v->stringified ? Json(v->v.dump()) : v->v);
        }
      }
      return Val{s};
    }
    const Token& t = t_[b];
    if (e == b + 1) {
      switch (t.kind) {
        case Tok::kString:
          return Val{t.text};
        case Tok::kTemplate:
          return Val{template_text(t.text, b, quiet)};
        case Tok::kNumber: {
          char* end = nullptr;
          const double d = std::strtod(t.text.c_str(), &end);
          if (!end || *end) return std::nullopt;
          if (d == std::floor(d) && std::abs(d) < 1e15) return Val{static_cast<std::int64_t>(d)};
          return Val{d};
        }
        case Tok::kIdent:
          if (t.text == "true") return Val{true};
          if (t.text == "false") return Val{false};
          if (t.text == "null") return Val{nullptr};
          if (auto it = constants_.find(t.text); it != constants_.end()) return it->second;
          return std::nullopt;
        default:
          return std::nullopt;
      }
    }
    if (t.kind == Tok::kPunct && t.text == "-" && e == b + 2 && is(b + 1, Tok::kNumber)) {
      auto v = eval(b + 1, e, quiet);
      if (v && v->v.is_number_integer()) return Val{-v->v.get<std::int64_t>()};
      if (v) return Val{-v->v.get<double>()};
    }
    if (t.kind == Tok::kIdent && t.text == "__ENV" && e == b + 3 && punct(b + 1, ".")) {
      return Val{"${env." + t_[b + 2].text + "}"};
    }
    if (t.kind == Tok::kIdent && t.text == "http" && e == b + 4 && punct(b + 1, ".") &&
        is(b + 2, Tok::kIdent) && t_[b + 2].text == "url" && is(b + 3, Tok::kTemplate)) {
      return Val{template_text(t_[b + 3].text, b + 3, quiet)};  // http.url`...`
    }
    if (t.kind == Tok::kIdent && t.text == "JSON" && punct(b + 1, ".") && is(b + 2, Tok::kIdent) &&
        t_[b + 2].text == "stringify" && punct(b + 3, "(") && match(b + 3) == e - 1) {
      auto args = split(b + 4, e - 1);
      if (args.empty()) return std::nullopt;
      auto v = eval(args[0].first, args[0].second, quiet);
      if (!v) return std::nullopt;
      return Val{v->v, true};
    }
    if (punct(b, "{") && match(b) == e - 1) {
      Json o = Json::object();
      for (const auto& [pb, pe] : split(b + 1, e - 1)) {
        if (pb == pe) continue;
        std::string key;
        if (is(pb, Tok::kIdent) || is(pb, Tok::kString) || is(pb, Tok::kNumber)) {
          key = t_[pb].text;
        } else {
          return std::nullopt;  // spread, computed key
        }
        if (pe == pb + 1) {  // shorthand {headers}
          auto it = constants_.find(key);
          if (it == constants_.end()) return std::nullopt;
          o[key] = it->second.stringified ? Json(it->second.v.dump()) : it->second.v;
          continue;
        }
        if (!punct(pb + 1, ":")) return std::nullopt;  // a method
        auto v = eval(pb + 2, pe, quiet);
        if (!v) return std::nullopt;
        o[key] = v->stringified ? Json(v->v.dump()) : v->v;
      }
      return Val{o};
    }
    if (punct(b, "[") && match(b) == e - 1) {
      Json a = Json::array();
      for (const auto& [pb, pe] : split(b + 1, e - 1)) {
        if (pb == pe) continue;
        auto v = eval(pb, pe, quiet);
        if (!v) return std::nullopt;
        a.push_back(v->stringified ? Json(v->v.dump()) : v->v);
      }
      return Val{a};
    }
    if (punct(b, "(") && match(b) == e - 1) return eval(b + 1, e - 1, quiet);
    return std::nullopt;
  }

  // Positions just after each top-level operator `op` in [b, e).
  std::vector<std::pair<std::size_t, std::size_t>> split_op(std::size_t b, std::size_t e,
                                                            const char* op) const {
    std::vector<std::pair<std::size_t, std::size_t>> out;
    for (std::size_t k = b; k < e; ++k) {
      if (t_[k].kind == Tok::kPunct &&
          (t_[k].text == "(" || t_[k].text == "[" || t_[k].text == "{")) {
        k = match(k);
        continue;
      }
      if (punct(k, op) && k > b) out.emplace_back(k + 1, e);
    }
    return out;
  }

  std::string source(std::size_t b, std::size_t e) const {
    std::string s;
    for (std::size_t k = b; k < e; ++k) {
      const bool word = t_[k].kind == Tok::kIdent || t_[k].kind == Tok::kNumber;
      if (k > b && word && (t_[k - 1].kind == Tok::kIdent || t_[k - 1].kind == Tok::kNumber)) {
        s += ' ';
      }
      s += t_[k].kind == Tok::kString ? "'" + t_[k].text + "'" : t_[k].text;
    }
    return s;
  }

  std::size_t http_call(std::size_t i) {
    std::string fn = t_[i + 2].text;
    const std::size_t open = i + 3, close = match(open);
    auto args = split(open + 1, close);
    std::size_t a = 0;
    std::string method = fn == "del" ? "delete" : fn;
    if (fn == "request") {
      if (args.size() < 2) fail_at(t_[i].line, "http.request() needs a method and a URL");
      auto m = eval(args[0].first, args[0].second, false);
      if (!m || !m->v.is_string())
        fail_at(t_[i].line, "http.request(): the method is not a string");
      method = text::lower(m->v.get<std::string>());
      a = 1;
    }
    if (args.size() <= a) fail_at(t_[i].line, "http." + fn + "() has no URL");
    auto url = eval(args[a].first, args[a].second, false);
    std::string u;
    if (url && url->v.is_string()) {
      u = url->v.get<std::string>();
    } else {
      u = placeholder_for(source(args[a].first, args[a].second), i, false);
    }
    Json task = {{"method", method}, {"request_url", u}};
    const bool has_body = !(fn == "get" || fn == "head");
    const std::size_t body_at = a + 1, params_at = has_body ? a + 2 : a + 1;
    if (has_body && args.size() > body_at) {
      const auto [bb, be] = args[body_at];
      auto body = eval(bb, be, false);
      if (!body) {
        imp_.warn(where(bb) + "the body " + json_brief(source(bb, be), 60) + " is not converted");
      } else if (body->stringified) {
        task["json"] = body->v;
      } else if (body->v.is_string()) {
        detail::set_text_body(task, body->v.get<std::string>(), false);
      } else if (body->v.is_object()) {
        Json data = Json::object();  // k6 sends an object as a form
        for (auto it = body->v.begin(); it != body->v.end(); ++it) {
          data[it.key()] = json_display(it.value());
        }
        task["data"] = std::move(data);
      } else if (!body->v.is_null()) {
        task["data"] = json_display(body->v);
      }
    }
    if (args.size() > params_at) {
      const auto [pb, pe] = args[params_at];
      auto params = eval(pb, pe, false);
      if (!params || !params->v.is_object()) {
        imp_.warn(where(pb) + "the params " + json_brief(source(pb, pe), 60) +
                  " are not converted");
      } else {
        for (auto it = params->v.begin(); it != params->v.end(); ++it) {
          const std::string& key = it.key();
          const Json& v = it.value();
          if (key == "headers" && v.is_object()) {
            Json h = Json::object();
            for (auto hit = v.begin(); hit != v.end(); ++hit)
              h[hit.key()] = json_display(hit.value());
            task["headers"] = std::move(h);
          } else if (key == "tags" && v.is_object() && v.contains("name")) {
            task["name"] = json_display(v["name"]);
          } else if (key == "timeout") {
            if (v.is_number()) {
              task["timeout"] = v.get<double>() / 1000.0;  // k6: milliseconds
            } else if (auto d = detail::parse_duration(json_display(v))) {
              task["timeout"] = *d;
            }
          } else if (key == "redirects" && v.is_number()) {
            task["allow_redirects"] = v.get<double>() > 0;
          } else if (key == "cookies" && v.is_object()) {
            Json c = Json::object();
            for (auto cit = v.begin(); cit != v.end(); ++cit)
              c[cit.key()] = json_display(cit.value());
            task["cookies"] = std::move(c);
          } else if (key != "tags") {
            imp_.warn(where(pb) + "request parameter '" + key + "' is not converted");
          }
        }
      }
    }
    if (!task.contains("name")) task["name"] = detail::default_name(method, u);
    imp_.tasks.push_back(std::move(task));
    return close;
  }

  // check(res, {'status is 200': (r) => r.status === 200, 'has text': (r) => r.body.includes('x')})
  std::size_t check(std::size_t i) {
    const std::size_t open = i + 1, close = match(open);
    auto args = split(open + 1, close);
    if (args.size() < 2) return close;
    std::optional<std::size_t> target;
    const auto [sb, se] = args[0];
    if (se == sb + 1 && is(sb, Tok::kIdent)) {
      if (auto it = response_vars_.find(t_[sb].text); it != response_vars_.end())
        target = it->second;
    } else if (is_http_call(sb) && !imp_.tasks.empty()) {
      target = imp_.tasks.size() - 1;  // check(http.get(...), {...}): the call was just read
    }
    const auto [cb, ce] = args[1];
    if (!punct(cb, "{")) {
      imp_.warn(where(cb) + "check() with checks that are not an object literal is not converted");
      return close;
    }
    for (const auto& [pb, pe] : split(cb + 1, ce - 1)) {
      if (pb == pe) continue;
      const std::string title = t_[pb].text;
      Json assertion;
      // The predicate: r.status === NNN (either side), r.body.includes('x'), indexOf('x') !== -1.
      for (std::size_t k = pb; k + 2 < pe && assertion.is_null(); ++k) {
        if (is(k, Tok::kIdent) && t_[k].text == "status" && punct(k - 1, ".") &&
            (punct(k + 1, "===") || punct(k + 1, "==")) && is(k + 2, Tok::kNumber)) {
          assertion = {{"type", "status_code"}, {"value", std::stoi(t_[k + 2].text)}};
        } else if (is(k, Tok::kNumber) && (punct(k + 1, "===") || punct(k + 1, "==")) &&
                   is(k + 2, Tok::kIdent) && k + 4 < pe && t_[k + 4].text == "status") {
          assertion = {{"type", "status_code"}, {"value", std::stoi(t_[k].text)}};
        } else if (is(k, Tok::kIdent) && t_[k].text == "body" && punct(k + 1, ".") && k + 4 < pe &&
                   (t_[k + 2].text == "includes" || t_[k + 2].text == "indexOf") &&
                   punct(k + 3, "(") && is(k + 4, Tok::kString)) {
          assertion = {{"type", "contains"}, {"value", t_[k + 4].text}};
        }
      }
      if (assertion.is_null() && is(pb, Tok::kString)) {
        // The original's rule: a title saying "is NNN".
        const auto p = title.find("is ");
        if (p != std::string::npos && p + 6 <= title.size() &&
            std::isdigit(static_cast<unsigned char>(title[p + 3])) &&
            std::isdigit(static_cast<unsigned char>(title[p + 4])) &&
            std::isdigit(static_cast<unsigned char>(title[p + 5]))) {
          assertion = {{"type", "status_code"}, {"value", std::stoi(title.substr(p + 3, 3))}};
        }
      }
      if (assertion.is_null() || !target) {
        imp_.warn(where(pb) + "check '" + title + "' is not converted" +
                  (target ? "" : " (its response is not a request of the script)"));
        continue;
      }
      Json& task = imp_.tasks[*target];
      if (!task.contains("assertions")) task["assertions"] = Json::array();
      task["assertions"].push_back(std::move(assertion));
    }
    return close;
  }

  void options(std::size_t b, std::size_t e) {
    if (!punct(b, "{")) {
      imp_.warn(where(b) + "options is not an object literal; not converted");
      return;
    }
    auto v = eval(b, e, true);
    if (!v || !v->v.is_object()) {
      imp_.warn(where(b) + "options could not be read; not converted");
      return;
    }
    const Json& o = v->v;
    Json& plan = imp_.plan;
    for (auto it = o.begin(); it != o.end(); ++it) {
      const std::string& key = it.key();
      const Json& val = it.value();
      if (key == "vus" && val.is_number()) {
        plan["user_count"] = val;
        plan["spawn_rate"] = val;  // k6 starts every VU at once
      } else if (key == "duration") {
        auto d = detail::parse_duration(json_display(val));
        if (!d)
          fail_at(t_[b].line, "options.duration '" + json_display(val) + "' is not a duration");
        plan["test_time"] = *d;
      } else if (key == "stages" && val.is_array()) {
        Json stages = Json::array();
        double at = 0, users = 0, peak = 0;
        for (std::size_t s = 0; s < val.size(); ++s) {
          const Json& st = val[s];
          auto d = st.is_object() && st.contains("duration")
                       ? detail::parse_duration(json_display(st["duration"]))
                       : std::nullopt;
          if (!d || !st.contains("target") || !st["target"].is_number()) {
            fail_at(t_[b].line, "options.stages[" + std::to_string(s) +
                                    "] needs a duration and a numeric target");
          }
          const double target = st["target"].get<double>();
          at += *d;
          const double rate = *d > 0 ? std::max(1.0, std::abs(target - users) / *d) : 1000.0;
          stages.push_back({{"duration", at},
                            {"users", static_cast<std::int64_t>(target)},
                            {"spawn_rate", std::round(rate * 1000) / 1000}});
          users = target;
          peak = std::max(peak, target);
        }
        plan["load_shape"] = "stages";
        plan["shape_config"] = {{"stages", stages}};
        plan["user_count"] = static_cast<std::int64_t>(std::max(1.0, peak));
      } else if (key == "thresholds" && val.is_object()) {
        for (auto th = val.begin(); th != val.end(); ++th) {
          imp_.warn(where(b) + "threshold " + th.key() + " " + json_brief(th.value(), 60) +
                    " is not converted (use LD_assert_sla)");
        }
      } else {
        imp_.warn(where(b) + "option '" + key + "' is not converted");
      }
    }
  }

  std::vector<Token> t_;
  Import& imp_;
  std::map<std::string, Val> constants_;
  std::map<std::string, std::size_t> response_vars_;
};

}  // namespace

std::string load_k6_script(const std::string& path) { return read_text(path, "k6 script"); }

Import k6_to_tasks(std::string_view script) {
  Import imp;
  Reader(tokenize(script), imp).run();
  if (imp.tasks.empty()) imp.warn("k6: the script makes no http request the importer can read");
  return imp;
}

}  // namespace ld::importers
