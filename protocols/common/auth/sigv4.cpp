#include "common/auth/sigv4.hpp"

#include <algorithm>
#include <cstring>

namespace ld::proto::auth {

namespace {

bool unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         c == '-' || c == '_' || c == '.' || c == '~';
}

bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

void pct(std::string& out, unsigned char c) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  out += '%';
  out += kHex[c >> 4];
  out += kHex[c & 15];
}

// Percent-encodes `in` for the canonical query; existing %XX escapes stay (upper-cased).
void encode_query_part(std::string_view in, std::string& out) {
  for (std::size_t i = 0; i < in.size(); ++i) {
    const auto c = static_cast<unsigned char>(in[i]);
    if (unreserved(c)) {
      out += static_cast<char>(c);
    } else if (c == '%' && i + 2 < in.size() && is_hex(in[i + 1]) && is_hex(in[i + 2])) {
      out += '%';
      out += static_cast<char>(std::toupper(static_cast<unsigned char>(in[i + 1])));
      out += static_cast<char>(std::toupper(static_cast<unsigned char>(in[i + 2])));
      i += 2;
    } else {
      pct(out, c);
    }
  }
}

}  // namespace

void amz_date(std::time_t t, char out[17]) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

void canonical_uri(std::string_view path, bool s3, std::string& out) {
  out.clear();
  if (path.empty()) {
    out = "/";
    return;
  }
  auto encode = [&](std::string_view seg) {
    for (unsigned char c : seg) {
      if (unreserved(c)) {
        out += static_cast<char>(c);
      } else {
        pct(out, c);
      }
    }
  };
  if (s3) {  // S3: the path as sent, neither normalised nor encoded again
    out.assign(path);
    return;
  }
  // remove_dot_segments as botocore does: empty and "." segments dropped, ".." pops.
  std::size_t kept[256];
  std::size_t lens[256];
  std::size_t n = 0;
  std::size_t i = 0;
  while (i <= path.size()) {
    std::size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    const std::string_view seg = path.substr(i, j - i);
    if (!seg.empty() && seg != ".") {
      if (seg == "..") {
        if (n > 0) --n;
      } else if (n < 256) {
        kept[n] = i;
        lens[n] = seg.size();
        ++n;
      }
    }
    i = j + 1;
  }
  if (path.front() == '/') out += '/';
  for (std::size_t k = 0; k < n; ++k) {
    if (k > 0) out += '/';
    encode(path.substr(kept[k], lens[k]));
  }
  if (path.back() == '/' && n > 0) out += '/';
  if (out.empty()) out = "/";
}

void canonical_query(std::string_view query, std::string& out,
                     std::vector<std::pair<std::string, std::string>>& pairs) {
  out.clear();
  std::size_t used = 0;
  std::size_t i = 0;
  while (i < query.size()) {
    std::size_t j = query.find('&', i);
    if (j == std::string_view::npos) j = query.size();
    const std::string_view pair = query.substr(i, j - i);
    i = j + 1;
    if (pair.empty()) continue;
    if (used == pairs.size()) pairs.emplace_back();
    auto& [k, v] = pairs[used++];
    k.clear();
    v.clear();
    const std::size_t eq = pair.find('=');
    encode_query_part(pair.substr(0, eq), k);
    if (eq != std::string_view::npos) encode_query_part(pair.substr(eq + 1), v);
  }
  std::sort(pairs.begin(), pairs.begin() + static_cast<std::ptrdiff_t>(used));
  for (std::size_t p = 0; p < used; ++p) {
    if (p > 0) out += '&';
    out += pairs[p].first;
    out += '=';
    out += pairs[p].second;
  }
}

void SigV4::canonical_request(std::string_view method, std::string_view target,
                              const SigV4Header* headers, std::size_t n,
                              std::string_view payload_hash, SigV4Scratch& s) const {
  const std::size_t q = target.find('?');
  canonical_uri(target.substr(0, q), s3_, s.uri);
  if (q != std::string_view::npos) {
    canonical_query(target.substr(q + 1), s.query, s.pairs);
  } else {
    s.query.clear();
  }
  // Headers: lower-case names, values trimmed with runs of spaces collapsed, repeated names
  // joined with ',' in order, sorted by name (a stable sort keeps the repeats in order).
  if (s.headers.size() < n) s.headers.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    auto& [name, value] = s.headers[i];
    name.clear();
    for (char c : headers[i].name) name += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    value.clear();
    bool space = false;
    for (char c : headers[i].value) {
      if (c == ' ' || c == '\t') {
        space = !value.empty();
        continue;
      }
      if (space) value += ' ';
      space = false;
      value += c;
    }
  }
  std::stable_sort(s.headers.begin(), s.headers.begin() + static_cast<std::ptrdiff_t>(n),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string& c = s.canonical;
  c.clear();
  c += method;
  c += '\n';
  c += s.uri;
  c += '\n';
  c += s.query;
  c += '\n';
  s.signed_headers.clear();
  for (std::size_t i = 0; i < n; ++i) {
    const auto& [name, value] = s.headers[i];
    if (i > 0 && name == s.headers[i - 1].first) {
      c.pop_back();  // the '\n' of the previous value: a repeated name joins with ','
      c += ',';
      c += value;
      c += '\n';
      continue;
    }
    c += name;
    c += ':';
    c += value;
    c += '\n';
    if (!s.signed_headers.empty()) s.signed_headers += ';';
    s.signed_headers += name;
  }
  c += '\n';
  c += s.signed_headers;
  c += '\n';
  c += payload_hash;
}

void SigV4::authorization(std::string_view date, SigV4Scratch& s, std::string& out) const {
  const std::string_view day = date.substr(0, 8);
  if (std::memcmp(s.key_date, day.data(), 8) != 0) {  // a new day: derive the key chain once
    const std::string secret = "AWS4" + c_.secret_key;
    const Digest k_date = Hmac(Hash::kSha256, secret).mac(day);
    const Digest k_region = Hmac(Hash::kSha256, k_date.view()).mac(c_.region);
    const Digest k_service = Hmac(Hash::kSha256, k_region.view()).mac(c_.service);
    const Digest k_signing = Hmac(Hash::kSha256, k_service.view()).mac("aws4_request");
    s.key = Hmac(Hash::kSha256, k_signing.view());
    std::memcpy(s.key_date, day.data(), 8);
  }
  std::string& sts = s.string_to_sign;
  sts.assign("AWS4-HMAC-SHA256\n");
  sts += date;
  sts += '\n';
  const std::size_t scope_at = sts.size();
  sts += day;
  sts += '/';
  sts += c_.region;
  sts += '/';
  sts += c_.service;
  sts += "/aws4_request";
  const std::size_t scope_end = sts.size();
  sts += '\n';
  append_hex(sts, digest(Hash::kSha256, s.canonical).view());
  const Digest sig = s.key.mac(sts);
  out.assign("AWS4-HMAC-SHA256 Credential=");
  out += c_.access_key;
  out += '/';
  out.append(sts, scope_at, scope_end - scope_at);
  out += ", SignedHeaders=";
  out += s.signed_headers;
  out += ", Signature=";
  append_hex(out, sig.view());
}

}  // namespace ld::proto::auth
