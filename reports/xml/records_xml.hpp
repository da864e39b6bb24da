#pragma once
// The seed's XML report: `<n>_success.xml` / `<n>_failure.xml`, the JSON report's entries under
// <xml_data>, pretty-printed the way Python's minidom does (tab indent, `<?xml version="1.0" ?>`,
// empty elements as <x/>). Streamed from the record log.
#include <cstdint>
#include <iosfwd>
#include <string>
#include <utility>

#include "stats/record_log.hpp"

namespace ld::reports {

std::uint64_t write_records_xml(std::ostream& out, const stats::RecordLog* log, bool failures,
                                std::uint64_t limit = UINT64_MAX);
// Writes both files atomically; returns their paths. Throws when there is no record at all.
std::pair<std::string, std::string> write_xml_report(const stats::RecordLog* log,
                                                     const std::string& xml_file_name);

}  // namespace ld::reports
