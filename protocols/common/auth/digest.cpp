#include "common/auth/digest.hpp"

#include <cstdio>

#include "core/text.hpp"

namespace ld::proto::auth {

namespace {

// Reads the next auth-param (name=value or name="quoted") from `s` at `i`.
bool next_param(std::string_view s, std::size_t& i, std::string_view& name, std::string& value) {
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == ',')) ++i;
  const std::size_t n0 = i;
  while (i < s.size() && s[i] != '=' && s[i] != ',' && s[i] != ' ') ++i;
  if (i >= s.size() || s[i] != '=') return false;
  name = s.substr(n0, i - n0);
  ++i;
  value.clear();
  if (i < s.size() && s[i] == '"') {
    ++i;
    while (i < s.size() && s[i] != '"') {
      if (s[i] == '\\' && i + 1 < s.size()) ++i;
      value += s[i++];
    }
    ++i;
  } else {
    while (i < s.size() && s[i] != ',') value += s[i++];
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.pop_back();
  }
  return true;
}

bool parse_one(std::string_view params, DigestChallenge& c) {
  std::size_t i = 0;
  std::string_view name;
  std::string value;
  c = DigestChallenge{};
  c.algorithm = "MD5";
  while (next_param(params, i, name, value)) {
    if (text::iequals(name, "realm")) c.realm = value;
    else if (text::iequals(name, "nonce")) c.nonce = value;
    else if (text::iequals(name, "opaque")) c.opaque = value;
    else if (text::iequals(name, "algorithm")) c.algorithm = value;
    else if (text::iequals(name, "stale")) c.stale = text::iequals(value, "true");
    else if (text::iequals(name, "qop")) {
      std::size_t p = 0;
      while (p <= value.size()) {
        std::size_t q = value.find(',', p);
        if (q == std::string::npos) q = value.size();
        if (text::iequals(text::trim_header(std::string_view(value).substr(p, q - p)), "auth")) {
          c.qop_auth = true;
        }
        p = q + 1;
      }
    }
  }
  std::string_view alg = c.algorithm;
  if (alg.size() > 5 && text::iequals(alg.substr(alg.size() - 5), "-sess")) {
    c.sess = true;
    alg.remove_suffix(5);
  }
  if (text::iequals(alg, "MD5")) c.hash = Hash::kMd5;
  else if (text::iequals(alg, "SHA-256")) c.hash = Hash::kSha256;
  else return false;
  return !c.nonce.empty();
}

void hex_of(Hasher h, std::string& out) { append_hex(out, h.finish().view()); }

}  // namespace

bool parse_digest_challenge(std::string_view block, DigestChallenge& out) {
  bool found = false;
  std::size_t i = 0;
  while (i < block.size()) {
    std::size_t e = block.find('\n', i);
    if (e == std::string_view::npos) e = block.size();
    std::string_view line = block.substr(i, e - i);
    i = e + 1;
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos ||
        !text::iequals(text::trim_header(line.substr(0, colon)), "www-authenticate")) {
      continue;
    }
    std::string_view v = text::trim_header(line.substr(colon + 1));
    if (v.size() < 7 || !text::iequals(v.substr(0, 7), "digest ")) continue;
    DigestChallenge c;
    if (!parse_one(v.substr(7), c)) continue;
    if (!found || (c.hash == Hash::kSha256 && out.hash != Hash::kSha256)) {
      out = std::move(c);
      found = true;
    }
  }
  return found;
}

void digest_authorization(const DigestChallenge& c, std::string_view user, std::string_view pass,
                          std::string_view method, std::string_view uri, std::uint32_t nc,
                          std::string_view cnonce, std::string& out) {
  char ncs[9];
  std::snprintf(ncs, sizeof ncs, "%08x", nc);
  // HA1 = H(user:realm:pass) [then H(HA1:nonce:cnonce) for -sess]; HA2 = H(method:uri).
  thread_local std::string ha1, ha2, resp;  // reused: no allocation once grown
  ha1.clear();
  ha2.clear();
  resp.clear();
  Hasher h1(c.hash);
  h1.update(user);
  h1.update(":");
  h1.update(c.realm);
  h1.update(":");
  h1.update(pass);
  hex_of(h1, ha1);
  if (c.sess) {
    Hasher s(c.hash);
    s.update(ha1);
    s.update(":");
    s.update(c.nonce);
    s.update(":");
    s.update(cnonce);
    ha1.clear();
    hex_of(s, ha1);
  }
  Hasher h2(c.hash);
  h2.update(method);
  h2.update(":");
  h2.update(uri);
  hex_of(h2, ha2);
  Hasher r(c.hash);
  r.update(ha1);
  r.update(":");
  r.update(c.nonce);
  r.update(":");
  if (c.qop_auth) {
    r.update(ncs);
    r.update(":");
    r.update(cnonce);
    r.update(":auth:");
  }
  r.update(ha2);
  hex_of(r, resp);
  out += "Digest username=\"";
  out += user;
  out += "\", realm=\"";
  out += c.realm;
  out += "\", nonce=\"";
  out += c.nonce;
  out += "\", uri=\"";
  out += uri;
  out += "\", algorithm=";
  out += c.algorithm;
  out += ", response=\"";
  out += resp;
  out += '"';
  if (c.qop_auth) {
    out += ", qop=auth, nc=";
    out += ncs;
    out += ", cnonce=\"";
    out += cnonce;
    out += '"';
  }
  if (!c.opaque.empty()) {
    out += ", opaque=\"";
    out += c.opaque;
    out += '"';
  }
}

}  // namespace ld::proto::auth
