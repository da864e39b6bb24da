#include "tooling/lint.hpp"

#include <algorithm>
#include <cctype>
#include <map>
#include <ostream>
#include <set>

#include "core/text.hpp"
#include "engine/plan.hpp"
#include "loaddensity/core/error.hpp"
#include "tooling/json_locate.hpp"

namespace ld::tooling {

namespace {

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.erase(0, 1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  return s;
}

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// The commands that report on a test (files, gates, notifications or a returned summary).
bool is_report_command(const std::string& name) {
  static const std::set<std::string> kOthers = {
      "LD_summary",          "LD_assert_sla",         "LD_evaluate_sla",
      "LD_persist_records",  "LD_post_slack_summary", "LD_post_teams_summary",
      "LD_emit_github_annotations"};
  return name.rfind("LD_generate_", 0) == 0 || kOthers.count(name) > 0;
}

// "SOURCE: action 3 (LD_x): MESSAGE [at /3/1/y]" -> "MESSAGE".
std::string bare_message(std::string msg, const std::string& prefix, const std::string& ptr) {
  if (msg.rfind(prefix, 0) == 0) msg.erase(0, prefix.size());
  const std::string suffix = " [at " + ptr + "]";
  if (msg.size() >= suffix.size() && msg.compare(msg.size() - suffix.size(), suffix.size(), suffix) == 0) {
    msg.erase(msg.size() - suffix.size());
  }
  return msg;
}

struct Linter {
  const LintContext& ctx;
  const std::string& source;
  std::vector<Finding> out;

  void add(std::string rule, Severity sev, std::string message, std::string pointer) {
    out.push_back(Finding{std::move(rule), sev, std::move(message), std::move(pointer)});
  }

  // Each action of a (top-level) list, checked on its own, in order (so sources registered by
  // earlier actions are known to later ones, as in a run).
  void check_actions(const Json& list, const std::string& base) {
    for (std::size_t i = 0; i < list.size(); ++i) {
      const std::string ptr = base + pointer_index(i);
      action::Document one;
      try {
        one = action::parse_document_json(Json::array({list[i]}), source);
      } catch (const ConfigError& e) {
        std::string msg = e.what();
        const std::string head = source + ": action 0 at /0: ";
        if (msg.rfind(head, 0) == 0) msg.erase(0, head.size());
        add("invalid-shape", Severity::kError, msg, ptr);
        continue;
      }
      action::Action& a = one.actions.front();
      a.pointer = ptr;
      a.index = i;
      if (!ctx.registry.find(a.command)) {
        std::string msg = "unknown command '" + a.command + "'";
        const std::string s = ctx.registry.suggest(a.command);
        if (!s.empty()) msg += "; did you mean '" + s + "'?";
        add("unknown-command", Severity::kError, msg, ptr + "/0");
        continue;
      }
      try {
        ctx.check(one);
      } catch (const ConfigError& e) {
        const std::string prefix =
            source + ": action " + std::to_string(i) + " (" + a.command + "): ";
        const std::string p = e.pointer().empty() ? ptr : e.pointer();
        add("invalid-action", Severity::kError, bare_message(e.what(), prefix, p), p);
      } catch (const std::exception& e) {
        add("invalid-action", Severity::kError, e.what(), ptr);
      }
    }
  }

  // Every action of the document, nested lists (LD_execute_action) included.
  struct Item {
    std::string command;
    const Json* args;
    std::string pointer;
  };
  void flatten(const Json& list, const std::string& base, std::vector<Item>& items, int depth) {
    if (!list.is_array() || depth > limits::kMaxActionNesting) return;
    for (std::size_t i = 0; i < list.size(); ++i) {
      const Json& a = list[i];
      if (!a.is_array() || a.empty() || !a[0].is_string()) continue;
      const std::string ptr = base + pointer_index(i);
      const Json* args = a.size() > 1 ? &a[1] : nullptr;
      items.push_back({a[0].get<std::string>(), args, ptr});
      const action::Command* c = ctx.registry.find(items.back().command);
      if (!c || c->nested_actions.empty() || !args) continue;
      for (std::size_t k = 0; k < c->params.size(); ++k) {
        if (c->params[k].name != c->nested_actions) continue;
        const Json* nested = nullptr;
        std::string nptr = ptr + "/1";
        if (args->is_object() && args->contains(c->nested_actions)) {
          nested = &(*args)[c->nested_actions];
          nptr += pointer_key(c->nested_actions);
        } else if (args->is_array() && args->size() > k) {
          nested = &(*args)[k];
          nptr += pointer_index(k);
        }
        if (!nested) continue;
        if (nested->is_object() && nested->contains("load_density")) {
          flatten((*nested)["load_density"], nptr + "/load_density", items, depth + 1);
        } else {
          flatten(*nested, nptr, items, depth + 1);
        }
      }
    }
  }

  static void strings_of(const Json& v, std::vector<const std::string*>& out) {
    if (v.is_string()) {
      out.push_back(&v.get_ref<const std::string&>());
    } else if (v.is_structured()) {
      for (const auto& e : v) strings_of(e, out);
    }
  }

  void warn_unused_variables(const Json& root, const std::vector<Item>& items) {
    struct Def {
      std::string name, pointer;
    };
    std::vector<Def> defs;
    for (const Item& it : items) {
      if (!it.args) continue;
      const Json& a = *it.args;
      if (it.command == "LD_register_variable") {
        const Json* n = a.is_object() && a.contains("name") ? &a["name"]
                        : a.is_array() && !a.empty()    ? &a[0]
                                                        : nullptr;
        if (n && n->is_string()) {
          defs.push_back({n->get<std::string>(),
                          it.pointer + (a.is_object() ? "/1/name" : "/1/0")});
        }
        continue;
      }
      const Json* vars = nullptr;
      std::string vptr;
      if (it.command == "LD_register_variables") {
        vars = a.is_object() && a.contains("variables") ? &a["variables"]
               : a.is_array() && !a.empty()            ? &a[0]
                                                       : nullptr;
        vptr = it.pointer + (a.is_object() ? "/1/variables" : "/1/0");
      } else if (it.command == "LD_start_test" && a.is_object() && a.contains("variables")) {
        vars = &a["variables"];
        vptr = it.pointer + "/1/variables";
      }
      if (!vars || !vars->is_object()) continue;
      for (auto v = vars->begin(); v != vars->end(); ++v) {
        defs.push_back({v.key(), vptr + pointer_key(v.key())});
      }
    }
    if (defs.empty()) return;
    std::vector<const std::string*> strings;
    strings_of(root, strings);
    std::set<std::string> used;
    for (const std::string* s : strings) {
      used.insert(*s);  // a predicate or a source naming the variable
      for (std::size_t open = s->find("${"); open != std::string::npos;
           open = s->find("${", open + 2)) {
        const std::size_t close = s->find('}', open + 2);
        if (close == std::string::npos) break;
        std::string token = trim(s->substr(open + 2, close - open - 2));
        if (token.size() > 4 && text::lower(token.substr(0, 4)) == "var.") token.erase(0, 4);
        used.insert(token);
      }
    }
    for (const Def& d : defs) {
      if (used.count(d.name)) continue;
      add("unused-variable", Severity::kWarning,
          "variable '" + d.name + "' is registered but no ${" + d.name + "} or ${var." +
              d.name + "} uses it",
          d.pointer);
    }
  }

  void warn_task_names(const std::vector<Item>& items) {
    struct Seen {
      std::string method, pointer;
    };
    std::map<std::string, Seen> seen;
    for (const Item& it : items) {
      if (it.command != "LD_start_test" || !it.args || !it.args->is_object()) continue;
      const Json& tasks = it.args->contains("tasks") ? (*it.args)["tasks"] : Json();
      std::vector<std::pair<Json, std::string>> list;  // task, pointer
      const std::string base = it.pointer + "/1/tasks";
      if (tasks.is_array()) {
        for (std::size_t i = 0; i < tasks.size(); ++i) list.push_back({tasks[i], base + pointer_index(i)});
      } else if (tasks.is_object() && tasks.contains("tasks") && tasks["tasks"].is_array()) {
        for (std::size_t i = 0; i < tasks["tasks"].size(); ++i) {
          list.push_back({tasks["tasks"][i], base + "/tasks" + pointer_index(i)});
        }
      } else if (tasks.is_object() && !tasks.contains("mode")) {
        for (auto t = tasks.begin(); t != tasks.end(); ++t) {
          if (!t.value().is_object()) continue;
          Json task = t.value();
          task["method"] = t.key();
          list.push_back({std::move(task), base + pointer_key(t.key())});
        }
      }
      for (const auto& [t, ptr] : list) {
        if (!t.is_object() || !t.contains("method") || !t["method"].is_string()) continue;
        std::string name;
        for (const char* k : {"name", "request_url", "url"}) {
          if (t.contains(k) && t[k].is_string()) {
            name = t[k].get<std::string>();
            break;
          }
        }
        if (name.empty()) continue;
        const std::string method = text::lower(t["method"].get<std::string>());
        auto [pos, fresh] = seen.emplace(name, Seen{method, ptr});
        if (fresh || pos->second.method == method) continue;
        add("duplicate-task-name", Severity::kWarning,
            "task name '" + name + "' is used by a " + upper(pos->second.method) +
                " task (" + pos->second.pointer + ") and a " + upper(method) +
                " task: their statistics are reported apart but named alike; give them "
                "different names",
            ptr + (t.contains("name") ? "/name" : ""));
      }
    }
  }

  void warn_no_report(const std::vector<Item>& items) {
    const Item* first_test = nullptr;
    for (const Item& it : items) {
      if (it.command == "LD_execute_files") return;  // the reports may be in those files
      if (is_report_command(it.command)) return;
      if (it.command == "LD_start_test" && !first_test) first_test = &it;
    }
    if (!first_test) return;
    add("no-report", Severity::kWarning,
        "the document runs a test but has no report action (LD_generate_*_report, "
        "LD_summary, LD_assert_sla, LD_persist_records, ...): its results are only printed",
        first_test->pointer + "/0");
  }
};

void place(std::vector<Finding>& findings, const JsonLocator& loc) {
  for (Finding& f : findings) {
    const Span s = loc.find(f.pointer);
    const std::size_t begin = s.key_end ? s.key_begin : s.begin;
    const Position a = loc.position(begin), b = loc.position(std::max(s.end, begin));
    f.line = a.line;
    f.column = a.column;
    f.end_line = b.line;
    f.end_column = b.column;
  }
}

}  // namespace

std::vector<Finding> lint_text(const LintContext& ctx, std::string_view text,
                               const std::string& source) {
  Linter l{ctx, source, {}};
  if (text.size() > limits::kMaxDocumentBytes) {
    l.add("invalid-json", Severity::kError,
          "action document of " + byte_size_text(text.size()) + " is over the " +
              byte_size_text(limits::kMaxDocumentBytes) + " limit (see docs/limits.md)",
          "");
    return l.out;
  }
  const JsonLocator loc(text);
  Json root;
  try {
    root = parse_json_text(text, source);
  } catch (const ConfigError& e) {
    std::string msg = e.what();
    if (msg.rfind(source + ": ", 0) == 0) msg.erase(0, source.size() + 2);
    Finding f{"invalid-json", Severity::kError, msg, ""};
    const Position p = loc.position(loc.ok() ? 0 : loc.error_offset());
    f.line = f.end_line = p.line;
    f.column = p.column;
    f.end_column = p.column + 1;
    return {f};
  }
  const Json* list = &root;
  std::string base;
  if (root.is_object()) {
    if (!root.contains("load_density")) {
      l.add("invalid-shape", Severity::kError,
            "an action document is a list of actions or {\"load_density\": [...]}; this object "
            "has no \"load_density\" key",
            "");
    } else {
      list = &root["load_density"];
      base = "/load_density";
    }
  }
  if (l.out.empty() && !list->is_array()) {
    l.add("invalid-shape", Severity::kError,
          std::string(base.empty() ? "the document" : "\"load_density\"") +
              " must be a list of actions, got " + json_type_name(*list),
          base);
  }
  if (l.out.empty()) {
    l.check_actions(*list, base);
    std::vector<Linter::Item> items;
    l.flatten(*list, base, items, 0);
    const bool other_files = std::any_of(items.begin(), items.end(), [](const auto& it) {
      return it.command == "LD_execute_files";
    });
    if (!other_files) l.warn_unused_variables(root, items);
    l.warn_task_names(items);
    l.warn_no_report(items);
  }
  place(l.out, loc);
  return l.out;
}

std::vector<Finding> lint_file(const LintContext& ctx, const std::string& path) {
  std::string text;
  try {
    text = read_input_file(path, limits::kMaxDocumentBytes, "action file");
  } catch (const std::exception& e) {
    return {Finding{"unreadable", Severity::kError, e.what(), ""}};
  }
  return lint_text(ctx, text, path);
}

std::size_t count_errors(const std::vector<Finding>& findings) {
  return static_cast<std::size_t>(std::count_if(findings.begin(), findings.end(), [](const auto& f) {
    return f.severity == Severity::kError;
  }));
}

const char* severity_name(Severity s) { return s == Severity::kError ? "error" : "warning"; }

Json finding_json(const Finding& f) {
  return {{"rule", f.rule},
          {"severity", severity_name(f.severity)},
          {"message", f.message},
          {"location", f.pointer},
          {"line", f.line + 1},
          {"column", f.column + 1},
          {"end_line", f.end_line + 1},
          {"end_column", f.end_column + 1}};
}

namespace {
// GitHub workflow command escaping: data, and property values (which also escape : and ,).
std::string gh_escape(const std::string& s, bool property) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '%': out += "%25"; break;
      case '\r': out += "%0D"; break;
      case '\n': out += "%0A"; break;
      case ':': out += property ? "%3A" : ":"; break;
      case ',': out += property ? "%2C" : ","; break;
      default: out += c;
    }
  }
  return out;
}
}  // namespace

void print_findings(std::ostream& out, LintFormat format,
                    const std::vector<std::pair<std::string, std::vector<Finding>>>& files) {
  if (format == LintFormat::kJson) {
    Json j = {{"files", Json::array()}, {"errors", 0}, {"warnings", 0}};
    std::size_t errors = 0, warnings = 0;
    for (const auto& [path, findings] : files) {
      Json list = Json::array();
      for (const Finding& f : findings) {
        list.push_back(finding_json(f));
        (f.severity == Severity::kError ? errors : warnings)++;
      }
      j["files"].push_back({{"file", path}, {"findings", std::move(list)}});
    }
    j["errors"] = errors;
    j["warnings"] = warnings;
    out << j.dump(2) << '\n';
    return;
  }
  for (const auto& [path, findings] : files) {
    for (const Finding& f : findings) {
      if (format == LintFormat::kGithub) {
        out << "::" << severity_name(f.severity) << " file=" << gh_escape(path, true)
            << ",line=" << f.line + 1 << ",col=" << f.column + 1 << ",endLine=" << f.end_line + 1
            << ",endColumn=" << f.end_column + 1
            << ",title=" << gh_escape("loaddensity lint (" + f.rule + ")", true)
            << "::" << gh_escape(f.message + (f.pointer.empty() ? "" : " [at " + f.pointer + "]"), false)
            << '\n';
      } else {
        out << path << ':' << f.line + 1 << ':' << f.column + 1 << ": "
            << severity_name(f.severity) << ": " << f.message
            << (f.pointer.empty() ? "" : " [at " + f.pointer + "]") << " [" << f.rule << "]\n";
      }
    }
  }
}

}  // namespace ld::tooling
