#include "common/http_response.hpp"

#include "checks/checks.hpp"
#include "common/url.hpp"

namespace ld::proto {

namespace {

// `record_bodies`: a success shows the body as the client saw it (decoded; the wire bytes when
// they do not decode) and its header block.
void keep_success(ContentCoding coding, std::string_view body, std::string_view headers,
                  BodyDecoder& decoder, stats::Record& rec) {
  std::string_view decoded = body;
  if (decoder.decode(coding, body, decoded)) decoded = body;
  rec.text = decoded;
  rec.headers = headers;
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
    } else if (keep_bodies) {
      keep_success(coding, body, headers, decoder, rec);
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
    keep_success(coding, body, headers, decoder, rec);
  }
}

void url_text(const Url& url, std::string_view target, std::string& out) {
  out.clear();
  out += url.tls ? "https://" : "http://";
  out += url.host_header;
  out += target;
}

}  // namespace ld::proto
