#include "export/otlp.hpp"

#include <cstring>

namespace ld::exporters {

namespace {

// Protobuf wire format: varints, fixed64/double, length-delimited fields.
class Pb {
 public:
  std::string out;

  void varint(std::uint64_t v) {
    while (v >= 0x80) {
      out += static_cast<char>((v & 0x7f) | 0x80);
      v >>= 7;
    }
    out += static_cast<char>(v);
  }
  void tag(int field, int wire) { varint((static_cast<std::uint64_t>(field) << 3) | wire); }
  void uint(int field, std::uint64_t v) {
    tag(field, 0);
    varint(v);
  }
  void fixed64(int field, std::uint64_t v) {
    tag(field, 1);
    raw64(v);
  }
  void dbl(int field, double d) {
    std::uint64_t v;
    std::memcpy(&v, &d, sizeof v);
    fixed64(field, v);
  }
  void bytes(int field, std::string_view s) {
    tag(field, 2);
    varint(s.size());
    out += s;
  }
  void raw64(std::uint64_t v) {
    for (int i = 0; i < 8; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
  }
};

// KeyValue{key = 1, value = 2: AnyValue{string_value = 1 | int_value = 3}}
std::string kv(std::string_view key, std::string_view value) {
  Pb any;
  any.bytes(1, value);
  Pb m;
  m.bytes(1, key);
  m.bytes(2, any.out);
  return m.out;
}

struct Attr {
  std::string_view key, value;
};

// NumberDataPoint{attributes = 7, start_time_unix_nano = 2, time_unix_nano = 3, as_int = 6}
std::string int_point(std::initializer_list<Attr> attrs, std::int64_t start, std::int64_t now,
                      std::int64_t value) {
  Pb p;
  for (const auto& a : attrs) p.bytes(7, kv(a.key, a.value));
  p.fixed64(2, static_cast<std::uint64_t>(start));
  p.fixed64(3, static_cast<std::uint64_t>(now));
  p.fixed64(6, static_cast<std::uint64_t>(value));  // sfixed64
  return p.out;
}

constexpr int kCumulative = 2;  // AggregationTemporality

// Metric{name = 1, description = 2, unit = 3, sum = 7 | gauge = 5 | histogram = 9}
std::string metric(std::string_view name, std::string_view description, std::string_view unit,
                   int data_field, const std::string& data) {
  Pb m;
  m.bytes(1, name);
  m.bytes(2, description);
  if (!unit.empty()) m.bytes(3, unit);
  m.bytes(data_field, data);
  return m.out;
}

// Sum{data_points = 1, aggregation_temporality = 2, is_monotonic = 3}
std::string monotonic_sum(const std::vector<std::string>& points) {
  Pb s;
  for (const auto& p : points) s.bytes(1, p);
  s.uint(2, kCumulative);
  s.uint(3, 1);
  return s.out;
}

// Histogram{data_points = 1, aggregation_temporality = 2}
std::string histogram(const std::vector<std::string>& points) {
  Pb h;
  for (const auto& p : points) h.bytes(1, p);
  h.uint(2, kCumulative);
  return h.out;
}

// HistogramDataPoint{attributes = 9, start = 2, time = 3, count = 4, sum = 5,
//                    bucket_counts = 6 (packed fixed64), explicit_bounds = 7 (packed double),
//                    max = 12}
std::string histogram_point(const Series& s, std::int64_t start, std::int64_t now,
                            std::uint64_t count, double sum,
                            const std::vector<std::uint64_t>& counts,
                            const std::vector<double>& bounds, const double* max) {
  Pb p;
  p.bytes(9, kv("request_type", s.request_type));
  p.bytes(9, kv("name", s.name));
  p.fixed64(2, static_cast<std::uint64_t>(start));
  p.fixed64(3, static_cast<std::uint64_t>(now));
  p.fixed64(4, count);
  p.dbl(5, sum);
  Pb packed;
  for (auto c : counts) packed.raw64(c);
  p.bytes(6, packed.out);
  if (!bounds.empty()) {
    Pb b;
    for (double d : bounds) {
      std::uint64_t v;
      std::memcpy(&v, &d, sizeof v);
      b.raw64(v);
    }
    p.bytes(7, b.out);
  }
  if (max) p.dbl(12, *max);
  return p.out;
}

}  // namespace

std::string otlp_endpoint(const std::string& endpoint) {
  const HttpUrl u = parse_http_url(endpoint);
  if (u.target == "/" && endpoint.find('/', 7) == std::string::npos)
    return endpoint + "/v1/metrics";
  if (u.target == "/" && endpoint.back() == '/') return endpoint + "v1/metrics";
  return endpoint;
}

std::string otlp_metrics_request(const SeriesBook& book, const std::string& service_name,
                                 std::int64_t start_ns, std::int64_t now_ns) {
  std::vector<std::string> requests, latency, size, errors;
  std::vector<double> bounds_ms;
  for (auto us : latency_bounds_us()) bounds_ms.push_back(static_cast<double>(us) / 1000.0);
  for (const Series& s : book.cumulative()) {
    if (!s.requests) continue;
    const std::string_view type = s.request_type, name = s.name;
    requests.push_back(int_point({{"request_type", type}, {"name", name}, {"outcome", "success"}},
                                 start_ns, now_ns, std::int64_t(s.requests - s.failures)));
    requests.push_back(int_point({{"request_type", type}, {"name", name}, {"outcome", "failure"}},
                                 start_ns, now_ns, std::int64_t(s.failures)));
    const double max_ms = double(s.latency_max_ns) / 1e6;
    latency.push_back(histogram_point(s, start_ns, now_ns, s.requests, s.latency_sum_ns / 1e6,
                                      bucket_counts(s), bounds_ms, &max_ms));
    size.push_back(histogram_point(s, start_ns, now_ns, s.requests, double(s.bytes_in),
                                   {s.requests}, {}, nullptr));
    for (std::size_t k = 1; k < s.by_kind.size(); ++k) {
      if (!s.by_kind[k]) continue;
      errors.push_back(
          int_point({{"request_type", type},
                     {"name", name},
                     {"error.kind", stats::error_kind_name(static_cast<stats::ErrorKind>(k))}},
                    start_ns, now_ns, std::int64_t(s.by_kind[k])));
    }
  }
  Pb scope_metrics;
  {
    Pb scope;  // InstrumentationScope{name = 1}
    scope.bytes(1, "loaddensity");
    scope_metrics.bytes(1, scope.out);
  }
  if (!requests.empty()) {
    scope_metrics.bytes(
        2, metric("loaddensity.requests", "Requests by outcome", "", 7, monotonic_sum(requests)));
    scope_metrics.bytes(
        2, metric("loaddensity.request.latency", "Request latency from the planned start", "ms", 9,
                  histogram(latency)));
    scope_metrics.bytes(
        2, metric("loaddensity.response.size", "Response body bytes", "By", 9, histogram(size)));
  }
  if (!errors.empty()) {
    scope_metrics.bytes(
        2, metric("loaddensity.errors", "Failures by kind", "", 7, monotonic_sum(errors)));
  }
  {
    Pb gauge;  // Gauge{data_points = 1}
    gauge.bytes(1, int_point({}, start_ns, now_ns, book.users()));
    scope_metrics.bytes(2, metric("loaddensity.users", "Virtual users running", "", 5, gauge.out));
  }
  Pb resource;  // Resource{attributes = 1}
  resource.bytes(1, kv("service.name", service_name));
  Pb rm;  // ResourceMetrics{resource = 1, scope_metrics = 2}
  rm.bytes(1, resource.out);
  rm.bytes(2, scope_metrics.out);
  Pb req;  // ExportMetricsServiceRequest{resource_metrics = 1}
  req.bytes(1, rm.out);
  return req.out;
}

OtlpExporter::OtlpExporter(stats::LiveFeed& feed, OtlpOptions options)
    : Pusher(feed, "exporter.otlp", otlp_endpoint(options.endpoint), options.interval, false),
      o_(std::move(options)),
      url_(parse_http_url(otlp_endpoint(o_.endpoint))),
      start_ns_(unix_now_ns()) {}

OtlpExporter::~OtlpExporter() { stop(); }

void OtlpExporter::collect(const SeriesBook& book, std::int64_t now_ns) {
  body_ = otlp_metrics_request(book, o_.service_name, start_ns_, now_ns);
}

bool OtlpExporter::deliver(std::string& why) {
  const HttpResult r = http_post(url_, "application/x-protobuf", body_, {}, o_.timeout);
  if (r.status >= 200 && r.status < 300) return true;
  why = r.status ? "HTTP " + std::to_string(r.status) : r.error;
  return false;
}

}  // namespace ld::exporters
