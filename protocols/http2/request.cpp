// Header blocks of one request from a compiled Step (see request.hpp).
#include "request.hpp"

#include <charconv>
#include <cstring>

#include "common/net_util.hpp"
#include "core/text.hpp"
#include "params/resolver.hpp"

namespace ld::proto::http2 {

namespace {

nghttp2_nv nv(const std::string& name, const std::string& value) {
  return {reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
          reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())), name.size(),
          value.size(), NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE};
}

}  // namespace

void store_cookies(CookieJar& jar, std::string_view all, const Url& url) {
  const std::int64_t now = CookieJar::now();
  const std::string_view path = CookieJar::path_of(url.target);
  while (!all.empty()) {
    const std::size_t nl = all.find('\n');
    jar.set(all.substr(0, nl), url.host, path, now);
    all = nl == std::string_view::npos ? std::string_view{} : all.substr(nl + 1);
  }
}

bool with_cookies(RequestBuffers& b, CookieJar& jar, const nghttp2_nv* nva, std::size_t n,
                  const Url& url) {
  static const std::string kCookie = "cookie";
  std::size_t at = n;
  for (std::size_t i = 0; i < n; ++i) {
    if (nva[i].namelen == 6 && std::memcmp(nva[i].name, "cookie", 6) == 0) at = i;
  }
  // The task's value lives in the Step (or the redirect), not in cookie_value.
  const std::string_view task =
      at < n ? std::string_view(reinterpret_cast<const char*>(nva[at].value), nva[at].valuelen)
             : std::string_view{};
  b.cookie_value.assign(task);
  if (jar.append_header(b.cookie_value, url.host, CookieJar::path_of(url.target), url.tls,
                        CookieJar::now(), task) == 0) {
    return false;
  }
  b.cookie_nva.assign(nva, nva + n);
  if (at < n) {
    b.cookie_nva[at].value = reinterpret_cast<std::uint8_t*>(b.cookie_value.data());
    b.cookie_nva[at].valuelen = b.cookie_value.size();
  } else {
    b.cookie_nva.push_back(nv(kCookie, b.cookie_value));
  }
  return true;
}

const char* render_request(const Step& step, RequestBuffers& b, params::UserScope& scope,
                           auth::UserAuth& auth, bool& auth_failed, std::uint64_t& request_bytes) {
  b.nva.assign(step.nva.begin(), step.nva.end());
  auto point = [&](std::size_t i, const std::string& value) {
    b.nva[i].value = reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data()));
    b.nva[i].valuelen = value.size();
  };
  if (!step.path_tpl.is_static()) {
    b.scratch.clear();
    step.path_tpl.render(b.scratch, scope);
    b.path.clear();
    if (!append_target(b.path, b.scratch)) {
      return "URL has a line break or NUL once placeholders resolved";
    }
    point(3, b.path);  // :path
  }
  b.header_values.resize(step.dyn_headers.size());
  for (std::size_t i = 0; i < step.dyn_headers.size(); ++i) {
    const Step::DynHeader& d = step.dyn_headers[i];
    std::string& v = b.header_values[i];
    b.scratch.clear();
    d.value.render(b.scratch, scope);
    if (d.basic) {
      v.assign("Basic ");
      text::append_base64(v, b.scratch);
    } else {
      v.swap(b.scratch);
    }
    if (has_line_break_or_nul(v)) {
      return "header value has a line break or NUL once placeholders resolved";
    }
    point(step.common_begin + d.index, v);
  }
  const std::string* body = &step.body;
  if (step.dynamic_body) {
    b.request_body.clear();
    if (step.hooks) {
      if (const char* bad = step.hooks->render_body(b.request_body, b.scratch, scope)) {
        return bad;
      }
    } else {
      step.body_tpl.render(b.request_body, scope);
    }
    body = &b.request_body;
    if (step.content_length_at < b.nva.size()) {
      char digits[24];
      const auto r = std::to_chars(digits, digits + sizeof digits, body->size());
      b.content_length.assign(digits, r.ptr);
      point(step.content_length_at, b.content_length);
    }
  }
  auth_failed = false;
  if (step.auth) {  // signature headers, over the request as it is sent
    const auth::Request req{
        step.method, step.url.host_header,
        step.path_tpl.is_static() ? std::string_view(step.url.target) : std::string_view(b.path),
        *body};
    if (const char* bad = auth.sign(*step.auth, req, scope, b.auth_values)) {
      auth_failed = true;
      return bad;
    }
    for (std::size_t k = 0; k < step.auth->header_names().size(); ++k) {
      point(step.common_begin + step.auth_at + k, b.auth_values[k]);
    }
  }
  request_bytes = body->size();
  for (const auto& h : b.nva) request_bytes += h.namelen + h.valuelen + 4;
  return nullptr;
}

void build_redirect(const Step& step, const std::vector<nghttp2_nv>& base, RequestBuffers& b,
                    bool keep) {
  b.redirect_method = keep || step.method == "HEAD" ? step.method : "GET";
  b.redirect_scheme = b.redirect_url.tls ? "https" : "http";
  static const std::string kMethod = ":method", kScheme = ":scheme", kAuthority = ":authority",
                           kPath = ":path";
  b.redirect_nva.clear();
  b.redirect_nva.push_back(nv(kMethod, b.redirect_method));
  b.redirect_nva.push_back(nv(kScheme, b.redirect_scheme));
  b.redirect_nva.push_back(nv(kAuthority, b.redirect_url.host_header));
  b.redirect_nva.push_back(nv(kPath, b.redirect_url.target));
  b.redirect_nva.insert(b.redirect_nva.end(), base.begin() + step.common_begin,
                        base.begin() + step.common_end);
  if (keep) b.redirect_nva.insert(b.redirect_nva.end(), base.begin() + step.common_end, base.end());
}

}  // namespace ld::proto::http2
