#include "distributed/metrics_wire.hpp"

#include <stdexcept>

namespace ld::distributed {

namespace {

Json hist_bin(const stats::Histogram& h) {
  const std::string s = h.encode();
  return Json::binary(Json::binary_t::container_type(s.begin(), s.end()));
}

stats::Histogram hist_from(const Json& j) {
  if (j.is_null()) return {};
  if (!j.is_binary()) throw std::invalid_argument("a histogram is not binary");
  const auto& b = j.get_binary();
  return stats::Histogram::decode(
      std::string_view(reinterpret_cast<const char*>(b.data()), b.size()));
}

}  // namespace

stats::ErrorKind error_kind_from_name(const std::string& name) {
  for (std::size_t k = 0; k < stats::kErrorKindCount; ++k) {
    const auto kind = static_cast<stats::ErrorKind>(k);
    if (name == stats::error_kind_name(kind)) return kind;
  }
  return stats::ErrorKind::kOther;
}

Json metrics_to_wire(const stats::Metrics& m) {
  Json names = Json::array();
  for (const auto& n : m.names) {
    Json kinds = Json::array();
    for (auto c : n.by_kind) kinds.push_back(c);
    names.push_back(Json{{"type", n.request_type},
                         {"name", n.name},
                         {"requests", n.requests},
                         {"failures", n.failures},
                         {"bytes_in", n.bytes_in},
                         {"bytes_out", n.bytes_out},
                         {"ok", hist_bin(n.ok_latency)},
                         {"fail", hist_bin(n.fail_latency)},
                         {"service", hist_bin(n.service)},
                         {"by_kind", std::move(kinds)},
                         {"retries", n.retries},
                         {"messages_out", n.messages_out},
                         {"messages_in", n.messages_in}});
  }
  Json errors = Json::array();
  for (const auto& e : m.errors) {
    errors.push_back(Json{{"type", e.request_type},
                          {"name", e.name},
                          {"kind", stats::error_kind_name(e.kind)},
                          {"message", e.message},
                          {"count", e.count}});
  }
  Json timeline = Json::array();
  for (const auto& p : m.timeline) {
    timeline.push_back(Json::array({p.t_s, p.seconds, p.requests, p.failures, p.bytes_in, p.p50_ns,
                                    p.p95_ns, p.p99_ns, p.max_ns, p.users}));
  }
  Json counters = Json::array();
  for (const auto& c : m.counters) counters.push_back(Json::array({c.protocol, c.name, c.value}));
  return Json{{"names", std::move(names)},
              {"errors", std::move(errors)},
              {"counters", std::move(counters)},
              {"errors_dropped", m.errors_dropped},
              {"timeline", std::move(timeline)}};
}

stats::Metrics metrics_from_wire(const Json& j) {
  if (!j.is_object()) throw std::invalid_argument("ld_metrics is not a map");
  stats::Metrics m;
  for (const auto& n : j.at("names")) {
    stats::NameMetrics& x =
        m.name_slot(n.at("type").get<std::string>(), n.at("name").get<std::string>());
    x.requests += n.at("requests").get<std::uint64_t>();
    x.failures += n.at("failures").get<std::uint64_t>();
    x.bytes_in += n.value("bytes_in", std::uint64_t{0});
    x.bytes_out += n.value("bytes_out", std::uint64_t{0});
    x.ok_latency.merge(hist_from(n.value("ok", Json())));
    x.fail_latency.merge(hist_from(n.value("fail", Json())));
    x.service.merge(hist_from(n.value("service", Json())));
    const Json& kinds = n.value("by_kind", Json::array());
    for (std::size_t k = 0; k < kinds.size() && k < stats::kErrorKindCount; ++k) {
      x.by_kind[k] += kinds[k].get<std::uint64_t>();
    }
    x.retries += n.value("retries", std::uint64_t{0});
    x.messages_out += n.value("messages_out", std::uint64_t{0});
    x.messages_in += n.value("messages_in", std::uint64_t{0});
  }
  for (const auto& e : j.value("errors", Json::array())) {
    m.add_error(stats::ErrorEntry{e.at("type").get<std::string>(), e.at("name").get<std::string>(),
                                  error_kind_from_name(e.at("kind").get<std::string>()),
                                  e.at("message").get<std::string>(),
                                  e.at("count").get<std::uint64_t>()});
  }
  m.errors_dropped = j.value("errors_dropped", std::uint64_t{0});
  for (const auto& c : j.value("counters", Json::array())) {
    if (!c.is_array() || c.size() < 3) throw std::invalid_argument("bad protocol counter");
    m.add_counter(c[0].get<std::string>(), c[1].get<std::string>(), c[2].get<std::uint64_t>());
  }
  for (const auto& p : j.value("timeline", Json::array())) {
    if (!p.is_array() || p.size() < 10) throw std::invalid_argument("bad timeline point");
    stats::IntervalPoint q;
    q.t_s = p[0].get<double>();
    q.seconds = p[1].get<double>();
    q.requests = p[2].get<std::uint64_t>();
    q.failures = p[3].get<std::uint64_t>();
    q.bytes_in = p[4].get<std::uint64_t>();
    q.p50_ns = p[5].get<std::int64_t>();
    q.p95_ns = p[6].get<std::int64_t>();
    q.p99_ns = p[7].get<std::int64_t>();
    q.max_ns = p[8].get<std::int64_t>();
    q.users = p[9].get<std::uint32_t>();
    m.timeline.push_back(q);
  }
  return m;
}

}  // namespace ld::distributed
