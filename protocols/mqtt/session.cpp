// The mqtt_user session: an MQTT client of its own on the user's worker (no thread, no lock).
//
// Each user owns one connection object (Conn): a non-blocking socket (TCP_NODELAY; mqtts://
// runs OpenSSL directly on it), an output buffer, a reader coroutine, the one operation waiting
// for the broker (a user runs one task at a time) and the user's bounded inbox. Packets are
// encoded into the output buffer and decoded in place from the worker's scratch buffer by the
// codec shared with the embedded broker (core/mqtt_codec). The reader frames what arrived,
// answers the broker's PUBLISHes (PUBACK, PUBREC/PUBCOMP), queues their payloads in the inbox,
// completes the waiting operation when its acknowledgement (matched by packet id) arrives and
// resumes the user on its own stack; what the user sends next goes out in the same write as
// the acks. Timeouts come from the worker's DeadlineSweeper: a connect that runs out closes the
// socket, an acknowledgement that runs out leaves the connection up (a late one is ignored).
// A second TimedOp per connection sends PINGREQ when nothing was sent for half the keepalive.
#include <utility>  // before Asio (Boost 1.74 trap)

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <optional>

#include "common/connect.hpp"
#include "common/op_scope.hpp"
#include "common/socket_io.hpp"
#include "core/mqtt_codec.hpp"
#include "loaddensity/protocol/completion.hpp"
#include "mqtt_impl.hpp"

namespace ld::proto::mqtt {

namespace {

namespace codec = ld::mqtt;
using boost::system::error_code;
using stats::ErrorInfo;
using stats::ErrorKind;
using tcp = net::ip::tcp;

constexpr ErrorInfo kLost{ErrorKind::kReset, "connection closed by the broker", 0, false};
constexpr ErrorInfo kDropped{ErrorKind::kOther,
                             "messages dropped: the user's inbox was full (mqtt_inbox)", 0, false};
constexpr ErrorInfo kMalformed{ErrorKind::kProtocol, "malformed MQTT packet from the broker", 0,
                               false};
constexpr ErrorInfo kTooLarge{ErrorKind::kProtocol, "MQTT packet larger than 64 MiB", 0, false};
constexpr ErrorInfo kNoPingResp{ErrorKind::kReset, "no PINGRESP within the keepalive", 0, false};

// A received message's payload and when it was read.
struct Message {
  std::string payload;
  Nanos at = 0;
};

// The operation waiting for the broker: the packet type that completes it and its packet id.
enum class Await : std::uint8_t { kNone, kConnack, kPuback, kPubcomp, kSuback, kUnsuback, kWrite };

std::atomic<std::uint32_t> g_sessions{0};

struct Conn : std::enable_shared_from_this<Conn> {
  enum class State : std::uint8_t { kClosed, kConnecting, kOpen };

  Conn(engine::WorkerContext& w, std::size_t inbox_cap) : w(w), sock(w.io), inbox_cap(inbox_cap) {
    op.on_expire = &Conn::expire;
    op.self = this;
    ping.on_expire = &Conn::on_ping;
    ping.self = this;
  }
  ~Conn() { close(); }
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  engine::WorkerContext& w;
  tcp::socket sock;
  SSL* ssl = nullptr;
  State state = State::kClosed;
  std::uint64_t gen = 0;  // bumped per connection and when the session goes away
  bool v5 = false;
  bool batching = false;       // the reader is resuming the user: its packets wait for one write
  bool write_waiting = false;  // a wait for writability is pending
  bool sent = false;           // bytes written since the last keepalive tick
  bool ping_outstanding = false;
  std::string out;  // packets not yet written
  std::size_t out_off = 0;
  std::string carry;  // the start of a packet that has not fully arrived
  std::uint16_t next_id = 0;

  // The operation's deadline (connect, acknowledgement, wait) and the keepalive tick.
  engine::TimedOp op;
  engine::TimedOp ping;
  Nanos keepalive = 0;
  Nanos ping_sent = 0;

  // The waiting operation.
  Await awaiting = Await::kNone;
  std::uint16_t await_id = 0;
  bool done = false;
  std::uint8_t reason = 0;  // CONNACK code, MQTT 5 reason, first SUBACK/UNSUBACK code
  ErrorInfo error;          // the connection failed under it
  Nanos end = 0;
  engine::Park waiter;

  // The inbox: a ring of messages whose buffers are reused, grown up to inbox_cap.
  const std::size_t inbox_cap;
  std::vector<Message> ring;
  std::size_t head = 0, count = 0;
  std::uint64_t dropped = 0;
  engine::Park reader_of_inbox;  // a wait parked for messages

  std::uint16_t packet_id() {
    if (++next_id == 0) next_id = 1;
    return next_id;
  }

  Message& front() { return ring[head]; }
  void pop() {
    head = (head + 1) % ring.size();
    --count;
  }
  void push(std::string_view payload, Nanos at) {
    if (count == inbox_cap) {
      ++dropped;
      return;
    }
    if (count == ring.size()) {  // grow: make the queue contiguous first
      std::rotate(ring.begin(), ring.begin() + static_cast<std::ptrdiff_t>(head), ring.end());
      head = 0;
      ring.emplace_back();
    }
    Message& m = ring[(head + count) % ring.size()];
    m.payload.assign(payload);
    m.at = at;
    ++count;
  }

  static void expire(void* self) noexcept {
    auto* c = static_cast<Conn*>(self);
    if (c->state == State::kConnecting) {
      error_code ignored;
      c->sock.close(ignored);  // the pending resolve, connect or handshake fails
      return;
    }
    c->waiter.wake(c->w.io);
    c->reader_of_inbox.wake(c->w.io);
  }

  // The keepalive tick (every keepalive / 2): PINGREQ when nothing was sent since the last
  // tick; a PINGRESP missing for a whole keepalive closes the connection.
  static void on_ping(void* self) noexcept {
    auto* c = static_cast<Conn*>(self);
    if (c->state != State::kOpen || c->keepalive == 0 || *c->w.aborting) return;
    const Nanos now = steady_now();
    if (c->ping_outstanding && now - c->ping_sent > c->keepalive) {
      c->fail(kNoPingResp);
      return;
    }
    if (!c->sent && !c->ping_outstanding) {
      codec::append_pingreq(c->out);
      c->ping_outstanding = true;
      c->ping_sent = now;
      c->flush();
      if (c->state != State::kOpen) return;
    }
    c->sent = false;
    c->ping.arm(now + c->keepalive / 2);
  }

  void close() noexcept {
    error_code ignored;
    sock.close(ignored);
    if (ssl) SSL_free(ssl);
    ssl = nullptr;
    state = State::kClosed;
    ping.disarm();
  }

  // Ends the connection: the waiting operation fails with `e`, a wait finds it closed.
  void fail(const ErrorInfo& e) {
    close();
    ++gen;
    out.clear();
    out_off = 0;
    carry.clear();
    write_waiting = false;
    if (awaiting != Await::kNone && !done) {
      done = true;
      error = e;
      end = steady_now();
    }
    waiter.wake(w.io);
    reader_of_inbox.wake(w.io);
  }

  // Resets for a new connection; the caller connects.
  std::uint64_t begin() {
    close();
    state = State::kConnecting;
    out.clear();
    out_off = 0;
    carry.clear();
    write_waiting = false;
    sent = ping_outstanding = false;
    next_id = 0;
    return ++gen;
  }

  // Sends DISCONNECT (best effort, no wait) and closes.
  void disconnect() noexcept {
    if (state == State::kOpen) {
      codec::append_disconnect(out, v5);
      flush();
    }
    close();
    ++gen;
  }

  void expect(Await what, std::uint16_t id) {
    awaiting = what;
    await_id = id;
    done = false;
    reason = 0;
    error = {};
    end = 0;
  }
  void complete(std::uint8_t code, Nanos now) {
    done = true;
    reason = code;
    end = now;
  }

  // One non-blocking read or write, plain or TLS.
  std::size_t read_some(char* buf, std::size_t cap, error_code& ec) {
    return proto::read_some(sock, ssl, buf, cap, ec);
  }
  std::size_t write_some(const char* buf, std::size_t len, error_code& ec) {
    return proto::write_some(sock, ssl, buf, len, ec);
  }

  ErrorInfo io_error(const error_code& ec, const char* stage) const {
    if (ec == net::error::eof || ec == net::error::connection_reset ||
        ec == net::error::broken_pipe) {
      return kLost;
    }
    return classify_error(ec, stage);
  }

  // Writes what is queued; a short write waits for writability and continues.
  void flush() {
    if (state != State::kOpen || write_waiting) return;
    while (out_off < out.size()) {
      error_code ec;
      const std::size_t n = write_some(out.data() + out_off, out.size() - out_off, ec);
      if (would_block(ec)) {
        write_waiting = true;
        sock.async_wait(tcp::socket::wait_write, [self = shared_from_this(), g = gen](error_code wec) {
          if (self->gen != g) return;
          self->write_waiting = false;
          if (wec) {
            self->fail(self->io_error(wec, "send"));
            return;
          }
          self->flush();
        });
        return;
      }
      if (ec) {
        fail(io_error(ec, "send"));
        return;
      }
      out_off += n;
      sent = true;
    }
    out.clear();
    out_off = 0;
    if (awaiting == Await::kWrite && !done) {
      complete(0, steady_now());
      waiter.wake(w.io);
    }
  }

  // Handles one packet from the broker. False: the connection is to fail with `e`.
  bool handle(const codec::Packet& p, std::string_view body, Nanos now, ErrorInfo& e) {
    codec::Ack ack;
    switch (p.type()) {
      case codec::kPublish: {
        codec::Publish m;
        if (!codec::decode_publish(p.flags(), body, v5, m) || (m.qos && m.id == 0)) break;
        push(m.payload, now);
        if (m.qos == 1) codec::append_ack(out, codec::kPuback, m.id);
        if (m.qos == 2) codec::append_ack(out, codec::kPubrec, m.id);
        return true;
      }
      case codec::kPuback:
      case codec::kPubcomp:
        if (!codec::decode_ack(body, v5, ack)) break;
        if (awaiting == (p.type() == codec::kPuback ? Await::kPuback : Await::kPubcomp) &&
            await_id == ack.id && !done) {
          complete(ack.reason, now);
        }
        return true;
      case codec::kPubrec:
        if (!codec::decode_ack(body, v5, ack)) break;
        if (ack.reason >= 0x80) {  // refused: no PUBREL
          if (awaiting == Await::kPubcomp && await_id == ack.id && !done) complete(ack.reason, now);
        } else {
          codec::append_ack(out, codec::kPubrel, ack.id);
        }
        return true;
      case codec::kPubrel:
        if (!codec::decode_ack(body, v5, ack)) break;
        codec::append_ack(out, codec::kPubcomp, ack.id);
        return true;
      case codec::kSuback:
      case codec::kUnsuback: {
        codec::SubAck a;
        if (!codec::decode_suback(body, p.type(), v5, a)) break;
        if (awaiting == (p.type() == codec::kSuback ? Await::kSuback : Await::kUnsuback) &&
            await_id == a.id && !done) {
          complete(a.codes.empty() ? 0 : static_cast<std::uint8_t>(a.codes[0]), now);
        }
        return true;
      }
      case codec::kConnack: {
        codec::Connack c;
        if (awaiting != Await::kConnack || done || !codec::decode_connack(body, v5, c)) break;
        if (v5 && c.code == 0) {  // the broker's keepalive (0x13) replaces ours
          codec::walk_properties(c.properties, [&](std::uint32_t id, std::string_view,
                                                   codec::Reader v) {
            if (id == 0x13) keepalive = static_cast<Nanos>(v.u16()) * kNanosPerSecond;
          });
        }
        complete(c.code, now);
        return true;
      }
      case codec::kPingresp:
        ping_outstanding = false;
        return true;
      case codec::kDisconnect:  // MQTT 5: the broker closes (session taken over, ...)
        e = kLost;
        return false;
      default:
        break;
    }
    e = kMalformed;
    return false;
  }

  // Frames and handles the packets in `data` (read just now).
  bool consume(std::string_view data, Nanos now, ErrorInfo& e) {
    std::string_view buf = data;
    if (!carry.empty()) {
      carry.append(data);
      buf = carry;
    }
    std::size_t pos = 0;
    for (;;) {
      codec::Packet p;
      const codec::Frame f = codec::scan_packet(buf.substr(pos), kMaxPacket, p);
      if (f == codec::Frame::kIncomplete) break;
      if (f != codec::Frame::kComplete) {
        e = f == codec::Frame::kTooLarge ? kTooLarge : kMalformed;
        return false;
      }
      if (!handle(p, buf.substr(pos + p.header, p.length), now, e)) return false;
      pos += p.size();
    }
    if (!carry.empty()) {
      carry.erase(0, pos);
    } else if (pos < buf.size()) {
      carry.assign(buf.substr(pos));
    }
    return true;
  }

  // Resumes the user when what it waits for is there; what it sends next and the acks queued
  // by this read go out in one write.
  void resume(std::uint64_t g) {
    batching = true;
    if (done) waiter.resume_now();
    if (gen == g && count > 0) reader_of_inbox.resume_now();
    batching = false;
    flush();  // (of a connection the user opened meanwhile, if it replaced this one)
  }

  static net::awaitable<void> reader(std::shared_ptr<Conn> self, std::uint64_t g) {
    Conn& c = *self;
    for (;;) {
      error_code ec;
      co_await c.sock.async_wait(tcp::socket::wait_read,
                                 net::redirect_error(net::use_awaitable, ec));
      if (c.gen != g) co_return;
      if (ec) {
        c.fail(c.io_error(ec, "receive"));
        co_return;
      }
      const std::span<char> scratch = c.w.scratch;
      for (;;) {
        const std::size_t n = c.read_some(scratch.data(), scratch.size(), ec);
        if (would_block(ec)) break;
        if (ec) {
          c.fail(c.io_error(ec, "receive"));
          co_return;
        }
        ErrorInfo e;
        if (!c.consume(std::string_view(scratch.data(), n), steady_now(), e)) {
          c.fail(e);
          co_return;
        }
        c.resume(g);
        if (c.gen != g) co_return;
        // Drained: wait rather than read EAGAIN (TLS may hold decrypted bytes: read on).
        if (!c.ssl && n < scratch.size()) break;
      }
    }
  }
};

// The TLS handshake on the connected socket; failures name OpenSSL's reason.
net::awaitable<ErrorInfo> tls_connect(Conn& c, const ConnSpec& spec, const OpScope& op) {
  c.ssl = SSL_new(spec.ssl->native_handle());
  if (!c.ssl) co_return ErrorInfo{ErrorKind::kTls, "TLS setup failed", 0, false};
  SSL_set_mode(c.ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_set_fd(c.ssl, c.sock.native_handle());
  prepare_tls_client(c.ssl, spec.host);
  SSL_set_connect_state(c.ssl);
  const std::uint64_t g = c.gen;
  for (;;) {
    ERR_clear_error();
    const int r = SSL_do_handshake(c.ssl);
    if (r == 1) co_return ErrorInfo{};
    const int err = SSL_get_error(c.ssl, r);
    if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
      if (op.expired()) co_return op.timed_out();
      const unsigned long code = ERR_peek_last_error();
      if (err == SSL_ERROR_SYSCALL && code == 0) {
        co_return ErrorInfo{ErrorKind::kTls, "TLS handshake failed", 0, false};
      }
      co_return ErrorInfo{ErrorKind::kTls, tls_handshake_message(code), 0, false};
    }
    error_code ec;
    co_await c.sock.async_wait(err == SSL_ERROR_WANT_READ ? tcp::socket::wait_read
                                                          : tcp::socket::wait_write,
                               net::redirect_error(net::use_awaitable, ec));
    if (c.gen != g) co_return ErrorInfo{};
    if (ec) co_return op.error(ec, "TLS handshake failed");
  }
}

char hex_digit(unsigned v) { return "0123456789abcdef"[v & 15]; }
void put_hex(std::string& out, std::uint64_t v, int digits) {
  for (int i = digits - 1; i >= 0; --i)
    out.push_back(hex_digit(static_cast<unsigned>(v >> (4 * i))));
}
bool get_hex(std::string_view s, std::uint64_t& v) {
  v = 0;
  for (const char ch : s) {
    unsigned d;
    if (ch >= '0' && ch <= '9')
      d = ch - '0';
    else if (ch >= 'a' && ch <= 'f')
      d = ch - 'a' + 10;
    else
      return false;
    v = (v << 4) | d;
  }
  return true;
}

class Session final : public engine::UserSession {
 public:
  Session(const Tasks& tasks, engine::WorkerContext& w)
      : tasks_(tasks),
        w_(w),
        conn_(std::make_shared<Conn>(w_, tasks.inbox)),
        id_(g_sessions.fetch_add(1, std::memory_order_relaxed)),
        default_id_("ld-" + std::to_string(::getpid()) + "-" + std::to_string(id_)) {
    w_.deadlines.add(&conn_->op);
    w_.deadlines.add(&conn_->ping);
  }

  ~Session() override {
    w_.deadlines.remove(&conn_->op);
    w_.deadlines.remove(&conn_->ping);
    shutdown();
  }

  void shutdown() noexcept override {
    conn_->disconnect();
    conn_->awaiting = Await::kNone;
  }

  net::awaitable<void> run_step(std::size_t index, Nanos planned) override {
    const Step& st = tasks_.steps[index];
    if (st.method == Method::kConnect) {
      co_await connect(st, st.name_id, planned);
      co_return;
    }
    if (st.method == Method::kDisconnect) {
      disconnect(st, planned);
      co_return;
    }
    if (!connected()) {  // first use: connect as the original's user did on start
      if (!(co_await connect(st, tasks_.connect_name_id, planned))) co_return;
      planned = steady_now();
    }
    switch (st.method) {
      case Method::kPublish:
        co_await publish(st, index, planned);
        break;
      case Method::kSubscribe:
      case Method::kUnsubscribe:
        co_await subscription(st, planned);
        break;
      case Method::kReceive:
        co_await receive(st, planned);
        break;
      default:
        break;
    }
  }

 private:
  bool connected() const noexcept { return conn_->state == Conn::State::kOpen && !connecting_; }

  static const char* label(Await a) {
    switch (a) {
      case Await::kConnack: return "CONNACK";
      case Await::kPuback:
      case Await::kPubcomp: return "PUBACK";
      case Await::kSuback: return "SUBACK";
      case Await::kUnsuback: return "UNSUBACK";
      default: return "";
    }
  }

  // Waits for the acknowledgement `expect` set up; fills op.rec.error unless it succeeded.
  net::awaitable<bool> await_ack(OpScope& op) {
    Conn& c = *conn_;
    while (!c.done && !op.expired()) co_await c.waiter.wait();
    const Await what = c.awaiting;
    c.awaiting = Await::kNone;
    if (!c.done) {
      op.rec.error = *w_.aborting ? engine::kAbortedError : op.timed_out();
      co_return false;
    }
    if (c.error.kind != ErrorKind::kNone) {
      op.rec.error = c.error;
      co_return false;
    }
    const std::uint8_t r = c.reason;
    if (what == Await::kConnack && r != 0) {
      const char* v3 = c.v5 ? nullptr : codec::connack_name(r);
      op.rec.error = {ErrorKind::kConnect,
                      w_.intern(std::string("CONNACK: ") + (v3 ? v3 : codec::reason_name(r))), r,
                      false};
      co_return false;
    }
    if (r >= 0x80) {
      op.rec.error = {ErrorKind::kOther,
                      w_.intern(std::string(label(what)) + ": " + codec::reason_name(r)), r,
                      false};
      co_return false;
    }
    co_return true;
  }

  net::awaitable<bool> connect(const Step& st, std::uint32_t name_id, Nanos planned) {
    Conn& c = *conn_;
    OpScope op(w_, c.op, name_id, planned, st.timeout);
    const ConnSpec& spec = tasks_.conns[st.conn];
    std::string_view cid = default_id_;
    if (spec.has_client_id) {
      cid_.clear();
      spec.client_id.render(cid_, *w_.scope);
      cid = cid_;
    }
    c.disconnect();  // a connected user starts a new connection
    const std::uint64_t g = c.begin();
    connecting_ = true;
    op.rec.error = co_await connect_tcp(c.sock, spec.host, spec.port, spec.resolved, op);
    if (c.gen != g) co_return false;  // the session went away
    error_code ignored;
    if (op.rec.error.kind == ErrorKind::kNone) {
      c.sock.non_blocking(true, ignored);
      if (spec.tls) op.rec.error = co_await tls_connect(c, spec, op);
      if (c.gen != g) co_return false;
    }
    if (op.rec.error.kind != ErrorKind::kNone) {
      c.close();
      connecting_ = false;
      co_return op.finish();
    }
    c.state = Conn::State::kOpen;
    c.v5 = spec.version == 5;
    c.keepalive = static_cast<Nanos>(spec.keepalive) * kNanosPerSecond;
    codec::Connect m;
    m.version = static_cast<std::uint8_t>(spec.version);
    m.clean = spec.clean_session;
    m.keepalive = static_cast<std::uint16_t>(spec.keepalive);
    m.client_id = cid;
    if (spec.has_username) {
      user_.clear();
      spec.username.render(user_, *w_.scope);
      m.has_username = true;
      m.username = user_;
    }
    if (spec.has_password) {
      pass_.clear();
      spec.password.render(pass_, *w_.scope);
      m.has_password = true;
      m.password = pass_;
    }
    codec::append_connect(c.out, m);
    c.expect(Await::kConnack, 0);
    net::co_spawn(w_.io, Conn::reader(conn_, g), net::detached);
    c.flush();
    const bool ok = co_await await_ack(op);
    connecting_ = false;
    if (ok && c.gen == g) {
      if (c.keepalive > 0) c.ping.arm(steady_now() + c.keepalive / 2);
    } else if (c.gen == g) {
      c.close();
      ++c.gen;
    }
    co_return op.finish();
  }

  void disconnect(const Step& st, Nanos planned) {
    OpScope op(w_, st.name_id, planned, st.timeout);
    conn_->disconnect();  // nothing when not connected
    op.finish();
  }

  std::string_view topic_of(const Step& st) {
    if (st.topic.is_static()) return st.topic.text();
    topic_.clear();
    st.topic.render(topic_, *w_.scope);
    return topic_;
  }

  net::awaitable<void> publish(const Step& st, std::size_t index, Nanos planned) {
    Conn& c = *conn_;
    OpScope op(w_, c.op, st.name_id, planned, st.timeout);
    codec::Publish m;
    m.topic = topic_of(st);
    const char* perr = nullptr;
    m.payload = st.payload.render(*w_.scope, ptext_, pdec_, perr);
    if (perr) {
      op.rec.error = {ErrorKind::kInvalidRequest, perr, 0, false};
      op.finish();
      co_return;
    }
    if (st.delivery) {
      stamped_.assign(kStampPrefix);
      put_hex(stamped_, static_cast<std::uint64_t>(op.rec.start), 16);
      put_hex(stamped_, id_, 8);
      put_hex(stamped_, index, 4);
      stamped_.push_back(':');
      stamped_.append(m.payload);
      m.payload = stamped_;
    }
    m.qos = static_cast<std::uint8_t>(st.qos);
    m.retain = st.retain;
    if (m.qos) m.id = c.packet_id();
    codec::append_publish(c.out, m, c.v5);
    const std::uint64_t bytes = m.topic.size() + m.payload.size();
    bool ok;
    if (m.qos == 0) {
      // Until written: now, unless the socket is full.
      c.expect(Await::kWrite, 0);
      c.flush();
      ok = co_await await_ack(op);
    } else {
      c.expect(m.qos == 1 ? Await::kPuback : Await::kPubcomp, m.id);
      if (!c.batching) c.flush();
      ok = co_await await_ack(op);
    }
    if (ok) {
      op.rec.bytes_out = bytes;
      // measure: delivery: recorded when the message comes back (publish -> arrival).
      if (st.delivery && !op.aborted()) {
        op.stop();
        co_return;
      }
    }
    op.finish();
    // A QoS 0 publish rarely waits: let the worker's other users and readers run.
    if (m.qos == 0) co_await net::post(w_.io, net::use_awaitable);
  }

  net::awaitable<void> subscription(const Step& st, Nanos planned) {
    Conn& c = *conn_;
    OpScope op(w_, c.op, st.name_id, planned, st.timeout);
    const std::string_view topic = topic_of(st);
    const std::uint16_t id = c.packet_id();
    if (st.method == Method::kSubscribe) {
      codec::append_subscribe(c.out, id, topic, static_cast<std::uint8_t>(st.qos), c.v5);
      c.expect(Await::kSuback, id);
    } else {
      codec::append_unsubscribe(c.out, id, topic, c.v5);
      c.expect(Await::kUnsuback, id);
    }
    if (!c.batching) c.flush();
    co_await await_ack(op);
    op.finish();
  }

  // The payload without a delivery stamp; a stamp this session made records publish -> arrival.
  std::string_view unstamp(std::string_view p, Nanos at) {
    if (p.size() < kStampSize || p.substr(0, kStampPrefix.size()) != kStampPrefix ||
        p[kStampSize - 1] != ':') {
      return p;
    }
    std::uint64_t sent, session, index;
    const std::string_view h = p.substr(kStampPrefix.size());
    if (!get_hex(h.substr(0, 16), sent) || !get_hex(h.substr(16, 8), session) ||
        !get_hex(h.substr(24, 4), index)) {
      return p;
    }
    p.remove_prefix(kStampSize);
    if (session == id_ && index < tasks_.steps.size() && tasks_.steps[index].delivery) {
      stats::Record rec;
      rec.name_id = tasks_.steps[index].name_id;
      rec.planned = rec.start = static_cast<Nanos>(sent);
      rec.end = std::max(at, rec.start);
      rec.bytes_out = p.size();
      rec.bytes_in = p.size();
      w_.record(rec);
    }
    return p;
  }

  net::awaitable<void> receive(const Step& st, Nanos planned) {
    Conn& c = *conn_;
    OpScope op(w_, c.op, st.name_id, planned, st.timeout);
    if (st.has_expect) {
      expect_.clear();
      st.expect.render(expect_, *w_.scope);
    }
    const bool keep = st.checks || w_.keep_bodies > 0;
    std::size_t matched = 0;
    while (matched < st.count) {
      if (c.count > 0) {
        Message& m = c.front();
        const std::string_view p = unstamp(m.payload, m.at);
        if (!st.has_expect || p.find(expect_) != std::string_view::npos) {
          ++matched;
          op.rec.bytes_in += p.size();
          if (keep) last_.assign(p);
        }
        c.pop();
        continue;
      }
      if (c.state != Conn::State::kOpen) {
        op.rec.error = kLost;
        break;
      }
      if (op.expired()) {
        op.rec.error = *w_.aborting ? engine::kAbortedError : op.timed_out();
        break;
      }
      co_await c.reader_of_inbox.wait();
    }
    op.stop();
    if (op.rec.ok() && st.checks) {
      if (const char* msg = st.checks->apply(checks::ResponseView{0, last_, {}}, *w_.scope)) {
        op.rec.error = {ErrorKind::kAssertion, msg, 0, false};
      }
    }
    if (op.rec.ok() && w_.keep_bodies > 0) {
      body_.assign(std::string_view(last_).substr(0, w_.keep_bodies));
      op.rec.text = body_;
    }
    op.record();
    if (c.dropped != dropped_seen_) {
      dropped_seen_ = c.dropped;
      stats::Record rec;
      rec.name_id = st.name_id;
      rec.planned = rec.start = rec.end = steady_now();
      rec.error = kDropped;
      w_.record(rec);
    }
  }

  const Tasks& tasks_;
  engine::WorkerContext w_;
  std::shared_ptr<Conn> conn_;
  const std::uint32_t id_;
  const std::string default_id_;
  bool connecting_ = false;  // a connect is waiting for its CONNACK
  std::uint64_t dropped_seen_ = 0;
  // Reused buffers.
  std::string cid_, user_, pass_, topic_, ptext_, pdec_, stamped_, expect_, last_, body_;
};

}  // namespace

std::unique_ptr<engine::UserSession> Tasks::new_user(engine::WorkerContext& worker) {
  return std::make_unique<Session>(*this, worker);
}

}  // namespace ld::proto::mqtt
