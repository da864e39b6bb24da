#pragma once
// nlohmann::json is a private dependency: only src/ includes this header.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "loaddensity/core/json.hpp"

namespace ld {

// Input limits (docs/limits.md). They keep every recursive walk over a parsed value (copy,
// dump, compare) shallow and every read bounded.
namespace limits {
constexpr std::size_t kMaxJsonDepth = 128;              // nested [ and { in one document
constexpr std::size_t kMaxDocumentBytes = 64u << 20;    // an action document (64 MiB)
constexpr std::size_t kMaxCsvBytes = 512u << 20;        // a CSV data file (512 MiB)
constexpr double kMaxSeconds = 10.0 * 365 * 24 * 3600;  // any duration: 10 years
constexpr double kMaxRate = 1e9;                        // any per-second rate
constexpr double kMaxUsers = 10'000'000;                // users of one test
constexpr int kMaxActionNesting = 16;                   // LD_execute_action / _files levels
}  // namespace limits

// "object", "array", "string", "integer", "number", "boolean", "null".
const char* json_type_name(const Json& v) noexcept;

// Escapes one JSON pointer reference token ("~" -> "~0", "/" -> "~1").
std::string pointer_token(std::string_view key);
inline std::string pointer_index(std::size_t i) { return "/" + std::to_string(i); }
inline std::string pointer_key(std::string_view key) { return "/" + pointer_token(key); }

// The text a value stands for when placed into a string: strings as-is (no quotes),
// numbers and booleans as JSON, null as "None" (what the original printed), containers as JSON.
std::string json_display(const Json& v);

// Compact one-line JSON for messages, truncated to `max` characters. It stops writing as soon
// as `max` is reached, so a huge or deeply nested value costs no more than a short one.
std::string json_brief(const Json& v, std::size_t max = 120);

// Line and column (1-based) of byte offset `pos` in `text`.
struct LineCol {
  std::size_t line = 1;
  std::size_t column = 1;
};
LineCol line_col(std::string_view text, std::size_t pos);

// Parses `text` as one JSON value. Nesting deeper than `max_depth` and numbers too large for a
// double are rejected before nlohmann sees them. Every failure is a ConfigError
// "SOURCE:LINE:COLUMN: ...".
Json parse_json_text(std::string_view text, const std::string& source,
                     std::size_t max_depth = limits::kMaxJsonDepth);

// Depth of the deepest [ or { in `v` (a scalar is 0), counted without recursion.
std::size_t json_depth(const Json& v);

// Reads a whole regular file of at most `max_bytes`. `what` names the file in messages
// ("action file", "CSV file"). Directories, devices, FIFOs and larger files throw ConfigError.
std::string read_input_file(const std::string& path, std::size_t max_bytes,
                            const std::string& what);

// A number option checked against its real range: throws ConfigError
// "WHAT must be a number between LO and HI UNIT, got V" (pointer `ptr`).
// `lo_open`: the lower bound itself is not allowed (0 < x).
double number_in_range(const Json& v, const std::string& what, double lo, double hi, bool lo_open,
                       const std::string& ptr, std::string_view unit = "");
// A duration in seconds: 0 < x <= limits::kMaxSeconds (0 <= x when `zero_ok`).
double seconds_in_range(const Json& v, const std::string& what, const std::string& ptr,
                        bool zero_ok = false);
// Bytes as "64 MiB" / "1.5 KiB" / "12 bytes".
std::string byte_size_text(std::uint64_t bytes);

}  // namespace ld
