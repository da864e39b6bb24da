#pragma once
// Content-Encoding decoding for HTTP response bodies (gzip, zlib-wrapped or raw deflate), used
// only when something reads the body (assertions, extractors). One decoder per user session:
// its z_stream and output buffer are reused, so once they have grown a decode allocates nothing.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace ld::proto {

enum class ContentCoding : std::uint8_t {
  kIdentity,  // no Content-Encoding (or "identity")
  kGzip,      // gzip, x-gzip
  kDeflate,   // deflate: zlib-wrapped (RFC 1950) or, as some servers send it, raw (RFC 1951)
  kOther,     // anything else (br, zstd, stacked codings): the body is left as it came
};

// The coding named by a Content-Encoding value ("gzip", "GZip", " deflate ", "identity, gzip").
ContentCoding parse_content_coding(std::string_view value) noexcept;

class BodyDecoder {
 public:
  // Decoded bodies larger than this fail ("decompressed body too large"): a small compressed
  // response cannot make a user hold gigabytes.
  static constexpr std::size_t kDefaultMaxBytes = 64u * 1024u * 1024u;

  explicit BodyDecoder(std::size_t max_bytes = kDefaultMaxBytes);
  ~BodyDecoder();
  BodyDecoder(const BodyDecoder&) = delete;
  BodyDecoder& operator=(const BodyDecoder&) = delete;

  // Decodes `in`. Returns nullptr and sets `out` (valid until the next decode) on success, else
  // a static message: "corrupt compressed body" or "decompressed body too large". Identity and
  // unknown codings return `in` unchanged. Concatenated gzip members are decoded in turn.
  const char* decode(ContentCoding coding, std::string_view in, std::string_view& out);

 private:
  // One zlib stream (window bits select gzip / zlib / raw) from `in` into buf_ at `used`.
  // Returns nullptr and the input bytes consumed, or an error message.
  const char* inflate_one(int window_bits, std::string_view in, std::size_t& used,
                          std::size_t& consumed);

  struct Stream;
  std::unique_ptr<Stream> z_;  // created on first use
  std::string buf_;            // output; its size is its capacity (never shrinks)
  std::size_t max_bytes_;
};

}  // namespace ld::proto
