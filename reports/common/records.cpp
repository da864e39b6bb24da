#include "common/records.hpp"

#include "common/format.hpp"

namespace ld::reports {

RequestFields request_fields(const stats::LoggedRecord& r) {
  RequestFields f;
  f.outcome = r.ok() ? "success" : "failure";
  f.method = *r.request_type;
  f.test_url = r.url.empty() ? *r.name : std::string(r.url);
  f.name = *r.name;
  if (r.status) f.status_code = std::to_string(r.status);
  f.response_time_ms = ns_to_ms3(r.latency);
  f.response_length = r.bytes_in;
  f.error = r.message();
  if (!r.ok()) {
    f.text = r.text.empty() ? f.error : std::string(r.text);
  } else {
    f.text = f.content = std::string(r.text);
    f.headers = std::string(r.headers);
  }
  return f;
}

const char* no_record_log_note() {
  return "per-request records were not kept for this run (the record log is enabled when a "
         "loaded document contains a per-request report command)";
}

}  // namespace ld::reports
