#pragma once
// JUnit XML for CI: one <testcase> per request name (classname = request type) whose
// <system-out> carries its counts and percentiles and which fails (<failure>) when any of its
// requests failed, listing the distinct errors; plus a "loaddensity.sla" suite with one
// testcase per SLA rule when rules were evaluated. Follows the structure of the common JUnit
// schema (Jenkins junit-10.xsd), which GitHub, GitLab and Jenkins parsers accept.
#include <iosfwd>
#include <string>

#include "core/json_util.hpp"
#include "loaddensity/stats/metrics.hpp"

namespace ld::reports {

// `sla_results` may be null.
void write_junit(std::ostream& out, const stats::Metrics& m, const Json* sla_results);
// Writes `<report_name>.xml` (".xml" appended unless present) atomically; returns the path.
std::string write_junit_report(const stats::Metrics& m, const Json* sla_results,
                               const std::string& report_name);

}  // namespace ld::reports
