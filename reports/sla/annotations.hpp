#pragma once
// GitHub Actions workflow commands (`::error title=T::message`): one line per distinct failure
// (type, name, error, count; most frequent first) and one per failed SLA rule. Aggregated
// rather than one line per failed request (the original's behaviour), so a run with a million
// failures prints a readable handful; `max_lines` caps the total and a last line says how many
// were left out.
#include <string>
#include <vector>

#include "core/json_util.hpp"
#include "loaddensity/stats/metrics.hpp"

namespace ld::reports {

// One `::severity [title=..]::message` line with GitHub's escaping (%, CR, LF in the message;
// also , and : in properties).
std::string format_github_annotation(const std::string& severity, const std::string& message,
                                     const std::string& title);

// `sla_results` may be null (no SLA evaluated).
std::vector<std::string> github_annotations(const stats::Metrics& m, const Json* sla_results,
                                            const std::string& title, std::size_t max_lines);

}  // namespace ld::reports
