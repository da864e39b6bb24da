#pragma once
// Small text helpers: edit distance for "did you mean", URL and base64 encoding,
// human-readable numbers for the terminal.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ld::text {

std::size_t edit_distance(std::string_view a, std::string_view b);

// The candidate closest to `word`, or "" when nothing is reasonably close.
std::string closest(std::string_view word, const std::vector<std::string>& candidates);

// application/x-www-form-urlencoded component encoding (space as %20).
void url_encode(std::string_view in, std::string& out);

std::string base64_encode(std::string_view in);
// Appends the base64 of `in` to `out` (no allocation once `out` has grown: the per-request form).
void append_base64(std::string& out, std::string_view in);

// "12.3k", "1.2M": for the live progress line and tables.
std::string human_count(double v);
// Milliseconds with 2 significant decimals ("0.42", "12.3", "1520").
std::string format_ms(double ms);

bool iequals(std::string_view a, std::string_view b) noexcept;

// Without leading spaces and tabs and trailing spaces, tabs and CR (an HTTP header line).
inline std::string_view trim_header(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}
std::string lower(std::string_view s);

}  // namespace ld::text
