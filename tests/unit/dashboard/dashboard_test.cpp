// The live dashboard: the update JSON made from a snapshot, the server's routes and event
// stream, and a client that stops reading being dropped while the feed keeps publishing.
#include <utility>  // before Asio (Boost 1.74 trap)

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include "dashboard/dashboard.hpp"
#include "dashboard/live_json.hpp"
#include "loaddensity/stats/live.hpp"

namespace ld::dashboard {
namespace {

using stats::LiveSnapshot;

// A snapshot of `seq` one-second intervals: name 0 ("GET", "a") got 10 requests per interval
// at 1 ms, name 1 ("POST", "b") 2 requests at 5 ms of which 1 failed with HTTP status.
std::shared_ptr<LiveSnapshot> snapshot(std::uint64_t seq, std::string name_a = "a") {
  auto s = std::make_shared<LiveSnapshot>();
  s->sequence = seq;
  s->elapsed_s = static_cast<double>(seq);
  s->interval_s = 1;
  s->test_time_s = 10;
  s->users = 3;
  s->target_users = 4;
  s->names = std::make_shared<std::vector<std::pair<std::string, std::string>>>(
      std::vector<std::pair<std::string, std::string>>{{"GET", name_a}, {"POST", "b"}});
  s->interval.resize(2);
  s->total.resize(2);
  for (int i = 0; i < 10; ++i) {
    s->interval[0].latency.record(1'000'000);
    s->interval_latency.record(1'000'000);
  }
  s->interval[0].requests = 10;
  s->interval[1].requests = 2;
  s->interval[1].failures = 1;
  s->interval[1].by_kind[static_cast<std::size_t>(stats::ErrorKind::kHttpStatus)] = 1;
  s->interval[1].latency.record(5'000'000);
  s->interval[1].latency.record(5'000'000);
  s->interval_latency.record(5'000'000);
  s->interval_latency.record(5'000'000);
  for (std::uint64_t k = 0; k < seq; ++k) {
    s->total[0].merge(s->interval[0]);
    s->total[1].merge(s->interval[1]);
  }
  s->interval_requests = 12;
  s->interval_failures = 1;
  s->total_requests = 12 * seq;
  s->total_failures = seq;
  return s;
}

TEST(UpdateJsonTest, TotalsNamesErrorsAndWindow) {
  std::deque<Point> history;
  for (std::uint64_t i = 1; i <= 5; ++i) history.push_back(point_of(*snapshot(i)));
  history.back().requests = 24;  // the last interval was busier: the window reads it
  const auto s = snapshot(5);
  Json points = Json::array({point_json(history.back())});
  const Json u = update_json(*s, 7, history, 2.0, points);
  EXPECT_EQ(u["run"], 7);
  EXPECT_EQ(u["seq"], 5);
  EXPECT_EQ(u["final"], false);
  EXPECT_EQ(u["users"], 3);
  EXPECT_EQ(u["target_users"], 4);
  EXPECT_EQ(u["totals"]["requests"], 60);
  EXPECT_EQ(u["totals"]["failures"], 5);
  EXPECT_DOUBLE_EQ(u["totals"]["failure_rate"].get<double>(), 0.083333);  // as the summary
  EXPECT_DOUBLE_EQ(u["totals"]["rps"].get<double>(), 18.0);               // (24 + 12) / 2 s
  EXPECT_DOUBLE_EQ(u["totals"]["avg_rps"].get<double>(), 12.0);
  // p50 is 1 ms, p95/p99 5 ms, within the live histogram's 3%.
  EXPECT_NEAR(u["totals"]["p50_ms"].get<double>(), 1.0, 0.032);
  EXPECT_NEAR(u["totals"]["p99_ms"].get<double>(), 5.0, 0.16);
  ASSERT_EQ(u["names"].size(), 2u);
  EXPECT_EQ(u["names"][0]["name"], "a");  // busiest first
  EXPECT_EQ(u["names"][0]["requests"], 50);
  EXPECT_DOUBLE_EQ(u["names"][0]["rps"].get<double>(), 10.0);
  EXPECT_EQ(u["names"][1]["type"], "POST");
  EXPECT_EQ(u["names"][1]["failures"], 5);
  EXPECT_EQ(u["errors"],
            Json::parse(R"([{"type":"POST","name":"b","kind":"http_status","count":5}])"));
  EXPECT_EQ(u["points"][0]["requests"], 24);
  EXPECT_DOUBLE_EQ(u["points"][0]["rps"].get<double>(), 24.0);
  EXPECT_NEAR(u["points"][0]["p95_ms"].get<double>(), 5.0, 0.16);
}

// ---- a tiny blocking HTTP client

int connect_to(std::uint16_t port, int rcvbuf = 0) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (rcvbuf) ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  return fd;
}

void send_all(int fd, const std::string& s) {
  ASSERT_EQ(::send(fd, s.data(), s.size(), MSG_NOSIGNAL), static_cast<ssize_t>(s.size()));
}

// Reads until `until` appears, the peer closes (returns what came), or 20 s pass.
std::string read_until(int fd, const std::string& until, bool* closed = nullptr) {
  std::string got;
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < end) {
    if (!until.empty() && got.find(until) != std::string::npos) return got;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    char buf[65536];
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) {
      if (closed) *closed = true;
      return got;
    }
    got.append(buf, static_cast<std::size_t>(n));
  }
  return got;
}

std::string get(std::uint16_t port, const std::string& path) {
  const int fd = connect_to(port);
  send_all(fd, "GET " + path + " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  std::string r = read_until(fd, "");
  ::close(fd);
  return r;
}

TEST(DashboardServerTest, RoutesAndEventStream) {
  stats::LiveFeed feed;
  Options o;
  o.port = 0;
  Dashboard d(feed, o);
  EXPECT_EQ(d.url(), "http://127.0.0.1:" + std::to_string(d.port()) + "/");
  const std::string page = get(d.port(), "/");
  EXPECT_EQ(page.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << page.substr(0, 200);
  EXPECT_NE(page.find("Content-Type: text/html; charset=utf-8"), std::string::npos);
  EXPECT_NE(page.find("new EventSource(\"events\")"), std::string::npos);
  EXPECT_EQ(get(d.port(), "/snapshot").rfind("HTTP/1.1 404", 0), 0u);
  EXPECT_EQ(get(d.port(), "/other").rfind("HTTP/1.1 404", 0), 0u);

  const int sse = connect_to(d.port());
  send_all(sse, "GET /events HTTP/1.1\r\nHost: t\r\n\r\n");
  std::string got = read_until(sse, "event: history\ndata: {\"points\":[],\"run\":0}\n\n");
  EXPECT_NE(got.find("Content-Type: text/event-stream"), std::string::npos) << got;
  feed.publish(snapshot(1));
  got = read_until(sse, "\"seq\":1");
  EXPECT_EQ(got.rfind("data: {", 0), 0u) << got;
  auto last = snapshot(2);
  last->final = true;
  feed.publish(last);
  got = read_until(sse, "\"final\":true");
  EXPECT_NE(got.find("\"final\":true"), std::string::npos) << got;
  const std::string snap = get(d.port(), "/snapshot");
  const Json j = Json::parse(snap.substr(snap.find("\r\n\r\n") + 4));
  EXPECT_EQ(j["seq"], 2);
  EXPECT_EQ(j["run"], 1);
  EXPECT_EQ(j["totals"]["requests"], 24);
  // A client arriving now gets the run's two chart points, then the final update.
  const int late = connect_to(d.port());
  send_all(late, "GET /events HTTP/1.1\r\nHost: t\r\n\r\n");
  got = read_until(late, "\"final\":true");
  const auto h = got.find("event: history\ndata: ");
  ASSERT_NE(h, std::string::npos) << got;
  const Json history = Json::parse(got.substr(h + 21, got.find('\n', h + 21) - h - 21));
  EXPECT_EQ(history["run"], 1);
  EXPECT_EQ(history["points"].size(), 2u);
  d.stop();
  bool closed = false;
  read_until(sse, "never", &closed);
  EXPECT_TRUE(closed);
  ::close(sse);
  ::close(late);
}

TEST(DashboardServerTest, AClientThatStopsReadingIsDropped) {
  stats::LiveFeed feed;
  Options o;
  o.port = 0;
  o.client_queue = 2;
  Dashboard d(feed, o);
  const int slow = connect_to(d.port(), 4096);
  send_all(slow, "GET /events HTTP/1.1\r\nHost: t\r\n\r\n");
  read_until(slow, "event: history");
  // Updates of ~40 KB (100 names with long names): far more than the socket buffers hold.
  const std::string long_name(300, 'x');
  const auto start = std::chrono::steady_clock::now();
  for (std::uint64_t i = 1; i <= 400; ++i) {
    auto s = snapshot(i);
    auto names = std::make_shared<std::vector<std::pair<std::string, std::string>>>();
    for (int k = 0; k < 100; ++k) names->push_back({"GET", long_name + std::to_string(k)});
    s->names = names;
    s->interval.resize(100);
    s->total.resize(100);
    for (int k = 2; k < 100; ++k) s->total[k].merge(s->total[0]);
    feed.publish(s);  // never waits for a client
  }
  // publish() only hands the snapshot over: 400 of them take far less than writing 16 MB
  // to a client that does not read would.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30));
  bool closed = false;
  read_until(slow, "", &closed);  // draining what the kernel buffered, then the close
  EXPECT_TRUE(closed);
  ::close(slow);
  // The server goes on serving.
  EXPECT_EQ(get(d.port(), "/snapshot").rfind("HTTP/1.1 200", 0), 0u);
}

}  // namespace
}  // namespace ld::dashboard
