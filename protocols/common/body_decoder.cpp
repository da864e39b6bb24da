#include "common/body_decoder.hpp"

#include <zlib.h>

#include <algorithm>
#include <climits>
#include <new>

#include "core/text.hpp"

namespace ld::proto {

namespace {

constexpr const char* kCorrupt = "corrupt compressed body";
constexpr const char* kTooLarge = "decompressed body too large";
constexpr int kGzipBits = 16 + MAX_WBITS;
constexpr int kZlibBits = MAX_WBITS;
constexpr int kRawBits = -MAX_WBITS;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

}  // namespace

ContentCoding parse_content_coding(std::string_view value) noexcept {
  ContentCoding found = ContentCoding::kIdentity;
  while (true) {
    const std::size_t comma = value.find(',');
    const std::string_view token = trim(value.substr(0, comma));
    if (!token.empty() && !text::iequals(token, "identity")) {
      if (found != ContentCoding::kIdentity) return ContentCoding::kOther;  // stacked codings
      if (text::iequals(token, "gzip") || text::iequals(token, "x-gzip")) {
        found = ContentCoding::kGzip;
      } else if (text::iequals(token, "deflate")) {
        found = ContentCoding::kDeflate;
      } else {
        return ContentCoding::kOther;
      }
    }
    if (comma == std::string_view::npos) return found;
    value.remove_prefix(comma + 1);
  }
}

struct BodyDecoder::Stream {
  z_stream zs{};
  bool ready = false;
  ~Stream() {
    if (ready) inflateEnd(&zs);
  }
};

BodyDecoder::BodyDecoder(std::size_t max_bytes) : max_bytes_(max_bytes) {}
BodyDecoder::~BodyDecoder() = default;

const char* BodyDecoder::inflate_one(int window_bits, std::string_view in, std::size_t& used,
                                     std::size_t& consumed) {
  if (in.size() > UINT_MAX) return kTooLarge;
  if (!z_) z_ = std::make_unique<Stream>();
  z_stream& zs = z_->zs;
  if (!z_->ready) {
    if (inflateInit2(&zs, window_bits) != Z_OK) throw std::bad_alloc();
    z_->ready = true;
  } else if (inflateReset2(&zs, window_bits) != Z_OK) {
    return kCorrupt;
  }
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  // One byte over the cap tells "exactly at the cap" from "more than the cap".
  const std::size_t limit = max_bytes_ + 1;
  for (;;) {
    if (used == buf_.size()) {
      if (buf_.size() >= limit) return kTooLarge;
      const std::size_t grown =
          buf_.empty() ? std::max<std::size_t>(16 * 1024, in.size() * 4) : buf_.size() * 2;
      buf_.resize(std::min(grown, limit));
    }
    const std::size_t room = std::min<std::size_t>(buf_.size() - used, UINT_MAX);
    zs.next_out = reinterpret_cast<Bytef*>(buf_.data() + used);
    zs.avail_out = static_cast<uInt>(room);
    const int r = inflate(&zs, Z_NO_FLUSH);
    used += room - zs.avail_out;
    if (used > max_bytes_) return kTooLarge;
    if (r == Z_STREAM_END) {
      consumed = in.size() - zs.avail_in;
      return nullptr;
    }
    if (r != Z_OK && r != Z_BUF_ERROR) return kCorrupt;  // data error, dictionary, memory
    // Input exhausted with room left over: the stream is truncated.
    if (zs.avail_out != 0) return kCorrupt;
  }
}

const char* BodyDecoder::decode(ContentCoding coding, std::string_view in, std::string_view& out) {
  out = in;
  if (in.empty() || (coding != ContentCoding::kGzip && coding != ContentCoding::kDeflate)) {
    return nullptr;
  }
  std::size_t used = 0;
  std::size_t consumed = 0;
  if (coding == ContentCoding::kGzip) {
    std::size_t pos = 0;
    for (;;) {
      if (const char* e = inflate_one(kGzipBits, in.substr(pos), used, consumed)) return e;
      pos += consumed;
      // Another member follows (concatenated gzip); other trailing bytes are ignored.
      if (pos + 1 >= in.size() || static_cast<unsigned char>(in[pos]) != 0x1f ||
          static_cast<unsigned char>(in[pos + 1]) != 0x8b) {
        break;
      }
    }
  } else {
    // RFC 9110 deflate is zlib-wrapped; some servers send raw deflate (requests accepts both).
    const char* e = inflate_one(kZlibBits, in, used, consumed);
    if (e == kCorrupt) {
      used = 0;
      e = inflate_one(kRawBits, in, used, consumed);
    }
    if (e) return e;
  }
  out = std::string_view(buf_.data(), used);
  return nullptr;
}

}  // namespace ld::proto
