#pragma once
// JSON paths found in a response body without building a document.
//
// One pass over the body checks that it is one JSON document exactly as the DOM parser
// (nlohmann, strict) would accept it (grammar, a leading UTF-8 BOM, UTF-8 and \u escapes in
// strings, numbers that overflow a double, at most kMaxDepth nested containers) and notes where
// the value of each path lies, for every path at once. Nothing is built or allocated: values
// off the paths are only validated; a path's value is a span of the body.
//
// A path is a list of steps applied from the root: in an object a step matches the member named
// `key` (the last one when a name repeats, as the DOM keeps it), in an array the element
// `index` (negative counts from the end, Python's way) when `array_ok`. A null reached by a
// step counts as not found; the root itself (no steps) is found whatever it is.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace ld::checks::scan {

enum class Kind : std::uint8_t { kNone, kObject, kArray, kString, kNumber, kTrue, kFalse, kNull };

struct Step {
  std::string_view key;     // the member name this step selects in an object
  std::int64_t index = 0;   // the element it selects in an array, when array_ok
  bool array_ok = false;
};

struct Path {
  const Step* steps = nullptr;
  std::size_t size = 0;
};

// No default member values, so an array of them costs nothing to declare; Hit{} is "not found".
struct Hit {
  Kind kind;           // kNone: not found
  bool escaped;        // a string holding backslash escapes
  std::size_t begin;   // offsets of the value in the text (a string's without quotes)
  std::size_t end;
};

constexpr std::size_t kMaxPaths = 64;   // paths evaluated by one pass
constexpr std::size_t kMaxSteps = 16;   // steps of one path
constexpr std::size_t kMaxDepth = 512;  // nesting beyond this is not JSON (DOM stack safety)

// Fills hits[i] for paths[i] (paths.size() <= kMaxPaths, each path <= kMaxSteps steps; hits at
// least as long). False when `text` is not JSON; the hits are then all kNone.
bool find_paths(std::string_view text, std::span<const Path> paths, std::span<Hit> hits) noexcept;

// The text a JSON string stands for, from its validated inner text (without quotes): escapes
// decoded, \u escapes (and surrogate pairs) as UTF-8. Appends to `out`.
void decode_string(std::string_view inner, std::string& out);

}  // namespace ld::checks::scan
