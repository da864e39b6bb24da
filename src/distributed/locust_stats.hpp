#pragma once
// Locust's worker report, built from the live feed: per (method, name) the deltas since the
// last report in the shape of Locust's StatsEntry.serialize() (counts, response-time buckets
// rounded as Locust rounds them, content length, per-second counts), the aggregate entry and
// the errors dict. An observer on the LiveFeed folds each second's interval in (control thread);
// the worker's RPC thread takes the report every 3 s.
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "core/json_util.hpp"
#include "loaddensity/stats/live.hpp"

namespace ld::distributed {

class LocustReport final : public stats::LiveObserver {
 public:
  // Control thread: adds `s`'s interval, stamped with the wall clock now.
  void on_interval(const stats::LiveSnapshot& s) override;
  // The same with an explicit wall-clock time (seconds since the epoch) at the interval's end.
  void add_interval(const stats::LiveSnapshot& s, double wall_end);

  // Takes what accumulated since the last take: {"stats": [...], "stats_total": {...},
  // "errors": {...}} (names without requests are left out, as Locust does). `now` is the
  // wall-clock time used for an empty aggregate's start_time.
  Json take(double now);

  // Seconds since the epoch.
  static double wall_now();

 private:
  struct Pending {
    stats::LiveName data;
    std::map<std::int64_t, std::uint64_t> reqs_per_sec, fails_per_sec;
    double start_time = 0;              // wall time of the first interval folded in
    double last_request_timestamp = 0;  // 0: none
    void add(const stats::LiveName& n, double start, double end);
  };
  static Json entry(const std::string& name, const Json& method, const Pending& p);

  std::mutex mu_;
  std::map<std::pair<std::string, std::string>, Pending> names_;  // (method, name)
  Pending total_;
};

}  // namespace ld::distributed
