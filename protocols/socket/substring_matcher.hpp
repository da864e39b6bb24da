#pragma once
// Finds a byte string in a stream that arrives in pieces, without keeping the stream: only the
// last (needle length - 1) bytes are remembered, so a match split across two reads is found.
// Buffers are reserved once per needle; feeding does not allocate.
#include <algorithm>
#include <string>
#include <string_view>

namespace ld::proto::socket {

class SubstringMatcher {
 public:
  // Starts a new search for `needle` (which must outlive the matcher's use).
  void reset(std::string_view needle) {
    needle_ = needle;
    found_ = needle.empty();
    tail_.clear();
    joined_.clear();
    if (needle.size() > 1) {
      tail_.reserve(needle.size() - 1);
      joined_.reserve(2 * needle.size());
    }
  }

  // Feeds the next piece; returns true once the needle has been seen.
  bool feed(std::string_view chunk) {
    if (found_) return true;
    const std::size_t keep = needle_.size() - 1;
    if (!tail_.empty()) {
      joined_.assign(tail_);
      joined_.append(chunk.substr(0, std::min(keep, chunk.size())));
      if (joined_.find(needle_) != std::string::npos) return found_ = true;
    }
    if (chunk.find(needle_) != std::string_view::npos) return found_ = true;
    // Remember the last `keep` bytes of everything seen so far.
    if (chunk.size() >= keep) {
      tail_.assign(chunk.substr(chunk.size() - keep));
    } else {
      tail_.append(chunk);
      if (tail_.size() > keep) tail_.erase(0, tail_.size() - keep);
    }
    return false;
  }

  bool found() const noexcept { return found_; }

 private:
  std::string_view needle_;
  std::string tail_;
  std::string joined_;
  bool found_ = true;
};

}  // namespace ld::proto::socket
