#pragma once
// nlohmann::json is a private dependency: only src/ includes this header.
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace ld {

using Json = nlohmann::json;

// "object", "array", "string", "integer", "number", "boolean", "null".
const char* json_type_name(const Json& v) noexcept;

// Escapes one JSON pointer reference token ("~" -> "~0", "/" -> "~1").
std::string pointer_token(std::string_view key);
inline std::string pointer_index(std::size_t i) { return "/" + std::to_string(i); }
inline std::string pointer_key(std::string_view key) { return "/" + pointer_token(key); }

// The text a value stands for when placed into a string: strings as-is (no quotes),
// numbers and booleans as JSON, null as "None" (what the original printed), containers as JSON.
std::string json_display(const Json& v);

// Compact one-line JSON for messages, truncated to `max` characters.
std::string json_brief(const Json& v, std::size_t max = 120);

// Line and column (1-based) of byte offset `pos` in `text`.
struct LineCol {
  std::size_t line = 1;
  std::size_t column = 1;
};
LineCol line_col(std::string_view text, std::size_t pos);

}  // namespace ld
