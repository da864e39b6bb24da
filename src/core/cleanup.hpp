#pragma once
// Files and directories the process must not leave behind when it is killed by a second
// Ctrl-C (a report's temporary file, the per-request record log). Registration is for the
// main/control thread; `remove_registered_now()` is async-signal-safe (raw syscalls only) and
// is what the signal handler calls before the process dies.
#include <string>

namespace ld::cleanup {

// Registers `path` while it exists; a directory's entries are removed with it (one level).
class Guard {
 public:
  Guard() = default;
  Guard(const std::string& path, bool directory);
  ~Guard() { release(); }
  Guard(Guard&& o) noexcept : slot_(o.slot_) { o.slot_ = -1; }
  Guard& operator=(Guard&& o) noexcept;
  Guard(const Guard&) = delete;
  Guard& operator=(const Guard&) = delete;
  void release() noexcept;  // forget the path (it was renamed into place or removed)

 private:
  int slot_ = -1;
};

// Removes every registered path. Async-signal-safe; for the fatal-signal path only.
void remove_registered_now() noexcept;

}  // namespace ld::cleanup
