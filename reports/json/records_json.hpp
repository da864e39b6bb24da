#pragma once
// The seed's JSON report: `<n>_success.json` = {"Success_Test1": {Method, test_url, name,
// status_code, text, content, headers}, ...} and `<n>_failure.json` = {"Failure_Test1":
// {Method, test_url, name, status_code, error}, ...}, indent 4, numbered from 1. Written
// record by record from the record log (never built in memory). text/content/headers are
// empty strings: the record log does not keep response bodies.
#include <cstdint>
#include <iosfwd>
#include <string>
#include <utility>

#include "core/json_util.hpp"
#include "stats/record_log.hpp"

namespace ld::reports {

// Writes one of the two documents; returns the number of entries.
std::uint64_t write_records_json(std::ostream& out, const stats::RecordLog* log, bool failures,
                                 std::uint64_t limit = UINT64_MAX);
// Writes both files atomically; returns their paths. Throws std::runtime_error when there is
// no record at all (as the original did).
std::pair<std::string, std::string> write_json_report(const stats::RecordLog* log,
                                                      const std::string& json_file_name);
// The same two objects as values, with at most `limit` entries each (LD_generate_json).
Json records_json_value(const stats::RecordLog* log, std::size_t limit);

}  // namespace ld::reports
