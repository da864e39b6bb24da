#pragma once
// A run's full results between loaddensity processes: what a worker attaches to its last stats
// message of a run (key "ld_metrics", which a Locust master ignores) so a loaddensity master
// merges the workers' own histograms (0.4% buckets) instead of Locust's rounded ones. Names,
// counts, bytes, failure kinds, the ok/failed/service histograms (Histogram::encode as msgpack
// binary), the itemised errors and the per-second timeline.
#include "core/json_util.hpp"
#include "loaddensity/stats/metrics.hpp"

namespace ld::distributed {

Json metrics_to_wire(const stats::Metrics& m);
// Throws std::invalid_argument (or nlohmann's type_error) on a malformed value.
stats::Metrics metrics_from_wire(const Json& j);

// Kind by its name (error_kind_name); kOther when unknown.
stats::ErrorKind error_kind_from_name(const std::string& name);

}  // namespace ld::distributed
