// The live dashboard's server: one io_context on its own thread; every connection is a
// coroutine on it, so the state below (history, clients) is touched by that thread only.
// clang-format off
#include <utility>  // first: Boost 1.74's Asio uses std::exchange without including it
// clang-format on

#include "dashboard/dashboard.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <chrono>
#include <deque>
#include <future>
#include <limits>
#include <optional>
#include <set>
#include <stdexcept>
#include <thread>

#include "core/log.hpp"
#include "dashboard/live_json.hpp"
#include "loaddensity/stats/live.hpp"
#include "target/listener.hpp"

namespace ld::dashboard {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using boost::system::error_code;

namespace {

constexpr std::size_t kMaxHistory = 3600;                   // chart points kept (an hour)
constexpr auto kRequestTimeout = std::chrono::seconds(10);  // to send a request's head
constexpr std::uint32_t kHeaderLimit = 8 * 1024;

struct Client {
  explicit Client(tcp::socket s) : stream(std::move(s)), wake(stream.get_executor()) {}
  void close() noexcept {
    closed = true;
    error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream.socket().close(ec);
    wake.cancel();
  }

  beast::tcp_stream stream;
  net::steady_timer wake;  // an SSE writer waits on it for its queue
  std::deque<std::shared_ptr<const std::string>> queue;
  bool closed = false;
};

}  // namespace

struct Dashboard::Impl final : stats::LiveObserver {
  Impl(stats::LiveFeed& f, Options o) : feed(f), opt(std::move(o)) {}

  // Control thread: hand the snapshot just published to the server thread.
  void on_interval(const stats::LiveSnapshot& s) override {
    std::shared_ptr<const stats::LiveSnapshot> snap = feed.latest();
    if (snap.get() != &s) return;  // publish() stores the snapshot before calling observers
    net::post(io, [this, snap = std::move(snap)] { take(*snap); });
  }

  void take(const stats::LiveSnapshot& s);
  net::awaitable<void> serve(tcp::socket socket);
  net::awaitable<void> stream_events(std::shared_ptr<Client> c);
  void close_all();

  stats::LiveFeed& feed;
  Options opt;
  std::string host_text;  // for URLs: IPv6 in brackets
  std::uint16_t port = 0;
  std::thread thread;
  bool observing = false;
  bool stopped = false;

  // Server thread only.
  bool stopping = false;
  std::set<std::shared_ptr<Client>> connections;
  std::set<std::shared_ptr<Client>> sse_clients;
  std::uint64_t run = 0;
  std::deque<Point> history;
  Json pending = Json::array();  // chart points not sent yet (refresh_s > the interval)
  double last_push = -std::numeric_limits<double>::infinity();
  std::string latest_json;                    // the last update
  std::shared_ptr<const std::string> latest;  // ... as an SSE frame
  std::uint64_t dropped = 0;

  // Destroyed before the state above: the listener (its acceptor needs the io_context), then
  // the io_context with any coroutine frames still suspended on it.
  net::io_context io{1};
  std::optional<target::TcpListener> listener;
  std::promise<void> done;  // set when the server thread returns
};

void Dashboard::Impl::take(const stats::LiveSnapshot& s) {
  if (stopping) return;
  if (run == 0 || s.sequence == 1) {  // a new run: new charts
    ++run;
    history.clear();
    pending = Json::array();
    last_push = -std::numeric_limits<double>::infinity();
  }
  const Point p = point_of(s);
  history.push_back(p);
  if (history.size() > kMaxHistory) history.pop_front();
  pending.push_back(point_json(p));
  // 50 ms of slack: intervals are about a second, never exactly.
  if (!s.final && s.elapsed_s - last_push < opt.refresh_s - 0.05) return;
  last_push = s.elapsed_s;
  latest_json = update_json(s, run, history, opt.window_s, std::move(pending)).dump();
  pending = Json::array();
  latest = std::make_shared<const std::string>("data: " + latest_json + "\n\n");
  for (auto it = sse_clients.begin(); it != sse_clients.end();) {
    Client& c = **it;
    if (c.queue.size() >= opt.client_queue) {
      ++dropped;
      log::warn("dashboard", "dropped an event-stream client that stopped reading (" +
                                 std::to_string(c.queue.size()) + " updates waiting)");
      c.close();
      it = sse_clients.erase(it);
      continue;
    }
    c.queue.push_back(latest);
    c.wake.cancel();
    ++it;
  }
}

net::awaitable<void> Dashboard::Impl::stream_events(std::shared_ptr<Client> c) {
  std::string out =
      "HTTP/1.1 200 OK\r\nServer: loaddensity\r\nContent-Type: text/event-stream\r\n"
      "Cache-Control: no-cache\r\nConnection: close\r\n\r\nretry: 2000\n\n";
  // What the client missed: the chart points of this run so far, then the latest update.
  Json points = Json::array();
  for (const Point& p : history) points.push_back(point_json(p));
  out +=
      "event: history\ndata: " + Json{{"run", run}, {"points", std::move(points)}}.dump() + "\n\n";
  if (latest) out += *latest;
  sse_clients.insert(c);
  // A reader, so a client that leaves while nothing is being sent is noticed at once.
  net::co_spawn(
      io,
      [c]() -> net::awaitable<void> {
        char buf[512];
        error_code ec;
        while (!c->closed) {
          co_await c->stream.socket().async_read_some(net::buffer(buf),
                                                      net::redirect_error(net::use_awaitable, ec));
          if (ec) break;
        }
        c->close();
      },
      [](std::exception_ptr) noexcept {});
  error_code ec;
  co_await net::async_write(c->stream.socket(), net::buffer(out),
                            net::redirect_error(net::use_awaitable, ec));
  while (!ec && !c->closed) {
    if (c->queue.empty()) {
      if (stopping) break;  // drained: stop() waits for the final update to go out
      c->wake.expires_at(net::steady_timer::time_point::max());
      co_await c->wake.async_wait(net::redirect_error(net::use_awaitable, ec));
      ec = {};  // cancelled: something was queued, or the client is being closed
      continue;
    }
    std::shared_ptr<const std::string> next = std::move(c->queue.front());
    c->queue.pop_front();
    co_await net::async_write(c->stream.socket(), net::buffer(*next),
                              net::redirect_error(net::use_awaitable, ec));
  }
  sse_clients.erase(c);
  c->close();
}

net::awaitable<void> Dashboard::Impl::serve(tcp::socket socket) {
  auto c = std::make_shared<Client>(std::move(socket));
  if (stopping) co_return;
  error_code ec;
  if (connections.size() >= opt.max_clients) {
    static constexpr std::string_view kBusy =
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 29\r\n"
        "Connection: close\r\n\r\ntoo many dashboard clients\r\n\r\n";
    co_await net::async_write(c->stream.socket(), net::buffer(kBusy.data(), kBusy.size()),
                              net::redirect_error(net::use_awaitable, ec));
    c->close();
    co_return;
  }
  connections.insert(c);
  beast::flat_buffer buffer;
  while (!c->closed) {
    http::request_parser<http::empty_body> parser;
    parser.header_limit(kHeaderLimit);
    c->stream.expires_after(kRequestTimeout);
    co_await http::async_read_header(c->stream, buffer, parser,
                                     net::redirect_error(net::use_awaitable, ec));
    const bool get_or_head = !ec && (parser.get().method() == http::verb::get ||
                                     parser.get().method() == http::verb::head);
    if (get_or_head && !parser.is_done()) {  // a GET with a body: not for us (the parse fails)
      co_await http::async_read(c->stream, buffer, parser,
                                net::redirect_error(net::use_awaitable, ec));
    }
    c->stream.expires_never();
    if (ec) break;
    const auto& req = parser.get();
    std::string_view target = req.target();
    target = target.substr(0, target.find('?'));
    http::response<http::string_body> res;
    res.version(11);
    res.set(http::field::server, "loaddensity");
    res.set(http::field::cache_control, "no-store");
    res.keep_alive(get_or_head && req.keep_alive());  // another method's body is left unread
    if (!get_or_head) {
      res.result(http::status::method_not_allowed);
      res.set(http::field::allow, "GET, HEAD");
      res.set(http::field::content_type, "text/plain");
      res.body() = "only GET\n";
    } else if (target == "/events" && req.method() == http::verb::get) {
      co_await stream_events(c);
      break;
    } else if (target == "/" || target == "/index.html") {
      res.set(http::field::content_type, "text/html; charset=utf-8");
      res.body() = page_html();
    } else if (target == "/snapshot" && !latest_json.empty()) {
      res.set(http::field::content_type, "application/json");
      res.body() = latest_json;
    } else if (target == "/snapshot") {
      res.result(http::status::not_found);
      res.set(http::field::content_type, "text/plain");
      res.body() = "no test has reported an interval yet\n";
    } else {
      res.result(http::status::not_found);
      res.set(http::field::content_type, "text/plain");
      res.body() = "not found\n";
    }
    res.prepare_payload();
    if (req.method() == http::verb::head) res.body().clear();
    co_await http::async_write(c->stream, res, net::redirect_error(net::use_awaitable, ec));
    if (ec || !res.keep_alive()) break;
  }
  c->close();
  connections.erase(c);
}

void Dashboard::Impl::close_all() {
  stopping = true;
  if (listener) listener->close();
  // Event streams first send what is queued (the final update of a run that just ended).
  for (const auto& c : connections) {
    if (sse_clients.count(c) && !c->queue.empty()) continue;
    c->close();
  }
}

Dashboard::Dashboard(stats::LiveFeed& feed, Options options)
    : impl_(std::make_unique<Impl>(feed, std::move(options))) {
  Impl& m = *impl_;
  error_code ec;
  auto address = net::ip::make_address(m.opt.host, ec);
  if (ec) {  // a name such as localhost: its first address
    tcp::resolver resolver(m.io);
    const auto found = resolver.resolve(m.opt.host, "", ec);
    if (ec || found.empty()) {
      throw std::runtime_error("dashboard: cannot resolve host '" + m.opt.host + "'");
    }
    address = found.begin()->endpoint().address();
  }
  m.listener.emplace(m.io, address, m.opt.port, "the dashboard");
  m.port = m.listener->port();
  m.host_text = address.is_v6() ? "[" + address.to_string() + "]" : address.to_string();
  m.listener->start([&m](tcp::socket s) { return m.serve(std::move(s)); });
  m.thread = std::thread([&m] {
    for (;;) {
      try {
        m.io.run();
        m.done.set_value();
        return;
      } catch (const std::exception& e) {  // a handler threw: log it and keep serving
        log::error("dashboard", e.what());
      }
    }
  });
  m.feed.add_observer(&m);
  m.observing = true;
  log::info("dashboard", "serving " + url());
}

Dashboard::~Dashboard() { stop(); }

std::string Dashboard::url() const {
  return "http://" + impl_->host_text + ":" + std::to_string(impl_->port) + "/";
}

std::uint16_t Dashboard::port() const noexcept { return impl_->port; }

void Dashboard::stop() {
  Impl& m = *impl_;
  if (m.stopped) return;
  m.stopped = true;
  if (m.observing) m.feed.remove_observer(&m);  // waits for a call in progress
  m.observing = false;
  // Close everything on the server thread; the coroutines then end and run() returns.
  // A connection that does not end within 2 s is left to the io_context's destruction.
  auto closed = std::make_shared<std::promise<void>>();
  net::post(m.io, [&m, closed] {
    m.close_all();
    closed->set_value();
  });
  closed->get_future().wait_for(std::chrono::seconds(5));
  if (m.done.get_future().wait_for(std::chrono::seconds(2)) != std::future_status::ready) {
    m.io.stop();
  }
  if (m.thread.joinable()) m.thread.join();
  log::info("dashboard", "stopped");
}

}  // namespace ld::dashboard
