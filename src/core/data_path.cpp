#include "core/data_path.hpp"

#include <filesystem>
#include <vector>

namespace ld {

namespace {
thread_local std::vector<std::string> dirs;
}

std::string data_path(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (path.empty() || fs::path(path).is_absolute() || fs::exists(path, ec) || dirs.empty()) {
    return path;
  }
  const fs::path alt = fs::path(dirs.back()) / path;
  return fs::exists(alt, ec) ? alt.string() : path;
}

DocumentDirScope::DocumentDirScope(const std::string& source) {
  namespace fs = std::filesystem;
  std::error_code ec;
  on_ = fs::is_regular_file(source, ec);
  if (on_) dirs.push_back(fs::path(source).parent_path().string());
}

DocumentDirScope::~DocumentDirScope() {
  if (on_) dirs.pop_back();
}

}  // namespace ld
