#include "common/http_response.hpp"

#include "checks/checks.hpp"
#include "common/url.hpp"

namespace ld::proto {

namespace {

// `record_bodies`: a kept body is shown as the client saw it (decoded; the wire bytes when they
// do not decode).
std::string_view kept_body(ContentCoding coding, std::string_view body, BodyDecoder& decoder) {
  std::string_view decoded = body;
  if (decoder.decode(coding, body, decoded)) decoded = body;
  return decoded;
}

}  // namespace

void judge_http_response(const checks::Checks* checks, ContentCoding coding,
                         std::string_view body, std::string_view headers, BodyDecoder& decoder,
                         params::UserScope& scope, stats::Record& rec,
                         std::uint32_t keep_bodies) {
  const int status = static_cast<int>(rec.status);
  if (!checks || (!checks->has_assertions() && status >= 400)) {
    if (status >= 400) {
      rec.error = {stats::ErrorKind::kHttpStatus, "HTTP", status, false};
      // With record_bodies the body was captured: the failure shows it as its text.
      if (keep_bodies) rec.text = kept_body(coding, body, decoder);
    } else if (keep_bodies) {
      rec.text = kept_body(coding, body, decoder);
      rec.headers = headers;
    }
    return;
  }
  std::string_view decoded = body;
  if (checks->needs_body()) {
    if (const char* bad = decoder.decode(coding, body, decoded)) {
      rec.error = {stats::ErrorKind::kProtocol, bad, 0, false};
      rec.text = body;
      return;
    }
  }
  if (const char* failed = checks->apply(checks::ResponseView{status, decoded, headers}, scope)) {
    rec.error = {stats::ErrorKind::kAssertion, failed, status, false};
    if (checks->needs_body()) rec.text = decoded;
  } else if (keep_bodies) {
    rec.text = kept_body(coding, body, decoder);
    rec.headers = headers;
  }
}

void url_text(const Url& url, std::string_view target, std::string& out) {
  out.clear();
  out += url.tls ? "https://" : "http://";
  out += url.host_header;
  out += target;
}

}  // namespace ld::proto
