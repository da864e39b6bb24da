// Hashes and HMAC (RFC 4231), JWT signing and verification, HTTP Digest (RFC 7616 examples).
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <nlohmann/json.hpp>

#include "common/auth/auth.hpp"
#include "common/auth/crypto.hpp"
#include "common/auth/digest.hpp"
#include "common/auth/jwt.hpp"
#include "loaddensity/core/error.hpp"

using namespace ld::proto::auth;
using ld::Json;

namespace {

std::string hex(const Digest& d) {
  std::string s;
  append_hex(s, d.view());
  return s;
}

std::string pem_of(EVP_PKEY* k, bool priv) {
  BIO* b = BIO_new(BIO_s_mem());
  if (priv) {
    PEM_write_bio_PrivateKey(b, k, nullptr, nullptr, 0, nullptr, nullptr);
  } else {
    PEM_write_bio_PUBKEY(b, k);
  }
  char* p = nullptr;
  const long n = BIO_get_mem_data(b, &p);
  std::string s(p, static_cast<std::size_t>(n));
  BIO_free(b);
  return s;
}

}  // namespace

TEST(Crypto, HmacMatchesRfc4231) {
  EXPECT_EQ(hex(Hmac(Hash::kSha256, "Jefe").mac("what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(hex(Hmac(Hash::kSha512, "Jefe").mac("what do ya want for nothing?")),
            "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
            "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737");
  const std::string long_key(131, '\xaa');
  EXPECT_EQ(hex(Hmac(Hash::kSha256, long_key)
                    .mac("Test Using Larger Than Block-Size Key - Hash Key First")),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  EXPECT_EQ(hex(digest(Hash::kMd5, "")), "d41d8cd98f00b204e9800998ecf8427e");
}

TEST(Crypto, Base64Url) {
  std::string s;
  append_base64url(s, "\xfb\xff\xfe");
  EXPECT_EQ(s, "-__-");
  std::string d;
  ASSERT_TRUE(decode_base64url("-__-", d));
  EXPECT_EQ(d, "\xfb\xff\xfe");
  s.clear();
  append_base64url(s, "ab");
  EXPECT_EQ(s, "YWI");
}

TEST(Jwt, Hs256SignsAndVerifies) {
  const std::string t = sign_jwt({{"sub", "u1"}}, "s3cret", "HS256", nullptr, 0);
  const std::string key = "s3cret";
  const Json d = decode_jwt(t, &key);
  EXPECT_EQ(d["header"]["alg"], "HS256");
  EXPECT_EQ(d["payload"]["sub"], "u1");
  EXPECT_TRUE(d["verified"].get<bool>());
  const std::string wrong = "other";
  EXPECT_FALSE(decode_jwt(t, &wrong)["verified"].get<bool>());
  EXPECT_THROW(decode_jwt("a.b", nullptr), std::invalid_argument);
  EXPECT_THROW(sign_jwt({}, "k", "none", nullptr, 0), std::invalid_argument);
}

TEST(Jwt, RsaAndEcKeysSignAndVerifyWithTheirPublicKeys) {
  EVP_PKEY* rsa = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048));
  EVP_PKEY* ec = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  ASSERT_TRUE(rsa && ec);
  for (auto [alg, key] : {std::pair{"RS256", rsa}, {"RS512", rsa}, {"ES256", ec}}) {
    SCOPED_TRACE(alg);
    const std::string t = sign_jwt({{"n", 1}}, pem_of(key, true), alg, {{"kid", "k1"}}, 60);
    const std::string pub = pem_of(key, false);
    const Json d = decode_jwt(t, &pub);
    EXPECT_TRUE(d["verified"].get<bool>());
    EXPECT_EQ(d["header"]["kid"], "k1");
    EXPECT_TRUE(d["payload"].contains("exp"));
  }
  // The wrong kind of key is refused when parsed.
  EXPECT_THROW(JwtKey(JwtAlg::kES256, pem_of(rsa, true)), std::invalid_argument);
  EXPECT_THROW(JwtKey(JwtAlg::kRS256, "not a key"), std::invalid_argument);
  EVP_PKEY_free(rsa);
  EVP_PKEY_free(ec);
}

TEST(Digest, Rfc7616Examples) {
  const std::string headers =
      "HTTP/1.1 401 Unauthorized\r\n"
      "WWW-Authenticate: Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", "
      "algorithm=SHA-256, nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", "
      "opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"\r\n"
      "WWW-Authenticate: Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", "
      "algorithm=MD5, nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", "
      "opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"\r\n";
  DigestChallenge c;
  ASSERT_TRUE(parse_digest_challenge(headers, c));
  EXPECT_EQ(c.hash, Hash::kSha256);  // preferred over MD5
  EXPECT_TRUE(c.qop_auth);
  const std::string cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
  std::string out;
  digest_authorization(c, "Mufasa", "Circle of Life", "GET", "/dir/index.html", 1, cnonce, out);
  EXPECT_NE(out.find("response=\"753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1\""),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("nc=00000001"), std::string::npos);
  EXPECT_NE(out.find("opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\""), std::string::npos);
  c.hash = Hash::kMd5;
  c.algorithm = "MD5";
  out.clear();
  digest_authorization(c, "Mufasa", "Circle of Life", "GET", "/dir/index.html", 1, cnonce, out);
  EXPECT_NE(out.find("response=\"8ca523f5e9506fed4657c9700eebdbec\""), std::string::npos) << out;
}

TEST(Digest, NoChallengeWithoutDigest) {
  DigestChallenge c;
  EXPECT_FALSE(parse_digest_challenge("WWW-Authenticate: Basic realm=\"x\"\r\n", c));
  EXPECT_FALSE(parse_digest_challenge("WWW-Authenticate: Digest realm=\"x\", algorithm=SHA-512-256, nonce=\"n\"\r\n", c));
}

TEST(AuthConfig, BadSchemesAreRefusedWithPointers) {
  auto pointer_of = [](const Json& a, bool http2 = false) {
    try {
      validate(a, http2);
    } catch (const ld::ConfigError& e) {
      return e.pointer();
    }
    return std::string("(accepted)");
  };
  EXPECT_EQ(pointer_of({{"type", "oauth2"}}), "/auth/token_url");
  EXPECT_EQ(pointer_of({{"type", "oauth2"}, {"token_url", "http://x/t"}, {"grant", "magic"}}),
            "/auth/grant");
  EXPECT_EQ(pointer_of({{"type", "jwt"}, {"secret", "s"}, {"algorithm", "none"}}),
            "/auth/algorithm");
  EXPECT_EQ(pointer_of({{"type", "jwt"}, {"secret", "s"}, {"algorithm", "RS256"}}),
            "/auth/secret");
  EXPECT_EQ(pointer_of({{"type", "jwt"}, {"key", "junk"}, {"algorithm", "ES256"}}), "/auth/key");
  EXPECT_EQ(pointer_of({{"type", "sigv4"}, {"access_key", "a"}, {"secret_key", "s"},
                        {"region", "r"}}),
            "/auth/service");
  EXPECT_EQ(pointer_of({{"type", "digest"}, {"username", "u"}, {"password", "p"}}, true),
            "(accepted)");  // HTTP/2 answers the challenge too
  EXPECT_EQ(pointer_of({{"type", "digest"}, {"username", "u"}, {"pasword", "p"}}),
            "/auth/pasword");
  EXPECT_EQ(pointer_of({{"type", "digest"}, {"username", "u"}, {"password", "p"}}), "(accepted)");
}
