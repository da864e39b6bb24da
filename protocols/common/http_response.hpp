#pragma once
// How an HTTP response becomes a record's outcome, for HTTP/1.1 and HTTP/2 alike.
#include <cstdint>
#include <string>
#include <string_view>

#include "common/body_decoder.hpp"
#include "loaddensity/stats/record.hpp"

namespace ld {
namespace checks {
class Checks;
}
namespace params {
class UserScope;
}
}  // namespace ld

namespace ld::proto {

struct Url;

// Sets `rec.error` for a response that arrived (`rec.status` set, `rec.error` none): with
// assertions they decide (as the original); without, a status >= 400 fails. The body is
// decoded only when a check reads it (`bytes_in` stays the wire size) and a body that does not
// decode is a `protocol` failure. A failure keeps the body the checks read as `rec.text`; with
// `keep_bodies` (WorkerContext::keep_bodies) a success keeps its decoded body and headers.
void judge_http_response(const checks::Checks* checks, ContentCoding coding,
                         std::string_view body, std::string_view headers, BodyDecoder& decoder,
                         params::UserScope& scope, stats::Record& rec,
                         std::uint32_t keep_bodies = 0);

// "http(s)://host[:port]" followed by `target`, into `out` (cleared first).
void url_text(const Url& url, std::string_view target, std::string& out);

}  // namespace ld::proto
