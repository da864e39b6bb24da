#include "action/executor.hpp"

#include <ostream>

#include "loaddensity/core/error.hpp"

namespace ld::action {

namespace {
std::string where(const Document& doc, const Action& a) {
  return doc.source + ": action " + std::to_string(a.index) + " (" + a.command + ")";
}
}  // namespace

void Executor::check(const Document& doc, int depth) const {
  for (const Action& a : doc.actions) {
    const Command* c = registry_.find(a.command);
    if (!c && registry_.refusal(a.command)) {
      const std::string ptr = a.pointer + "/0";
      throw ConfigError(where(doc, a) + ": '" + a.command +
                            "' is refused: " + *registry_.refusal(a.command) + " [at " + ptr + "]",
                        ptr);
    }
    if (!c) {
      std::string msg = where(doc, a) + ": unknown command '" + a.command + "'";
      const std::string s = registry_.suggest(a.command);
      if (!s.empty()) msg += "; did you mean '" + s + "'?";
      msg += " (`loaddensity --list-commands` lists them all) [at " + a.pointer + "/0]";
      throw ConfigError(msg, a.pointer + "/0");
    }
    Json bound;
    try {
      bound = registry_.bind(*c, a.args);
      if (c->validate) c->validate(bound);
    } catch (const ConfigError& e) {
      const std::string ptr = a.pointer + "/1" + e.pointer();
      throw ConfigError(where(doc, a) + ": " + e.what() + " [at " + ptr + "]", ptr);
    }
    if (c->nested_actions.empty()) continue;
    // The nested list is checked now, with pointers into this document.
    std::string list_ptr = a.pointer + "/1";
    if (a.args.is_array()) {
      for (std::size_t i = 0; i < c->params.size(); ++i) {
        if (c->params[i].name == c->nested_actions) list_ptr += pointer_index(i);
      }
    } else {
      list_ptr += pointer_key(c->nested_actions);
    }
    if (depth >= limits::kMaxActionNesting) {
      throw ConfigError(where(doc, a) + ": actions nested more than " +
                            std::to_string(limits::kMaxActionNesting) + " levels deep [at " +
                            list_ptr + "]",
                        list_ptr);
    }
    Document inner;
    try {
      inner = parse_document_json(bound[c->nested_actions], where(doc, a));
    } catch (const ConfigError& e) {
      throw ConfigError(std::string(e.what()) + " [at " + list_ptr + e.pointer() + "]",
                        list_ptr + e.pointer());
    }
    inner.source = where(doc, a) + " > " + c->nested_actions;
    for (Action& n : inner.actions) n.pointer = list_ptr + n.pointer;
    check(inner, depth + 1);
  }
}

ExecutionReport Executor::run(const Document& doc) {
  ExecutionReport rep;
  for (const Action& a : doc.actions) {
    const Command* c = registry_.find(a.command);
    Json entry = {{"action", a.index}, {"command", a.command}};
    if (c && c->starts_load && interrupted()) {
      ++rep.skipped;
      entry["ok"] = false;
      entry["error"] = "skipped: the run was interrupted";
      if (echo_) err_ << "skip [" << a.index << "] " << a.command << ": interrupted\n";
      if (keep_results_) rep.results.push_back(std::move(entry));
      continue;
    }
    ++rep.ran;
    try {
      if (!c && registry_.refusal(a.command)) {
        throw ConfigError("'" + a.command + "' is refused: " + *registry_.refusal(a.command));
      }
      if (!c) throw ConfigError("unknown command '" + a.command + "'");
      const Json bound = registry_.bind(*c, a.args);
      Json result = c->handler(bound);
      if (echo_) {
        out_ << "ok   [" << a.index << "] " << a.command;
        if (!result.is_null()) out_ << " -> " << json_brief(result, 160);
        out_ << '\n';
      }
      entry["ok"] = true;
      entry["result"] = std::move(result);
    } catch (const ConfigError& e) {
      ++rep.failed;
      ++rep.config_failures;
      std::string msg = e.what();
      if (!e.pointer().empty()) msg += " [at " + a.pointer + "/1" + e.pointer() + "]";
      err_ << "FAIL [" << a.index << "] " << a.command << ": " << msg << '\n';
      entry["ok"] = false;
      entry["error"] = msg;
    } catch (const std::exception& e) {
      ++rep.failed;
      err_ << "FAIL [" << a.index << "] " << a.command << ": " << e.what() << '\n';
      entry["ok"] = false;
      entry["error"] = e.what();
    }
    out_.flush();
    if (keep_results_) rep.results.push_back(std::move(entry));
  }
  return rep;
}

}  // namespace ld::action
