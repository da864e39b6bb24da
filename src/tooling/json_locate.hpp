#pragma once
// Where each value of a JSON text is: a scanner that records, for every JSON pointer, the
// byte range of its value (and of its key, for object members), so that a finding named by a
// pointer can be shown at a line and column. It reads the same grammar as the parser; on a
// syntax error it stops and reports the offset.
#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_map>

namespace ld::tooling {

struct Span {
  std::size_t begin = 0, end = 0;          // the value: [begin, end)
  std::size_t key_begin = 0, key_end = 0;  // the member's key (with quotes), when it has one
};

// A position for editors: 0-based line, 0-based column in UTF-16 code units (what LSP counts).
struct Position {
  std::size_t line = 0, column = 0;
};

class JsonLocator {
 public:
  explicit JsonLocator(std::string_view text);

  bool ok() const noexcept { return error_.empty(); }
  const std::string& error() const noexcept { return error_; }  // syntax error, if any
  std::size_t error_offset() const noexcept { return error_offset_; }

  // The span of `pointer`, or of its nearest located ancestor ("" is the root).
  Span find(const std::string& pointer) const;
  // The position of a byte offset.
  Position position(std::size_t offset) const;
  // The byte offset of a position (clamped to the text).
  std::size_t offset(Position p) const;
  // The pointer of the innermost value that contains `offset`, and whether the offset is inside
  // an object key. Empty when the text has no value there.
  std::string pointer_at(std::size_t offset, bool* in_key = nullptr) const;
  const std::unordered_map<std::string, Span>& spans() const noexcept { return spans_; }

 private:
  std::string_view text_;
  std::unordered_map<std::string, Span> spans_;
  std::string error_;
  std::size_t error_offset_ = 0;
};

}  // namespace ld::tooling
