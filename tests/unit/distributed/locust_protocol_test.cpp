// The Locust protocol's pieces without a network: msgpack bytes against what Python's msgpack
// (the one Locust uses) writes for the same values, and the worker's stats report built from
// live snapshots in Locust's StatsEntry shape.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "distributed/locust_stats.hpp"
#include "distributed/master.hpp"
#include "distributed/metrics_wire.hpp"
#include "distributed/msgpack.hpp"

namespace ld::distributed {
namespace {

std::string unhex(const std::string& h) {
  std::string out;
  for (std::size_t i = 0; i + 1 < h.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(h.substr(i, 2), nullptr, 16)));
  }
  return out;
}

// msgpack.dumps(("stats", {"method": None, "name": "/get",
//   "response_times": {3: 1, 150: 2, 70000: 5}, "start_time": 1.5, "user_count": 4}, "node_1"))
const char* kStatsHex =
    "93a5737461747385a66d6574686f64c0a46e616d65a42f676574ae726573706f6e73655f74696d6573830301cc"
    "9602ce0001117005aa73746172745f74696d65cb3ff8000000000000aa757365725f636f756e7404a66e6f6465"
    "5f31";

TEST(MsgpackTest, EncodesIntegerKeyedStatsMapsAsPythonDoes) {
  Message m{"stats",
            Json{{"method", nullptr},
                 {"name", "/get"},
                 {"response_times", {{"3", 1}, {"150", 2}, {"70000", 5}}},
                 {"start_time", 1.5},
                 {"user_count", 4}},
            "node_1"};
  // nlohmann orders keys as strings ("150" < "3" < "70000"); Python wrote 3, 150, 70000.
  // Map order carries no meaning, so compare by decoding both.
  const std::string ours = encode_message(m);
  EXPECT_EQ(msgpack_decode(ours), msgpack_decode(unhex(kStatsHex)));
  // The integer keys really are integers on the wire: 0xcc 0x96 is 150 as uint8, 0xce the
  // uint32 70000, and no "150" string (0xa3 '1' '5' '0') appears.
  EXPECT_NE(ours.find(std::string("\xcc\x96\x02", 3)), std::string::npos);
  EXPECT_NE(ours.find(std::string("\xce\x00\x01\x11\x70\x05", 6)), std::string::npos);
  EXPECT_EQ(ours.find("\xa3"
                      "150"),
            std::string::npos);
}

TEST(MsgpackTest, DecodesLocustMessages) {
  // msgpack.dumps(("spawn", {"timestamp": 1700000000.25, "user_classes_count":
  //   {"WebsiteUser": 3}, "host": "", "stop_timeout": None, "parsed_options": {"tags": [],
  //   "neg": -40, "big": 2**40, "flag": True}}, "w"))
  const Message m = decode_message(unhex(
      "93a5737061776e85a974696d657374616d70cb41d954fc40100000b2757365725f636c61737365735f636f756e"
      "7481ab576562736974655573657203a4686f7374a0ac73746f705f74696d656f7574c0ae7061727365645f6f70"
      "74696f6e7384a47461677390a36e6567d0d8a3626967cf0000010000000000a4666c6167c3a177"));
  EXPECT_EQ(m.type, "spawn");
  EXPECT_EQ(m.node_id, "w");
  EXPECT_DOUBLE_EQ(m.data["timestamp"].get<double>(), 1700000000.25);
  EXPECT_EQ(m.data["user_classes_count"]["WebsiteUser"], 3);
  EXPECT_TRUE(m.data["stop_timeout"].is_null());
  EXPECT_EQ(m.data["parsed_options"]["neg"], -40);
  EXPECT_EQ(m.data["parsed_options"]["big"].get<std::uint64_t>(), 1ull << 40);
  EXPECT_EQ(m.data["parsed_options"]["flag"], true);
  EXPECT_TRUE(m.data["parsed_options"]["tags"].is_array());

  // msgpack.dumps(("client_ready", -1, "w")): the version that skips the master's check.
  EXPECT_EQ(encode_message(Message{"client_ready", -1, "w"}),
            unhex("93ac636c69656e745f7265616479ffa177"));
  // Integer keys from a Locust worker decode to their decimal text.
  EXPECT_EQ(decode_message(unhex(kStatsHex)).data["response_times"]["70000"], 5);
}

TEST(MsgpackTest, WidthsRoundTripAndBadInputIsRefused) {
  Json v = Json::array({std::string(40, 'x'), std::string(300, 'y'), -200, -70000,
                        std::int64_t{-5000000000}, std::uint64_t{1} << 33, 255, 65535, 0.25,
                        nullptr, false});
  Json big = Json::object();
  for (int i = 0; i < 20; ++i) big["k" + std::to_string(i)] = Json::array({i});
  v.push_back(big);
  Json list = Json::array();
  for (int i = 0; i < 70000; ++i) list.push_back(i % 3);
  v.push_back(list);
  EXPECT_EQ(msgpack_decode(msgpack_encode(v)), v);

  const std::string ok = msgpack_encode(Json::array({"a", 1, "b"}));
  EXPECT_THROW(msgpack_decode(ok.substr(0, ok.size() - 1)), MsgpackError);  // truncated
  EXPECT_THROW(msgpack_decode(ok + "x"), MsgpackError);                     // trailing bytes
  EXPECT_THROW(decode_message(msgpack_encode(Json::array({"a", 1}))), MsgpackError);
  EXPECT_THROW(msgpack_decode(std::string("\xdd\xff\xff\xff\xff", 5)), MsgpackError);
}

stats::LiveSnapshot snapshot(std::shared_ptr<std::vector<std::pair<std::string, std::string>>> n) {
  stats::LiveSnapshot s;
  s.names = std::move(n);
  s.interval_s = 1;
  s.interval.resize(s.names->size());
  return s;
}

TEST(LocustReportTest, PerNameDeltasInLocustShape) {
  auto names = std::make_shared<std::vector<std::pair<std::string, std::string>>>(
      std::vector<std::pair<std::string, std::string>>{
          {"GET", "/a"}, {"GET", "/idle"}, {"POST", "/b"}});
  LocustReport r;
  auto s1 = snapshot(names);
  for (int i = 0; i < 3; ++i) {
    s1.interval[0].requests++;
    s1.interval[0].bytes_in += 100;
    s1.interval[0].latency.record(12'000'000);  // 12 ms
  }
  s1.interval[2].requests = 1;
  s1.interval[2].failures = 1;
  s1.interval[2].by_kind[static_cast<std::size_t>(stats::ErrorKind::kHttpStatus)] = 1;
  s1.interval[2].latency.record(452'000'000);  // 452 ms: live bucket 450.6 ms, Locust's 450
  r.add_interval(s1, 1000.0);
  auto s2 = snapshot(names);
  s2.interval[0].requests = 1;
  s2.interval[0].latency.record(3'000'000);
  r.add_interval(s2, 1001.0);

  const Json rep = r.take(1001.5);
  ASSERT_EQ(rep["stats"].size(), 2u);  // "/idle" had nothing
  const Json& a = rep["stats"][0];
  EXPECT_EQ(a["name"], "/a");
  EXPECT_EQ(a["method"], "GET");
  EXPECT_EQ(a["num_requests"], 4);
  EXPECT_EQ(a["num_failures"], 0);
  EXPECT_EQ(a["total_content_length"], 300);
  EXPECT_NEAR(a["total_response_time"].get<double>(), 39.0, 39.0 * 0.04);
  EXPECT_EQ(a["response_times"], (Json{{"12", 3}, {"3", 1}}));
  EXPECT_EQ(a["num_reqs_per_sec"], (Json{{"999", 3}, {"1000", 1}}));
  EXPECT_DOUBLE_EQ(a["start_time"].get<double>(), 999.0);
  EXPECT_DOUBLE_EQ(a["last_request_timestamp"].get<double>(), 1001.0);
  EXPECT_NEAR(a["min_response_time"].get<double>(), 3.0, 0.1);
  const Json& b = rep["stats"][1];
  EXPECT_EQ(b["response_times"], (Json{{"450", 1}}));
  EXPECT_EQ(b["num_fail_per_sec"], (Json{{"999", 1}}));
  EXPECT_EQ(rep["stats_total"]["name"], "Aggregated");
  EXPECT_EQ(rep["stats_total"]["num_requests"], 5);
  EXPECT_EQ(rep["stats_total"]["num_failures"], 1);
  ASSERT_EQ(rep["errors"].size(), 1u);
  const Json& e = rep["errors"].begin().value();
  EXPECT_EQ(
      e, (Json{{"name", "/b"}, {"method", "POST"}, {"error", "http_status"}, {"occurrences", 1}}));
  // Taking empties it: the next report carries only what came after.
  const Json next = r.take(1002.0);
  EXPECT_TRUE(next["stats"].empty());
  EXPECT_EQ(next["stats_total"]["num_requests"], 0);
  EXPECT_TRUE(next["stats_total"]["min_response_time"].is_null());
  EXPECT_DOUBLE_EQ(next["stats_total"]["start_time"].get<double>(), 1002.0);
}

}  // namespace
}  // namespace ld::distributed

// ---- the master's split and the ld_metrics wire format

TEST(LocustMaster, SplitDealsEachClassRoundRobinAcrossWorkers) {
  using ld::distributed::Master;
  // 7 users of 2 classes over 3 workers: classes 4 and 3; A -> w0 w1 w2 w0, B -> w1 w2 w0.
  const auto s = Master::split(7, 2, 3);
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[0], (std::vector<std::uint32_t>{2, 1}));
  EXPECT_EQ(s[1], (std::vector<std::uint32_t>{1, 1}));
  EXPECT_EQ(s[2], (std::vector<std::uint32_t>{1, 1}));
  for (std::uint32_t total : {0u, 1u, 5u, 100u, 1001u}) {
    for (std::size_t classes : {1u, 3u}) {
      for (std::size_t workers : {1u, 2u, 7u}) {
        const auto x = Master::split(total, classes, workers);
        std::uint32_t sum = 0, lo = UINT32_MAX, hi = 0;
        for (const auto& w : x) {
          std::uint32_t n = 0;
          for (auto c : w) n += c;
          sum += n;
          lo = std::min(lo, n);
          hi = std::max(hi, n);
        }
        EXPECT_EQ(sum, total);
        EXPECT_LE(hi - lo, 1u) << total << " " << classes << " " << workers;
      }
    }
  }
}

TEST(LocustMaster, MetricsSurviveTheWireThroughMsgpack) {
  ld::stats::Metrics m;
  auto& n = m.name_slot("GET", "/get");
  n.requests = 3;
  n.failures = 1;
  n.bytes_in = 42;
  n.ok_latency.record(1'000'000);
  n.ok_latency.record(2'500'000);
  n.fail_latency.record(9'000'000);
  n.by_kind[static_cast<std::size_t>(ld::stats::ErrorKind::kHttpStatus)] = 1;
  m.add_error({"GET", "/get", ld::stats::ErrorKind::kHttpStatus, "HTTP 500", 1});
  ld::stats::IntervalPoint p;
  p.t_s = 1;
  p.seconds = 1;
  p.requests = 3;
  p.p99_ns = 9'000'000;
  p.users = 2;
  m.timeline.push_back(p);
  const std::string bytes = ld::distributed::msgpack_encode(ld::distributed::metrics_to_wire(m));
  const ld::stats::Metrics back =
      ld::distributed::metrics_from_wire(ld::distributed::msgpack_decode(bytes));
  ASSERT_EQ(back.names.size(), 1u);
  EXPECT_EQ(back.names[0].requests, 3u);
  EXPECT_EQ(back.names[0].bytes_in, 42u);
  EXPECT_EQ(back.names[0].ok_latency.count(), 2u);
  EXPECT_EQ(back.names[0].ok_latency.percentile(99), n.ok_latency.percentile(99));
  EXPECT_EQ(back.names[0].fail_latency.max(), 9'000'000);
  EXPECT_EQ(back.names[0].by_kind[static_cast<std::size_t>(ld::stats::ErrorKind::kHttpStatus)], 1u);
  ASSERT_EQ(back.errors.size(), 1u);
  EXPECT_EQ(back.errors[0].message, "HTTP 500");
  EXPECT_EQ(back.errors[0].kind, ld::stats::ErrorKind::kHttpStatus);
  ASSERT_EQ(back.timeline.size(), 1u);
  EXPECT_EQ(back.timeline[0].p99_ns, 9'000'000);
  EXPECT_EQ(back.timeline[0].users, 2u);
}
