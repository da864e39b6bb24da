#pragma once
// Hashes, HMAC and encodings for request signing, allocation-free on the per-request path:
// OpenSSL's one-shot digest contexts are copied by value (an HMAC key's inner and outer
// states are computed once, so a MAC costs two digest finishes and no key schedule).
#include <cstdint>
#include <string>
#include <string_view>

namespace ld::proto::auth {

enum class Hash : std::uint8_t { kMd5, kSha256, kSha384, kSha512 };

struct Digest {
  unsigned char bytes[64];
  unsigned size = 0;
  std::string_view view() const noexcept {
    return {reinterpret_cast<const char*>(bytes), size};
  }
};

// An incremental hash whose state is a plain value (copyable, no heap).
class Hasher {
 public:
  explicit Hasher(Hash h) noexcept;
  void update(std::string_view data) noexcept;
  Digest finish() noexcept;  // the hasher is spent afterwards
  Hash hash() const noexcept { return hash_; }
  static unsigned block_size(Hash h) noexcept { return h == Hash::kSha384 || h == Hash::kSha512 ? 128 : 64; }

 private:
  Hash hash_;
  alignas(16) unsigned char state_[224];  // MD5_CTX, SHA256_CTX or SHA512_CTX
};

Digest digest(Hash h, std::string_view data) noexcept;

// HMAC with a key fixed at construction: the padded key's inner and outer states are kept.
class Hmac {
 public:
  Hmac(Hash h, std::string_view key) noexcept;
  Digest mac(std::string_view data) const noexcept;
  Hash hash() const noexcept { return inner_.hash(); }

 private:
  Hasher inner_, outer_;
};

// Lower-case hex and unpadded base64url, appended.
void append_hex(std::string& out, std::string_view bytes);
void append_base64url(std::string& out, std::string_view bytes);
// Decodes base64url (padding and standard '+' '/' accepted); false on a bad character.
bool decode_base64url(std::string_view in, std::string& out);

// Equal without an early exit (signature comparisons).
bool constant_time_equal(std::string_view a, std::string_view b) noexcept;

}  // namespace ld::proto::auth
