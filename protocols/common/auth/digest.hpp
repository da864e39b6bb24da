#pragma once
// HTTP Digest access authentication (RFC 7616): MD5 and SHA-256 (and their -sess forms) with
// qop=auth, or the RFC 2069 form when the server offers no qop.
#include <cstdint>
#include <string>
#include <string_view>

#include "common/auth/crypto.hpp"

namespace ld::proto::auth {

struct DigestChallenge {
  std::string realm, nonce, opaque, algorithm;  // algorithm as the server wrote it
  Hash hash = Hash::kMd5;
  bool sess = false;
  bool qop_auth = false;  // the server offered qop=auth
  bool stale = false;
};

// Parses the Digest challenge among a response's header lines ("Name: value\r\n"...), the
// first WWW-Authenticate: Digest whose algorithm is supported (SHA-256 preferred over MD5).
// False when there is none.
bool parse_digest_challenge(std::string_view header_block, DigestChallenge& out);

// The Authorization value answering `c` for `method` `uri` with nonce count `nc`; `cnonce` is
// the client nonce (hex). Appended to `out`.
void digest_authorization(const DigestChallenge& c, std::string_view user, std::string_view pass,
                          std::string_view method, std::string_view uri, std::uint32_t nc,
                          std::string_view cnonce, std::string& out);

}  // namespace ld::proto::auth
