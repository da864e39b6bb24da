#pragma once
// The seed's CSV report: one row per request, columns
// outcome,Method,test_url,name,status_code,response_time_ms,response_length,error;
// every success first, then every failure (as the original wrote them). Streams from the
// record log; CRLF line ends like Python's csv module.
#include <cstdint>
#include <iosfwd>
#include <string>

#include "stats/record_log.hpp"

namespace ld::reports {

// Returns the number of data rows written. `log` may be null (header only).
std::uint64_t write_records_csv(std::ostream& out, const stats::RecordLog* log);
// Writes `<csv_name>.csv` atomically; returns the path.
std::string write_csv_report(const stats::RecordLog* log, const std::string& csv_name);

}  // namespace ld::reports
