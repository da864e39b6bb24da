// The socket_user hot path. Per user: one TCP connection per target, kept open across steps
// and iterations (reconnected when closed), and one connected UDP socket per target. Sockets
// are non-blocking; a read waits for readability and then reads into the worker's scratch
// buffer, so a connection holds no buffer of its own. Timeouts come from the worker's
// DeadlineSweeper, which closes the socket of an operation past its deadline.
// With io_backend io_uring, a connected socket's sends and reads go through the worker's ring
// (common/uring/ring.hpp): TCP reads land in the ring's provided buffers, a UDP read waits for
// readability there and reads the datagram into the scratch buffer; connecting stays on Asio.
#include <utility>  // before Asio (Boost 1.74 trap)

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <optional>

#include <sys/socket.h>

#include <cerrno>

#include "common/connect.hpp"
#include "common/uring/ring.hpp"
#include "socket_impl.hpp"
#include "stats/recorder.hpp"
#include "substring_matcher.hpp"

namespace ld::proto::socket {

namespace {

using boost::system::error_code;
using stats::ErrorInfo;
using stats::ErrorKind;
using tcp = net::ip::tcp;
using udp = net::ip::udp;

struct Conn {
  bool udp = false;
  const std::string* host = nullptr;  // points into the compiled step (lives for the run)
  std::uint16_t port = 0;
  std::optional<tcp::socket> tcp_socket;
  std::optional<udp::socket> udp_socket;
  uring::SocketPtr ring_socket;  // io_uring: the connected socket, moved off Asio
  bool open = false;
  engine::TimedOp op;

  void close() noexcept {
    error_code ignored;
    ring_socket.reset();
    if (tcp_socket) tcp_socket->close(ignored);
    if (udp_socket) udp_socket->close(ignored);
    open = false;
  }
  static void expire(void* self) noexcept {
    auto* c = static_cast<Conn*>(self);
    if (c->ring_socket) {
      c->ring_socket->cut();  // what is in flight completes now; the session closes it
      return;
    }
    c->close();
  }
};

bool would_block(const error_code& ec) {
  return ec == net::error::would_block || ec == net::error::try_again;
}

class Session final : public engine::UserSession {
 public:
  Session(const Tasks& tasks, engine::WorkerContext& w)
      : tasks_(tasks),
        w_(w),
        ring_(tasks.io_uring ? static_cast<uring::Ring*>(w.worker_state) : nullptr) {}

  ~Session() override {
    for (auto& c : conns_) w_.deadlines.remove(&c->op);
  }

  void shutdown() noexcept override {
    for (auto& c : conns_) c->close();
  }

  net::awaitable<void> run_step(std::size_t index, Nanos planned) override {
    const Step& step = tasks_.steps[index];
    Conn& conn = connection(step);
    OpScope op(w_, conn.op, step.name_id, planned, step.timeout);
    stats::Record& rec = op.rec;
    sent_ = 0;
    reply_.clear();
    for (int attempt = 0;; ++attempt) {
      const bool reused = conn.open;
      received_ = 0;
      error_code ec;
      rec.error = {};
      if (!conn.open) {
        rec.error = co_await open(conn, step, op);
      }
      if (rec.error.kind == ErrorKind::kNone) {
        rec.error = co_await exchange(conn, step, ec, op);
      }
      if (rec.error.kind == ErrorKind::kNone) break;
      conn.close();
      // A kept-alive TCP connection the server closed while idle: reconnect once.
      const bool stale = !step.udp && reused && attempt == 0 && received_ == 0 && !op.expired() &&
                         is_stale_connection_error(ec);
      if (!stale) break;
    }
    // A failure after the deadline is the timeout (a read cut short can look like EOF).
    if (!op.stop() && !rec.ok() && op.expired()) rec.error = op.timed_out();
    rec.bytes_out = sent_;  // bytes actually written, over every attempt
    rec.bytes_in = received_;
    // The record log keeps the reply a check read (a failure), or every reply with record_bodies.
    if (!reply_.empty() && (!rec.ok() || w_.keep_bodies)) rec.text = reply_;
    op.record();
  }

 private:
  Conn& connection(const Step& step) {
    for (auto& c : conns_) {
      if (c->udp == step.udp && c->port == step.port && *c->host == step.host) return *c;
    }
    auto c = std::make_unique<Conn>();
    c->udp = step.udp;
    c->host = &step.host;
    c->port = step.port;
    c->op.on_expire = &Conn::expire;
    c->op.self = c.get();
    w_.deadlines.add(&c->op);
    conns_.push_back(std::move(c));
    return *conns_.back();
  }

  net::awaitable<ErrorInfo> open(Conn& c, const Step& step, const OpScope& op) {
    error_code ec;
    if (step.udp) {
      std::vector<udp::endpoint> resolved;
      const std::vector<udp::endpoint>* eps = &step.udp_endpoints;
      if (eps->empty()) {
        udp::resolver r(w_.io);
        auto results = co_await r.async_resolve(step.host, std::to_string(step.port),
                                                net::redirect_error(net::use_awaitable, ec));
        if (ec) co_return op.error(ec, "DNS lookup failed");
        for (const auto& e : results) resolved.push_back(e.endpoint());
        eps = &resolved;
      }
      c.udp_socket.emplace(w_.io);
      const udp::endpoint& to = eps->front();
      c.udp_socket->open(to.protocol(), ec);
      if (!ec) c.udp_socket->connect(to, ec);  // filters replies to this peer; no packets sent
      if (!ec) c.udp_socket->non_blocking(true, ec);
      if (ec) co_return op.error(ec, "connect");
      if (ring_) {
        const int fd = c.udp_socket->release(ec);
        c.udp_socket.reset();
        if (ec) co_return op.error(ec, "connect");
        c.ring_socket.reset(ring_->adopt(fd, /*stream=*/false));
      }
      c.open = true;
      co_return ErrorInfo{};
    }
    c.tcp_socket.emplace(w_.io);
    ErrorInfo e = co_await connect_tcp(*c.tcp_socket, step.host, step.port, step.tcp_endpoints, op);
    if (e.kind != ErrorKind::kNone) co_return e;
    c.tcp_socket->non_blocking(true, ec);
    if (ring_) {
      const int fd = c.tcp_socket->release(ec);
      c.tcp_socket.reset();
      if (ec) co_return op.error(ec, "connect");
      c.ring_socket.reset(ring_->adopt(fd, /*stream=*/true));
    }
    c.open = true;
    co_return ErrorInfo{};
  }

  // Sends the payload and reads the reply the step expects. Sets `ec` to the I/O error, if any.
  net::awaitable<ErrorInfo> exchange(Conn& c, const Step& step, error_code& ec, const OpScope& op) {
    const char* bad = nullptr;
    const std::string_view payload = step.payload.render(*w_.scope, text_, decoded_, bad);
    if (bad) co_return ErrorInfo{ErrorKind::kInvalidRequest, bad, 0, false};
    if (!payload.empty()) {
      if (c.ring_socket) {
        ec = co_await send_ring(*c.ring_socket, payload);
      } else if (step.udp) {
        ec = co_await send_udp(c, payload);
      } else {
        ec = co_await write_tcp(c, payload);
      }
      if (ec) co_return op.error(ec, "send");
      sent_ += payload.size();
    }
    if (!step.read) co_return ErrorInfo{};
    ErrorInfo e = co_await read_reply(c, step, ec, op);
    if (e.kind != ErrorKind::kNone || !step.checks) co_return e;
    if (const char* failed = step.checks->apply(checks::ResponseView{0, reply_, {}}, *w_.scope)) {
      co_return ErrorInfo{ErrorKind::kAssertion, failed, 0, false};
    }
    co_return ErrorInfo{};
  }

  // Reads the reply the step expects (expect_bytes, expect_substring; with neither, one read's
  // bytes or one datagram). The bytes are kept in reply_ only when checks read them (up to
  // kMaxReply) or the test keeps bodies (up to WorkerContext::keep_bodies).
  net::awaitable<ErrorInfo> read_reply(Conn& c, const Step& step, error_code& ec,
                                       const OpScope& op) {
    const bool once = step.expect_bytes == 0 && step.expect_substring.empty();
    reply_.clear();
    matcher_.reset(step.expect_substring);
    const char* buf = w_.scratch.data();
    const std::size_t cap = w_.scratch.size();
    uring::Socket* rs = c.ring_socket.get();
    for (;;) {
      if (rs) {
        // TCP: the read itself (into a ring buffer); UDP: readability, then the read below.
        std::size_t want = uring::Ring::kBufferSize;
        if (step.expect_bytes > 0 && !step.udp) want = std::min(want, step.expect_bytes - received_);
        ring_->receive(*rs, want, /*poll_first=*/false);
        while (rs->receiving) co_await rs->wait();
        if (rs->recv_res < 0) ec = uring::error_of(rs->recv_res);
      } else if (step.udp) {
        co_await c.udp_socket->async_wait(udp::socket::wait_read,
                                          net::redirect_error(net::use_awaitable, ec));
      } else {
        co_await c.tcp_socket->async_wait(tcp::socket::wait_read,
                                          net::redirect_error(net::use_awaitable, ec));
      }
      if (ec) co_return op.error(ec, "receive");
      // Drain what is there; the scratch buffer is valid until the next suspension only.
      for (bool ring_read = rs && !step.udp;;) {
        std::size_t want = cap;
        if (step.expect_bytes > 0 && !step.udp) want = std::min(cap, step.expect_bytes - received_);
        std::size_t n = 0;
        if (ring_read) {
          // The bytes the ring read: copied out (checks, the matcher) and the buffer handed back.
          if (rs->recv_res == 0) {
            ec = net::error::eof;
          } else {
            const std::string_view got = rs->data();
            n = got.size();
            std::memcpy(w_.scratch.data(), got.data(), n);
            rs->release_buffer();
          }
          ring_read = false;
        } else if (rs && !step.udp) {
          break;  // the next read goes through the ring again
        } else if (rs) {
          const ssize_t r = ::recv(rs->fd, w_.scratch.data(), want, MSG_DONTWAIT);
          if (r < 0) ec = error_code(errno, boost::system::system_category());
          n = r < 0 ? 0 : static_cast<std::size_t>(r);
        } else if (step.udp) {
          n = c.udp_socket->receive(net::buffer(w_.scratch.data(), want), 0, ec);
        } else {
          n = c.tcp_socket->read_some(net::buffer(w_.scratch.data(), want), ec);
        }
        if (would_block(ec)) {
          ec.clear();
          break;
        }
        if (ec == net::error::eof) {
          if (step.expect_bytes > 0) {
            co_return ErrorInfo{ErrorKind::kReset, "connection closed before expect_bytes arrived",
                                0, false};
          }
          if (once) {
            co_return ErrorInfo{ErrorKind::kReset, "connection closed before a reply arrived", 0,
                                false};
          }
          co_return ErrorInfo{ErrorKind::kAssertion,
                              "connection closed before expect_substring arrived", 0, false};
        }
        if (ec) co_return op.error(ec, "receive");
        received_ += n;
        const std::size_t keep = step.checks ? kMaxReply : w_.keep_bodies;
        if (reply_.size() < keep) reply_.append(buf, std::min(n, keep - reply_.size()));
        if (once) co_return ErrorInfo{};
        const bool seen = matcher_.feed(std::string_view(buf, n));
        if (step.expect_bytes > 0) {
          if (received_ < step.expect_bytes) continue;
          if (!seen) {
            co_return ErrorInfo{ErrorKind::kAssertion, "expect_substring not in the reply", 0,
                                false};
          }
          co_return ErrorInfo{};
        }
        if (seen) co_return ErrorInfo{};
      }
    }
  }

  net::awaitable<error_code> write_tcp(Conn& c, std::string_view data) {
    error_code ec;
    std::size_t done = 0;
    while (done < data.size()) {
      done += c.tcp_socket->write_some(net::buffer(data.data() + done, data.size() - done), ec);
      if (would_block(ec)) {
        ec.clear();
        co_await c.tcp_socket->async_wait(tcp::socket::wait_write,
                                          net::redirect_error(net::use_awaitable, ec));
      }
      if (ec) co_return ec;
    }
    co_return ec;
  }

  // io_uring: one send (the ring finishes a partial one), waited for.
  net::awaitable<error_code> send_ring(uring::Socket& s, std::string_view data) {
    ring_->send(s, data.data(), data.size());
    s.wake_on_send = true;
    while (s.sending) co_await s.wait();
    co_return s.send_error ? uring::error_of(s.send_error) : error_code{};
  }

  net::awaitable<error_code> send_udp(Conn& c, std::string_view data) {
    error_code ec;
    for (;;) {
      c.udp_socket->send(net::buffer(data.data(), data.size()), 0, ec);
      if (!would_block(ec)) co_return ec;
      ec.clear();
      co_await c.udp_socket->async_wait(udp::socket::wait_write,
                                        net::redirect_error(net::use_awaitable, ec));
      if (ec) co_return ec;
    }
  }

  std::uint64_t sent_ = 0;  // payload bytes written by the current step
  const Tasks& tasks_;
  engine::WorkerContext w_;
  uring::Ring* ring_;  // io_uring: the worker's ring; null on epoll
  std::vector<std::unique_ptr<Conn>> conns_;
  SubstringMatcher matcher_;
  std::size_t received_ = 0;  // reply bytes of the current step
  // Per-request rendering and checks (reused): payload text, its "hex:" bytes, the reply.
  std::string text_, decoded_, reply_;
  static constexpr std::size_t kMaxReply = 1 << 20;  // reply bytes kept for checks
};

}  // namespace

std::unique_ptr<engine::UserSession> Tasks::new_user(engine::WorkerContext& worker) {
  return std::make_unique<Session>(*this, worker);
}

std::shared_ptr<void> Tasks::new_worker_state(engine::WorkerContext& worker) {
  if (!io_uring) return nullptr;
  return uring::worker_ring(worker.io);
}

}  // namespace ld::proto::socket
