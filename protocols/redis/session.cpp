// The redis_user hot path. Per user: one connection per server URL, carrying up to `pipeline`
// commands in flight; the engine runs that many task loops ("lanes") over the session, each lane
// holding one Slot while its command waits for its reply.
//
// A lane appends its command to the connection's output buffer (pre-encoded bytes, or the
// arguments rendered straight into it), queues its Slot and parks. Replies come back in order,
// so the connection's reader coroutine (wait readable, read into the worker's scratch buffer,
// frame replies in place) hands each reply to the oldest queued Slot, runs its checks while the
// bytes are still in the buffer, and resumes the finished lanes in one batch; the commands they
// queue next go out in one write. A reply split across reads is kept in a per-connection buffer
// that is reused. Connecting sends AUTH and SELECT first; their replies are checked like the
// others. Timeouts come from the worker's DeadlineSweeper: an expired command closes the
// connection (the replies behind it would be out of step), failing what was in flight on it.
// rediss:// runs OpenSSL directly on the non-blocking socket, so TLS reads also go through the
// scratch buffer.
#include <utility>  // before Asio (Boost 1.74 trap)

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detail/reactor.hpp>
#include <boost/asio/detail/reactor_op.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <optional>

#include "common/net_util.hpp"
#include "common/op_scope.hpp"
#include "common/socket_io.hpp"
#include "core/resp.hpp"
#include "loaddensity/protocol/completion.hpp"
#include "redis_impl.hpp"
#include "stats/recorder.hpp"

namespace ld::proto::redis {

namespace {

using boost::system::error_code;
using stats::ErrorInfo;
using stats::ErrorKind;
using tcp = net::ip::tcp;

// A failed I/O call: the command's timeout when the sweeper cut it short, else what the error
// code says (the session kit's classifier).
ErrorInfo io_error(const error_code& ec, bool timed_out, const char* stage) noexcept {
  return timed_out ? kTimedOut : classify_error(ec, stage);
}

struct Conn;

// A TCP socket whose reactor registration the reader can wait on directly (ReadableOp).
class Socket : public tcp::socket {
 public:
  using tcp::socket::socket;
  net::detail::reactor::per_descriptor_data& reactor_data() {
    return impl_.get_implementation().reactor_data_;
  }
};

// The reader's wait for readability: an operation of our own on the socket's registration in
// the worker's reactor (Asio 1.74's reactor interface, asio::detail), which registered the
// socket edge-triggered for input once, when it opened. Asio's async_wait re-arms the
// descriptor with epoll_ctl on every call; this op is started "speculatively", so it completes
// at once when an edge came since the last one it took (the reactor's try-speculative flag)
// and otherwise waits for the next edge with no system call. It performs no I/O: the reader
// reads until the socket is drained before it waits again, so every later byte is a new edge.
// It lives in the reader's frame and is pending exactly while the reader is parked on it.
struct ReadableOp : net::detail::reactor_op {
  ReadableOp() : reactor_op(error_code(), &perform, &complete) {}
  static status perform(reactor_op*) { return done_and_exhausted; }
  static void complete(void* owner, net::detail::operation* base, const error_code&,
                       std::size_t) {
    auto* op = static_cast<ReadableOp*>(base);
    if (!owner) {
      op->reader.release();  // the event loop is being destroyed: let the reader's frame go
      return;
    }
    op->reader.resume_now();
  }
  engine::Park reader;  // parked while the op is pending
};

struct Slot {
  engine::TimedOp op;
  Conn* conn = nullptr;  // the connection the command is queued on (while in flight)
  const Step* step = nullptr;
  engine::Park waiter;  // parked while its reply is awaited
  bool done = false;
  bool connect = false;  // the command found its connection closed and connects it
  Nanos planned = 0;
  Nanos start = 0;
  ErrorInfo error;
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  Nanos end = 0;
  std::string body;  // a success's reply, only when the test keeps bodies
};

// The reply as text for `expect`: strings as sent, integers in decimal.
bool expect_matches(const Step& step, const resp::Reply& r, std::string_view raw,
                    std::string& scratch, std::string& json, params::UserScope& scope) {
  if (r.type == resp::Type::kNil) {
    if (step.expect_nil) return true;
    scratch.clear();
    step.expect.render(scratch, scope);
    return scratch == "None";  // what redis-py printed for nil
  }
  if (step.expect_nil) return false;
  scratch.clear();
  step.expect.render(scratch, scope);
  if (r.type == resp::Type::kArray) {
    json.clear();
    resp::append_json(raw, json);
    return json == scratch;
  }
  if (r.type == resp::Type::kSimple && r.text == "OK" && scratch == "True") return true;  // redis-py
  return r.text == scratch;
}

// One server connection. Shared by the session and its reader coroutine (and a pending write
// wait), so it outlives the session while those still hold it; `gen` tells them apart from a
// later connection on the same object.
struct Conn : std::enable_shared_from_this<Conn> {
  enum class State : std::uint8_t { kClosed, kConnecting, kOpen };

  Conn(engine::WorkerContext& w, const Endpoint& ep, std::size_t depth)
      : w(w), ep(ep), sock(w.io), reactor(net::use_service<net::detail::reactor>(w.io)) {
    ring.resize(depth + ep.handshake_replies + 1);
    ready.reserve(depth);
  }
  ~Conn() { close(); }
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  engine::WorkerContext& w;
  const Endpoint& ep;  // lives in the compiled tasks, for the run
  Socket sock;
  net::detail::reactor& reactor;
  SSL* ssl = nullptr;  // rediss://: TLS on sock's descriptor
  State state = State::kClosed;
  std::uint64_t gen = 0;  // bumped per connection attempt and when the session goes away
  bool timed_out = false;
  bool batching = false;       // the reader is resuming lanes: their commands wait for one write
  Nanos batch_now = 0;         // while batching: when the replies were read (the next sends' start)
  bool write_waiting = false;  // a wait for writability is pending
  std::string out;             // commands not yet written
  std::size_t out_off = 0;
  std::string carry;  // the start of a reply that has not fully arrived
  std::string json;   // a reply rendered as JSON for checks (reused)
  std::string expect_text;
  // Slots waiting for replies, oldest first (nullptr: a handshake reply). Fixed capacity.
  std::vector<Slot*> ring;
  std::size_t head = 0, count = 0;
  std::vector<Slot*> ready;  // finished, to resume

  void push(Slot* s) {
    ring[(head + count) % ring.size()] = s;
    ++count;
  }
  Slot* pop() {
    Slot* s = ring[head];
    head = (head + 1) % ring.size();
    --count;
    return s;
  }

  static void expire(void* self) noexcept {
    Conn* c = static_cast<Slot*>(self)->conn;
    if (!c) return;
    c->timed_out = true;
    error_code ignored;
    c->sock.close(ignored);  // the pending wait, connect or read fails and fails the queue
  }

  void close() noexcept {
    error_code ignored;
    sock.close(ignored);
    if (ssl) SSL_free(ssl);
    ssl = nullptr;
    state = State::kClosed;
  }

  // One non-blocking read or write, plain or TLS.
  std::size_t read_some(char* buf, std::size_t cap, error_code& ec) {
    return proto::read_some(sock, ssl, buf, cap, ec);
  }
  std::size_t write_some(const char* buf, std::size_t len, error_code& ec) {
    return proto::write_some(sock, ssl, buf, len, ec);
  }

  // Fails every queued command (and hands back the finished ones) and closes the connection.
  void fail_all(ErrorInfo e) {
    if (timed_out) e = kTimedOut;
    const Nanos now = steady_now();
    while (count > 0) {
      Slot* s = pop();
      if (!s) continue;
      s->error = e;
      s->bytes_in = 0;
      s->end = now;
      s->done = true;
      ready.push_back(s);
    }
    close();
    ++gen;
    timed_out = false;
    out.clear();
    out_off = 0;
    carry.clear();
    write_waiting = false;
    for (Slot* s : ready) s->waiter.wake(w.io);
    ready.clear();
  }

  // Writes what is queued; a short write waits for writability and continues.
  void flush() {
    if (state != State::kOpen || write_waiting) return;
    while (out_off < out.size()) {
      error_code ec;
      const std::size_t n = write_some(out.data() + out_off, out.size() - out_off, ec);
      if (would_block(ec)) {
        write_waiting = true;
        sock.async_wait(tcp::socket::wait_write,
                        [self = shared_from_this(), g = gen](error_code wec) {
                          if (self->gen != g) return;
                          self->write_waiting = false;
                          if (wec) {
                            self->fail_all(io_error(wec, self->timed_out, "send"));
                            return;
                          }
                          self->flush();
                        });
        return;
      }
      if (ec) {
        fail_all(io_error(ec, timed_out, "send"));
        return;
      }
      out_off += n;
    }
    out.clear();
    out_off = 0;
  }

  // Hands one complete reply to the oldest queued slot. False: the handshake failed (`e` set).
  bool deliver(const resp::Reply& r, std::string_view raw, Nanos now, ErrorInfo& e) {
    Slot* s = pop();
    if (!s) {  // AUTH or SELECT
      if (r.type != resp::Type::kError) return true;
      e = {ErrorKind::kRedisError, w.intern(r.text), 0, false};
      return false;
    }
    s->end = now;
    s->bytes_in = raw.size();
    s->error = {};
    const Step& step = *s->step;
    if (r.type == resp::Type::kError) {
      s->error = {ErrorKind::kRedisError, w.intern(r.text), 0, false};
    } else if (step.has_expect && !expect_matches(step, r, raw, expect_text, json, *w.scope)) {
      s->error = {ErrorKind::kAssertion, step.expect_message.c_str(), 0, false};
    } else if (step.checks) {
      // The reply as the checks see it: JSON (nil is null, integers numbers, arrays arrays),
      // except a string holding a JSON object or array, which is checked as that document.
      std::string_view body;
      switch (r.type) {
        case resp::Type::kInteger: body = r.text; break;
        case resp::Type::kNil: body = "null"; break;
        case resp::Type::kSimple:
        case resp::Type::kBulk:
          if (!r.text.empty() && (r.text.front() == '{' || r.text.front() == '[')) {
            body = r.text;
            break;
          }
          [[fallthrough]];
        default:
          json.clear();
          resp::append_json(raw, json);
          body = json;
          break;
      }
      if (const char* msg = step.checks->apply(checks::ResponseView{0, body, {}}, *w.scope)) {
        s->error = {ErrorKind::kAssertion, msg, 0, false};
      }
    }
    if (w.keep_bodies > 0 && s->error.kind == ErrorKind::kNone) {
      const std::string_view text = r.type == resp::Type::kArray ? raw : r.text;
      s->body.assign(text.substr(0, w.keep_bodies));
    }
    s->done = true;
    ready.push_back(s);
    return true;
  }

  // Frames the replies in `data` (read just now). Returns false with `e` set on a protocol
  // error or a failed handshake.
  bool consume(std::string_view data, Nanos now, ErrorInfo& e) {
    std::string_view buf = data;
    if (!carry.empty()) {
      carry.append(data);
      buf = carry;
    }
    std::size_t pos = 0;
    while (pos < buf.size()) {
      resp::Reply r;
      const resp::Scan scan = resp::scan_reply(buf.substr(pos), r);
      if (scan == resp::Scan::kIncomplete) break;
      if (scan == resp::Scan::kMalformed || count == 0) {
        e = {ErrorKind::kProtocol,
             count == 0 ? "reply with no command waiting for it" : "malformed RESP reply", 0,
             false};
        return false;
      }
      if (!deliver(r, buf.substr(pos, r.size), now, e)) return false;
      pos += r.size;
    }
    if (!carry.empty()) {
      carry.erase(0, pos);
    } else if (pos < buf.size()) {
      carry.assign(buf.substr(pos));
    }
    if (carry.size() > kMaxReplyBytes) {
      e = {ErrorKind::kProtocol, "reply larger than 64 MiB", 0, false};
      return false;
    }
    return true;
  }

  // Resumes the finished lanes now, on this stack; what they queue goes out in one write.
  void resume_ready(Nanos now) {
    batching = true;
    batch_now = now;
    for (std::size_t i = 0; i < ready.size(); ++i) {
      ready[i]->waiter.resume_now();
    }
    ready.clear();
    batching = false;
    flush();
  }

  // Parks the reader on `op` until the socket is readable, or the wait fails into op.ec_
  // (operation_aborted when the socket is closed, bad_descriptor when it was closed already).
  engine::detail::ParkAwait wait_readable(ReadableOp& op) {
    op.ec_ = {};
    reactor.start_op(net::detail::reactor::read_op, sock.native_handle(), sock.reactor_data(),
                     &op, true, true);
    return op.reader.wait();
  }

  static net::awaitable<void> reader(std::shared_ptr<Conn> self, std::uint64_t g) {
    Conn& c = *self;
    const std::span<char> scratch = c.w.scratch;
    ReadableOp readable;
    for (;;) {
      co_await c.wait_readable(readable);
      error_code ec = readable.ec_;
      if (c.gen != g) co_return;
      if (ec) {
        c.fail_all(io_error(ec, c.timed_out, "receive"));
        co_return;
      }
      for (;;) {
        const std::size_t n = c.read_some(scratch.data(), scratch.size(), ec);
        if (would_block(ec)) break;
        if (ec == net::error::eof) {
          c.fail_all({ErrorKind::kReset, "connection closed by the server", 0, false});
          co_return;
        }
        if (ec) {
          c.fail_all(io_error(ec, c.timed_out, "receive"));
          co_return;
        }
        ErrorInfo e;
        const Nanos now = steady_now();
        if (!c.consume(std::string_view(scratch.data(), n), now, e)) {
          c.fail_all(e);
          co_return;
        }
        c.resume_ready(now);
        if (c.gen != g) co_return;  // a resumed lane's write failed, or the session went away
        // Drained: wait rather than read EAGAIN (TLS may hold decrypted bytes: read on).
        if (!c.ssl && n < scratch.size()) break;
      }
    }
  }

  net::awaitable<ErrorInfo> handshake(std::uint64_t g);

  // Connects (on the lane that found the connection closed) and starts the reader; the queued
  // commands, AUTH and SELECT first, go out once connected.
  net::awaitable<void> connect() {
    state = State::kConnecting;
    const std::uint64_t g = ++gen;
    auto self = shared_from_this();
    error_code ec;
    std::vector<tcp::endpoint> resolved;
    const std::vector<tcp::endpoint>* eps = &ep.resolved;
    if (eps->empty()) {
      tcp::resolver r(w.io);
      auto results = co_await r.async_resolve(ep.url.host, std::to_string(ep.url.port),
                                              net::redirect_error(net::use_awaitable, ec));
      if (gen != g) co_return;
      if (ec) {
        fail_all(io_error(ec, timed_out, "DNS lookup failed"));
        co_return;
      }
      for (const auto& e : results) resolved.push_back(e.endpoint());
      eps = &resolved;
    }
    error_code ignored;
    sock.close(ignored);
    co_await net::async_connect(sock, *eps, net::redirect_error(net::use_awaitable, ec));
    if (gen != g) co_return;
    if (ec || timed_out) {
      fail_all(io_error(ec, timed_out, "connect"));
      co_return;
    }
    sock.set_option(tcp::no_delay(true), ec);
    sock.non_blocking(true, ec);
    if (ep.ssl) {
      const ErrorInfo e = co_await handshake(g);
      if (gen != g) co_return;
      if (e.kind != ErrorKind::kNone) {
        fail_all(e);
        co_return;
      }
    }
    state = State::kOpen;
    net::co_spawn(w.io, reader(self, g), net::detached);
    flush();
  }
};

// The TLS handshake on the connected socket (SNI and, when verifying, the host name or IP).
net::awaitable<ErrorInfo> Conn::handshake(std::uint64_t g) {
  SSL_CTX* ctx = ep.ssl->native_handle();
  ssl = SSL_new(ctx);
  if (!ssl) co_return ErrorInfo{ErrorKind::kTls, "TLS setup failed", 0, false};
  SSL_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_set_fd(ssl, sock.native_handle());
  const std::string& host = ep.url.host;
  error_code ec;
  const bool ip = (net::ip::make_address(host, ec), !ec);
  if (!ip) SSL_set_tlsext_host_name(ssl, host.c_str());
  if (SSL_CTX_get_verify_mode(ctx) & SSL_VERIFY_PEER) {
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (ip) {
      X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str());
    } else {
      X509_VERIFY_PARAM_set1_host(param, host.c_str(), 0);
    }
  }
  SSL_set_connect_state(ssl);
  for (;;) {
    ERR_clear_error();
    const int r = SSL_do_handshake(ssl);
    if (r == 1) co_return ErrorInfo{};
    const int err = SSL_get_error(ssl, r);
    if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
      if (err == SSL_ERROR_SYSCALL && ERR_peek_last_error() == 0) {
        co_return ErrorInfo{ErrorKind::kReset, "connection closed during the TLS handshake", 0,
                            false};
      }
      co_return proto::tls_handshake_error(ssl);
    }
    co_await sock.async_wait(err == SSL_ERROR_WANT_READ ? tcp::socket::wait_read
                                                        : tcp::socket::wait_write,
                             net::redirect_error(net::use_awaitable, ec));
    if (gen != g) co_return ErrorInfo{};
    if (ec) co_return io_error(ec, timed_out, "TLS handshake failed");
  }
}

class Session final : public engine::UserSession {
 public:
  Session(const Tasks& tasks, engine::WorkerContext& w) : tasks_(tasks), w_(w) {
    slots_.resize(tasks.pipeline);
    free_.reserve(tasks.pipeline);
    for (auto& s : slots_) {
      s.op.on_expire = &Conn::expire;
      s.op.self = &s;
      w_.deadlines.add(&s.op);
      free_.push_back(&s);
    }
    conns_.resize(tasks.endpoints.size());
  }

  ~Session() override {
    for (auto& s : slots_) w_.deadlines.remove(&s.op);
    shutdown();
  }

  void shutdown() noexcept override {
    for (auto& c : conns_) {
      if (!c) continue;
      c->close();
      ++c->gen;  // the reader and write waits leave the slots alone from now on
      c->count = 0;
      c->ready.clear();
    }
  }

  std::size_t concurrency() const noexcept override { return tasks_.pipeline; }

  // The coroutine holds only the slot across its suspension: what it records is kept in the
  // slot and the record is made on the stack (finish), so a parked lane's frame is small.
  net::awaitable<void> run_step(std::size_t index, Nanos planned) override {
    Slot& slot = begin(index, planned);
    Conn& conn = *slot.conn;
    if (slot.connect) {
      co_await conn.connect();
    } else if (conn.state == Conn::State::kOpen && !conn.batching) {
      conn.flush();
    }
    if (!slot.done) co_await slot.waiter.wait();
    finish(slot);
  }

 private:
  // Queues task `index`'s command on its connection in a free slot.
  Slot& begin(std::size_t index, Nanos planned) {
    const Step& step = tasks_.steps[index];
    Slot& slot = *free_.back();
    free_.pop_back();
    Conn& conn = connection(step.endpoint);
    slot.planned = planned;
    // A lane resumed with a batch of replies sends in that batch's write: its start is the time
    // the batch was read (one clock read per batch, not per command).
    slot.start = conn.batching ? std::max(planned, conn.batch_now) : steady_now();
    slot.step = &step;
    slot.conn = &conn;
    slot.done = false;
    slot.op.arm(slot.start + step.timeout);

    slot.connect = conn.state == Conn::State::kClosed;
    if (slot.connect) {
      conn.out.assign(ep_handshake(step));
      for (std::size_t i = 0; i < tasks_.endpoints[step.endpoint].handshake_replies; ++i) {
        conn.push(nullptr);
      }
    }
    const std::size_t before = conn.out.size();
    if (step.dynamic) {
      resp::append_array_header(conn.out, step.args.size());
      for (const auto& a : step.args) {
        arg_.clear();
        a.render(arg_, *w_.scope);
        resp::append_bulk(conn.out, arg_);
      }
    } else {
      conn.out.append(step.command);
    }
    slot.bytes_out = conn.out.size() - before;
    conn.push(&slot);
    return slot;
  }

  // Records the slot's command and frees the slot.
  void finish(Slot& slot) {
    slot.op.disarm();
    slot.conn = nullptr;
    stats::Record rec;
    rec.name_id = slot.step->name_id;
    rec.planned = slot.planned;
    rec.start = slot.start;
    rec.end = slot.end ? slot.end : steady_now();
    slot.end = 0;
    rec.error = slot.error;
    if (slot.op.expired && *w_.aborting) {
      rec.error = engine::kAbortedError;
    } else if (slot.op.expired && rec.ok()) {
      rec.error = kTimedOut;
    }
    rec.bytes_out = slot.bytes_in > 0 ? slot.bytes_out : 0;  // written when a reply came back
    rec.bytes_in = slot.bytes_in;
    if (rec.ok() && w_.keep_bodies > 0) rec.text = slot.body;
    w_.record(rec);
    free_.push_back(&slot);
  }

  const std::string& ep_handshake(const Step& step) const {
    return tasks_.endpoints[step.endpoint].handshake;
  }

  Conn& connection(std::size_t endpoint) {
    auto& c = conns_[endpoint];
    if (!c) c = std::make_shared<Conn>(w_, tasks_.endpoints[endpoint], tasks_.pipeline);
    return *c;
  }

  const Tasks& tasks_;
  engine::WorkerContext w_;
  std::vector<Slot> slots_;
  std::vector<Slot*> free_;
  std::vector<std::shared_ptr<Conn>> conns_;
  std::string arg_;  // one rendered argument (reused)
};

}  // namespace

std::unique_ptr<engine::UserSession> Tasks::new_user(engine::WorkerContext& worker) {
  return std::make_unique<Session>(*this, worker);
}

}  // namespace ld::proto::redis
