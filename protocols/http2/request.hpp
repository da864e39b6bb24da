#pragma once
// Private to the HTTP clients built on http2::Step (HTTP/2 and HTTP/3): turning a compiled Step
// into the header block one request sends. A lane keeps one RequestBuffers and reuses it, so
// rendering placeholders, merging the jar's cookies and following a redirect allocate nothing
// once the buffers have grown. The blocks are nghttp2_nv arrays; nghttp3_nv has the same layout.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/auth/auth.hpp"
#include "common/cookie_jar.hpp"
#include "http2_impl.hpp"

namespace ld::proto::http2 {

struct RequestBuffers {
  // Redirect request (built only when following one).
  Url redirect_url;
  std::string redirect_method;
  std::string redirect_scheme;
  std::vector<nghttp2_nv> redirect_nva;
  // The request's header block with the jar's cookies merged in (built only when it has some).
  std::string cookie_value;
  std::vector<nghttp2_nv> cookie_nva;
  // A dynamic step's request as rendered for this lane (reused; valid while its stream lives).
  std::vector<nghttp2_nv> nva;
  std::string path, scratch, request_body, content_length;
  std::vector<std::string> header_values;  // parallel to Step::dyn_headers
  std::string auth_values[4];              // Step::auth's header values
};

// Renders a dynamic step's per-request parts into `b` and points b.nva (a copy of the step's
// header block) at them; `request_bytes` becomes the request's size. Returns why the request
// cannot be sent, or null; `auth_failed` is set when it could not be signed.
const char* render_request(const Step& step, RequestBuffers& b, params::UserScope& scope,
                           auth::UserAuth& auth, bool& auth_failed, std::uint64_t& request_bytes);

// Copies the header block `nva` into b.cookie_nva with the jar's cookies for `url` merged into
// its cookie header (the task's own cookies first; they win over jar cookies of the same name).
// False, and nothing built, when the jar has none for this URL.
bool with_cookies(RequestBuffers& b, CookieJar& jar, const nghttp2_nv* nva, std::size_t n,
                  const Url& url);

// Stores the Set-Cookie values ('\n'-separated) of a response to a request to `url`.
void store_cookies(CookieJar& jar, std::string_view all, const Url& url);

// The header block of a redirect to b.redirect_url from `base` (the step's block as sent):
// 307/308 (`keep`) keep the method and body, others become GET.
void build_redirect(const Step& step, const std::vector<nghttp2_nv>& base, RequestBuffers& b,
                    bool keep);

}  // namespace ld::proto::http2
