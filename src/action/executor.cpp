#include "action/executor.hpp"

#include <ostream>

#include "loaddensity/core/error.hpp"

namespace ld::action {

namespace {
std::string where(const Document& doc, const Action& a) {
  return doc.source + ": action " + std::to_string(a.index) + " (" + a.command + ")";
}
}  // namespace

void Executor::check(const Document& doc) const {
  for (const Action& a : doc.actions) {
    const Command* c = registry_.find(a.command);
    if (!c) {
      std::string msg = where(doc, a) + ": unknown command '" + a.command + "'";
      const std::string s = registry_.suggest(a.command);
      if (!s.empty()) msg += "; did you mean '" + s + "'?";
      msg += " (`loaddensity --list-commands` lists them all)";
      throw ConfigError(msg, a.pointer + "/0");
    }
    try {
      const Json bound = registry_.bind(*c, a.args);
      if (c->validate) c->validate(bound);
    } catch (const ConfigError& e) {
      const std::string ptr = a.pointer + "/1" + e.pointer();
      throw ConfigError(where(doc, a) + ": " + e.what() + " [at " + ptr + "]", ptr);
    }
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
      rep.results.push_back(std::move(entry));
      continue;
    }
    ++rep.ran;
    try {
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
    rep.results.push_back(std::move(entry));
  }
  return rep;
}

}  // namespace ld::action
