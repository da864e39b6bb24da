#pragma once
// Reading action documents: `[[cmd, {kwargs}] | [cmd] | [cmd, [args]], ...]`, bare or wrapped
// as `{"load_density": [...]}`. A document that is not JSON or not of that shape throws
// ConfigError before anything runs; its message names the source, line/column or pointer.
// Limits (docs/limits.md): limits::kMaxDocumentBytes of text, limits::kMaxJsonDepth nesting;
// files must be regular files.
#include <string>
#include <string_view>
#include <vector>

#include "core/json_util.hpp"

namespace ld::action {

struct Action {
  std::string command;
  Json args;             // object (kwargs), array (positional) or null (none)
  std::string pointer;   // JSON pointer of the action in its document ("/load_density/2")
  std::size_t index = 0; // 0-based position in the document
};

struct Document {
  std::string source;  // file path or "<string>"
  std::vector<Action> actions;
};

Document parse_document(std::string_view text, const std::string& source);
Document parse_document_json(const Json& root, const std::string& source);
// The same, moving each action's arguments out of `root` (which is left null).
Document parse_document_json(Json&& root, const std::string& source);
Document load_document_file(const std::string& path);

}  // namespace ld::action
