#include "common/auth/jwt.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <stdexcept>

namespace ld::proto::auth {

namespace {

struct AlgInfo {
  const char* name;
  JwtAlg alg;
};
constexpr AlgInfo kAlgs[] = {{"HS256", JwtAlg::kHS256}, {"HS384", JwtAlg::kHS384},
                             {"HS512", JwtAlg::kHS512}, {"RS256", JwtAlg::kRS256},
                             {"RS384", JwtAlg::kRS384}, {"RS512", JwtAlg::kRS512},
                             {"ES256", JwtAlg::kES256}};

bool is_hmac(JwtAlg a) { return a == JwtAlg::kHS256 || a == JwtAlg::kHS384 || a == JwtAlg::kHS512; }

Hash hash_of(JwtAlg a) {
  switch (a) {
    case JwtAlg::kHS384:
    case JwtAlg::kRS384: return Hash::kSha384;
    case JwtAlg::kHS512:
    case JwtAlg::kRS512: return Hash::kSha512;
    default: return Hash::kSha256;
  }
}

const EVP_MD* md_of(JwtAlg a) {
  switch (hash_of(a)) {
    case Hash::kSha384: return EVP_sha384();
    case Hash::kSha512: return EVP_sha512();
    default: return EVP_sha256();
  }
}

std::string openssl_reason() {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "not a PEM key";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

}  // namespace

bool parse_jwt_alg(std::string_view name, JwtAlg& alg) noexcept {
  for (const auto& a : kAlgs) {
    if (name == a.name) {
      alg = a.alg;
      return true;
    }
  }
  return false;
}

const char* jwt_alg_name(JwtAlg alg) noexcept {
  for (const auto& a : kAlgs) {
    if (a.alg == alg) return a.name;
  }
  return "?";
}

JwtKey::JwtKey(JwtAlg alg, std::string_view key) : alg_(alg) {
  if (is_hmac(alg)) {
    hmac_ = std::make_unique<Hmac>(hash_of(alg), key);
    return;
  }
  BIO* bio = BIO_new_mem_buf(key.data(), static_cast<int>(key.size()));
  pkey_ = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  has_private_ = pkey_ != nullptr;
  if (!pkey_) {
    ERR_clear_error();
    BIO_reset(bio);
    pkey_ = PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr);
  }
  if (!pkey_) {
    ERR_clear_error();
    BIO_reset(bio);
    if (X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
      pkey_ = X509_get_pubkey(cert);
      X509_free(cert);
    }
  }
  BIO_free(bio);
  if (!pkey_) throw std::invalid_argument("the key is not a PEM key (" + openssl_reason() + ")");
  const int type = EVP_PKEY_get_base_id(pkey_);
  const bool ok = alg == JwtAlg::kES256 ? type == EVP_PKEY_EC && EVP_PKEY_get_bits(pkey_) == 256
                                        : type == EVP_PKEY_RSA;
  if (!ok) {
    EVP_PKEY_free(pkey_);
    pkey_ = nullptr;
    throw std::invalid_argument(std::string("the key does not fit ") + jwt_alg_name(alg) +
                                (alg == JwtAlg::kES256 ? " (needs an EC P-256 key)"
                                                       : " (needs an RSA key)"));
  }
}

JwtKey::~JwtKey() { EVP_PKEY_free(pkey_); }

bool JwtKey::sign(std::string_view input, std::string& out, EVP_MD_CTX* ctx) const {
  if (hmac_) {
    append_base64url(out, hmac_->mac(input).view());
    return true;
  }
  if (!has_private_) return false;
  EVP_MD_CTX_reset(ctx);
  unsigned char sig[1024];
  std::size_t len = sizeof sig;
  if (EVP_DigestSignInit(ctx, nullptr, md_of(alg_), nullptr, pkey_) != 1 ||
      EVP_DigestSign(ctx, sig, &len, reinterpret_cast<const unsigned char*>(input.data()),
                     input.size()) != 1) {
    ERR_clear_error();
    return false;
  }
  if (alg_ != JwtAlg::kES256) {
    append_base64url(out, {reinterpret_cast<const char*>(sig), len});
    return true;
  }
  // ECDSA: DER (r, s) to the fixed-width r || s JWS uses.
  const unsigned char* p = sig;
  ECDSA_SIG* es = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(len));
  if (!es) return false;
  unsigned char raw[64];
  const bool ok = BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, 32) == 32 &&
                  BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + 32, 32) == 32;
  ECDSA_SIG_free(es);
  if (ok) append_base64url(out, {reinterpret_cast<const char*>(raw), 64});
  return ok;
}

bool JwtKey::verify(std::string_view input, std::string_view signature) const {
  if (hmac_) return constant_time_equal(hmac_->mac(input).view(), signature);
  std::string der;
  if (alg_ == JwtAlg::kES256) {
    if (signature.size() != 64) return false;
    ECDSA_SIG* es = ECDSA_SIG_new();
    BIGNUM* r = BN_bin2bn(reinterpret_cast<const unsigned char*>(signature.data()), 32, nullptr);
    BIGNUM* s =
        BN_bin2bn(reinterpret_cast<const unsigned char*>(signature.data()) + 32, 32, nullptr);
    ECDSA_SIG_set0(es, r, s);
    unsigned char* buf = nullptr;
    const int n = i2d_ECDSA_SIG(es, &buf);
    if (n > 0) der.assign(reinterpret_cast<char*>(buf), static_cast<std::size_t>(n));
    OPENSSL_free(buf);
    ECDSA_SIG_free(es);
    signature = der;
  }
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  const bool ok =
      EVP_DigestVerifyInit(ctx, nullptr, md_of(alg_), nullptr, pkey_) == 1 &&
      EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(signature.data()),
                       signature.size(), reinterpret_cast<const unsigned char*>(input.data()),
                       input.size()) == 1;
  EVP_MD_CTX_free(ctx);
  ERR_clear_error();
  return ok;
}

}  // namespace ld::proto::auth
