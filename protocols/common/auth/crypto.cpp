// Low-level OpenSSL digests (deprecated in 3.0 but kept): their contexts are plain structs, so
// copying a precomputed HMAC state costs a memcpy instead of an EVP context allocation.
#define OPENSSL_SUPPRESS_DEPRECATED
#include "common/auth/crypto.hpp"

#include <openssl/crypto.h>
#include <openssl/md5.h>
#include <openssl/sha.h>

#include <cstring>

namespace ld::proto::auth {

static_assert(sizeof(SHA512_CTX) <= 224 && sizeof(SHA256_CTX) <= 224 && sizeof(MD5_CTX) <= 224);

Hasher::Hasher(Hash h) noexcept : hash_(h) {
  switch (h) {
    case Hash::kMd5: MD5_Init(reinterpret_cast<MD5_CTX*>(state_)); break;
    case Hash::kSha256: SHA256_Init(reinterpret_cast<SHA256_CTX*>(state_)); break;
    case Hash::kSha384: SHA384_Init(reinterpret_cast<SHA512_CTX*>(state_)); break;
    case Hash::kSha512: SHA512_Init(reinterpret_cast<SHA512_CTX*>(state_)); break;
  }
}

void Hasher::update(std::string_view d) noexcept {
  switch (hash_) {
    case Hash::kMd5: MD5_Update(reinterpret_cast<MD5_CTX*>(state_), d.data(), d.size()); break;
    case Hash::kSha256:
      SHA256_Update(reinterpret_cast<SHA256_CTX*>(state_), d.data(), d.size());
      break;
    case Hash::kSha384:
      SHA384_Update(reinterpret_cast<SHA512_CTX*>(state_), d.data(), d.size());
      break;
    case Hash::kSha512:
      SHA512_Update(reinterpret_cast<SHA512_CTX*>(state_), d.data(), d.size());
      break;
  }
}

Digest Hasher::finish() noexcept {
  Digest out;
  switch (hash_) {
    case Hash::kMd5:
      MD5_Final(out.bytes, reinterpret_cast<MD5_CTX*>(state_));
      out.size = 16;
      break;
    case Hash::kSha256:
      SHA256_Final(out.bytes, reinterpret_cast<SHA256_CTX*>(state_));
      out.size = 32;
      break;
    case Hash::kSha384:
      SHA384_Final(out.bytes, reinterpret_cast<SHA512_CTX*>(state_));
      out.size = 48;
      break;
    case Hash::kSha512:
      SHA512_Final(out.bytes, reinterpret_cast<SHA512_CTX*>(state_));
      out.size = 64;
      break;
  }
  return out;
}

Digest digest(Hash h, std::string_view data) noexcept {
  Hasher x(h);
  x.update(data);
  return x.finish();
}

Hmac::Hmac(Hash h, std::string_view key) noexcept : inner_(h), outer_(h) {
  const unsigned block = Hasher::block_size(h);
  unsigned char k[128] = {};
  if (key.size() > block) {
    const Digest d = digest(h, key);
    std::memcpy(k, d.bytes, d.size);
  } else {
    std::memcpy(k, key.data(), key.size());
  }
  unsigned char pad[128];
  for (unsigned i = 0; i < block; ++i) pad[i] = k[i] ^ 0x36;
  inner_.update({reinterpret_cast<const char*>(pad), block});
  for (unsigned i = 0; i < block; ++i) pad[i] = k[i] ^ 0x5c;
  outer_.update({reinterpret_cast<const char*>(pad), block});
  OPENSSL_cleanse(k, sizeof k);
}

Digest Hmac::mac(std::string_view data) const noexcept {
  Hasher in = inner_;
  in.update(data);
  const Digest d = in.finish();
  Hasher out = outer_;
  out.update(d.view());
  return out.finish();
}

void append_hex(std::string& out, std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (unsigned char c : bytes) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
}

void append_base64url(std::string& out, std::string_view in) {
  static constexpr char kAlpha[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::size_t i = 0;
  const auto* p = reinterpret_cast<const unsigned char*>(in.data());
  for (; i + 3 <= in.size(); i += 3) {
    const unsigned v = (p[i] << 16) | (p[i + 1] << 8) | p[i + 2];
    out += kAlpha[v >> 18];
    out += kAlpha[(v >> 12) & 63];
    out += kAlpha[(v >> 6) & 63];
    out += kAlpha[v & 63];
  }
  if (in.size() - i == 1) {
    const unsigned v = p[i] << 16;
    out += kAlpha[v >> 18];
    out += kAlpha[(v >> 12) & 63];
  } else if (in.size() - i == 2) {
    const unsigned v = (p[i] << 16) | (p[i + 1] << 8);
    out += kAlpha[v >> 18];
    out += kAlpha[(v >> 12) & 63];
    out += kAlpha[(v >> 6) & 63];
  }
}

bool decode_base64url(std::string_view in, std::string& out) {
  unsigned acc = 0;
  int bits = 0;
  for (char c : in) {
    int v;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
    else if (c >= '0' && c <= '9') v = c - '0' + 52;
    else if (c == '-' || c == '+') v = 62;
    else if (c == '_' || c == '/') v = 63;
    else if (c == '=') break;
    else return false;
    acc = (acc << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return true;
}

bool constant_time_equal(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace ld::proto::auth
