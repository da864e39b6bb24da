#include "serve/server.hpp"

// clang-format off
#include <utility>  // first: Boost 1.74's Asio uses std::exchange without including it
// clang-format on

#include <openssl/ssl.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <condition_variable>
#include <list>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <type_traits>
#include <unordered_set>

#include "core/log.hpp"
#include "loaddensity/core/error.hpp"
#include "serve/protocol.hpp"

namespace ld::serve {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = net::ip::tcp;
using boost::system::error_code;

namespace {

constexpr const char* kLog = "serve";

// What stop() needs of a connection, whatever its stream.
struct ConnBase {
  bool answering = false;  // the request was read: its reply is on the way
  virtual ~ConnBase() = default;
  virtual void close() noexcept = 0;
};

template <class Stream>
struct Conn : ConnBase, std::enable_shared_from_this<Conn<Stream>> {
  Stream stream;
  net::steady_timer deadline;

  template <class... A>
  explicit Conn(tcp::socket s, A&... extra)
      : stream(std::move(s), extra...), deadline(stream.get_executor()) {}

  tcp::socket& socket() {
    if constexpr (std::is_same_v<Stream, tcp::socket>) {
      return stream;
    } else {
      return stream.next_layer();
    }
  }
  void close() noexcept override {
    error_code ec;
    socket().shutdown(tcp::socket::shutdown_both, ec);
    socket().close(ec);
  }
  // Closes the connection unless disarmed before `seconds` pass.
  void arm(double seconds) {
    deadline.expires_after(std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::duration<double>(seconds)));
    deadline.async_wait([weak = this->weak_from_this()](const error_code& ec) {
      if (ec) return;
      if (auto self = weak.lock()) self->close();
    });
  }
  void disarm() { deadline.cancel(); }
};

bool end_of_stream(const error_code& ec) {
  return ec == net::error::eof || ec == ssl::error::stream_truncated;
}

}  // namespace

struct SocketServer::Impl {
  // Declared first, destroyed last: what the connections' coroutine frames use when the
  // io_context (declared last, destroyed first) destroys them.
  ServeOptions opt;
  SessionFactory factory;
  std::optional<ssl::context> tls;
  std::uint16_t port = 0;
  std::string address;
  bool started = false;

  // Shared with the document threads and the owner.
  mutable std::mutex mu;
  std::condition_variable cv;
  bool quit = false;
  bool stopping = false;
  bool stopped = false;
  std::set<Session*> sessions;
  struct Exec {
    std::atomic<bool> done{false};
    std::thread thread;
  };
  std::list<Exec> execs;
  std::size_t open_count = 0;  // connections being served (under mu)
  bool warned_full = false;    // the connection limit was logged (under mu)
  ServeStats stats;

  // The I/O thread's own: every open connection (for stop()).
  std::unordered_set<ConnBase*> open;

  net::io_context io{1};
  tcp::acceptor acceptor{io};
  std::thread io_thread;

  // Registers a connection while it lives.
  struct Registration {
    Impl* self;
    ConnBase* conn;
    Registration(Impl* s, ConnBase* c) : self(s), conn(c) {}
    ~Registration() {
      self->open.erase(conn);
      std::lock_guard lk(self->mu);
      --self->open_count;
      self->cv.notify_all();
    }
    Registration(const Registration&) = delete;
    Registration& operator=(const Registration&) = delete;
  };

  void count(std::uint64_t ServeStats::*field) {
    std::lock_guard lk(mu);
    ++(stats.*field);
  }

  net::awaitable<void> accept_loop();
  template <class Stream>
  net::awaitable<void> serve(std::shared_ptr<Conn<Stream>> c);
  template <class Stream>
  net::awaitable<bool> read_request(Conn<Stream>& c, std::string& body);
  net::awaitable<std::vector<std::string>> run_document(Json doc);
  void run_on_thread(Json doc, std::function<void(std::vector<std::string>)> done);
};

net::awaitable<void> SocketServer::Impl::accept_loop() {
  for (;;) {
    error_code ec;
    tcp::socket s = co_await acceptor.async_accept(net::redirect_error(net::use_awaitable, ec));
    if (ec) {
      if (ec == net::error::operation_aborted || !acceptor.is_open()) co_return;
      // Out of descriptors, say: wait a little rather than spin.
      log::warn(kLog, "accept failed: " + ec.message());
      net::steady_timer pause(io, std::chrono::milliseconds(50));
      co_await pause.async_wait(net::redirect_error(net::use_awaitable, ec));
      continue;
    }
    {
      std::lock_guard lk(mu);
      ++stats.accepted;
      if (stopping || open_count >= opt.max_connections) {
        ++stats.refused;
        s.close(ec);
        if (!stopping && !warned_full) {  // once per burst, not once per connection
          warned_full = true;
          log::warn(kLog, "refusing connections: " + std::to_string(opt.max_connections) +
                              " are open (max_connections)");
        }
        continue;
      }
      warned_full = false;
      ++open_count;
    }
    s.set_option(tcp::no_delay(true), ec);
    if (tls) {
      auto c = std::make_shared<Conn<ssl::stream<tcp::socket>>>(std::move(s), *tls);
      open.insert(c.get());
      net::co_spawn(io, serve(std::move(c)), net::detached);
    } else {
      auto c = std::make_shared<Conn<tcp::socket>>(std::move(s));
      open.insert(c.get());
      net::co_spawn(io, serve(std::move(c)), net::detached);
    }
  }
}

template <class Stream>
net::awaitable<bool> SocketServer::Impl::read_request(Conn<Stream>& c, std::string& body) {
  error_code ec;
  if (opt.framed) {
    unsigned char header[4];
    co_await net::async_read(c.stream, net::buffer(header, 4),
                             net::redirect_error(net::use_awaitable, ec));
    if (ec) co_return false;
    const std::uint32_t n = read_frame_header(header);
    if (!frame_length_ok(n)) {
      log::debug(kLog, "frame length " + std::to_string(n) + " refused");
      co_return false;
    }
    body.resize(n);
    co_await net::async_read(c.stream, net::buffer(body.data(), n),
                             net::redirect_error(net::use_awaitable, ec));
    co_return !ec;  // a truncated frame is not answered
  }
  // Legacy: the original's single read, continued while the bytes are an unfinished JSON text.
  for (;;) {
    const std::size_t old = body.size();
    body.resize(old + kLegacyRead);
    const std::size_t n = co_await c.stream.async_read_some(
        net::buffer(body.data() + old, kLegacyRead), net::redirect_error(net::use_awaitable, ec));
    body.resize(old + n);
    if (ec) co_return end_of_stream(ec);  // the peer's end of the request, or a failure
    if (body.size() > kMaxFrame) co_return false;
    if (legacy_completeness(body) == Completeness::kComplete) co_return true;
  }
}

template <class Stream>
net::awaitable<void> SocketServer::Impl::serve(std::shared_ptr<Conn<Stream>> c) {
  Registration reg(this, c.get());
  c->arm(opt.read_timeout_s);
  error_code ec;
  if constexpr (!std::is_same_v<Stream, tcp::socket>) {
    co_await c->stream.async_handshake(ssl::stream_base::server,
                                       net::redirect_error(net::use_awaitable, ec));
    if (ec) {
      log::debug(kLog, "TLS handshake failed: " + ec.message());
      count(&ServeStats::dropped);
      c->close();
      co_return;
    }
  }
  std::string body;
  if (!co_await read_request(*c, body)) {
    count(&ServeStats::dropped);
    c->close();
    co_return;
  }
  c->disarm();
  c->answering = true;
  Decision d = decide(body, opt.token);
  std::vector<std::string> reply = std::move(d.reply);
  if (d.document) {
    reply = co_await run_document(std::move(*d.document));
    count(&ServeStats::documents);
  }
  std::string out;
  for (const auto& piece : reply) out += encode_piece(piece, opt.framed);
  if (!out.empty()) {
    c->arm(opt.read_timeout_s);  // a client that never reads its reply is dropped too
    co_await net::async_write(c->stream, net::buffer(out),
                              net::redirect_error(net::use_awaitable, ec));
    if constexpr (!std::is_same_v<Stream, tcp::socket>) {
      if (!ec) co_await c->stream.async_shutdown(net::redirect_error(net::use_awaitable, ec));
    }
    c->disarm();
  }
  c->close();
  if (d.quit) {
    log::info(kLog, "a client asked the server to quit");
    std::lock_guard lk(mu);
    quit = true;
    cv.notify_all();
  }
}

void SocketServer::Impl::run_on_thread(Json doc,
                                       std::function<void(std::vector<std::string>)> done) {
  std::lock_guard lk(mu);
  // Threads of documents that finished are joined here, so they do not pile up.
  for (auto it = execs.begin(); it != execs.end();) {
    if (it->done.load()) {
      it->thread.join();
      it = execs.erase(it);
    } else {
      ++it;
    }
  }
  if (stopping) {
    done(reply_for_error("the server is stopping"));
    return;
  }
  Exec& e = execs.emplace_back();
  e.thread = std::thread([this, &e, doc = std::move(doc), done = std::move(done)]() mutable {
    std::vector<std::string> reply;
    try {
      std::unique_ptr<Session> session = factory();
      {
        std::lock_guard lk(mu);
        sessions.insert(session.get());
        if (stopping) session->interrupt();
      }
      try {
        reply = session->run(doc);
      } catch (const std::exception& ex) {
        reply = reply_for_error(ex.what());
      }
      std::lock_guard lk(mu);
      sessions.erase(session.get());
    } catch (const std::exception& ex) {
      reply = reply_for_error(ex.what());
    }
    done(std::move(reply));
    e.done.store(true);
  });
}

net::awaitable<std::vector<std::string>> SocketServer::Impl::run_document(Json doc) {
  struct Result {
    explicit Result(net::io_context& io) : timer(io) {}
    net::steady_timer timer;
    std::vector<std::string> reply;
    bool ready = false;
  };
  auto r = std::make_shared<Result>(io);
  r->timer.expires_at(net::steady_timer::time_point::max());
  run_on_thread(std::move(doc), [this, r](std::vector<std::string> reply) {
    // Back on the I/O thread: hand the reply to the waiting connection.
    net::post(io, [r, reply = std::move(reply)]() mutable {
      r->reply = std::move(reply);
      r->ready = true;
      r->timer.cancel();
    });
  });
  while (!r->ready) {
    error_code ec;
    co_await r->timer.async_wait(net::redirect_error(net::use_awaitable, ec));
  }
  co_return std::move(r->reply);
}

SocketServer::SocketServer(ServeOptions options, SessionFactory sessions)
    : impl_(std::make_shared<Impl>()) {
  impl_->opt = std::move(options);
  impl_->factory = std::move(sessions);
}

SocketServer::~SocketServer() { stop(); }

void SocketServer::start() {
  Impl& m = *impl_;
  const ServeOptions& o = m.opt;
  if (m.started) throw std::logic_error("the socket server was started already");
  if (o.tls_cert.empty() != o.tls_key.empty()) {
    throw ConfigError("TLS needs both a certificate and a key (--tls-cert and --tls-key)",
                      o.tls_cert.empty() ? "/certfile" : "/keyfile");
  }
  if (!(o.read_timeout_s > 0) || o.read_timeout_s > limits::kMaxSeconds) {
    throw ConfigError("read_timeout must be a positive number of seconds", "/read_timeout");
  }
  if (o.max_connections < 1)
    throw ConfigError("max_connections must be at least 1", "/max_connections");
  error_code ec;
  tcp::resolver resolver(m.io);
  auto results = resolver.resolve(o.host, std::to_string(o.port),
                                  tcp::resolver::numeric_service | tcp::resolver::passive, ec);
  if (ec || results.empty()) {
    throw ConfigError("cannot resolve host '" + o.host + "': " + ec.message(), "/host");
  }
  // The first IPv4 address when there is one ("localhost" is 127.0.0.1, as for the original).
  tcp::endpoint ep = results.begin()->endpoint();
  for (const auto& r : results) {
    if (r.endpoint().address().is_v4()) {
      ep = r.endpoint();
      break;
    }
  }
  const bool want_tls = !o.tls_cert.empty();
  if (!ep.address().is_loopback() && o.token.empty() && !want_tls) {
    throw ConfigError("refusing to listen on " + ep.address().to_string() +
                          ", which is not a loopback address, without a token or TLS: anyone "
                          "who reaches it could run tests from this machine. Give a token "
                          "(--token or LOAD_DENSITY_SOCKET_TOKEN) or a TLS certificate and key, "
                          "or listen on 127.0.0.1",
                      "/host");
  }
  if (want_tls) {
    m.tls.emplace(ssl::context::tls_server);
    m.tls->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3 | ssl::context::single_dh_use);
    SSL_CTX_set_min_proto_version(m.tls->native_handle(), TLS1_2_VERSION);
    m.tls->use_certificate_chain_file(o.tls_cert, ec);
    if (ec) {
      throw ConfigError("cannot use the TLS certificate " + o.tls_cert + ": " + ec.message(),
                        "/certfile");
    }
    m.tls->use_private_key_file(o.tls_key, ssl::context::pem, ec);
    if (ec) {
      throw ConfigError("cannot use the TLS key " + o.tls_key + ": " + ec.message(), "/keyfile");
    }
    if (SSL_CTX_check_private_key(m.tls->native_handle()) != 1) {
      throw ConfigError(
          "the TLS key " + o.tls_key + " does not match the certificate " + o.tls_cert, "/keyfile");
    }
  }
  m.acceptor.open(ep.protocol(), ec);
  if (!ec) m.acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) m.acceptor.bind(ep, ec);
  if (!ec) m.acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    throw std::runtime_error("cannot listen on " + o.host + ":" + std::to_string(o.port) + ": " +
                             ec.message());
  }
  const tcp::endpoint local = m.acceptor.local_endpoint();
  m.port = local.port();
  m.address = (local.address().is_v6() ? "[" + local.address().to_string() + "]"
                                       : local.address().to_string()) +
              ":" + std::to_string(m.port);
  m.started = true;
  net::co_spawn(m.io, m.accept_loop(), net::detached);
  m.io_thread = std::thread([&m] {
    for (;;) {
      try {
        m.io.run();
        return;
      } catch (const std::exception& e) {
        log::error(kLog, std::string("I/O thread: ") + e.what());
      }
    }
  });
  log::info(kLog, "listening on " + m.address + (want_tls ? " (TLS)" : "") +
                      (o.framed ? ", framed" : ", legacy") +
                      (o.token.empty() ? "" : ", token required"));
}

std::uint16_t SocketServer::port() const noexcept { return impl_->port; }
std::string SocketServer::address() const { return impl_->address; }
bool SocketServer::tls() const noexcept { return impl_->tls.has_value(); }

bool SocketServer::wait(const std::atomic<bool>* interrupt) {
  Impl& m = *impl_;
  std::unique_lock lk(m.mu);
  while (!m.quit && !m.stopping && !(interrupt && interrupt->load())) {
    m.cv.wait_for(lk, std::chrono::milliseconds(100));
  }
  return m.quit;
}

ServeStats SocketServer::stats() const {
  std::lock_guard lk(impl_->mu);
  return impl_->stats;
}

void SocketServer::stop() {
  Impl& m = *impl_;
  {
    std::lock_guard lk(m.mu);
    if (m.stopped || !m.started) {
      m.stopped = true;
      return;
    }
    m.stopping = true;
    m.cv.notify_all();
    for (Session* s : m.sessions) s->interrupt();
  }
  net::post(m.io, [&m] {
    error_code ec;
    m.acceptor.close(ec);
    for (ConnBase* c : m.open) {
      if (!c->answering) c->close();  // still sending its request (or silent)
    }
  });
  // Running documents end soon (their tests were interrupted); their replies still go out.
  for (;;) {
    std::list<Impl::Exec> finished;
    {
      std::lock_guard lk(m.mu);
      if (m.execs.empty()) break;
      finished.splice(finished.begin(), m.execs);
    }
    for (auto& e : finished) e.thread.join();
  }
  {
    std::unique_lock lk(m.mu);
    m.cv.wait_for(lk, std::chrono::seconds(2), [&m] { return m.open_count == 0; });
  }
  net::post(m.io, [&m] {
    for (ConnBase* c : m.open) c->close();
  });
  {
    std::unique_lock lk(m.mu);
    m.cv.wait_for(lk, std::chrono::seconds(2), [&m] { return m.open_count == 0; });
  }
  m.io.stop();
  if (m.io_thread.joinable()) m.io_thread.join();
  std::lock_guard lk(m.mu);
  m.stopped = true;
  log::info(kLog, "stopped");
}

}  // namespace ld::serve
