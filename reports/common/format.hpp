#pragma once
// Text helpers shared by the report writers: escaping for XML/HTML/CSV/JSON, Python-compatible
// number text, and files that appear atomically (written to a temporary name, renamed into
// place on commit, removed if never committed).
#include <cstdint>
#include <fstream>
#include <string>
#include <string_view>

#include "core/cleanup.hpp"

namespace ld::reports {

// XML text and attribute values: & < > " ' escaped; tab, newline and carriage return become
// character references (so attribute values keep them); other control characters, which XML 1.0
// cannot carry, become U+FFFD.
std::string xml_escape(std::string_view s);
// Python's html.escape(s, quote=True): & < > " '.
std::string html_escape(std::string_view s);
// One CSV field as Python's csv module writes it (QUOTE_MINIMAL): quoted when it holds a comma,
// a quote, CR or LF; quotes doubled.
std::string csv_field(std::string_view s);
// A JSON string literal as Python's json.dumps(ensure_ascii=False) writes it.
std::string json_quote(std::string_view s);
// repr(float) in Python: shortest round-trip digits, "1.0" for integral values, "1e-05" style
// below 1e-4 and from 1e16, "inf"/"nan".
std::string py_float(double v);
// Milliseconds from nanoseconds, rounded to microseconds.
double ns_to_ms3(std::int64_t ns);
// Fixed-point text with `decimals` digits ("%.*f").
std::string fixed(double v, int decimals);
// A count with thousands separators: "12,345".
std::string thousands(std::uint64_t n);

// A file written through a temporary name and renamed into place by commit(). If commit() is
// never called (an exception unwound the writer) the temporary file is removed.
class AtomicFile {
 public:
  explicit AtomicFile(std::string path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  std::ostream& out() noexcept { return out_; }
  // Flushes, checks for write errors and renames into place. Throws std::runtime_error.
  void commit();
  const std::string& path() const noexcept { return path_; }

 private:
  std::string path_;
  std::string tmp_;
  cleanup::Guard guard_;  // a fatal second Ctrl-C removes the temporary file
  std::ofstream out_;
  bool done_ = false;
};

}  // namespace ld::reports
