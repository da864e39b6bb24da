#include "checks/checks.hpp"

#include <charconv>
#include <cstdlib>
#include <span>

#include "core/text.hpp"
#include "loaddensity/core/error.hpp"

namespace ld::checks {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

bool to_int(std::string_view s, std::int64_t& out) {
  s = trim(s);
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && p == s.data() + s.size() && !s.empty();
}

const std::vector<std::string> kAssertionTypes = {"status_code", "contains", "not_contains",
                                                  "json_path", "header"};
const std::vector<std::string> kFromTypes = {"json_path", "header", "status_code"};
// A reply without status or headers (a WebSocket message, socket bytes, an SSE event's data).
const std::vector<std::string> kBodyAssertionTypes = {"contains", "not_contains", "json_path"};
const std::vector<std::string> kBodyFromTypes = {"json_path"};

[[noreturn]] void fail(const std::string& ptr, const std::string& msg) {
  throw ConfigError(msg, ptr);
}

std::string type_of(const Json& a, const std::string& ptr, const std::vector<std::string>& allowed,
                    const char* what) {
  if (!a.is_object()) fail(ptr, std::string(what) + " must be an object with a \"type\"");
  const char* key = std::string_view(what) == "extractor" ? "from" : "type";
  std::string t = std::string_view(what) == "extractor" ? "json_path" : "";
  if (a.contains(key)) {
    if (!a[key].is_string()) fail(ptr + "/" + key, std::string(key) + " must be a string");
    t = text::lower(a[key].get<std::string>());
  } else if (std::string_view(what) != "extractor") {
    std::string list;
    for (const auto& x : allowed) list += (list.empty() ? "" : ", ") + x;
    fail(ptr, "assertion needs a \"type\" (" + list + ")");
  }
  for (const auto& x : allowed) {
    if (x == t) return t;
  }
  if (t == "status_code" || t == "header") {  // known, but this reply has a body only
    std::string list;
    for (const auto& x : allowed) list += (list.empty() ? "" : ", ") + x;
    fail(ptr + "/" + key, std::string(what) + " " + key + " '" + t +
                              "' needs an HTTP response; this reply has a body only (use " + list +
                              ")");
  }
  std::string msg = std::string("unknown ") + what + " " + key + " '" + t + "'";
  const std::string s = text::closest(t, allowed);
  if (!s.empty()) msg += " (did you mean '" + s + "'?)";
  std::string list;
  for (const auto& x : allowed) list += (list.empty() ? "" : ", ") + x;
  fail(ptr + "/" + key, msg + "; use " + list);
}

void need(const Json& a, const char* field, const std::string& ptr, const std::string& type) {
  if (!a.contains(field)) fail(ptr, type + " needs \"" + field + "\"");
}

}  // namespace

bool ResponseView::header(std::string_view name, std::string_view& value) const {
  std::size_t pos = header_block.find('\n');  // skip the status line
  while (pos != std::string_view::npos && pos + 1 < header_block.size()) {
    const std::size_t start = pos + 1;
    std::size_t eol = header_block.find('\n', start);
    if (eol == std::string_view::npos) eol = header_block.size();
    const std::string_view line = header_block.substr(start, eol - start);
    const std::size_t colon = line.find(':');
    if (colon != std::string_view::npos && text::iequals(trim(line.substr(0, colon)), name)) {
      value = trim(line.substr(colon + 1));
      return true;
    }
    pos = eol;
  }
  return false;
}

JsonPath JsonPath::parse(std::string_view path) {
  JsonPath p;
  std::size_t i = 0;
  if (path.starts_with("$")) i = 1;
  while (i < path.size()) {
    const char c = path[i];
    if (c == '.') {
      ++i;
      continue;
    }
    if (c == '[') {
      const std::size_t close = path.find(']', i);
      std::string_view inner = path.substr(i + 1, (close == std::string_view::npos ? path.size() : close) - i - 1);
      Step s;
      if (inner.size() >= 2 && (inner.front() == '"' || inner.front() == '\'')) {
        s.key = std::string(inner.substr(1, inner.size() - 2));
      } else if (to_int(inner, s.index)) {
        s.is_index = true;
      } else {
        s.key = std::string(inner);
      }
      p.steps.push_back(std::move(s));
      i = close == std::string_view::npos ? path.size() : close + 1;
      continue;
    }
    const std::size_t end = std::min(path.find_first_of(".[", i), path.size());
    Step s;
    s.key = std::string(path.substr(i, end - i));
    s.numeric = to_int(s.key, s.index);
    p.steps.push_back(std::move(s));
    i = end;
  }
  return p;
}

const Json* JsonPath::find(const Json& root) const {
  const Json* cur = &root;
  for (const Step& s : steps) {
    if (cur->is_array()) {
      if (!s.is_index && !s.numeric) return nullptr;
      std::int64_t idx = s.index;
      const auto n = static_cast<std::int64_t>(cur->size());
      if (idx < 0) idx += n;  // Python's negative indexes
      if (idx < 0 || idx >= n) return nullptr;
      cur = &(*cur)[static_cast<std::size_t>(idx)];
    } else if (cur->is_object()) {
      const std::string key = s.is_index ? std::to_string(s.index) : s.key;
      auto it = cur->find(key);
      if (it == cur->end()) return nullptr;
      cur = &*it;
    } else {
      return nullptr;
    }
    if (cur->is_null()) return nullptr;
  }
  return cur;
}

void Checks::validate(const Json& task, bool http) {
  const auto& assertion_types = http ? kAssertionTypes : kBodyAssertionTypes;
  const auto& from_types = http ? kFromTypes : kBodyFromTypes;
  if (task.contains("assertions")) {
    const Json& list = task["assertions"];
    if (!list.is_array()) fail("/assertions", "assertions must be a list");
    for (std::size_t i = 0; i < list.size(); ++i) {
      const std::string ptr = "/assertions" + pointer_index(i);
      const std::string t = type_of(list[i], ptr, assertion_types, "assertion");
      if (t == "json_path") need(list[i], "path", ptr, t);
      if (t == "header") need(list[i], "name", ptr, t);
      need(list[i], "value", ptr, t);
      if (t == "status_code") {
        std::int64_t v;
        const Json& val = list[i]["value"];
        const bool ok = val.is_number_integer() ||
                        (val.is_string() && (to_int(val.get<std::string>(), v) ||
                                             val.get<std::string>().find("${") != std::string::npos));
        if (!ok) fail(ptr + "/value", "status_code value must be an integer");
      }
    }
  }
  if (task.contains("extract")) {
    const Json& list = task["extract"];
    if (!list.is_array()) fail("/extract", "extract must be a list");
    for (std::size_t i = 0; i < list.size(); ++i) {
      const std::string ptr = "/extract" + pointer_index(i);
      const std::string from = type_of(list[i], ptr, from_types, "extractor");
      if (!list[i].contains("var") || !list[i]["var"].is_string()) {
        fail(ptr + "/var", "extractor needs \"var\": the variable to set");
      }
      if (from == "json_path" && !list[i].contains("path")) fail(ptr, "json_path extractor needs \"path\"");
      if (from == "header" && !list[i].contains("name")) fail(ptr, "header extractor needs \"name\"");
    }
  }
}

void Checks::collect_extracted(const Json& task, std::set<std::string>& out) {
  if (!task.contains("extract") || !task["extract"].is_array()) return;
  for (const auto& e : task["extract"]) {
    if (e.is_object() && e.contains("var") && e["var"].is_string()) out.insert(e["var"].get<std::string>());
  }
}

std::uint32_t Checks::add_path(const std::string& text, const JsonPath& path,
                                std::vector<std::string>& texts,
                                std::vector<const JsonPath*>& parsed) {
  for (std::size_t i = 0; i < texts.size(); ++i) {
    if (texts[i] == text) return static_cast<std::uint32_t>(i);
  }
  texts.push_back(text);
  parsed.push_back(&path);
  return static_cast<std::uint32_t>(texts.size() - 1);
}

void Checks::build_scan(const std::vector<const JsonPath*>& parsed) {
  scan_ = parsed.size() <= scan::kMaxPaths;
  for (const JsonPath* p : parsed) scan_ = scan_ && p->steps.size() <= scan::kMaxSteps;
  if (!scan_) return;
  // A step names an object member by its key, or by its index written out ("[0]" selects
  // member "0" of an object, as the DOM walk does).
  std::vector<std::pair<std::size_t, std::size_t>> keys;
  for (const JsonPath* p : parsed) {
    for (const JsonPath::Step& st : p->steps) {
      const std::string key = st.is_index ? std::to_string(st.index) : st.key;
      keys.emplace_back(scan_keys_.size(), key.size());
      scan_keys_ += key;
    }
  }
  std::size_t k = 0;
  for (const JsonPath* p : parsed) {
    for (const JsonPath::Step& st : p->steps) {
      scan::Step s;
      s.key = std::string_view(scan_keys_).substr(keys[k].first, keys[k].second);
      s.index = st.index;
      s.array_ok = st.is_index || st.numeric;
      scan_steps_.push_back(s);
      ++k;
    }
  }
  std::size_t at = 0;
  for (const JsonPath* p : parsed) {
    paths_.push_back(scan::Path{scan_steps_.data() + at, p->steps.size()});
    at += p->steps.size();
  }
}

std::unique_ptr<Checks> Checks::compile(const Json& task, const params::ParseContext& ctx,
                                        bool http) {
  validate(task, http);
  auto c = std::make_unique<Checks>();
  std::vector<std::string> path_texts;
  std::vector<const JsonPath*> parsed;
  // Reserved: parsed paths are referred to by address until build_scan.
  if (task.contains("assertions")) c->assertions_.reserve(task["assertions"].size());
  if (task.contains("extract")) c->extractors_.reserve(task["extract"].size());
  if (task.contains("assertions")) {
    for (const auto& a : task["assertions"]) {
      Assertion x;
      const std::string t = text::lower(a["type"].get<std::string>());
      const Json& v = a["value"];
      const std::string vtext = json_display(v);
      x.expected = params::Template::parse(vtext, ctx);
      x.expected_is_string = v.is_string();
      x.expected_json = v;
      if (t == "status_code") {
        x.type = Type::kStatus;
        x.message = "assertion failed: status_code == " + vtext;
      } else if (t == "contains") {
        x.type = Type::kContains;
        c->needs_body_ = true;
        x.message = "assertion failed: body contains '" + vtext + "'";
      } else if (t == "not_contains") {
        x.type = Type::kNotContains;
        c->needs_body_ = true;
        x.message = "assertion failed: body does not contain '" + vtext + "'";
      } else if (t == "json_path") {
        x.type = Type::kJsonPath;
        c->needs_body_ = c->needs_json_ = true;
        const std::string path = json_display(a["path"]);
        x.path = JsonPath::parse(path);
        x.message = "assertion failed: json_path " + path + " == " + json_brief(v, 60);
        c->assertions_.push_back(std::move(x));
        c->assertions_.back().slot =
            c->add_path(path, c->assertions_.back().path, path_texts, parsed);
        continue;
      } else {
        x.type = Type::kHeader;
        c->needs_headers_ = true;
        x.name = json_display(a["name"]);
        x.message = "assertion failed: header " + x.name + " == " + vtext;
      }
      c->assertions_.push_back(std::move(x));
    }
  }
  if (task.contains("extract")) {
    for (const auto& e : task["extract"]) {
      Extractor x;
      const std::string from = e.contains("from") ? text::lower(e["from"].get<std::string>()) : "json_path";
      x.var = e["var"].get<std::string>();
      if (from == "json_path") {
        x.from = From::kJsonPath;
        const std::string path = json_display(e["path"]);
        x.path = JsonPath::parse(path);
        c->needs_body_ = c->needs_json_ = true;
        c->extractors_.push_back(std::move(x));
        c->extractors_.back().slot =
            c->add_path(path, c->extractors_.back().path, path_texts, parsed);
        continue;
      } else if (from == "header") {
        x.from = From::kHeader;
        x.name = json_display(e["name"]);
        c->needs_headers_ = true;
      } else {
        x.from = From::kStatus;
      }
      c->extractors_.push_back(std::move(x));
    }
  }
  c->build_scan(parsed);
  return c;
}

namespace {

// Response bodies nested deeper than this are treated as not JSON: extracting or comparing a
// value walks it recursively, and a hostile or broken server must not overflow a worker's stack.
constexpr std::size_t kMaxResponseJsonDepth = 4 * limits::kMaxJsonDepth;
static_assert(kMaxResponseJsonDepth == scan::kMaxDepth);

bool nesting_within(std::string_view text, std::size_t max_depth) noexcept {
  std::size_t depth = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    switch (text[i]) {
      case '"':
        for (++i; i < text.size() && text[i] != '"'; ++i) {
          if (text[i] == '\\') ++i;
        }
        break;
      case '[':
      case '{':
        if (++depth > max_depth) return false;
        break;
      case ']':
      case '}':
        if (depth > 0) --depth;
        break;
      default:
        break;
    }
  }
  return true;
}

// Per-thread buffers for what apply() renders or decodes, so a response costs no allocation
// once they have grown.
struct Scratch {
  std::string expected;
  std::string decoded;
  std::string number;
};

Scratch& scratch() {
  thread_local Scratch s;
  return s;
}

// The value of a JSON number token as the DOM parser stores it: an unsigned or signed integer
// when it is one that fits, else a double.
Json number_value(std::string_view t) {
  const char* b = t.data();
  const char* e = b + t.size();
  if (t.find_first_of(".eE") == std::string_view::npos) {
    if (t.front() == '-') {
      std::int64_t v;
      auto [p, ec] = std::from_chars(b, e, v);
      if (ec == std::errc{} && p == e) return Json(v);
    } else {
      std::uint64_t v;
      auto [p, ec] = std::from_chars(b, e, v);
      if (ec == std::errc{} && p == e) return Json(v);
    }
  }
  double d = 0;
  auto [p, ec] = std::from_chars(b, e, d);
  if (ec != std::errc{}) {  // underflow: what strtod gives (a subnormal or zero)
    std::string& buf = scratch().number;
    buf.assign(t);
    d = std::strtod(buf.c_str(), nullptr);
  }
  return Json(d);
}

// json_display of a number token, written into `buf`.
std::string_view number_text(std::string_view t, char (&buf)[64]) {
  const Json v = number_value(t);
  char* end = buf;
  if (v.is_number_unsigned()) {
    end = std::to_chars(buf, buf + sizeof buf, v.get<std::uint64_t>()).ptr;
  } else if (v.is_number_integer()) {
    end = std::to_chars(buf, buf + sizeof buf, v.get<std::int64_t>()).ptr;
  } else {
    end = nlohmann::detail::to_chars(buf, buf + sizeof buf, v.get<double>());  // as dump() writes it
  }
  return {buf, static_cast<std::size_t>(end - buf)};
}

}  // namespace

bool parse_body_json(std::string_view body, Json& out) {
  if (!nesting_within(body, kMaxResponseJsonDepth)) return false;
  out = Json::parse(body.begin(), body.end(), nullptr, false);
  return !out.is_discarded();
}

// The body as JSON, read at most once per response and only when a json_path rule runs: one
// scan that finds every path (or, when the paths exceed a scan, a document).
class Checks::Body {
 public:
  Body(std::string_view text, const Checks& c) : text_(text), c_(c) {}

  bool is_json() {
    if (state_ < 0) {
      if (c_.scan_) {
        state_ = scan::find_paths(text_, c_.paths_, std::span<scan::Hit>(hits_, c_.paths_.size()))
                     ? 1 : 0;
      } else {
        state_ = parse_body_json(text_, doc_) ? 1 : 0;
      }
    }
    return state_ == 1;
  }
  bool scanned() const noexcept { return c_.scan_; }
  const scan::Hit& hit(std::uint32_t slot) const noexcept { return hits_[slot]; }
  std::string_view span(const scan::Hit& h) const noexcept {
    return text_.substr(h.begin, h.end - h.begin);
  }
  // A string value's text (decoded into the thread's scratch when it has escapes).
  std::string_view string(const scan::Hit& h) const {
    if (!h.escaped) return span(h);
    std::string& d = scratch().decoded;
    d.clear();
    scan::decode_string(span(h), d);
    return d;
  }
  // An object or array value as a document: only for comparing or extracting a whole
  // container, which needs the DOM's key order and number forms.
  Json container(const scan::Hit& h) const {
    const std::string_view v = span(h);
    return Json::parse(v.begin(), v.end(), nullptr, false);
  }
  const Json* find(const JsonPath& p) const { return p.find(doc_); }

 private:
  std::string_view text_;
  const Checks& c_;
  int state_ = -1;  // unread, not JSON, JSON
  Json doc_;
  scan::Hit hits_[scan::kMaxPaths];
};

bool Checks::json_path_holds(const Assertion& a, std::string_view expected, Body& body) const {
  if (!body.is_json()) return false;
  // A null value and a missing key both walk to None in the original, and None == None:
  // `"value": null` holds for either (the body must still be JSON).
  const bool null_expected = !a.expected_is_string && a.expected_json.is_null();
  if (!body.scanned()) {
    const Json* got = body.find(a.path);
    if (!got) return null_expected;
    return a.expected_is_string
               ? (got->is_string() && got->get_ref<const std::string&>() == expected)
               : *got == a.expected_json;
  }
  const scan::Hit& h = body.hit(a.slot);
  if (a.expected_is_string) return h.kind == scan::Kind::kString && body.string(h) == expected;
  switch (h.kind) {
    case scan::Kind::kNone: return null_expected;
    case scan::Kind::kString: return false;  // a string never equals a non-string
    case scan::Kind::kTrue: return a.expected_json.is_boolean() && a.expected_json.get<bool>();
    case scan::Kind::kFalse: return a.expected_json.is_boolean() && !a.expected_json.get<bool>();
    case scan::Kind::kNull: return null_expected;  // the root itself (path "$")
    case scan::Kind::kNumber:
      return a.expected_json.is_number() && number_value(body.span(h)) == a.expected_json;
    case scan::Kind::kObject:
      return a.expected_json.is_object() && body.container(h) == a.expected_json;
    case scan::Kind::kArray:
      return a.expected_json.is_array() && body.container(h) == a.expected_json;
  }
  return false;
}

void Checks::extract_json_path(const Extractor& e, Body& body, params::UserScope& scope) const {
  if (!body.is_json()) return;
  if (!body.scanned()) {
    if (const Json* got = body.find(e.path)) scope.set(e.var, json_display(*got));
    return;
  }
  const scan::Hit& h = body.hit(e.slot);
  char buf[64];
  switch (h.kind) {
    case scan::Kind::kNone: return;  // None is not written
    case scan::Kind::kString: scope.set(e.var, body.string(h)); return;
    case scan::Kind::kNumber: scope.set(e.var, number_text(body.span(h), buf)); return;
    case scan::Kind::kTrue: scope.set(e.var, "true"); return;
    case scan::Kind::kFalse: scope.set(e.var, "false"); return;
    case scan::Kind::kNull: scope.set(e.var, "None"); return;  // the root itself
    case scan::Kind::kObject:
    case scan::Kind::kArray: scope.set(e.var, json_display(body.container(h))); return;
  }
}

const char* Checks::apply(const ResponseView& r, params::UserScope& scope) const {
  Body body(r.body, *this);
  std::string& rendered = scratch().expected;
  for (const Assertion& a : assertions_) {
    std::string_view expected = a.expected.text();  // a static value is its text
    if (!a.expected.is_static()) {
      rendered.clear();
      a.expected.render(rendered, scope);
      expected = rendered;
    }
    bool ok = false;
    switch (a.type) {
      case Type::kStatus: {
        std::int64_t want;
        ok = to_int(expected, want) && want == r.status;
        break;
      }
      case Type::kContains: ok = r.body.find(expected) != std::string_view::npos; break;
      case Type::kNotContains: ok = r.body.find(expected) == std::string_view::npos; break;
      case Type::kHeader: {
        std::string_view v;
        ok = r.header(a.name, v) && v == expected;
        break;
      }
      case Type::kJsonPath: ok = json_path_holds(a, expected, body); break;
    }
    if (!ok) return a.message.c_str();
  }
  for (const Extractor& e : extractors_) {
    switch (e.from) {
      case From::kStatus: {
        char buf[16];
        auto [end, ec] = std::to_chars(buf, buf + sizeof buf, r.status);
        scope.set(e.var, std::string_view(buf, static_cast<std::size_t>(end - buf)));
        break;
      }
      case From::kHeader: {
        std::string_view v;
        if (r.header(e.name, v)) scope.set(e.var, v);
        break;
      }
      case From::kJsonPath: extract_json_path(e, body, scope); break;
    }
  }
  return nullptr;
}

}  // namespace ld::checks
