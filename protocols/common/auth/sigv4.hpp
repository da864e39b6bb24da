#pragma once
// AWS Signature Version 4 (header form). The key chain for a date is derived once per user per
// day; a request costs the payload hash, the canonical request's hash and one HMAC, written into
// buffers the caller keeps.
#include <ctime>
#include <string>
#include <string_view>
#include <vector>

#include "common/auth/crypto.hpp"

namespace ld::proto::auth {

struct SigV4Credentials {
  std::string access_key, secret_key, session_token, region, service;
};

struct SigV4Header {
  std::string_view name;   // any case; lower-cased in the canonical request
  std::string_view value;  // trimmed, inner runs of spaces collapsed in the canonical request
};

// "YYYYMMDDTHHMMSSZ" (16 characters) for `t` (UTC).
void amz_date(std::time_t t, char out[17]);

// Canonical URI of `path` as sent on the wire: dot segments and repeated slashes removed (not
// for S3), then every byte but unreserved ones and '/' percent-encoded (so an encoded path is
// encoded again, as AWS and botocore do for every service but S3).
void canonical_uri(std::string_view path, bool s3, std::string& out);
// Canonical query: pairs split at the first '=', each side percent-encoded (existing %XX kept,
// upper-cased), sorted by name then value.
void canonical_query(std::string_view query, std::string& out,
                     std::vector<std::pair<std::string, std::string>>& scratch);

// Reused buffers of one signer (a user's): nothing is allocated once they have grown.
struct SigV4Scratch {
  std::string canonical, query, uri, signed_headers, string_to_sign, payload_hash;
  std::vector<std::pair<std::string, std::string>> pairs;
  std::vector<std::pair<std::string, std::string>> headers;  // lower-case name, canonical value
  char key_date[9] = {};                                    // the date `key` was derived for
  Hmac key{Hash::kSha256, ""};
};

class SigV4 {
 public:
  explicit SigV4(SigV4Credentials c) : c_(std::move(c)), s3_(c_.service == "s3") {}
  const SigV4Credentials& credentials() const noexcept { return c_; }

  // The canonical request into s.canonical (and s.signed_headers). `target` is path?query as
  // sent; `payload_hash` the hex SHA-256 of the body.
  void canonical_request(std::string_view method, std::string_view target,
                         const SigV4Header* headers, std::size_t n, std::string_view payload_hash,
                         SigV4Scratch& s) const;
  // The Authorization header value for the canonical request in `s` at `date` (16 chars).
  void authorization(std::string_view date, SigV4Scratch& s, std::string& out) const;

 private:
  SigV4Credentials c_;
  bool s3_;
};

}  // namespace ld::proto::auth
