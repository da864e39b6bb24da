// The Prometheus endpoint's server: one thread, one io_context, a coroutine per connection.
#include "export/prometheus.hpp"

// clang-format off
#include <utility>  // first: Boost 1.74's Asio uses std::exchange without including it
// clang-format on

#include <pthread.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <chrono>
#include <stdexcept>
#include <thread>

#include "core/log.hpp"

namespace ld::exporters {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

namespace {
constexpr int kMaxConnections = 64;
constexpr auto kIdleTimeout = std::chrono::seconds(60);
}  // namespace

struct PrometheusExporter::Impl {
  net::io_context io{1};
  tcp::acceptor acceptor{io};
  std::string addr;
  std::uint16_t port = 0;
  SeriesBook book;  // the io thread's only
  std::unique_ptr<SnapshotInbox> inbox;
  int connections = 0;
  std::thread thread;

  std::string render() {
    inbox->drain_into(book);
    return prometheus_text(book);
  }

  net::awaitable<void> serve(tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer;
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.header_limit(16 * 1024);
      parser.body_limit(64 * 1024);
      stream.expires_after(kIdleTimeout);
      boost::system::error_code ec;
      co_await http::async_read(stream, buffer, parser,
                                net::redirect_error(net::use_awaitable, ec));
      if (ec) break;
      const auto& req = parser.get();
      http::response<http::string_body> res;
      res.version(req.version());
      res.keep_alive(req.keep_alive());
      res.set(http::field::server, "loaddensity");
      const std::string_view target = req.target();
      const std::string_view path = target.substr(0, target.find('?'));
      if (req.method() != http::verb::get && req.method() != http::verb::head) {
        res.result(http::status::method_not_allowed);
        res.set(http::field::allow, "GET, HEAD");
        res.set(http::field::content_type, "text/plain");
        res.body() = "GET /metrics\n";
      } else if (path == "/metrics" || path == "/") {
        res.result(http::status::ok);
        res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
        res.body() = render();
        if (req.method() == http::verb::head) {
          res.content_length(res.body().size());
          res.body().clear();
        }
      } else {
        res.result(http::status::not_found);
        res.set(http::field::content_type, "text/plain");
        res.body() = "not found: the metrics are at /metrics\n";
      }
      if (req.method() != http::verb::head) res.prepare_payload();
      stream.expires_after(kIdleTimeout);
      co_await http::async_write(stream, res, net::redirect_error(net::use_awaitable, ec));
      if (ec || !res.keep_alive()) break;
    }
    boost::system::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    --connections;
  }

  net::awaitable<void> accept_loop() {
    for (;;) {
      boost::system::error_code ec;
      tcp::socket s = co_await acceptor.async_accept(net::redirect_error(net::use_awaitable, ec));
      if (ec == net::error::operation_aborted) co_return;
      if (ec) {
        log::warn("exporter.prometheus", "accept failed: " + ec.message());
        continue;
      }
      if (connections >= kMaxConnections) continue;  // closed at once; scrapers retry
      ++connections;
      net::co_spawn(io, serve(std::move(s)), net::detached);
    }
  }
};

std::string listen_address(const std::string& addr) {
  if (addr == "localhost") return "127.0.0.1";
  boost::system::error_code ec;
  net::ip::make_address(addr, ec);
  return ec ? std::string() : addr;
}

PrometheusExporter::PrometheusExporter(stats::LiveFeed& feed, const std::string& addr,
                                       std::uint16_t port)
    : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  boost::system::error_code ec;
  const auto ip = net::ip::make_address(listen_address(addr), ec);
  if (ec) throw std::runtime_error("addr '" + addr + "' is not an IP address");
  const tcp::endpoint ep(ip, port);
  m.acceptor.open(ep.protocol(), ec);
  if (!ec) m.acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) m.acceptor.bind(ep, ec);
  if (!ec) m.acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    throw std::runtime_error("cannot listen on " + addr + ":" + std::to_string(port) + ": " +
                             ec.message());
  }
  m.addr = ip.to_string();
  m.port = m.acceptor.local_endpoint().port();
  m.inbox = std::make_unique<SnapshotInbox>(feed);
  net::co_spawn(m.io, m.accept_loop(), net::detached);
  m.thread = std::thread([&m] {
    pthread_setname_np(pthread_self(), "ld-prometheus");
    m.io.run();
  });
  log::info("exporter.prometheus", "listening on " + url());
}

PrometheusExporter::~PrometheusExporter() {
  Impl& m = *impl_;
  m.io.stop();
  if (m.thread.joinable()) m.thread.join();
  m.inbox.reset();
  log::info("exporter.prometheus", "stopped");
}

std::uint16_t PrometheusExporter::port() const noexcept { return impl_->port; }

std::string PrometheusExporter::url() const {
  const bool v6 = impl_->addr.find(':') != std::string::npos;
  return "http://" + (v6 ? "[" + impl_->addr + "]" : impl_->addr) + ":" +
         std::to_string(impl_->port) + "/metrics";
}

}  // namespace ld::exporters
