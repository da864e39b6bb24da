#include "action/loader.hpp"

#include <fstream>
#include <sstream>

#include "loaddensity/core/error.hpp"

namespace ld::action {

Document parse_document(std::string_view text, const std::string& source) {
  Json root;
  try {
    root = Json::parse(text.begin(), text.end());
  } catch (const Json::parse_error& e) {
    // nlohmann reports the byte at which parsing stopped; turn it into line:column.
    const std::size_t byte = e.byte > 0 ? e.byte - 1 : 0;
    const LineCol lc = line_col(text, byte);
    std::string what = e.what();
    if (auto p = what.find("parse error"); p != std::string::npos) what = what.substr(p);
    throw ConfigError(source + ":" + std::to_string(lc.line) + ":" + std::to_string(lc.column) +
                      ": not valid JSON: " + what);
  }
  return parse_document_json(root, source);
}

Document parse_document_json(const Json& root, const std::string& source) {
  Document doc;
  doc.source = source;
  const Json* list = &root;
  std::string base;
  if (root.is_object()) {
    auto it = root.find("load_density");
    if (it == root.end()) {
      std::string keys;
      for (auto k = root.begin(); k != root.end(); ++k) keys += (keys.empty() ? "" : ", ") + k.key();
      throw ConfigError(source + ": an action document is a list of actions or {\"load_density\": "
                        "[...]}; this object has no \"load_density\" key (keys: " +
                            (keys.empty() ? "none" : keys) + ")",
                        "");
    }
    list = &*it;
    base = "/load_density";
  }
  if (!list->is_array()) {
    throw ConfigError(source + ": " + (base.empty() ? "the document" : "\"load_density\"") +
                          " must be a list of actions, got " + json_type_name(*list),
                      base);
  }
  for (std::size_t i = 0; i < list->size(); ++i) {
    const Json& a = (*list)[i];
    const std::string ptr = base + pointer_index(i);
    auto fail = [&](const std::string& why) {
      throw ConfigError(source + ": action " + std::to_string(i) + " at " + ptr + ": " + why +
                            " (an action is [\"LD_command\"], [\"LD_command\", {kwargs}] or "
                            "[\"LD_command\", [args]]; got " + json_brief(a, 80) + ")",
                        ptr);
    };
    if (!a.is_array()) fail("expected a list, got " + std::string(json_type_name(a)));
    if (a.empty()) fail("empty action");
    if (!a[0].is_string()) fail("the command name must be a string");
    if (a.size() > 2) fail("too many elements (" + std::to_string(a.size()) + ")");
    Action act;
    act.command = a[0].get<std::string>();
    act.pointer = ptr;
    act.index = i;
    if (a.size() == 2) {
      if (!a[1].is_object() && !a[1].is_array()) {
        fail("the arguments must be an object or a list, got " + std::string(json_type_name(a[1])));
      }
      act.args = a[1];
    }
    doc.actions.push_back(std::move(act));
  }
  return doc;
}

Document load_document_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(path + ": cannot open action file");
  std::ostringstream ss;
  ss << in.rdbuf();
  return parse_document(ss.str(), path);
}

}  // namespace ld::action
