// The HTTP/2 hot path. Per user: one connection per origin (host, port, TLS settings) carrying
// up to `max_streams` concurrent requests; the engine runs that many task loops ("lanes") over
// the session, each lane owning one Slot while its request is in flight.
//
// A connection has one reader coroutine (wait readable, read into the worker's scratch buffer,
// feed nghttp2) and a posted flush (nghttp2 -> one write). Lanes submit their request, ask for
// a flush and park; the codec reports finished streams and the reader resumes their lanes in
// one batch once the bytes it read are decoded. Requests submitted in the same turn of the
// event loop share one write, so a connection costs about one read and one write per batch of
// streams, not per request. TLS runs OpenSSL directly on the non-blocking socket (as h2load
// does), so TLS reads also go through the scratch buffer and need no Asio SSL stream.
// Timeouts come from the worker's DeadlineSweeper (one TimedOp per slot): an expired stream is
// reset, not the connection.
#include <utility>  // before Asio (Boost 1.74 trap)

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <optional>

#include "codec.hpp"
#include "common/body_decoder.hpp"
#include "common/connect.hpp"
#include "common/cookie_jar.hpp"
#include "common/http_response.hpp"
#include "core/text.hpp"
#include "http2_impl.hpp"
#include "loaddensity/protocol/completion.hpp"
#include "request.hpp"
#include "stats/recorder.hpp"

namespace ld::proto::http2 {

namespace {

using boost::system::error_code;
using stats::ErrorInfo;
using stats::ErrorKind;

struct Conn;

struct Slot : RequestBuffers {
  enum class Wait : std::uint8_t { kNone, kConnect, kConnectQueue, kStream };

  net::io_context* io = nullptr;
  engine::TimedOp op;
  StreamResult result;
  Wait wait = Wait::kNone;
  Conn* conn = nullptr;  // what the slot waits on (valid while wait != kNone)
  engine::Park park;     // the lane, while parked on a stream or a connect queue
  ErrorInfo wake_error;  // outcome of waiting in a connection's connect queue
  // The final response's body and header lines, captured only for checks that read them.
  std::string body, headers;
};

// Resumes a parked lane later from the event loop (for callers inside nghttp2 or the sweeper).
void wake(Slot& s) { s.park.wake(*s.io); }

// One HTTP/2 connection. Shared by the session (while it is the origin's current connection)
// and its reader coroutine and pending write handlers, so it outlives the session if needed.
struct Conn final : CodecListener, std::enable_shared_from_this<Conn> {
  enum class State : std::uint8_t { kConnecting, kOpen, kClosed };
  enum class Io : std::uint8_t { kDone, kWouldBlock, kWantWrite, kEof, kError };
  static constexpr std::size_t kWriteBatch = 256 * 1024;  // bytes taken from nghttp2 per write

  Conn(net::io_context& io, std::span<char> scratch, const Url& url, const net::ssl::context* ssl)
      : io(io), scratch(scratch), host(url.host), port(url.port), ssl_ctx(ssl), codec(*this) {}
  ~Conn() override {
    if (ssl) SSL_free(ssl);
  }

  net::io_context& io;
  std::span<char> scratch;  // the worker's read buffer, valid until the next suspension
  std::string host;
  std::uint16_t port;
  const net::ssl::context* ssl_ctx;  // null: h2c
  std::optional<tcp::socket> sock;
  SSL* ssl = nullptr;  // TLS on sock's descriptor (after the handshake)
  ClientCodec codec;
  std::vector<std::uint8_t> out;  // bytes being written
  std::size_t out_done = 0;
  State state = State::kConnecting;
  bool draining = false;  // GOAWAY: finish the open streams, take no new ones
  bool flush_posted = false;
  bool writing = false;
  bool reading = false;  // the reader is decoding: finished lanes wait in `ready`
  bool resume_posted = false;
  std::vector<Slot*> queue;  // lanes waiting for this connection to open
  std::vector<Slot*> ready;  // lanes whose stream finished, to resume

  bool usable() const noexcept { return state == State::kOpen && !draining && codec.can_submit(); }

  void on_stream_done(StreamResult& r) override {
    Slot& s = *static_cast<Slot*>(r.owner);
    s.wait = Slot::Wait::kNone;
    s.conn = nullptr;
    ready.push_back(&s);
    if (!reading && !resume_posted) {
      resume_posted = true;
      net::post(io, [self = shared_from_this()] {
        self->resume_posted = false;
        self->resume_ready();
      });
    }
  }
  void on_goaway() override { draining = true; }

  // Resumes every finished lane. A resumed lane may submit its next request (that only queues
  // frames) or end the user, whose shutdown() empties `ready`.
  void resume_ready() {
    for (std::size_t i = 0; i < ready.size(); ++i) ready[i]->park.resume_now();
    ready.clear();
  }

  void close() noexcept {
    if (state == State::kClosed) return;
    state = State::kClosed;
    error_code ignored;
    if (sock) sock->close(ignored);
  }
  // The connection failed: every open stream fails with `e`.
  void fail(const ErrorInfo& e) {
    if (state == State::kClosed) return;
    close();
    codec.fail_all(e);
  }
  // A draining connection closes once its last stream is done.
  void maybe_retire() noexcept {
    if (draining && codec.open_streams() == 0) close();
  }

  // One non-blocking read into `buf`: plain recv or SSL_read.
  Io read_some(char* buf, std::size_t cap, std::size_t& n, ErrorInfo& err) {
    if (!ssl) {
      error_code ec;
      n = sock->read_some(net::buffer(buf, cap), ec);
      if (!ec) return Io::kDone;
      if (ec == net::error::would_block || ec == net::error::try_again) return Io::kWouldBlock;
      if (ec == net::error::eof) return Io::kEof;
      err = classify_error(ec, "I/O error");
      return Io::kError;
    }
    ERR_clear_error();
    const int r = SSL_read(ssl, buf, static_cast<int>(std::min<std::size_t>(cap, 1 << 30)));
    if (r > 0) {
      n = static_cast<std::size_t>(r);
      return Io::kDone;
    }
    return ssl_status(r, err);
  }

  Io ssl_status(int r, ErrorInfo& err) {
    switch (SSL_get_error(ssl, r)) {
      case SSL_ERROR_WANT_READ:
        return Io::kWouldBlock;
      case SSL_ERROR_WANT_WRITE:
        return Io::kWantWrite;
      case SSL_ERROR_ZERO_RETURN:
        return Io::kEof;
      case SSL_ERROR_SYSCALL:
        if (errno == 0 || errno == ECONNRESET || errno == EPIPE) return Io::kEof;
        err = {ErrorKind::kOther, "I/O error", errno, true};
        return Io::kError;
      default:
        err = {ErrorKind::kTls, "TLS error", 0, false};
        return Io::kError;
    }
  }

  void schedule_flush() {
    if (flush_posted || writing || state != State::kOpen || !codec.want_write()) return;
    flush_posted = true;
    net::post(io, [self = shared_from_this()] {
      self->flush_posted = false;
      self->flush();
    });
  }

  void flush() {
    if (writing || state != State::kOpen) return;
    out.clear();
    out_done = 0;
    if (!codec.produce(out, kWriteBatch)) {
      fail({ErrorKind::kProtocol, "HTTP/2 session error", 0, false});
      return;
    }
    if (!out.empty()) write_out();
  }

  // Writes `out` from out_done; waits for writability when the socket is full.
  void write_out() {
    while (out_done < out.size()) {
      const char* p = reinterpret_cast<const char*>(out.data()) + out_done;
      const std::size_t len = out.size() - out_done;
      std::size_t n = 0;
      bool blocked = false;
      tcp::socket::wait_type wait = tcp::socket::wait_write;
      if (!ssl) {
        error_code ec;
        n = sock->write_some(net::buffer(p, len), ec);
        if (ec == net::error::would_block || ec == net::error::try_again) {
          blocked = true;
        } else if (ec) {
          fail(classify_error(ec, "I/O error"));
          return;
        }
      } else {
        ERR_clear_error();
        const int r = SSL_write(ssl, p, static_cast<int>(std::min<std::size_t>(len, 1 << 30)));
        if (r > 0) {
          n = static_cast<std::size_t>(r);
        } else {
          ErrorInfo err;
          switch (ssl_status(r, err)) {
            case Io::kWouldBlock:  // TLS wants to read first (key update)
              blocked = true;
              wait = tcp::socket::wait_read;
              break;
            case Io::kWantWrite:
              blocked = true;
              break;
            case Io::kEof:
              fail({ErrorKind::kReset, "connection closed by peer", 0, false});
              return;
            default:
              fail(err);
              return;
          }
        }
      }
      if (blocked) {
        writing = true;
        sock->async_wait(wait, [self = shared_from_this()](error_code ec) {
          self->writing = false;
          if (self->state != State::kOpen) return;
          if (ec) {
            self->fail(classify_error(ec, "I/O error"));
            return;
          }
          self->write_out();
        });
        return;
      }
      out_done += n;
    }
    if (codec.want_write()) flush();  // frames queued while this batch was going out
  }
};

// Reads and decodes until the connection closes. Holds the connection alive meanwhile.
net::awaitable<void> read_loop(std::shared_ptr<Conn> c) {
  try {
    error_code ec;
    const ErrorInfo bad_frames{ErrorKind::kProtocol, "HTTP/2 protocol error from server", 0, false};
    const ErrorInfo closed{ErrorKind::kReset, "connection closed by peer", 0, false};
    tcp::socket::wait_type wait = tcp::socket::wait_read;
    while (c->state == Conn::State::kOpen) {
      co_await c->sock->async_wait(wait, net::redirect_error(net::use_awaitable, ec));
      if (c->state != Conn::State::kOpen) break;
      if (ec) {
        c->fail(classify_error(ec, "I/O error"));
        break;
      }
      wait = tcp::socket::wait_read;
      // Drain what is there; the scratch buffer is only used until the next suspension.
      char* buf = c->scratch.data();
      const std::size_t cap = c->scratch.size();
      c->reading = true;
      for (;;) {
        std::size_t n = 0;
        ErrorInfo err;
        const Conn::Io r = c->read_some(buf, cap, n, err);
        if (r == Conn::Io::kWouldBlock) break;
        if (r == Conn::Io::kWantWrite) {
          wait = tcp::socket::wait_write;
          break;
        }
        if (r != Conn::Io::kDone) {
          c->fail(r == Conn::Io::kEof ? closed : err);
          break;
        }
        if (!c->codec.feed(reinterpret_cast<const std::uint8_t*>(buf), n)) {
          c->fail(bad_frames);
          break;
        }
        // A short plain read emptied the socket buffer (TLS may still hold decrypted bytes).
        if (!c->ssl && n < cap) break;
      }
      c->reading = false;
      c->maybe_retire();
      c->resume_ready();
      c->schedule_flush();  // new requests, WINDOW_UPDATE, SETTINGS/PING ACKs, RST_STREAMs
    }
  } catch (...) {
    c->reading = false;
    c->close();
  }
}

class Session final : public engine::UserSession {
 public:
  Session(const Tasks& tasks, engine::WorkerContext& w) : tasks_(tasks), w_(w) {
    slots_.reserve(tasks.max_streams);
    for (std::size_t i = 0; i < tasks.max_streams; ++i) {
      auto s = std::make_unique<Slot>();
      s->io = &w_.io;
      s->op.on_expire = &Session::expire;
      s->op.self = s.get();
      s->result.owner = s.get();
      w_.deadlines.add(&s->op);
      free_.push_back(s.get());
      slots_.push_back(std::move(s));
    }
  }

  ~Session() override {
    shutdown();
    for (auto& s : slots_) w_.deadlines.remove(&s->op);
  }

  std::size_t concurrency() const noexcept override { return tasks_.max_streams; }

  void shutdown() noexcept override {
    for (auto& c : conns_) {
      if (!c) continue;
      c->codec.forget_all();
      c->queue.clear();
      c->ready.clear();
      c->close();
    }
    conns_.clear();
  }

  net::awaitable<void> run_step(std::size_t index, Nanos planned) override {
    const Step& step = tasks_.steps[index];
    if (step.auth && step.auth->needs_token()) {  // oauth2: fetched (and recorded) when due
      const ErrorInfo e = co_await auth_.prepare(*step.auth, w_);
      if (e.kind != ErrorKind::kNone) {
        stats::Record failed;
        failed.name_id = step.name_id;
        failed.planned = planned;
        failed.start = failed.end = steady_now();
        failed.error = e;
        w_.record(failed);
        co_return;
      }
    }
    Slot& slot = *free_.back();
    free_.pop_back();
    OpScope op(w_, slot.op, step.name_id, planned, step.timeout, kRequestTimedOut);
    stats::Record& rec = op.rec;
    const Url* url = &step.url;
    const nghttp2_nv* nva = step.nva.data();
    std::size_t nvlen = step.nva.size();
    const std::string* body = &step.body;
    const std::vector<nghttp2_nv>* base_nva = &step.nva;  // what a redirect copies headers from
    std::uint64_t request_bytes = step.request_bytes;
    if (step.dynamic) {
      if (const char* bad =
              render_request(step, slot, *w_.scope, auth_, auth_failed_, request_bytes)) {
        rec.error = {auth_failed_ ? ErrorKind::kAuth : ErrorKind::kInvalidRequest, bad, 0, false};
        rec.end = steady_now();
        slot.op.disarm();
        free_.push_back(&slot);
        w_.record(rec);
        co_return;
      }
      base_nva = &slot.nva;
      nva = slot.nva.data();
      nvlen = slot.nva.size();
      if (step.dynamic_body) body = &slot.request_body;
    }
    const std::string* const request_body = body;  // what a 307/308 redirect sends again
    const std::vector<tcp::endpoint>* endpoints = &step.endpoints;
    // digest: the response headers carry the challenge; answered once per request.
    const bool digest = step.auth && step.auth->type() == auth::Type::kDigest;
    bool challenged = false;
    for (int hop = 0;; ++hop) {
      // One request, retried once on a fresh connection if the server refused it unprocessed
      // (GOAWAY, REFUSED_STREAM).
      for (int attempt = 0;; ++attempt) {
        Conn* c = usable(*url, step.ssl.get());
        if (!c) {
          rec.error = co_await open(slot, *url, step.ssl.get(), *endpoints, op);
          if (rec.error.kind != ErrorKind::kNone) break;
          c = usable(*url, step.ssl.get());
          if (!c) {
            rec.error = {ErrorKind::kReset, "connection closed by peer", 0, false};
            break;
          }
        }
        slot.result.reset();
        slot.result.body = body;
        slot.result.body_sink = nullptr;
        slot.result.header_sink = nullptr;
        if (step.hooks) {
          slot.body.clear();
          slot.headers.clear();
          slot.result.body_sink = &slot.body;
          slot.result.header_sink = &slot.headers;
        } else if (step.checks || w_.keep_bodies) {
          // Only the last hop's answer is checked (or kept, with record_bodies); each hop
          // starts the capture again.
          const bool keep = w_.keep_bodies != 0;
          slot.body.clear();
          slot.headers.assign("HTTP/2\r\n");  // checks skip the first (status) line
          if (keep || step.checks->needs_body()) slot.result.body_sink = &slot.body;
          if (keep || step.checks->needs_headers()) slot.result.header_sink = &slot.headers;
        }
        if (digest && !challenged && !slot.result.header_sink) {
          slot.headers.assign("HTTP/2\r\n");
          slot.result.header_sink = &slot.headers;
        }
        // A user without cookies for this URL submits the prebuilt header block.
        const nghttp2_nv* sent_nva = nva;
        std::size_t sent_nvlen = nvlen;
        std::uint64_t sent_bytes = request_bytes;
        if (step.use_jar && !jar_.empty() && with_cookies(slot, jar_, nva, nvlen, *url)) {
          sent_nva = slot.cookie_nva.data();
          sent_nvlen = slot.cookie_nva.size();
          sent_bytes = body->size();
          for (const auto& h : slot.cookie_nva) sent_bytes += h.namelen + h.valuelen + 4;
        }
        if (!c->codec.submit(sent_nva, sent_nvlen, slot.result)) {
          c->draining = true;
          c->maybe_retire();
          if (attempt == 0) continue;
          rec.error = {ErrorKind::kReset, "HTTP/2 request not sent (connection closing)", 0, false};
          break;
        }
        rec.bytes_out += sent_bytes;
        slot.wait = Slot::Wait::kStream;
        slot.conn = c;
        c->schedule_flush();
        co_await slot.park.wait();
        if (!slot.result.done) {  // the sweeper reset the stream
          rec.error = op.timed_out();
          break;
        }
        rec.bytes_in += slot.result.header_bytes + slot.result.body_bytes;
        if (slot.result.refused && attempt == 0 && !op.expired()) continue;
        rec.error = slot.result.error;
        break;
      }
      if (rec.error.kind != ErrorKind::kNone) break;
      if (!slot.result.set_cookies.empty()) store_cookies(jar_, slot.result.set_cookies, *url);
      const std::uint32_t status = slot.result.status;
      rec.status = status;
      if (digest && status == 401 && hop == 0 && !challenged &&
          auth_.on_challenge(*step.auth, slot.headers)) {
        challenged = true;  // send the request again with the answer
        if (const char* bad =
                render_request(step, slot, *w_.scope, auth_, auth_failed_, request_bytes)) {
          rec.error = {auth_failed_ ? ErrorKind::kAuth : ErrorKind::kInvalidRequest, bad, 0,
                       false};
          break;
        }
        nva = slot.nva.data();
        nvlen = slot.nva.size();
        if (step.dynamic_body) body = &slot.request_body;
        --hop;
        continue;
      }
      if (!step.allow_redirects || status < 300 || status > 399 || status == 304 ||
          slot.result.location.empty()) {
        break;
      }
      if (hop == kMaxRedirects) {
        rec.error = {ErrorKind::kProtocol, "too many redirects", 0, false};
        break;
      }
      Url next;
      std::string error;
      if (!resolve_location(*url, slot.result.location, next, error)) {
        rec.error = {ErrorKind::kProtocol, "bad redirect location", 0, false};
        break;
      }
      slot.redirect_url = std::move(next);
      // The task's Host (:authority) only goes to the origin it was written for (as curl does).
      if (slot.redirect_url.host == step.url.host && slot.redirect_url.port == step.url.port &&
          slot.redirect_url.tls == step.url.tls) {
        slot.redirect_url.host_header = step.url.host_header;
      }
      url = &slot.redirect_url;
      // 307/308 keep the method and body; others become GET (as browsers and httpx do).
      const bool keep = status == 307 || status == 308;
      build_redirect(step, *base_nva, slot, keep);
      nva = slot.redirect_nva.data();
      nvlen = slot.redirect_nva.size();
      body = keep ? request_body : &kNoBody;
      request_bytes = body->size();
      for (const auto& h : slot.redirect_nva) request_bytes += h.namelen + h.valuelen + 4;
      endpoints = (url->host == step.url.host && url->port == step.url.port) ? &step.endpoints
                                                                             : &kNoEndpoints;
    }
    if (op.stop()) {
      free_.push_back(&slot);
      op.record();
      co_return;
    }
    if (rec.error.kind == ErrorKind::kNone && step.hooks) {
      step.hooks->judge(slot.body, slot.headers, slot.scratch, w_, rec);
    } else if (rec.error.kind == ErrorKind::kNone) {
      proto::judge_http_response(step.checks.get(), slot.result.coding, slot.body, slot.headers,
                                 decoder_, *w_.scope, rec, w_.keep_bodies);
    }
    if (w_.stats.logging() && (step.record_url || url != &step.url || step.dynamic)) {
      // Only with a record log: the URL requested (a redirect's end, a shared name's, or one
      // rendered per request).
      const bool rendered = url == &step.url && !step.path_tpl.is_static();
      proto::url_text(*url, rendered ? std::string_view(slot.path) : url->target, url_text_);
      rec.url = url_text_;
    }
    free_.push_back(&slot);
    op.record();
  }

 private:
  static inline const std::string kNoBody;
  std::string url_text_;  // the URL requested, for the record log
  static inline const std::vector<tcp::endpoint> kNoEndpoints;

  static bool same_origin(const Conn& c, const Url& url, const net::ssl::context* ssl) {
    return c.port == url.port && c.ssl_ctx == ssl && c.host == url.host;
  }

  Conn* usable(const Url& url, const net::ssl::context* ssl) {
    for (auto& c : conns_) {
      if (c && same_origin(*c, url, ssl)) return c->usable() ? c.get() : nullptr;
    }
    return nullptr;
  }

  // The conns_ index of the origin's entry (created empty if new).
  std::size_t entry(const Url& url, const net::ssl::context* ssl) {
    for (std::size_t i = 0; i < conns_.size(); ++i) {
      if (conns_[i] && same_origin(*conns_[i], url, ssl)) return i;
    }
    for (std::size_t i = 0; i < conns_.size(); ++i) {
      if (!conns_[i]) return i;
    }
    conns_.emplace_back();
    return conns_.size() - 1;
  }

  // Opens a new connection to the origin, or waits for the one being opened by another lane.
  net::awaitable<ErrorInfo> open(Slot& slot, const Url& url, const net::ssl::context* ssl,
                                 const std::vector<tcp::endpoint>& endpoints, const OpScope& op) {
    const std::size_t i = entry(url, ssl);
    if (conns_[i] && conns_[i]->state == Conn::State::kConnecting) {
      slot.wait = Slot::Wait::kConnectQueue;
      slot.conn = conns_[i].get();
      conns_[i]->queue.push_back(&slot);
      co_await slot.park.wait();
      co_return slot.wake_error;
    }
    auto c = std::make_shared<Conn>(w_.io, w_.scratch, url, ssl);
    conns_[i] = c;  // replaces a closed or draining one (its reader keeps it until done)
    slot.wait = Slot::Wait::kConnect;
    slot.conn = c.get();
    ErrorInfo e = co_await connect(*c, url, endpoints, op);
    slot.wait = Slot::Wait::kNone;
    slot.conn = nullptr;
    if (e.kind != ErrorKind::kNone) {
      c->close();
      for (Slot* q : c->queue) {
        q->wait = Slot::Wait::kNone;
        q->wake_error = e;
        wake(*q);
      }
      c->queue.clear();
      co_return e;
    }
    c->state = Conn::State::kOpen;
    net::co_spawn(w_.io, read_loop(c), net::detached);
    for (Slot* q : c->queue) {
      q->wait = Slot::Wait::kNone;
      q->wake_error = {};
      wake(*q);
    }
    c->queue.clear();
    co_return ErrorInfo{};
  }

  net::awaitable<ErrorInfo> connect(Conn& c, const Url& url,
                                    const std::vector<tcp::endpoint>& endpoints,
                                    const OpScope& op) {
    c.sock.emplace(w_.io);
    ErrorInfo e = co_await connect_tcp(*c.sock, url.host, url.port, endpoints, op);
    if (e.kind != ErrorKind::kNone) co_return e;
    error_code ec;
    c.sock->non_blocking(true, ec);
    if (c.ssl_ctx) co_return co_await handshake(c, url, op);
    co_return ErrorInfo{};
  }

  static constexpr ErrorInfo kNoAlpn{ErrorKind::kProtocol, "server did not negotiate h2 (ALPN)", 0,
                                     false};

  // TLS handshake with OpenSSL directly on the non-blocking socket; checks ALPN "h2".
  net::awaitable<ErrorInfo> handshake(Conn& c, const Url& url, const OpScope& op) {
    SSL_CTX* ctx = const_cast<net::ssl::context*>(c.ssl_ctx)->native_handle();
    c.ssl = SSL_new(ctx);
    if (!c.ssl) co_return ErrorInfo{ErrorKind::kTls, "TLS setup failed", 0, false};
    SSL_set_mode(c.ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    const ErrorInfo e = co_await tls_handshake(c.ssl, *c.sock, url.host, op);
    if (e.kind == ErrorKind::kTls &&
        ERR_GET_REASON(ERR_peek_last_error()) == SSL_R_TLSV1_ALERT_NO_APPLICATION_PROTOCOL) {
      co_return kNoAlpn;  // the server's ALPN has no "h2" and it said so
    }
    if (e.kind != ErrorKind::kNone) co_return e;
    const unsigned char* proto = nullptr;
    unsigned int len = 0;
    SSL_get0_alpn_selected(c.ssl, &proto, &len);
    if (len != 2 || std::memcmp(proto, "h2", 2) != 0) co_return kNoAlpn;
    co_return ErrorInfo{};
  }

  // TimedOp callback (from the sweeper): give up on whatever the slot waits for.
  static void expire(void* self) {
    Slot& s = *static_cast<Slot*>(self);
    Conn* c = s.conn;
    switch (s.wait) {
      case Slot::Wait::kStream:
        s.wait = Slot::Wait::kNone;
        s.conn = nullptr;
        c->codec.cancel(s.result);
        c->maybe_retire();
        c->schedule_flush();
        wake(s);
        break;
      case Slot::Wait::kConnectQueue:
        s.wait = Slot::Wait::kNone;
        s.conn = nullptr;
        std::erase(c->queue, &s);
        s.wake_error = kRequestTimedOut;
        wake(s);
        break;
      case Slot::Wait::kConnect:
        c->close();  // the connecting lane sees the error and op.expired
        break;
      case Slot::Wait::kNone:
        break;
    }
  }

  const Tasks& tasks_;
  engine::WorkerContext w_;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::vector<Slot*> free_;                   // slots not in use by a lane
  std::vector<std::shared_ptr<Conn>> conns_;  // current connection per origin
  proto::BodyDecoder decoder_;                // Content-Encoding, when a check reads the body
  proto::CookieJar jar_;                      // this user's cookies, shared by its lanes
  auth::UserAuth auth_;       // this user's tokens and signing buffers, shared by its lanes
  bool auth_failed_ = false;  // render() failed because the request could not be signed
};

}  // namespace

std::unique_ptr<engine::UserSession> Tasks::new_user(engine::WorkerContext& worker) {
  return std::make_unique<Session>(*this, worker);
}

}  // namespace ld::proto::http2
