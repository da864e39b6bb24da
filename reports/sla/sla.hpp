#pragma once
// SLA gates over the summary (reports::build_summary's shape), with the original's rules:
// {type, name?, op: lt|lte(default)|gt|gte, value}; types latency_p50/p90/p95/p99,
// latency_mean, failure_rate, requests; a rule with `name` reads per_name[name], otherwise the
// overall figures (failure_rate and requests from totals, latencies from latency_overall).
// Results are {passed, rule, actual, reason} with the original's reasons:
//   "unsupported op 'x'", "rule missing 'value'", "metric not available in summary",
//   "{type}({name|overall})={actual} not {op} {value}".
// Beyond the original: per-name failure_rate and overall latency_mean are available (the
// summary has them), and validate_sla_rules() rejects rules that can never pass before
// anything runs.
#include <string>

#include "core/json_util.hpp"

namespace ld::reports {

// Throws ConfigError with a pointer relative to `rules` ("/1/op") for: not a list, a rule that
// is not an object, an unknown type or op, a missing or non-numeric value, a non-string name.
void validate_sla_rules(const Json& rules);

// Evaluates every rule (no validation: bad rules give the original's failure reasons).
Json evaluate_sla(const Json& rules, const Json& summary);

// "SLA gates failed: reason1; reason2", or "" when every rule passed.
std::string sla_failure_message(const Json& results);

}  // namespace ld::reports
