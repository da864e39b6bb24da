#include "core/cleanup.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <atomic>
#include <climits>
#include <cstring>

namespace ld::cleanup {

namespace {

constexpr int kSlots = 64;

struct Slot {
  std::atomic<int> state{0};  // 0 free, 1 being written, 2 registered
  bool directory = false;
  char path[PATH_MAX] = {};
};

Slot g_slots[kSlots];

// Removes the entries of one directory level with getdents64 (no allocation), then the
// directory itself.
void remove_directory(const char* path) noexcept {
  const int fd = ::open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    alignas(8) char buf[4096];
    for (;;) {
      const long n = ::syscall(SYS_getdents64, fd, buf, sizeof buf);
      if (n <= 0) break;
      for (long off = 0; off < n;) {
        // struct linux_dirent64: ino (8), off (8), reclen (2), type (1), name.
        unsigned short reclen = 0;
        std::memcpy(&reclen, buf + off + 16, sizeof reclen);
        const char* name = buf + off + 19;
        if (std::strcmp(name, ".") != 0 && std::strcmp(name, "..") != 0) {
          ::unlinkat(fd, name, 0);
        }
        off += reclen;
      }
    }
    ::close(fd);
  }
  ::rmdir(path);
}

}  // namespace

Guard::Guard(const std::string& path, bool directory) {
  if (path.size() >= PATH_MAX) return;
  for (int i = 0; i < kSlots; ++i) {
    int expected = 0;
    if (!g_slots[i].state.compare_exchange_strong(expected, 1)) continue;
    g_slots[i].directory = directory;
    std::memcpy(g_slots[i].path, path.c_str(), path.size() + 1);
    g_slots[i].state.store(2, std::memory_order_release);
    slot_ = i;
    return;
  }
}

Guard& Guard::operator=(Guard&& o) noexcept {
  if (this != &o) {
    release();
    slot_ = o.slot_;
    o.slot_ = -1;
  }
  return *this;
}

void Guard::release() noexcept {
  if (slot_ < 0) return;
  g_slots[slot_].state.store(0, std::memory_order_release);
  slot_ = -1;
}

void remove_registered_now() noexcept {
  // Files first, then directories (a registered file may live in a registered directory).
  for (int pass = 0; pass < 2; ++pass) {
    for (auto& s : g_slots) {
      if (s.state.load(std::memory_order_acquire) != 2 || s.directory != (pass == 1)) continue;
      if (s.directory) {
        remove_directory(s.path);
      } else {
        ::unlink(s.path);
      }
    }
  }
}

}  // namespace ld::cleanup
