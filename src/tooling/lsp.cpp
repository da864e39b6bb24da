// `loaddensity lsp`: a language server over stdio for action documents. Diagnostics are the
// lint with ranges; completion and hover read the command registry and the protocols'
// task-field declarations. The cursor's place is found by a tolerant scan of the text up to
// it (documents being typed are rarely valid JSON).
#include <istream>
#include <map>
#include <ostream>
#include <regex>

#include "loaddensity/protocol/protocol.hpp"
#include "tooling/host.hpp"
#include "tooling/json_locate.hpp"
#include "tooling/schema.hpp"

namespace ld::tooling {

namespace {

// LSP constants.
constexpr int kKindFunction = 3, kKindProperty = 10, kKindEnumMember = 20;

struct Frame {
  char kind = '[';           // '{' or '['
  std::string key;           // object: the key of the member being written
  bool expecting_key = true;  // object: the cursor is where a key goes
  std::size_t index = 0;     // array: the element being written
  std::string first_string;  // array: its first element, when a string (the command name)
  std::size_t start = 0;     // offset of the opening bracket
};

struct Context {
  std::vector<Frame> frames;
  bool in_string = false;    // the cursor is inside a string
  std::size_t string_start = 0;
  bool in_key() const {
    return !frames.empty() && frames.back().kind == '{' && frames.back().expecting_key;
  }
};

Context context_at(std::string_view t, std::size_t offset) {
  Context c;
  auto& st = c.frames;
  std::size_t i = 0;
  while (i < offset && i < t.size()) {
    const char ch = t[i];
    if (ch == '"') {
      const std::size_t start = i++;
      std::string s;
      while (i < t.size() && t[i] != '"' && t[i] != '\n') {
        if (t[i] == '\\' && i + 1 < t.size()) ++i;
        s += t[i++];
      }
      if (i >= offset || i >= t.size() || t[i] != '"') {  // the cursor is in this string
        c.in_string = true;
        c.string_start = start;
        return c;
      }
      ++i;  // closing quote
      if (!st.empty()) {
        Frame& f = st.back();
        if (f.kind == '{' && f.expecting_key) {
          f.key = s;
        } else if (f.kind == '[' && f.index == 0) {
          f.first_string = s;
        }
      }
      continue;
    }
    switch (ch) {
      case '{': st.push_back(Frame{'{', "", true, 0, "", i}); break;
      case '[': st.push_back(Frame{'[', "", false, 0, "", i}); break;
      case '}':
      case ']':
        if (!st.empty()) st.pop_back();
        break;
      case ',':
        if (!st.empty()) {
          if (st.back().kind == '[') {
            ++st.back().index;
          } else {
            st.back().expecting_key = true;
            st.back().key.clear();
          }
        }
        break;
      case ':':
        if (!st.empty() && st.back().kind == '{') st.back().expecting_key = false;
        break;
      default: break;
    }
    ++i;
  }
  return c;
}

// What the cursor is on, in terms of the document's meaning.
struct Place {
  enum Kind { kNone, kCommand, kArgument, kTaskField, kUserField, kUserType } kind = kNone;
  std::string command;       // kArgument: the action's command
  std::string user_type;     // kTaskField
  std::size_t action_start = 0;
};

std::string user_type_in(std::string_view text, std::size_t from) {
  static const std::regex re("\"user\"\\s*:\\s*\"([A-Za-z0-9_]+)\"");
  std::match_results<std::string_view::const_iterator> m;
  if (std::regex_search(text.begin() + static_cast<std::ptrdiff_t>(from), text.end(), m, re)) {
    return m[1].str();
  }
  return "";
}

Place locate(const Host& host, std::string_view text, const Context& c) {
  const auto& f = c.frames;
  Place p;
  std::size_t list = 0;  // index of the frame that is the action list
  if (f.empty()) return p;
  if (f[0].kind == '{') {
    if (f[0].key != "load_density" || f.size() < 2 || f[1].kind != '[') return p;
    list = 1;
  }
  for (;;) {
    const std::size_t act = list + 1;
    if (f.size() <= act || f[act].kind != '[') return p;
    p.action_start = f[act].start;
    if (f.size() == act + 1) {
      if (f[act].index == 0 && c.in_string) p.kind = Place::kCommand;
      return p;
    }
    const std::string& command = f[act].first_string;
    const action::Command* cmd = host.registry.find(command);
    const std::size_t args = act + 1;
    if (!cmd || f[args].kind != '{') return p;
    if (f.size() == args + 1) {
      if (c.in_key()) {
        p.kind = Place::kArgument;
        p.command = command;
      } else if (command == "LD_start_test" && f[args].key == "user_detail_dict") {
        return p;
      }
      return p;
    }
    const std::string& key = f[args].key;
    if (!cmd->nested_actions.empty() && key == cmd->nested_actions) {
      list = args + 1;  // a nested action list: the same again, one level down
      if (f[list].kind == '{') {
        if (f[list].key != "load_density" || f.size() <= list + 1) return p;
        ++list;
      }
      continue;
    }
    if (command != "LD_start_test") return p;
    const std::size_t v = args + 1;
    if (key == "user_detail_dict" && f[v].kind == '{' && f.size() == v + 1) {
      if (c.in_key()) {
        p.kind = Place::kUserField;
      } else if (f[v].key == "user" && c.in_string) {
        p.kind = Place::kUserType;
      }
      return p;
    }
    if (key != "tasks") return p;
    std::size_t task = 0;
    if (f[v].kind == '[' && f.size() > v + 1 && f[v + 1].kind == '{') {
      task = v + 1;
    } else if (f[v].kind == '{' && f.size() > v + 1) {
      if (f[v].key == "tasks" && f[v + 1].kind == '[' && f.size() > v + 2) {
        task = v + 2;
      } else if (f[v].key != "mode" && f[v + 1].kind == '{') {
        task = v + 1;  // legacy {"get": {...}}
      }
    }
    if (task && f.size() == task + 1 && f[task].kind == '{' && c.in_key()) {
      p.kind = Place::kTaskField;
      p.user_type = user_type_in(text, p.action_start);
    }
    return p;
  }
}

std::string param_line(const action::Param& prm) {
  std::string s = "`" + prm.name + "` (" +
                  (prm.types == action::kAny ? std::string("any") : action::type_mask_name(prm.types));
  if (prm.required) {
    s += ", required";
  } else if (!prm.default_value.is_null()) {
    s += ", default `" + prm.default_value.dump() + "`";
  }
  s += ")";
  if (!prm.help.empty()) s += ": " + prm.help;
  return s;
}

std::string command_doc(const action::Command& c) {
  std::string s = "**" + c.name + "**\n\n" + c.summary + "\n\n";
  for (const auto& p : c.params) s += "- " + param_line(p) + "\n";
  return s;
}

const action::Param* find_param(const std::vector<action::Param>& ps, const std::string& n) {
  for (const auto& p : ps) {
    if (p.name == n) return &p;
  }
  return nullptr;
}

std::vector<action::Param> user_fields() {
  return {{"user", action::kString, true, nullptr, "the user type: the protocol each virtual user speaks"}};
}

class LspServer {
 public:
  LspServer(const Host& host, std::ostream& out) : host_(host), out_(out) {}

  // Returns false once the client asked to exit.
  bool handle(const Json& msg) {
    const std::string method = msg.value("method", "");
    const bool is_request = msg.contains("id");
    const Json id = is_request ? msg["id"] : Json();
    const Json params = msg.contains("params") ? msg["params"] : Json::object();
    if (method == "exit") return false;
    try {
      if (method == "initialize") {
        reply(id, {{"capabilities",
                    {{"textDocumentSync", 1},
                     {"completionProvider", {{"triggerCharacters", {"\"", "_"}}}},
                     {"hoverProvider", true}}},
                   {"serverInfo", {{"name", "loaddensity"}, {"version", host_.version}}}});
      } else if (method == "shutdown") {
        reply(id, nullptr);
      } else if (method == "textDocument/didOpen") {
        const Json& d = params["textDocument"];
        update(d["uri"].get<std::string>(), d["text"].get<std::string>());
      } else if (method == "textDocument/didChange") {
        const Json& changes = params["contentChanges"];
        if (changes.is_array() && !changes.empty()) {
          update(params["textDocument"]["uri"].get<std::string>(),
                 changes.back()["text"].get<std::string>());
        }
      } else if (method == "textDocument/didClose") {
        const std::string uri = params["textDocument"]["uri"].get<std::string>();
        docs_.erase(uri);
        notify("textDocument/publishDiagnostics", {{"uri", uri}, {"diagnostics", Json::array()}});
      } else if (method == "textDocument/completion") {
        reply(id, completion(params));
      } else if (method == "textDocument/hover") {
        reply(id, hover(params));
      } else if (is_request) {
        write_lsp_message(out_, rpc_error(id, -32601, "unknown method: " + method));
      }
    } catch (const std::exception& e) {
      if (is_request) write_lsp_message(out_, rpc_error(id, -32603, e.what()));
    }
    return true;
  }

 private:
  void reply(const Json& id, Json result) { write_lsp_message(out_, rpc_result(id, std::move(result))); }
  void notify(const std::string& method, Json params) {
    write_lsp_message(out_, {{"jsonrpc", "2.0"}, {"method", method}, {"params", std::move(params)}});
  }

  static std::string path_of(const std::string& uri) {
    if (uri.rfind("file://", 0) != 0) return uri;
    std::string out;
    for (std::size_t i = 7; i < uri.size(); ++i) {
      if (uri[i] == '%' && i + 2 < uri.size()) {
        out += static_cast<char>(std::stoi(uri.substr(i + 1, 2), nullptr, 16));
        i += 2;
      } else {
        out += uri[i];
      }
    }
    return out;
  }

  void update(const std::string& uri, std::string text) {
    const auto findings = lint_text(host_.lint_context(), text, path_of(uri));
    docs_[uri] = std::move(text);
    Json diags = Json::array();
    for (const Finding& f : findings) {
      diags.push_back(
          {{"range",
            {{"start", {{"line", f.line}, {"character", f.column}}},
             {"end", {{"line", f.end_line}, {"character", f.end_column}}}}},
           {"severity", f.severity == Severity::kError ? 1 : 2},
           {"code", f.rule},
           {"source", "loaddensity"},
           {"message", f.message}});
    }
    notify("textDocument/publishDiagnostics", {{"uri", uri}, {"diagnostics", diags}});
  }

  // The document's text and the cursor's byte offset.
  std::pair<const std::string*, std::size_t> cursor(const Json& params) {
    auto it = docs_.find(params["textDocument"]["uri"].get<std::string>());
    if (it == docs_.end()) return {nullptr, 0};
    const JsonLocator loc(it->second);
    const Position pos{params["position"]["line"].get<std::size_t>(),
                       params["position"]["character"].get<std::size_t>()};
    return {&it->second, loc.offset(pos)};
  }

  Json completion(const Json& params) {
    Json items = Json::array();
    auto [text, offset] = cursor(params);
    if (!text) return items;
    const Context c = context_at(*text, offset);
    const Place p = locate(host_, *text, c);
    auto quoted = [&](const std::string& s) { return c.in_string ? s : "\"" + s + "\""; };
    auto add_params = [&](const std::vector<action::Param>& ps) {
      for (const auto& prm : ps) {
        items.push_back({{"label", prm.name},
                         {"kind", kKindProperty},
                         {"detail", prm.types == action::kAny ? std::string("any")
                                                               : action::type_mask_name(prm.types)},
                         {"documentation", {{"kind", "markdown"}, {"value", param_line(prm)}}},
                         {"insertText", quoted(prm.name)}});
      }
    };
    switch (p.kind) {
      case Place::kCommand:
        for (const auto& n : host_.registry.names()) {
          const action::Command* cmd = host_.registry.find(n);
          items.push_back({{"label", n},
                           {"kind", kKindFunction},
                           {"detail", cmd->summary},
                           {"documentation", {{"kind", "markdown"}, {"value", command_doc(*cmd)}}},
                           {"insertText", quoted(n)}});
        }
        break;
      case Place::kArgument:
        add_params(host_.registry.find(p.command)->params);
        break;
      case Place::kTaskField:
        if (host_.protocols.find(p.user_type)) add_params(all_task_fields(host_.protocols, p.user_type));
        break;
      case Place::kUserField:
        add_params(user_fields());
        break;
      case Place::kUserType:
        for (const auto& t : host_.protocols.user_types()) {
          items.push_back({{"label", t},
                           {"kind", kKindEnumMember},
                           {"detail", std::to_string(host_.protocols.find(t)->task_fields(t).size()) +
                                          " task fields"},
                           {"insertText", quoted(t)}});
        }
        break;
      case Place::kNone: break;
    }
    return {{"isIncomplete", false}, {"items", items}};
  }

  Json hover(const Json& params) {
    auto [text, offset] = cursor(params);
    if (!text) return nullptr;
    Context c = context_at(*text, offset);
    if (!c.in_string) return nullptr;
    // The whole string under the cursor.
    std::size_t end = c.string_start + 1;
    while (end < text->size() && (*text)[end] != '"' && (*text)[end] != '\n') {
      end += (*text)[end] == '\\' ? 2 : 1;
    }
    const std::string word = text->substr(c.string_start + 1, end - c.string_start - 1);
    const Place p = locate(host_, *text, c);
    std::string doc;
    if (p.kind == Place::kCommand) {
      if (const action::Command* cmd = host_.registry.find(word)) doc = command_doc(*cmd);
    } else if (p.kind == Place::kArgument) {
      if (const auto* prm = find_param(host_.registry.find(p.command)->params, word)) {
        doc = "**" + p.command + "** argument " + param_line(*prm);
      }
    } else if (p.kind == Place::kTaskField) {
      if (host_.protocols.find(p.user_type)) {
        const auto fields = all_task_fields(host_.protocols, p.user_type);
        if (const auto* prm = find_param(fields, word)) {
          doc = "**" + p.user_type + "** task field " + param_line(*prm);
        }
      }
    } else if (p.kind == Place::kUserType) {
      if (const engine::Protocol* proto = host_.protocols.find(word)) {
        doc = "**" + word + "** task fields:\n\n";
        for (const auto& prm : proto->task_fields(word)) doc += "- " + param_line(prm) + "\n";
      }
    }
    if (doc.empty()) return nullptr;
    const JsonLocator loc(*text);
    const Position a = loc.position(c.string_start), b = loc.position(std::min(end + 1, text->size()));
    return {{"contents", {{"kind", "markdown"}, {"value", doc}}},
            {"range",
             {{"start", {{"line", a.line}, {"character", a.column}}},
              {"end", {{"line", b.line}, {"character", b.column}}}}}};
  }

  const Host& host_;
  std::ostream& out_;
  std::map<std::string, std::string> docs_;
};

}  // namespace

int run_lsp(const Host& host, std::istream& in, std::ostream& out) {
  LspServer server(host, out);
  std::string body;
  while (read_lsp_message(in, body)) {
    Json msg;
    try {
      msg = Json::parse(body);
    } catch (const std::exception& e) {
      write_lsp_message(out, rpc_error(nullptr, -32700, std::string("parse error: ") + e.what()));
      continue;
    }
    if (!msg.is_object()) continue;
    if (!server.handle(msg)) break;
  }
  return 0;
}

}  // namespace ld::tooling
