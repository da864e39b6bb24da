#pragma once
// Relative data paths (CSV sources, .proto files, CA bundles, ...) in a document resolve against
// the working directory first, then against the directory of the document being checked or run,
// so `loaddensity run examples/x.json` finds `examples/data/...` from anywhere. The directory
// stack is per thread: a document is checked and run on one thread.
#include <string>

namespace ld {

// `path` as written when it is empty, absolute or exists; else the document directory's
// version of it when that exists; else `path` unchanged (the caller's error names it).
std::string data_path(const std::string& path);

// While alive, `source` (a document file; anything else is ignored) is the current document.
class DocumentDirScope {
 public:
  explicit DocumentDirScope(const std::string& source);
  ~DocumentDirScope();
  DocumentDirScope(const DocumentDirScope&) = delete;
  DocumentDirScope& operator=(const DocumentDirScope&) = delete;

 private:
  bool on_ = false;
};

}  // namespace ld
