// Golden-file tests for every report format, built from a fixed synthetic result set whose names
// need escaping (<, ", ',', &, newline). LD_UPDATE_GOLDEN=1 rewrites the files in
// tests/data/golden (review the diff before committing).
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "charts/svg_charts.hpp"
#include "csv/records_csv.hpp"
#include "html/html_report.hpp"
#include "json/records_json.hpp"
#include "junit/junit_report.hpp"
#include "locust/locust_csv.hpp"
#include "sla/annotations.hpp"
#include "sla/sla.hpp"
#include "stats/record_log.hpp"
#include "summary/summary.hpp"
#include "xml/records_xml.hpp"

namespace ld::reports {
namespace {

const std::string kGoldenDir = LD_GOLDEN_DIR;
const std::vector<std::pair<std::string, std::string>> kNames = {
    {"GET", "/api?a=1&b=<2>"}, {"POST", "create \"user\", fast"}, {"GET", "multi\nline"}};

// 3 names x 12 requests over 3 seconds on 2 threads; name 1 fails every third request.
struct Fixture {
  stats::Metrics m;
  stats::RecordLog log;
  Fixture() {
    stats::Metrics run;
    stats::RunInfo info;
    info.started_at = "2026-01-02T03:04:05";
    info.user = "fast_http_user";
    info.users = 4;
    info.spawn_rate = 2;
    info.test_time_s = 3;
    info.duration_s = 3;
    info.threads = 2;
    info.stop_reason = "test_time";
    run.runs.push_back(info);
    const Nanos t0 = 1'000'000'000;
    // Static URLs for names 0 and 1; name 2 has none (the reports fall back to the name).
    stats::RecordLogRun& lr =
        log.begin_run(kNames, t0, {"http://h.test/api?a=1&b=<2>", "http://h.test/users"});
    static const char* kTimeout = "request timed out";
    std::string url;  // a per-request URL, as a session renders it
    for (int i = 0; i < 36; ++i) {
      const std::uint32_t id = i % 3;
      stats::Record r;
      r.name_id = id;
      r.planned = t0 + Nanos{i} * 80'000'000;  // every 80 ms
      r.start = r.planned + 1000;
      r.end =
          r.planned + Nanos{id + 1} * 1'500'000 + Nanos{i} * 10'000;  // 1.5 / 3 / 4.5 ms + drift
      r.status = 200;
      r.bytes_in = 100 + id;
      r.bytes_out = 20;
      if (id == 1 && i % 2 == 0) {
        r.status = id == 1 && i % 4 == 0 ? 503 : 0;
        r.error = r.status ? stats::ErrorInfo{stats::ErrorKind::kHttpStatus, "HTTP", 503, false}
                           : stats::ErrorInfo{stats::ErrorKind::kTimeout, kTimeout, 0, false};
        // The 503s carry a rendered URL and a captured body; the timeouts neither.
        if (r.status) {
          url = "http://h.test/users/" + std::to_string(i);
          r.url = url;
          r.text = "<busy reason=\"load\">try & retry</busy>";
        }
      } else if (id == 0 && i % 6 == 0) {
        url = "http://h.test/api?a=1&b=<2>&page=" + std::to_string(i);
        r.url = url;
        r.text = "ignored: successes keep no text";
      }
      lr.writer(i % 2).append(r);
      auto& n = run.name_slot(kNames[id].first, kNames[id].second);
      ++n.requests;
      n.bytes_in += r.bytes_in;
      n.bytes_out += r.bytes_out;
      n.service.record(r.service());
      if (r.ok()) {
        n.ok_latency.record(r.latency());
      } else {
        ++n.failures;
        n.fail_latency.record(r.latency());
        ++n.by_kind[static_cast<std::size_t>(r.error.kind)];
      }
    }
    lr.finish();
    run.add_error({"POST", kNames[1].second, stats::ErrorKind::kHttpStatus, "HTTP 503", 3});
    run.add_error({"POST", kNames[1].second, stats::ErrorKind::kTimeout, "request timed out", 3});
    run.sort_errors();
    for (int s = 1; s <= 3; ++s) {
      stats::IntervalPoint p;
      p.t_s = s;
      p.seconds = 1;
      p.requests = 12;
      p.failures = 2;
      p.bytes_in = 1212;
      p.p50_ns = 3'000'000 + s * 10'000;
      p.p95_ns = 4'500'000 + s * 10'000;
      p.p99_ns = 4'800'000;
      p.max_ns = 4'900'000;
      p.users = s < 3 ? 2 * s : 4;
      run.timeline.push_back(p);
    }
    m.absorb(run);
  }
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void expect_golden(const std::string& name, const std::string& actual) {
  const std::string path = kGoldenDir + "/" + name;
  const char* update = std::getenv("LD_UPDATE_GOLDEN");
  if (update && *update == '1') {
    std::ofstream(path, std::ios::binary) << actual;
    return;
  }
  std::ifstream probe(path);
  ASSERT_TRUE(probe.good()) << "missing golden file " << path
                            << " (run with LD_UPDATE_GOLDEN=1 to create it)";
  EXPECT_EQ(read_file(path), actual) << "golden file " << name << " differs";
}

class ReportWritersTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    setenv("TZ", "UTC", 1);
    tzset();
  }
  Fixture f;
};

TEST_F(ReportWritersTest, RecordsCsvMatchesGoldenSuccessesFirst) {
  std::ostringstream o;
  EXPECT_EQ(write_records_csv(o, &f.log), 36u);
  expect_golden("records.csv", o.str());
  const std::string s = o.str();
  EXPECT_LT(s.rfind("success,"), s.find("failure,"));
  EXPECT_NE(s.find("\"create \"\"user\"\", fast\""), std::string::npos);
}

TEST_F(ReportWritersTest, JsonReportsMatchGolden) {
  std::ostringstream ok, fail;
  EXPECT_EQ(write_records_json(ok, &f.log, false), 30u);
  EXPECT_EQ(write_records_json(fail, &f.log, true), 6u);
  expect_golden("records_success.json", ok.str());
  expect_golden("records_failure.json", fail.str());
  // Both parse, and the escaped names survive the round trip.
  const Json parsed = Json::parse(fail.str());
  EXPECT_EQ(parsed["Failure_Test1"]["name"], kNames[1].second);
  EXPECT_EQ(parsed.size(), 6u);
}

TEST_F(ReportWritersTest, JsonValueIsLimited) {
  const Json v = records_json_value(&f.log, 4);
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0].size(), 4u);
  EXPECT_EQ(v[1].size(), 4u);
  EXPECT_TRUE(v[0].contains("Success_Test4"));
}

TEST_F(ReportWritersTest, XmlReportsMatchGolden) {
  std::ostringstream ok, fail, none;
  write_records_xml(ok, &f.log, false);
  write_records_xml(fail, &f.log, true);
  expect_golden("records_success.xml", ok.str());
  expect_golden("records_failure.xml", fail.str());
  write_records_xml(none, nullptr, true);
  EXPECT_EQ(none.str(), "<?xml version=\"1.0\" ?>\n<xml_data/>\n");
}

TEST_F(ReportWritersTest, JunitMatchesGoldenWithSlaSuite) {
  const Json rules = Json::parse(R"([{"type":"failure_rate","value":0.01},
                                    {"type":"latency_p95","value":1000}])");
  const Json results = evaluate_sla(rules, build_summary(f.m));
  std::ostringstream o;
  write_junit(o, f.m, &results);
  expect_golden("junit.xml", o.str());
  EXPECT_NE(o.str().find("tests=\"5\" failures=\"2\""), std::string::npos);
}

TEST_F(ReportWritersTest, LocustFilesMatchGolden) {
  std::ostringstream s, h, fl, e;
  write_locust_stats(s, f.m);
  write_locust_history(h, f.m, &f.log);
  write_locust_failures(fl, f.m);
  write_locust_exceptions(e);
  expect_golden("locust_stats.csv", s.str());
  expect_golden("locust_stats_history.csv", h.str());
  expect_golden("locust_failures.csv", fl.str());
  expect_golden("locust_exceptions.csv", e.str());
  // Without the record log the history keeps its counts and says N/A for percentiles.
  std::ostringstream approx;
  write_locust_history(approx, f.m, nullptr);
  EXPECT_NE(approx.str().find(",N/A,"), std::string::npos);
  EXPECT_NE(approx.str().find(",36,6,"), std::string::npos);
}

TEST_F(ReportWritersTest, LocustRoundingFollowsLocust) {
  EXPECT_EQ(locust_round_ms(0.4), 0);
  EXPECT_EQ(locust_round_ms(99.4), 99);
  EXPECT_EQ(locust_round_ms(104), 100);
  EXPECT_EQ(locust_round_ms(1549), 1500);
  EXPECT_EQ(locust_round_ms(12600), 13000);
}

TEST_F(ReportWritersTest, ChartsMatchGoldenAndCarryData) {
  const auto charts = report_charts(f.m);
  ASSERT_EQ(charts.size(), 4u);
  for (const auto& c : charts) expect_golden("chart-" + c.id + ".svg", c.svg);
  EXPECT_NE(charts[0].svg.find("data-points=\"3\""), std::string::npos);
  EXPECT_NE(charts[3].svg.find("class=\"bar\""), std::string::npos);
}

TEST_F(ReportWritersTest, HtmlMatchesGolden) {
  const Json results =
      evaluate_sla(Json::parse(R"([{"type":"failure_rate","value":0.01}])"), build_summary(f.m));
  HtmlContext ctx;
  ctx.command = "loaddensity run <smoke>.json";
  ctx.generated_at = "2026-01-02 03:04:09";
  ctx.version = "v0.0.0-test";
  ctx.sla_results = &results;
  ctx.log = &f.log;
  ctx.max_failures = 4;
  std::ostringstream o;
  write_html(o, f.m, ctx);
  expect_golden("report.html", o.str());
  const std::string s = o.str();
  EXPECT_NE(s.find("&lt;smoke&gt;.json"), std::string::npos);
  EXPECT_NE(s.find("The first 4 of 6 failed requests"), std::string::npos);
  EXPECT_EQ(s.find("<script"), std::string::npos);
  EXPECT_EQ(s.find("http://"), s.find("http://www.w3.org/2000/svg"));  // no external fetch
}

TEST_F(ReportWritersTest, SampledRecordsAreFlaggedInSummaryAndHtml) {
  HtmlContext ctx;
  ctx.log = &f.log;
  std::ostringstream plain;
  write_html(plain, f.m, ctx);
  EXPECT_EQ(plain.str().find("note sampled"), std::string::npos);
  EXPECT_FALSE(build_summary(f.m).contains("records_sampled"));

  f.m.runs.back().records_sample_every = 8;
  const Json s = build_summary(f.m);
  EXPECT_EQ(s["records_sampled"], true);
  EXPECT_EQ(s["runs"][0]["records_sample_every"], 8);
  std::ostringstream o;
  write_html(o, f.m, ctx);
  EXPECT_NE(o.str().find("<p class=\"note sampled\">"), std::string::npos);
  EXPECT_NE(o.str().find("down to 1 in 8"), std::string::npos);
}

TEST_F(ReportWritersTest, AnnotationsAggregateAndEscape) {
  const Json results =
      evaluate_sla(Json::parse(R"([{"type":"failure_rate","value":0.01}])"), build_summary(f.m));
  const auto lines = github_annotations(f.m, &results, "Load, test", 50);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(
      lines[0],
      "::error title=Load%2C test SLA::SLA rule failed: failure_rate(overall)=0.166667 not lte "
      "0.01");
  EXPECT_EQ(lines[1],
            "::error title=Load%2C test::POST create \"user\", fast: HTTP 503 (3 failures, "
            "http_status)");
  const auto capped = github_annotations(f.m, &results, "T", 2);
  ASSERT_EQ(capped.size(), 2u);
  EXPECT_EQ(capped[1], "::warning title=T::2 more annotations left out (see the reports)");
}

}  // namespace
}  // namespace ld::reports
