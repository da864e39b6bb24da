#pragma once
// JSON Web Tokens (RFC 7519), compact form: HS256/384/512 (HMAC), RS256/384/512 (RSA PKCS#1
// v1.5) and ES256 (ECDSA P-256, raw r||s). The key is parsed once (JwtKey); a signature reuses
// the caller's EVP_MD_CTX and buffers.
#include <memory>
#include <string>
#include <string_view>

#include "common/auth/crypto.hpp"

typedef struct evp_pkey_st EVP_PKEY;
typedef struct evp_md_ctx_st EVP_MD_CTX;

namespace ld::proto::auth {

enum class JwtAlg : std::uint8_t { kHS256, kHS384, kHS512, kRS256, kRS384, kRS512, kES256 };
// "HS256" ... "ES256" (case-sensitive, as in the JOSE header); false when unknown.
bool parse_jwt_alg(std::string_view name, JwtAlg& alg) noexcept;
const char* jwt_alg_name(JwtAlg alg) noexcept;
inline constexpr const char* kJwtAlgs = "HS256, HS384, HS512, RS256, RS384, RS512 or ES256";

class JwtKey {
 public:
  // HS*: `key` is the secret (its UTF-8 bytes). RS*/ES256: a PEM private key (or, for
  // verification only, a public key or certificate). Throws std::invalid_argument with a
  // reason when the PEM does not parse or does not fit the algorithm.
  JwtKey(JwtAlg alg, std::string_view key);
  ~JwtKey();
  JwtKey(const JwtKey&) = delete;
  JwtKey& operator=(const JwtKey&) = delete;

  JwtAlg alg() const noexcept { return alg_; }
  bool can_sign() const noexcept { return hmac_ || has_private_; }
  // Appends the base64url signature of `input`; false when OpenSSL fails. `ctx` is the caller's
  // reusable digest context (EVP_MD_CTX_new once per user).
  bool sign(std::string_view input, std::string& out, EVP_MD_CTX* ctx) const;
  // Whether `signature` (raw bytes) signs `input`.
  bool verify(std::string_view input, std::string_view signature) const;

 private:
  JwtAlg alg_;
  std::unique_ptr<Hmac> hmac_;
  EVP_PKEY* pkey_ = nullptr;
  bool has_private_ = false;
};

}  // namespace ld::proto::auth
