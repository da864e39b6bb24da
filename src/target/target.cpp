// The embedded target's server side: acceptors, connection coroutines, response serialisation.
// Threading: one io_context per server thread, each with its own acceptor (SO_REUSEPORT when
// there is more than one). A connection lives on the thread that accepted it, so every piece of
// per-worker state below is touched by that worker's thread only (stop() posts to it).
#include "target/target.hpp"
#include "core/log.hpp"

// clang-format off
#include <utility>  // first: Boost 1.74's Asio uses std::exchange without including it
// clang-format on

#include <sys/socket.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detail/socket_option.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/status.hpp>
#include <charconv>
#include <chrono>
#include <ctime>
#include <exception>
#include <future>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <unordered_set>
#include <vector>

#include "target/echo.hpp"
#include "target/grpc_echo.hpp"
#include "target/kafka_mock.hpp"
#include "target/mqtt_broker.hpp"
#include "target/mongo_server.hpp"
#include "target/resp_server.hpp"
#include "target/h2c.hpp"
#include "target/h3_server.hpp"
#include "target/handlers.hpp"
#include "target/streams.hpp"

namespace ld::target {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using boost::system::error_code;

constexpr std::uint64_t kBodyLimit = 16u * 1024u * 1024u;  // bytes; larger bodies get 413
constexpr std::uint32_t kHeaderLimit = 16u * 1024u;        // bytes; larger headers get 431
constexpr auto kStopGrace = std::chrono::seconds(2);       // then stop() stops the io_context hard

using ReusePort = net::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

struct Connection {
  explicit Connection(tcp::socket s) : socket(std::move(s)), timer(socket.get_executor()) {}

  tcp::socket socket;
  net::steady_timer timer;    // /delay/{s}
  beast::flat_buffer buffer;  // kept across requests: holds pipelined bytes
  std::optional<http::request_parser<http::string_body>> parser;  // one per message
  Reply reply;         // reused: keeps its string capacity
  std::string head;    // serialised status line and headers, reused
  std::string origin;  // peer address text
};

struct Worker {
  // Declaration order matters: ioc_ is destroyed before connections_, because destroying an
  // io_context destroys suspended connection coroutines, which unregister themselves.
  std::unordered_set<Connection*> connections;  // open connections; worker thread only
  std::optional<net::io_context> ioc;
  std::optional<tcp::acceptor> acceptor;
  bool stopping = false;  // set by stop() on the worker thread
  std::thread thread;
  std::promise<void> finished;  // set when the thread's run() has returned
};

// "Date:" header value, recomputed at most once per second per thread.
std::string_view http_date() {
  thread_local std::time_t cached_second = -1;
  thread_local char text[64];
  thread_local std::size_t length = 0;
  const std::time_t now = std::time(nullptr);
  if (now != cached_second) {
    std::tm tm{};
    gmtime_r(&now, &tm);
    length = std::strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    cached_second = now;
  }
  return {text, length};
}

// 1xx, 204 and 304 responses carry neither a body nor Content-Length (RFC 9110 8.6).
bool status_has_body(unsigned status) { return status >= 200 && status != 204 && status != 304; }

void append_number(std::string& out, std::uint64_t v) {
  char digits[24];
  const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, v);
  out.append(digits, end);
}

// Writes the status line and headers for `reply` into `head`.
void serialize_head(const Reply& reply, bool keep_alive, bool http10, std::string& head) {
  head.clear();
  head.append("HTTP/1.1 ");
  append_number(head, reply.status);
  head.push_back(' ');
  const http::status status = http::int_to_status(reply.status);
  if (status == http::status::unknown) {
    head.append("Unknown");
  } else {
    head.append(http::obsolete_reason(status));
  }
  head.append("\r\nServer: loaddensity-target\r\nDate: ").append(http_date()).append("\r\n");
  if (status_has_body(reply.status)) {
    if (!reply.content_type.empty()) {
      head.append("Content-Type: ").append(reply.content_type).append("\r\n");
    }
    head.append("Content-Length: ");
    append_number(head, reply.body.size());
    head.append("\r\n");
  }
  head.append(reply.extra_headers);
  if (!keep_alive) {
    head.append("Connection: close\r\n");
  } else if (http10) {
    head.append("Connection: keep-alive\r\n");
  }
  head.append("\r\n");
}

// The path of a request target (no query).
std::string_view split_path(std::string_view target) { return target.substr(0, target.find('?')); }

bool is_http_error(const error_code& ec) {
  return ec.category() == make_error_code(http::error::end_of_stream).category();
}

// Sends `reply` (head and, unless suppressed, body) in one gather write.
net::awaitable<void> write_reply(Connection& conn, bool keep_alive, bool http10, bool head_only,
                                 error_code& ec) {
  serialize_head(conn.reply, keep_alive, http10, conn.head);
  const bool send_body = !head_only && status_has_body(conn.reply.status);
  const std::array<net::const_buffer, 2> buffers{
      net::buffer(conn.head), send_body ? net::buffer(conn.reply.body) : net::const_buffer{}};
  co_await net::async_write(conn.socket, buffers, net::redirect_error(net::use_awaitable, ec));
}

// Serves one connection until the peer closes, asks to close, errs, or the worker stops.
// Never throws: the caller's completion handler also swallows anything that might.
net::awaitable<void> serve_connection(Worker* worker, const std::string* host_port,
                                      tcp::socket socket) {
  Connection conn(std::move(socket));
  worker->connections.insert(&conn);
  struct Unregister {
    Worker* worker;
    Connection* conn;
    ~Unregister() { worker->connections.erase(conn); }
  } unregister{worker, &conn};

  error_code ec;
  conn.socket.set_option(tcp::no_delay(true), ec);
  const tcp::endpoint peer = conn.socket.remote_endpoint(ec);
  conn.origin = ec ? std::string("unknown") : peer.address().to_string();
  const ServerInfo info{*host_port, conn.origin};

  // HTTP/2 with prior knowledge (h2c) on the same port, told apart by the client preface.
  const bool h2c = co_await detect_h2c(conn.socket, conn.buffer);
  if (h2c) co_await serve_h2c(conn.socket, conn.buffer, info, worker->stopping);

  while (!h2c && !worker->stopping) {
    conn.parser.emplace();
    conn.parser->body_limit(kBodyLimit);
    conn.parser->header_limit(kHeaderLimit);
    ec = {};
    co_await http::async_read_header(conn.socket, conn.buffer, *conn.parser,
                                     net::redirect_error(net::use_awaitable, ec));
    if (!ec && !conn.parser->is_done()) {
      const auto expect = conn.parser->get().find(http::field::expect);
      if (expect != conn.parser->get().end() && beast::iequals(expect->value(), "100-continue")) {
        static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
        co_await net::async_write(conn.socket, net::buffer(kContinue),
                                  net::redirect_error(net::use_awaitable, ec));
      }
      if (!ec) {
        co_await http::async_read(conn.socket, conn.buffer, *conn.parser,
                                  net::redirect_error(net::use_awaitable, ec));
      }
    }
    if (worker->stopping) break;
    if (ec) {
      // Socket errors and a peer that went away end the connection silently; a malformed or
      // oversized request gets an error response, then the connection is closed.
      if (!is_http_error(ec) || ec == http::error::end_of_stream ||
          ec == http::error::partial_message) {
        break;
      }
      conn.reply.clear();
      if (ec == http::error::body_limit) {
        error_reply(413, "request body too large", conn.reply);
      } else if (ec == http::error::header_limit) {
        error_reply(431, "request header too large", conn.reply);
      } else {
        error_reply(400, "bad request", conn.reply);
      }
      co_await write_reply(conn, false, false, false, ec);
      break;
    }

    const Request& request = conn.parser->get();
    if (is_websocket_upgrade(request) && split_path(request.target()) == "/ws") {
      co_await serve_websocket(conn.socket, conn.parser->release(), worker->stopping);
      break;
    }
    conn.reply.clear();
    route(request, info, conn.reply);
    if (conn.reply.sse.active && request.method() != http::verb::head) {
      co_await stream_sse(conn.socket, conn.timer, conn.reply.sse, worker->stopping);
      break;
    }
    const bool keep_alive = request.keep_alive() && !conn.reply.close;
    if (conn.reply.delay.count() > 0) {
      conn.timer.expires_after(conn.reply.delay);
      co_await conn.timer.async_wait(net::redirect_error(net::use_awaitable, ec));
      if (ec || worker->stopping) break;
    }
    co_await write_reply(conn, keep_alive, request.version() == 10,
                         request.method() == http::verb::head, ec);
    if (ec || !keep_alive) break;
  }
  conn.socket.shutdown(tcp::socket::shutdown_send, ec);
  conn.socket.close(ec);
}

net::awaitable<void> accept_loop(Worker* worker, const std::string* host_port) {
  while (!worker->stopping) {
    error_code ec;
    tcp::socket socket =
        co_await worker->acceptor->async_accept(net::redirect_error(net::use_awaitable, ec));
    if (worker->stopping || !worker->acceptor->is_open()) co_return;
    if (ec) {
      if (ec == net::error::operation_aborted) co_return;
      log::warn("target", "accept failed: " + ec.message() + " (retrying in 20 ms)");
      // Transient (EMFILE, ECONNABORTED, ...): back off briefly instead of spinning.
      net::steady_timer backoff(worker->ioc->get_executor(), std::chrono::milliseconds(20));
      co_await backoff.async_wait(net::redirect_error(net::use_awaitable, ec));
      continue;
    }
    if (log::enabled(log::Level::kDebug)) {
      error_code peer_ec;
      const auto peer = socket.remote_endpoint(peer_ec);
      log::debug("target", "connection from " + (peer_ec ? std::string("?")
                                                         : peer.address().to_string() + ":" +
                                                               std::to_string(peer.port())));
    }
    net::co_spawn(worker->ioc->get_executor(),
                  serve_connection(worker, host_port, std::move(socket)),
                  [](std::exception_ptr) noexcept {});
  }
}

// Closes the acceptor and every connection of `worker`; runs on the worker's thread.
void shut_down(Worker* worker) noexcept {
  worker->stopping = true;
  error_code ec;
  if (worker->acceptor) worker->acceptor->close(ec);
  for (Connection* conn : worker->connections) {
    conn->socket.close(ec);
    try {
      conn->timer.cancel();
    } catch (...) {
    }
  }
}

bool is_unspecified_host(const std::string& host) {
  return host == "0.0.0.0" || host == "::" || host == "[::]" || host.empty();
}

std::string join_host_port(const std::string& host, std::uint16_t port) {
  const bool v6 = host.find(':') != std::string::npos && host.front() != '[';
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

}  // namespace

struct EmbeddedTarget::Impl {
  TargetOptions options;
  std::mutex mutex;  // serialises start() and stop()
  std::vector<std::unique_ptr<Worker>> workers;
  std::string host_port;  // "HOST:PORT" as bound; read by connections for "url"
  std::atomic<bool> running{false};
  std::atomic<std::uint16_t> port{0};
  std::string host_text;  // host part of host_port ("127.0.0.1", "[::1]")
  // TCP/UDP echo on the first worker's io_context; destroyed after that io_context (below).
  std::unique_ptr<EchoServers> echo;
  std::unique_ptr<RespServer> resp;  // likewise
  std::unique_ptr<MqttBroker> mqtt;  // likewise
  std::unique_ptr<MongoServer> mongo;  // likewise
  std::unique_ptr<H3Server> h3;        // likewise
  std::unique_ptr<GrpcEcho> grpc;    // on grpc++'s own threads
  std::unique_ptr<KafkaMock> kafka;  // on librdkafka's own threads; only when options.kafka

  tcp::endpoint resolve() const {
    error_code ec;
    std::string host = options.host.empty() ? std::string("0.0.0.0") : options.host;
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
      host = host.substr(1, host.size() - 2);
    }
    const net::ip::address address = net::ip::make_address(host, ec);
    if (!ec) return {address, options.port};
    net::io_context ioc;
    tcp::resolver resolver(ioc);
    const auto results = resolver.resolve(host, std::to_string(options.port), ec);
    if (ec || results.empty()) {
      throw std::runtime_error("cannot listen on " + join_host_port(options.host, options.port) +
                               ": " + (ec ? ec.message() : std::string("host not found")));
    }
    return results.begin()->endpoint();
  }

  void start() {
    std::lock_guard lock(mutex);
    if (running) return;
    tcp::endpoint endpoint = resolve();
    const unsigned count = std::max(1u, options.threads);
    std::vector<std::unique_ptr<Worker>> fresh;
    for (unsigned i = 0; i < count; ++i) {
      auto worker = std::make_unique<Worker>();
      worker->ioc.emplace(1);
      worker->acceptor.emplace(*worker->ioc);
      error_code ec;
      tcp::acceptor& acceptor = *worker->acceptor;
      acceptor.open(endpoint.protocol(), ec);
      if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
      if (!ec && count > 1) acceptor.set_option(ReusePort(true), ec);
      if (!ec) acceptor.bind(endpoint, ec);
      if (!ec) acceptor.listen(net::socket_base::max_listen_connections, ec);
      if (ec) {
        throw std::runtime_error("cannot listen on " + join_host_port(options.host, options.port) +
                                 ": " + ec.message());
      }
      // Later acceptors share the port the first one got (port 0 = kernel's choice).
      if (i == 0) endpoint.port(acceptor.local_endpoint().port());
      fresh.push_back(std::move(worker));
    }
    port = endpoint.port();
    host_port = join_host_port(is_unspecified_host(options.host) ? "127.0.0.1" : options.host,
                               endpoint.port());
    host_text = host_port.substr(0, host_port.rfind(':'));
    echo = std::make_unique<EchoServers>(*fresh.front()->ioc, endpoint.address(), options.tcp_port,
                                         options.udp_port);
    echo->start();
    resp = std::make_unique<RespServer>(*fresh.front()->ioc, endpoint.address(), options.redis_port);
    resp->start();
    try {
      mqtt = std::make_unique<MqttBroker>(*fresh.front()->ioc, endpoint.address(), options.mqtt_port);
      mongo = std::make_unique<MongoServer>(*fresh.front()->ioc, endpoint.address(),
                                            options.mongo_port);
      h3 = std::make_unique<H3Server>(*fresh.front()->ioc, endpoint.address(), options.h3_port);
    } catch (...) {
      if (mongo) mongo->close();
      if (mqtt) mqtt->close();
      resp->close();
      echo->close();
      throw;
    }
    mqtt->start();
    mongo->start();
    h3->start();
    grpc = std::make_unique<GrpcEcho>();
    try {
      grpc->start(endpoint.address().to_string(), options.grpc_port);
    } catch (...) {
      mqtt->close();
      resp->close();
      mongo->close();
      h3->close();
      echo->close();
      grpc.reset();
      throw;
    }
    if (options.kafka) {
      try {
        kafka = std::make_unique<KafkaMock>();
      } catch (...) {
        mqtt->close();
        resp->close();
        mongo->close();
        h3->close();
        echo->close();
        grpc->stop();
        grpc.reset();
        throw;
      }
    }
    for (auto& worker : fresh) {
      Worker* w = worker.get();
      net::co_spawn(w->ioc->get_executor(), accept_loop(w, &host_port),
                    [](std::exception_ptr) noexcept {});
      w->thread = std::thread([w] {
        for (;;) {
          try {
            w->ioc->run();
            break;
          } catch (...) {  // a handler threw: keep serving the others
          }
        }
        w->finished.set_value();
      });
    }
    workers = std::move(fresh);
    running = true;
    log::info("target", "listening on http://" + host_port + " (" + std::to_string(workers.size()) +
                            " threads)");
  }

  void stop() {
    std::lock_guard lock(mutex);
    if (!running) return;
    for (auto& worker : workers) {
      Worker* w = worker.get();
      EchoServers* e = worker == workers.front() ? echo.get() : nullptr;
      RespServer* r = worker == workers.front() ? resp.get() : nullptr;
      MqttBroker* q = worker == workers.front() ? mqtt.get() : nullptr;
      MongoServer* g = worker == workers.front() ? mongo.get() : nullptr;
      H3Server* h = worker == workers.front() ? h3.get() : nullptr;
      net::post(*w->ioc, [w, e, r, q, g, h] {
        if (e) e->close();
        if (r) r->close();
        if (q) q->close();
        if (g) g->close();
        if (h) h->close();
        shut_down(w);
      });
    }
    // Closed sockets complete every pending operation with an error, so run() returns on its
    // own; the grace period only guards against a coroutine that ignores that.
    const auto deadline = std::chrono::steady_clock::now() + kStopGrace;
    for (auto& worker : workers) {
      if (worker->finished.get_future().wait_until(deadline) != std::future_status::ready) {
        worker->ioc->stop();
      }
      worker->thread.join();
    }
    for (auto& worker : workers) {
      worker->acceptor.reset();
      worker->ioc.reset();  // destroys any coroutine still suspended
    }
    workers.clear();
    echo.reset();
    resp.reset();
    mqtt.reset();
    mongo.reset();
    h3.reset();
    if (grpc) grpc->stop();
    grpc.reset();
    kafka.reset();
    running = false;
    log::info("target", "stopped");
  }
};

EmbeddedTarget::EmbeddedTarget(TargetOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
}

EmbeddedTarget::~EmbeddedTarget() {
  try {
    stop();
  } catch (...) {
  }
}

void EmbeddedTarget::start() { impl_->start(); }

void EmbeddedTarget::stop() { impl_->stop(); }

bool EmbeddedTarget::running() const noexcept { return impl_->running; }

std::uint16_t EmbeddedTarget::port() const noexcept { return impl_->port; }

std::string EmbeddedTarget::base_url() const { return "http://" + impl_->host_port; }

std::string EmbeddedTarget::ws_url() const { return "ws://" + impl_->host_port + "/ws"; }

std::uint16_t EmbeddedTarget::tcp_port() const noexcept {
  return impl_->echo ? impl_->echo->tcp_port() : 0;
}

std::uint16_t EmbeddedTarget::udp_port() const noexcept {
  return impl_->echo ? impl_->echo->udp_port() : 0;
}

std::string EmbeddedTarget::tcp_address() const {
  return impl_->host_text + ":" + std::to_string(tcp_port());
}

std::uint16_t EmbeddedTarget::redis_port() const noexcept {
  return impl_->resp ? impl_->resp->port() : 0;
}

std::string EmbeddedTarget::redis_url() const {
  return "redis://" + impl_->host_text + ":" + std::to_string(redis_port()) + "/0";
}

std::uint16_t EmbeddedTarget::mqtt_port() const noexcept {
  return impl_->mqtt ? impl_->mqtt->port() : 0;
}

std::string EmbeddedTarget::mqtt_url() const {
  return "mqtt://" + impl_->host_text + ":" + std::to_string(mqtt_port());
}

std::uint16_t EmbeddedTarget::mongo_port() const noexcept {
  return impl_->mongo ? impl_->mongo->port() : 0;
}

std::string EmbeddedTarget::mongo_url() const {
  return "mongodb://" + impl_->host_text + ":" + std::to_string(mongo_port());
}

std::uint16_t EmbeddedTarget::grpc_port() const noexcept {
  return impl_->grpc ? impl_->grpc->port() : 0;
}

std::string EmbeddedTarget::grpc_address() const {
  return impl_->host_text + ":" + std::to_string(grpc_port());
}

std::uint16_t EmbeddedTarget::h3_port() const noexcept { return impl_->h3 ? impl_->h3->port() : 0; }

std::string EmbeddedTarget::h3_address() const {
  return impl_->host_text + ":" + std::to_string(h3_port());
}

std::string EmbeddedTarget::kafka_address() const {
  return impl_->kafka ? impl_->kafka->bootstrap() : std::string();
}

std::string EmbeddedTarget::udp_address() const {
  return impl_->host_text + ":" + std::to_string(udp_port());
}

}  // namespace ld::target
