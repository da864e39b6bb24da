#include "action/loader.hpp"

#include <type_traits>
#include <utility>

#include "loaddensity/core/error.hpp"

namespace ld::action {

Document parse_document(std::string_view text, const std::string& source) {
  if (text.size() > limits::kMaxDocumentBytes) {
    throw ConfigError(source + ": action document of " + byte_size_text(text.size()) +
                      " is over the " + byte_size_text(limits::kMaxDocumentBytes) +
                      " limit (see docs/limits.md)");
  }
  return parse_document_json(parse_json_text(text, source), source);
}

namespace {

// `Root` is `const Json` (arguments are copied) or `Json` (arguments are moved out).
template <class Root>
Document build_document(Root& root, const std::string& source) {
  Document doc;
  doc.source = source;
  auto* list = &root;
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
  doc.actions.reserve(list->size());
  for (std::size_t i = 0; i < list->size(); ++i) {
    auto& a = (*list)[i];
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
    if constexpr (std::is_const_v<Root>) {
      act.command = a[0].template get<std::string>();
    } else {
      act.command = std::move(a[0].template get_ref<std::string&>());
    }
    act.pointer = ptr;
    act.index = i;
    if (a.size() == 2) {
      if (!a[1].is_object() && !a[1].is_array()) {
        fail("the arguments must be an object or a list, got " + std::string(json_type_name(a[1])));
      }
      if constexpr (std::is_const_v<Root>) {
        act.args = a[1];
      } else {
        act.args = std::move(a[1]);
      }
    }
    doc.actions.push_back(std::move(act));
  }
  return doc;
}

}  // namespace

Document parse_document_json(const Json& root, const std::string& source) {
  return build_document(root, source);
}

Document parse_document_json(Json&& root, const std::string& source) {
  Document doc = build_document(root, source);
  root = nullptr;
  return doc;
}

Document load_document_file(const std::string& path) {
  Json root;
  {
    // The text is released as soon as it is parsed; the arguments are moved out of the tree.
    const std::string text = read_input_file(path, limits::kMaxDocumentBytes, "action file");
    root = parse_json_text(text, path);
  }
  return parse_document_json(std::move(root), path);
}

}  // namespace ld::action
