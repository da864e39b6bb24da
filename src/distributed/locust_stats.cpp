#include "distributed/locust_stats.hpp"

#include <chrono>
#include <cmath>

namespace ld::distributed {

double LocustReport::wall_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

void LocustReport::on_interval(const stats::LiveSnapshot& s) { add_interval(s, wall_now()); }

void LocustReport::Pending::add(const stats::LiveName& n, double start, double end) {
  if (n.requests == 0 && n.failures == 0) return;
  if (start_time == 0 || start < start_time) start_time = start;
  data.merge(n);
  // Locust keys per-second counts by the integer second a request was logged in; an interval
  // is one second, so its counts go to the second its middle falls in.
  const auto sec = static_cast<std::int64_t>(std::floor((start + end) / 2));
  if (n.requests) reqs_per_sec[sec] += n.requests;
  if (n.failures) fails_per_sec[sec] += n.failures;
  last_request_timestamp = end;
}

void LocustReport::add_interval(const stats::LiveSnapshot& s, double wall_end) {
  if (!s.names) return;
  const double start = wall_end - (s.interval_s > 0 ? s.interval_s : 1.0);
  std::lock_guard<std::mutex> lock(mu_);
  for (std::size_t id = 0; id < s.interval.size() && id < s.names->size(); ++id) {
    const stats::LiveName& n = s.interval[id];
    if (n.requests == 0 && n.failures == 0) continue;
    names_[(*s.names)[id]].add(n, start, wall_end);
    total_.add(n, start, wall_end);
  }
}

Json LocustReport::entry(const std::string& name, const Json& method, const Pending& p) {
  const stats::LiveHistogram& h = p.data.latency;
  Json e = Json::object();
  e["name"] = name;
  e["method"] = method;
  e["last_request_timestamp"] =
      p.last_request_timestamp > 0 ? Json(p.last_request_timestamp) : Json(nullptr);
  e["start_time"] = p.start_time;
  e["num_requests"] = p.data.requests;
  e["num_none_requests"] = 0;
  e["num_failures"] = p.data.failures;
  e["total_response_time"] = h.sum_ns() / 1e6;
  e["max_response_time"] = static_cast<double>(h.max_ns()) / 1e6;
  // The live histogram keeps no minimum: the lowest bucket's lower edge stands for it.
  Json min = nullptr;
  for (std::size_t i = 0; i < h.buckets().size(); ++i) {
    if (h.buckets()[i]) {
      min = static_cast<double>(stats::LiveHistogram::bucket_lower_us(i)) / 1000.0;
      break;
    }
  }
  e["min_response_time"] = min;
  e["total_content_length"] = p.data.bytes_in;
  Json rt = Json::object(), rps = Json::object(), fps = Json::object();
  for (const auto& [ms, count] : stats::locust_response_times(h)) rt[std::to_string(ms)] = count;
  for (const auto& [sec, count] : p.reqs_per_sec) rps[std::to_string(sec)] = count;
  for (const auto& [sec, count] : p.fails_per_sec) fps[std::to_string(sec)] = count;
  e["response_times"] = std::move(rt);
  e["num_reqs_per_sec"] = std::move(rps);
  e["num_fail_per_sec"] = std::move(fps);
  return e;
}

Json LocustReport::take(double now) {
  std::map<std::pair<std::string, std::string>, Pending> names;
  Pending total;
  {
    std::lock_guard<std::mutex> lock(mu_);
    names.swap(names_);
    std::swap(total, total_);
  }
  Json stats = Json::array(), errors = Json::object();
  for (const auto& [key, p] : names) {
    const auto& [method, name] = key;
    stats.push_back(entry(name, method, p));
    for (std::size_t k = 0; k < stats::kErrorKindCount; ++k) {
      if (!p.data.by_kind[k]) continue;
      const char* kind = stats::error_kind_name(static_cast<stats::ErrorKind>(k));
      errors[method + "." + name + "." + kind] = Json{
          {"name", name}, {"method", method}, {"error", kind}, {"occurrences", p.data.by_kind[k]}};
    }
  }
  if (total.start_time == 0) total.start_time = now;
  return Json{{"stats", std::move(stats)},
              {"stats_total", entry("Aggregated", nullptr, total)},
              {"errors", std::move(errors)}};
}

}  // namespace ld::distributed
