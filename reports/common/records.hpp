#pragma once
// The seed's per-request record fields, derived from a logged record. `test_url` is the URL
// requested (rendered per request, or the task's static URL; the name when the protocol gave
// none). A failure's `text` is the start (1 KiB) of the response body when the session captured
// one, else the error message. A success's text and content (its body) and headers are kept
// only when the test set `record_bodies`; otherwise they are written as empty strings.
#include <string>

#include "stats/record_log.hpp"

namespace ld::reports {

struct RequestFields {
  std::string outcome;  // "success" | "failure"
  std::string method;   // request type ("GET", ...)
  std::string test_url;
  std::string name;
  std::string status_code;  // "" when the operation got no status
  double response_time_ms = 0;
  std::uint64_t response_length = 0;
  std::string error;  // "" for a success
  std::string text;   // failures: response body start, else the error message; successes: the
                      // body kept by `record_bodies` ("" when none)
  std::string content;  // successes: the same body (the original's `content`)
  std::string headers;  // successes: the header block kept by `record_bodies`
};

RequestFields request_fields(const stats::LoggedRecord& r);

// Thrown-message helper: per-request formats need the record log.
const char* no_record_log_note();

}  // namespace ld::reports
