// Exporters: folding live snapshots into series, and each wire format.
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "export/influx.hpp"
#include "export/otlp.hpp"
#include "export/prometheus.hpp"
#include "export/statsd.hpp"
#include "export/transport.hpp"

namespace ld::exporters {
namespace {

using stats::LiveSnapshot;
using Names = std::vector<std::pair<std::string, std::string>>;

// A run's snapshot builder: per name, running totals grow by what record() adds.
struct FakeRun {
  std::shared_ptr<const Names> names;
  std::vector<stats::LiveName> totals;
  std::uint64_t seq = 0;

  explicit FakeRun(Names n) : names(std::make_shared<Names>(std::move(n))), totals(names->size()) {}
  void record(std::size_t id, std::int64_t latency_ns, std::uint64_t bytes,
              stats::ErrorKind kind = stats::ErrorKind::kNone) {
    auto& t = totals[id];
    ++t.requests;
    t.bytes_in += bytes;
    if (kind != stats::ErrorKind::kNone) {
      ++t.failures;
      ++t.by_kind[static_cast<std::size_t>(kind)];
    }
    t.latency.record(latency_ns);
  }
  std::shared_ptr<const LiveSnapshot> snap(std::uint32_t users, bool final = false) {
    auto s = std::make_shared<LiveSnapshot>();
    s->sequence = ++seq;
    s->names = names;
    s->total = totals;
    s->users = users;
    s->target_users = users;
    s->final = final;
    return s;
  }
};

TEST(SeriesBook, FoldsDeltasAndStaysMonotonicAcrossRuns) {
  SeriesBook book;
  FakeRun a(Names{{"GET", "index"}, {"POST", "login"}});
  a.record(0, 1'000'000, 10);
  a.record(0, 3'000'000, 10);
  book.fold(a.snap(2));
  ASSERT_EQ(book.cumulative().size(), 2u);
  EXPECT_EQ(book.cumulative()[0].requests, 2u);
  EXPECT_EQ(book.interval()[0].requests, 2u);
  EXPECT_EQ(book.cumulative()[0].bytes_in, 20u);
  book.clear_interval();
  a.record(0, 2'000'000, 5);
  a.record(1, 500'000, 0, stats::ErrorKind::kTimeout);
  auto skipped = a.snap(2);  // never folded: the next snapshot's totals cover it
  a.record(1, 500'000, 0);
  book.fold(a.snap(0, true));
  EXPECT_EQ(book.cumulative()[0].requests, 3u);
  EXPECT_EQ(book.interval()[0].requests, 1u);
  EXPECT_EQ(book.interval()[1].requests, 2u);
  EXPECT_EQ(book.cumulative()[1].failures, 1u);
  EXPECT_EQ(book.cumulative()[1].by_kind[static_cast<std::size_t>(stats::ErrorKind::kTimeout)], 1u);
  EXPECT_EQ(book.users(), 0u);

  // A second run: its names are new objects and its totals start again from zero.
  book.clear_interval();
  FakeRun b(Names{{"GET", "index"}});
  b.record(0, 1'000'000, 1);
  book.fold(b.snap(1));
  EXPECT_EQ(book.cumulative().size(), 2u);
  EXPECT_EQ(book.cumulative()[0].requests, 4u);
  EXPECT_EQ(book.interval()[0].requests, 1u);
  EXPECT_EQ(book.interval()[1].requests, 0u);
  std::uint64_t n = 0;
  for (auto c : book.cumulative()[0].buckets) n += c;
  EXPECT_EQ(n, 4u);
  EXPECT_NEAR(book.cumulative()[0].latency_sum_ns, 7e6, 1);
}

TEST(SeriesBook, InboxKeepsTheLatestOfARunAndEveryFinal) {
  stats::LiveFeed feed;
  SnapshotInbox inbox(feed);
  FakeRun a(Names{{"GET", "x"}});
  a.record(0, 1000, 1);
  feed.publish(a.snap(1));
  a.record(0, 1000, 1);
  feed.publish(a.snap(1));
  feed.publish(a.snap(0, true));
  FakeRun b(Names{{"GET", "x"}});
  b.record(0, 1000, 1);
  feed.publish(b.snap(1));
  auto q = inbox.take();
  ASSERT_EQ(q.size(), 2u);
  EXPECT_TRUE(q[0]->final);
  EXPECT_EQ(q[1]->names, b.names);
  SeriesBook book;
  for (auto& s : q) book.fold(s);
  EXPECT_EQ(book.cumulative()[0].requests, 3u);
}

TEST(LatencyBuckets, BoundsAreLiveHistogramBoundariesAndCountsExact) {
  EXPECT_EQ(bound_ms_text(32), "0.032");
  EXPECT_EQ(bound_ms_text(48), "0.048");
  EXPECT_EQ(bound_ms_text(1000), "1");
  EXPECT_EQ(bound_ms_text(1536), "1.536");
  EXPECT_EQ(bound_ms_text(33554432), "33554.432");
  // Every bound is where a live bucket ends.
  for (auto us : latency_bounds_us()) {
    const auto i = LiveHistogram::bucket_index(us * 1000);
    EXPECT_EQ(LiveHistogram::bucket_lower_us(i), us) << us;
  }
  Series s;
  stats::LiveHistogram h;
  const std::int64_t values_ns[] = {10'000, 31'999,    32'000,         47'999,
                                    48'000, 1'000'000, 999'000'000'000};
  for (std::int64_t ns : values_ns) h.record(ns);
  s.buckets.assign(h.buckets().begin(), h.buckets().end());
  const auto counts = bucket_counts(s);
  ASSERT_EQ(counts.size(), latency_bounds_us().size() + 1);
  EXPECT_EQ(counts[0], 2u);      // < 32 us
  EXPECT_EQ(counts[1], 2u);      // [32, 48) us
  EXPECT_EQ(counts[2], 1u);      // [48, 64) us
  EXPECT_EQ(counts.back(), 1u);  // above 33.5 s
}

SeriesBook sample_book() {
  SeriesBook book;
  FakeRun a(Names{{"GET", "in\"dex\\"}, {"POST", "a b,c=d"}});
  a.record(0, 1'500'000, 100);
  a.record(0, 2'500'000, 300);
  a.record(1, 40'000, 7, stats::ErrorKind::kHttpStatus);
  book.fold(a.snap(3));
  return book;
}

TEST(Prometheus, ExpositionText) {
  EXPECT_EQ(prometheus_label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
  const std::string t = prometheus_text(sample_book());
  const std::string l0 = "request_type=\"GET\",name=\"in\\\"dex\\\\\"";
  EXPECT_NE(t.find("# TYPE loaddensity_requests_total counter\n"), std::string::npos);
  EXPECT_NE(t.find("loaddensity_requests_total{" + l0 + ",outcome=\"success\"} 2\n"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("loaddensity_requests_total{" + l0 + ",outcome=\"failure\"} 0\n"),
            std::string::npos);
  EXPECT_NE(t.find("# TYPE loaddensity_request_latency_ms histogram\n"), std::string::npos);
  EXPECT_NE(t.find("loaddensity_request_latency_ms_bucket{" + l0 + ",le=\"1.024\"} 0\n"),
            std::string::npos);
  EXPECT_NE(t.find("loaddensity_request_latency_ms_bucket{" + l0 + ",le=\"2.048\"} 1\n"),
            std::string::npos);
  EXPECT_NE(t.find("loaddensity_request_latency_ms_bucket{" + l0 + ",le=\"3.072\"} 2\n"),
            std::string::npos);
  EXPECT_NE(t.find("loaddensity_request_latency_ms_bucket{" + l0 + ",le=\"+Inf\"} 2\n"),
            std::string::npos);
  EXPECT_NE(t.find("loaddensity_request_latency_ms_sum{" + l0 + "} 4\n"), std::string::npos);
  EXPECT_NE(t.find("loaddensity_request_latency_ms_count{" + l0 + "} 2\n"), std::string::npos);
  EXPECT_NE(t.find("loaddensity_response_bytes_sum{" + l0 + "} 400\n"), std::string::npos);
  EXPECT_NE(t.find("loaddensity_errors_total{request_type=\"POST\",name=\"a b,c=d\",kind=\"http_"
                   "status\"} 1\n"),
            std::string::npos);
  EXPECT_NE(t.find("loaddensity_users 3\n"), std::string::npos);
  // Buckets are cumulative and end at the count.
  EXPECT_EQ(t.back(), '\n');
}

TEST(Influx, LineProtocolEscapingAndPoints) {
  std::string out;
  append_measurement(out, "m a,b=c");
  EXPECT_EQ(out, "m\\ a\\,b=c");
  out.clear();
  append_tag(out, "a b,c=d\ne");
  EXPECT_EQ(out, "a\\ b\\,c\\=d\\ e");
  out.clear();
  append_field_string(out, "say \"hi\" \\o/");
  EXPECT_EQ(out, "\"say \\\"hi\\\" \\\\o/\"");

  const std::string lines = influx_lines(sample_book(), "loaddensity_request", 1700000000000000000);
  EXPECT_EQ(
      lines,
      "loaddensity_request,request_type=GET,name=in\"dex\\ requests=2i,failures=0i,"
      "success=true,latency_ms=2,latency_p50_ms=1.5035,latency_p95_ms=2.4955,latency_p99_ms=2.4955,"
      "response_bytes=400i 1700000000000000000\n"
      "loaddensity_request,request_type=POST,name=a\\ b\\,c\\=d requests=1i,failures=1i,"
      "success=false,latency_ms=0.04,latency_p50_ms=0.04,latency_p95_ms=0.04,"
      "latency_p99_ms=0.04,response_bytes=7i,errors_http_status=1i 1700000000000000000\n");
}

TEST(Statsd, TagEscapingAndLines) {
  EXPECT_EQ(statsd_tag_value("a|b,c:d#e"), "a_b_c_d_e");
  const std::string lines = statsd_lines(sample_book(), "loaddensity");
  EXPECT_EQ(lines,
            "loaddensity.requests:2|c|#method:GET,name:in\"dex\\,outcome:success\n"
            "loaddensity.request.latency:1|ms|#method:GET,name:in\"dex\\\n"
            "loaddensity.request.latency:2|ms|#method:GET,name:in\"dex\\\n"
            "loaddensity.response.size:200|h|@0.5|#method:GET,name:in\"dex\\\n"
            "loaddensity.requests:1|c|#method:POST,name:a b_c=d,outcome:failure\n"
            "loaddensity.request.latency:0|ms|#method:POST,name:a b_c=d\n"
            "loaddensity.response.size:7|h|#method:POST,name:a b_c=d\n"
            "loaddensity.errors:1|c|#method:POST,name:a b_c=d,kind:http_status\n"
            "loaddensity.users:3|g\n");
}

TEST(Transport, PackLinesAndUrls) {
  auto d = pack_lines("aaaa\nbbbb\ncc\n\ndddddddddd\n", 9);
  ASSERT_EQ(d.size(), 3u);
  EXPECT_EQ(d[0], "aaaa\nbbbb");
  EXPECT_EQ(d[1], "cc");
  EXPECT_EQ(d[2], "dddddddddd");
  auto u = parse_http_url("http://127.0.0.1:8086/write?db=x");
  EXPECT_EQ(u.host, "127.0.0.1");
  EXPECT_EQ(u.port, "8086");
  EXPECT_EQ(u.target, "/write?db=x");
  u = parse_http_url("http://[::1]:4318");
  EXPECT_EQ(u.host, "::1");
  EXPECT_EQ(u.target, "/");
  EXPECT_THROW(parse_http_url("https://x/"), std::invalid_argument);
  EXPECT_THROW(parse_http_url("http://x:0/"), std::invalid_argument);
  EXPECT_EQ(otlp_endpoint("http://h:4318"), "http://h:4318/v1/metrics");
  EXPECT_EQ(otlp_endpoint("http://h:4318/"), "http://h:4318/v1/metrics");
  EXPECT_EQ(otlp_endpoint("http://h:4318/custom"), "http://h:4318/custom");
}

// A protobuf reader for the test: field number -> raw values (varint/fixed as numbers,
// length-delimited as bytes).
struct Field {
  int wire;
  std::uint64_t num;
  std::string bytes;
};
std::multimap<int, Field> fields(const std::string& msg) {
  std::multimap<int, Field> out;
  std::size_t i = 0;
  auto varint = [&] {
    std::uint64_t v = 0;
    for (int shift = 0;; shift += 7) {
      const auto b = static_cast<unsigned char>(msg.at(i++));
      v |= std::uint64_t(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
  };
  while (i < msg.size()) {
    const std::uint64_t key = varint();
    Field f{int(key & 7), 0, {}};
    if (f.wire == 0) {
      f.num = varint();
    } else if (f.wire == 1) {
      std::memcpy(&f.num, msg.data() + i, 8);
      i += 8;
    } else if (f.wire == 2) {
      const auto n = varint();
      f.bytes = msg.substr(i, n);
      i += n;
    } else {
      ADD_FAILURE() << "unexpected wire type " << f.wire;
      return out;
    }
    out.emplace(int(key >> 3), f);
  }
  return out;
}
std::string one(const std::multimap<int, Field>& m, int field) {
  EXPECT_EQ(m.count(field), 1u) << field;
  return m.count(field) ? m.find(field)->second.bytes : std::string();
}

TEST(Otlp, EncodesTheMetricsRequest) {
  const std::string body = otlp_metrics_request(sample_book(), "svc", 100, 200);
  const auto req = fields(body);
  const auto rm = fields(one(req, 1));
  const auto resource = fields(one(rm, 1));
  const auto attr = fields(one(resource, 1));
  EXPECT_EQ(one(attr, 1), "service.name");
  EXPECT_EQ(one(fields(one(attr, 2)), 1), "svc");
  const auto sm = fields(one(rm, 2));
  EXPECT_EQ(one(fields(one(sm, 1)), 1), "loaddensity");
  std::map<std::string, std::multimap<int, Field>> metrics;
  for (auto [it, end] = sm.equal_range(2); it != end; ++it) {
    auto m = fields(it->second.bytes);
    metrics[one(m, 1)] = m;
  }
  ASSERT_EQ(metrics.size(), 5u);
  // loaddensity.requests: a cumulative monotonic Sum with int points.
  const auto sum = fields(one(metrics["loaddensity.requests"], 7));
  EXPECT_EQ(sum.find(2)->second.num, 2u);  // AGGREGATION_TEMPORALITY_CUMULATIVE
  EXPECT_EQ(sum.find(3)->second.num, 1u);  // is_monotonic
  EXPECT_EQ(sum.count(1), 4u);             // 2 names x 2 outcomes
  const auto p0 = fields(sum.find(1)->second.bytes);
  EXPECT_EQ(p0.find(2)->second.num, 100u);
  EXPECT_EQ(p0.find(3)->second.num, 200u);
  EXPECT_EQ(p0.find(6)->second.num, 2u);  // GET success
  EXPECT_EQ(p0.count(7), 3u);
  // loaddensity.request.latency: unit ms, histogram with explicit bounds.
  EXPECT_EQ(one(metrics["loaddensity.request.latency"], 3), "ms");
  const auto hist = fields(one(metrics["loaddensity.request.latency"], 9));
  EXPECT_EQ(hist.find(2)->second.num, 2u);
  const auto hp = fields(hist.find(1)->second.bytes);
  EXPECT_EQ(hp.find(4)->second.num, 2u);  // count
  double sum_ms;
  std::memcpy(&sum_ms, &hp.find(5)->second.num, 8);
  EXPECT_DOUBLE_EQ(sum_ms, 4.0);
  EXPECT_EQ(one(hp, 6).size(), 8 * (latency_bounds_us().size() + 1));
  EXPECT_EQ(one(hp, 7).size(), 8 * latency_bounds_us().size());
  EXPECT_EQ(one(metrics["loaddensity.response.size"], 3), "By");
  EXPECT_TRUE(metrics.count("loaddensity.errors"));
  EXPECT_TRUE(metrics.count("loaddensity.users"));
}

}  // namespace
}  // namespace ld::exporters
