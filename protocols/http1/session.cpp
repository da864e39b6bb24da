// The HTTP/1.1 hot path. Per user: one keep-alive connection per (host, port, TLS settings),
// reconnected when closed. Plain TCP requests are written with a non-blocking write and read
// with "wait until readable, then read into the worker's scratch buffer", so a connection
// holds no read buffer of its own and a request costs write + epoll + read, like wrk.
// Timeouts come from the worker's DeadlineSweeper (no timer per request).
// With io_backend io_uring, a connection's request and the read of its answer go to the
// worker's ring together once connected (common/uring/ring.hpp); an https connection runs
// OpenSSL over the ring's bytes (common/uring/tls.hpp). Connect and DNS stay on Asio.
#include <utility>  // before Asio (Boost 1.74 trap)

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <charconv>
#include <optional>

#include "common/body_decoder.hpp"
#include "common/connect.hpp"
#include "common/cookie_jar.hpp"
#include "common/http_response.hpp"
#include "common/uring/ring.hpp"
#include "common/uring/tls.hpp"
#include "core/text.hpp"
#include "http1_impl.hpp"
#include "response_parser.hpp"
#include "stats/recorder.hpp"

namespace ld::proto::http1 {

namespace {

using boost::system::error_code;
using stats::ErrorInfo;
using stats::ErrorKind;

// What a readiness peek copies: enough for a whole small response, so the peek usually finds
// the socket drained and Asio skips the speculative read next time.
constexpr std::size_t kPeekBytes = 4096;

struct Conn {
  std::string host;
  std::uint16_t port = 0;
  const net::ssl::context* ssl_ctx = nullptr;  // null for plain TCP
  std::optional<tcp::socket> plain;
  std::unique_ptr<net::ssl::stream<tcp::socket>> tls;
  std::vector<char> tls_buffer;  // TLS only: the SSL engine writes here from its own handlers
  uring::SocketPtr ring_socket;  // io_uring: the connected socket, moved off Asio
  std::unique_ptr<uring::TlsLink> ring_tls;  // io_uring + TLS: OpenSSL over the ring's bytes
  bool open = false;
  engine::TimedOp op;

  tcp::socket& lowest() { return tls ? tls->next_layer() : *plain; }
  void close() noexcept {
    error_code ignored;
    ring_socket.reset();
    ring_tls.reset();
    if (tls) {
      tls->next_layer().close(ignored);
    } else if (plain) {
      plain->close(ignored);
    }
    open = false;
  }
  static void expire(void* self) noexcept {
    // Closing cancels whatever the connection waits on; the waiter sees op.expired.
    auto* c = static_cast<Conn*>(self);
    if (c->ring_socket) {
      c->ring_socket->cut();  // what is in flight completes now; the session closes it
      return;
    }
    error_code ignored;
    c->lowest().close(ignored);
  }
};

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
    if (step.auth && step.auth->needs_token()) {  // oauth2: fetched (and recorded) when due
      const ErrorInfo e = co_await auth_.prepare(*step.auth, w_);
      if (e.kind != ErrorKind::kNone) {
        OpScope failed(w_, step.name_id, planned, step.timeout, kRequestTimedOut);
        failed.stop();
        failed.rec.error = e;
        failed.record();
        co_return;
      }
    }
    OpScope op(w_, step.name_id, planned, step.timeout, kRequestTimedOut);
    stats::Record& rec = op.rec;
    const Url* url = &step.url;
    const std::string* request = &step.request;
    const std::string* headers = &step.headers_tpl.text();
    const std::vector<tcp::endpoint>* endpoints = &step.endpoints;
    const std::string* host = &step.host_tpl.text();  // custom_host: the task's Host value
    if (step.dynamic) {
      if (const char* invalid = build_request(step, url, headers)) {
        op.stop();
        rec.error = {auth_failed_ ? ErrorKind::kAuth : ErrorKind::kInvalidRequest, invalid, 0,
                     false};  // nothing was sent
        op.record();
        co_return;
      }
      host = &host_buf_;
      request = &request_buf_;
      if (step.dynamic_authority) endpoints = &no_endpoints_;
    }
    const char* method = step.method.c_str();
    bool head = step.head;
    const bool capture = step.checks != nullptr;
    const bool keep = w_.keep_bodies != 0;  // record_bodies: successes keep body and headers
    const Url* first = url;
    Conn* conn = nullptr;
    // digest: the response headers carry the challenge; answered once per request.
    const bool digest = step.auth && step.auth->type() == auth::Type::kDigest;
    bool challenged = false;
    written_ = 0;
    for (int hop = 0;; ++hop) {
      conn = &connection(*url, url->tls ? step.ssl.get() : nullptr);
      op.arm(conn->op);  // the deadline covers every hop
      // A user without cookies for this URL sends the prebuilt bytes.
      const std::string* sending =
          step.use_jar && !jar_.empty() ? with_cookies(*request, *url) : request;
      rec.error = co_await exchange(*conn, *url, *endpoints, *sending, head,
                                    keep || (capture && step.checks->needs_body()),
                                    keep || digest || (capture && step.checks->needs_headers()),
                                    op);
      if (rec.error.kind != ErrorKind::kNone) break;
      if (!parser_.set_cookies().empty()) store_cookies(*url);
      const int status = parser_.status();
      rec.status = static_cast<std::uint32_t>(status);
      if (digest && status == 401 && hop == 0 && !challenged &&
          auth_.on_challenge(*step.auth, header_block_)) {
        challenged = true;  // send the request again with the answer
        rec.bytes_in += parser_.header_bytes() + parser_.body_bytes();
        if (const char* invalid = build_request(step, url, headers)) {
          rec.error = {auth_failed_ ? ErrorKind::kAuth : ErrorKind::kInvalidRequest, invalid, 0,
                       false};
          break;
        }
        request = &request_buf_;
        --hop;
        continue;
      }
      if (!step.allow_redirects || status < 300 || status > 399 || status == 304 ||
          parser_.location().empty()) {
        break;
      }
      if (hop == kMaxRedirects) {
        rec.error = {ErrorKind::kProtocol, "too many redirects", 0, false};
        break;
      }
      std::string error;
      Url next;
      if (!resolve_location(*url, parser_.location(), next, error)) {
        rec.error = {ErrorKind::kProtocol, "bad redirect location", 0, false};
        break;
      }
      rec.bytes_in += parser_.header_bytes() + parser_.body_bytes();  // this hop's response
      redirect_url_ = std::move(next);
      url = &redirect_url_;
      // 307/308 keep the method and body; others become GET (as browsers and requests do).
      const bool keep = status == 307 || status == 308;
      if (!keep && !head) method = "GET";
      // The task's Host header only goes to the origin it was written for (as curl does).
      const bool same_origin =
          url->host == first->host && url->port == first->port && url->tls == first->tls;
      build_redirect(step, *url, method, step.custom_host && same_origin ? *host : url->host_header,
                     *headers, keep);
      request = &redirect_request_;
      endpoints = &no_endpoints_;
      if (url->host == step.url.host && url->port == step.url.port) endpoints = &step.endpoints;
    }
    const bool aborted = op.stop();
    rec.bytes_out = written_;  // bytes actually written (not requests that never connected)
    if (w_.stats.logging() && (step.record_url || url != &step.url)) {
      // Only with a record log: the URL actually requested (rendered, or a redirect's end).
      proto::url_text(
          *url,
          step.dynamic && !step.dynamic_authority && url == &step.url
              ? std::string_view(request_buf_).substr(target_begin_, target_end_ - target_begin_)
              : std::string_view(url->target),
          url_text_);
      rec.url = url_text_;
    }
    if (aborted) {
      op.record();
      co_return;
    }
    rec.bytes_in += parser_.header_bytes() + parser_.body_bytes();
    if (rec.error.kind == ErrorKind::kNone) {
      proto::judge_http_response(step.checks.get(), parser_.content_coding(), body_,
                                 header_block_, decoder_, *w_.scope, rec, w_.keep_bodies);
    }
    op.record();
  }

 private:
  // Stores the Set-Cookie values of the response just parsed (a request to `url`).
  void store_cookies(const Url& url) {
    const std::int64_t now = proto::CookieJar::now();
    const std::string_view path = proto::CookieJar::path_of(url.target);
    std::string_view all = parser_.set_cookies();
    while (!all.empty()) {
      const std::size_t nl = all.find('\n');
      jar_.set(all.substr(0, nl), url.host, path, now);
      all = nl == std::string_view::npos ? std::string_view{} : all.substr(nl + 1);
    }
  }

  // `request` with the jar's cookies for `url` merged into its Cookie line (the task's own
  // cookies first, and they win over jar cookies of the same name), built in cookie_request_;
  // `request` itself when the jar has nothing for this URL.
  const std::string* with_cookies(const std::string& request, const Url& url) {
    const std::size_t header_end = request.find("\r\n\r\n");
    std::size_t line = request.find("\r\nCookie: ");
    if (line > header_end) line = std::string::npos;
    std::string_view task;
    std::size_t value_end = header_end + 2;  // no Cookie line: insert one before the blank line
    if (line != std::string::npos) {
      const std::size_t begin = line + 10;
      value_end = request.find("\r\n", begin);
      task = std::string_view(request).substr(begin, value_end - begin);
    }
    cookie_value_.clear();
    if (jar_.append_header(cookie_value_, url.host, proto::CookieJar::path_of(url.target), url.tls,
                           proto::CookieJar::now(), task) == 0) {
      return &request;
    }
    std::string& r = cookie_request_;
    r.assign(request, 0, value_end);
    r += line != std::string::npos ? "; " : "Cookie: ";
    r += cookie_value_;
    if (line == std::string::npos) r += "\r\n";
    r.append(request, value_end);
    return &r;
  }

  Conn& connection(const Url& url, const net::ssl::context* ssl) {
    for (auto& c : conns_) {
      if (c->port == url.port && c->ssl_ctx == ssl && c->host == url.host) return *c;
    }
    auto c = std::make_unique<Conn>();
    c->host = url.host;
    c->port = url.port;
    c->ssl_ctx = ssl;
    c->op.on_expire = &Conn::expire;
    c->op.self = c.get();
    w_.deadlines.add(&c->op);
    conns_.push_back(std::move(c));
    return *conns_.back();
  }

  // Renders a request whose text depends on per-request values into request_buf_. Returns
  // null, or why the rendered request cannot be sent (a placeholder brought a CR, LF or NUL
  // into the request line or a header, or made the URL invalid). One pass over the rendered
  // bytes; the buffers are reused, so nothing is allocated once they have grown.
  const char* build_request(const Step& step, const Url*& url, const std::string*& headers) {
    params::UserScope& scope = *w_.scope;
    if (step.dynamic_authority) {
      scratch_.clear();
      step.url_tpl.render(scratch_, scope);
      if (!parse_url(scratch_, dynamic_url_, error_)) {
        return "URL is not valid once placeholders resolved";
      }
      url = &dynamic_url_;
    }
    headers_buf_.clear();
    step.headers_tpl.render(headers_buf_, scope);
    if (!header_block_ok(headers_buf_, step.header_lines)) {
      return "header value has a line break or NUL once placeholders resolved";
    }
    if (step.custom_host) {
      host_buf_.clear();
      step.host_tpl.render(host_buf_, scope);
      if (has_line_break_or_nul(host_buf_)) {
        return "Host header has a line break or NUL once placeholders resolved";
      }
    }
    if (step.dynamic_basic_auth) {
      scratch_.clear();
      step.auth_user_tpl.render(scratch_, scope);
      scratch_ += ':';
      step.auth_pass_tpl.render(scratch_, scope);
      headers_buf_ += "Authorization: Basic ";
      text::append_base64(headers_buf_, scratch_);
      headers_buf_ += "\r\n";
    }
    headers = &headers_buf_;
    body_buf_.clear();
    step.body_tpl.render(body_buf_, scope);
    std::string& r = request_buf_;
    r.clear();
    r += step.method;
    r += ' ';
    if (step.dynamic_authority) {
      r += url->target;  // percent-encoded by parse_url
    } else {
      scratch_.clear();
      step.target_tpl.render(scratch_, scope);
      target_begin_ = r.size();
      if (!append_target(r, scratch_)) {
        return "URL has a line break or NUL once placeholders resolved";
      }
      target_end_ = r.size();
    }
    r += " HTTP/1.1\r\nHost: ";
    r += step.custom_host ? host_buf_ : url->host_header;
    r += "\r\n";
    auth_failed_ = false;
    if (step.auth) {  // signature headers, over the request as it is sent
      const std::string_view target =
          step.dynamic_authority ? std::string_view(url->target)
                                 : std::string_view(r).substr(target_begin_, target_end_ - target_begin_);
      const auth::Request req{step.method, step.custom_host ? host_buf_ : url->host_header, target,
                              body_buf_};
      if (const char* bad = auth_.append_lines(*step.auth, req, scope, headers_buf_)) {
        auth_failed_ = true;
        return bad;
      }
    }
    r += headers_buf_;
    append_body(r, step, body_buf_);
    return nullptr;
  }

  // True when `block` is exactly `lines` header lines: every LF ends a line after a CR, and
  // there is no other CR, LF or NUL.
  static bool header_block_ok(std::string_view block, std::uint32_t lines) noexcept {
    std::uint32_t seen = 0;
    for (std::size_t i = 0; i < block.size(); ++i) {
      const char c = block[i];
      if (c == '\r') {
        if (i + 1 >= block.size() || block[i + 1] != '\n') return false;
        ++seen;
        ++i;
      } else if (c == '\n' || c == '\0') {
        return false;
      }
    }
    return seen == lines;
  }

  static void append_body(std::string& r, const Step& step, const std::string& body) {
    if (!body.empty() && !step.content_type.empty()) {
      r += "Content-Type: ";
      r += step.content_type;
      r += "\r\n";
    }
    if (!body.empty() || step.send_length) {
      char len[24];
      auto [end, ec] = std::to_chars(len, len + sizeof len, body.size());
      r += "Content-Length: ";
      r.append(len, end);
      r += "\r\n";
    }
    r += "\r\n";
    r += body;
  }

  void build_redirect(const Step& step, const Url& url, const char* method, const std::string& host,
                      const std::string& headers, bool keep_body) {
    std::string& r = redirect_request_;
    r.clear();
    r += method;
    r += ' ';
    r += url.target;
    r += " HTTP/1.1\r\nHost: ";
    r += host;
    r += "\r\n";
    r += headers;
    if (keep_body) {
      append_body(r, step, step.dynamic ? body_buf_ : step.body_tpl.text());
    } else {
      r += "\r\n";
    }
  }

  // A fresh socket (or Asio TLS stream) for `c`, to connect. (Not a coroutine of its own: a
  // connect costs no extra frame per user.) On the ring, TLS starts once the socket moved.
  void new_socket(Conn& c) {
    c.tls.reset();
    c.plain.reset();
    if (c.ssl_ctx && !ring_) {
      c.tls = std::make_unique<net::ssl::stream<tcp::socket>>(
          w_.io, const_cast<net::ssl::context&>(*c.ssl_ctx));
    } else {
      c.plain.emplace(w_.io);
    }
  }

  // `c` is connected (and, on Asio, its TLS handshake done). On the ring, a TLS connection
  // gets its OpenSSL state here and shakes hands next.
  void opened(Conn& c) {
    if (c.tls) {
      if (c.tls_buffer.empty()) c.tls_buffer.resize(16 * 1024);
    } else if (ring_) {
      error_code ec;
      const int fd = c.plain->release(ec);
      c.plain.reset();
      if (!ec) c.ring_socket.reset(ring_->adopt(fd, /*stream=*/true));
      if (c.ssl_ctx) {
        c.ring_tls = std::make_unique<uring::TlsLink>(
            const_cast<net::ssl::context*>(c.ssl_ctx)->native_handle(), c.host);
      }
    } else {
      error_code ec;
      c.plain->non_blocking(true, ec);
    }
    c.open = true;
  }

  // One request/response on `c`, reconnecting once if a reused connection turned out closed.
  net::awaitable<ErrorInfo> exchange(Conn& c, const Url& url,
                                     const std::vector<tcp::endpoint>& endpoints,
                                     const std::string& request, bool head, bool want_body,
                                     bool want_headers, const OpScope& op) {
    for (int attempt = 0;; ++attempt) {
      const bool reused = c.open;
      if (!c.open) {
        new_socket(c);
        ErrorInfo e = co_await connect_tcp(c.lowest(), url.host, url.port, endpoints, op);
        if (e.kind == ErrorKind::kNone && c.tls) e = co_await tls_handshake(*c.tls, url.host, op);
        if (e.kind == ErrorKind::kNone) {
          opened(c);
          if (c.ring_tls) {
            e = co_await uring::tls_handshake(*ring_, *c.ring_socket, *c.ring_tls, op);
          }
        }
        if (e.kind != ErrorKind::kNone) {
          c.close();
          co_return e;
        }
      }
      parser_.reset(head, want_body ? &body_ : nullptr, want_headers ? &header_block_ : nullptr);
      // (No co_await inside ?: — GCC 12 miscompiles it.)
      error_code ec;
      if (c.tls) {
        ec = co_await write_tls(c, request);
        if (!ec) written_ += request.size();
        if (!ec) ec = co_await read_tls(c);
      } else if (c.ring_tls) {
        ec = co_await exchange_ring_tls(*c.ring_socket, *c.ring_tls, request);
      } else if (c.ring_socket) {
        ec = co_await exchange_ring(*c.ring_socket, request);
      } else {
        ec = co_await write_plain(c, request);
        if (!ec) written_ += request.size();
        if (!ec) ec = co_await read_plain(c);
      }
      if (!ec && !parser_.error()) {
        if (!parser_.keep_alive()) c.close();
        co_return ErrorInfo{};
      }
      const bool stale = reused && attempt == 0 && !op.expired() && !parser_.started() &&
                         is_stale_connection_error(ec);
      c.close();
      if (stale) continue;  // the server closed an idle keep-alive connection: retry once
      if (!ec && parser_.error())
        co_return ErrorInfo{ErrorKind::kProtocol, parser_.error(), 0, false};
      if (ec == net::error::eof && parser_.error()) {
        co_return op.expired() ? op.timed_out()
                               : ErrorInfo{ErrorKind::kReset, parser_.error(), 0, false};
      }
      co_return op.error(ec, "I/O error");
    }
  }

  net::awaitable<error_code> write_plain(Conn& c, const std::string& request) {
    error_code ec;
    std::size_t done = 0;
    while (done < request.size()) {
      done += c.plain->write_some(net::buffer(request.data() + done, request.size() - done), ec);
      if (ec == net::error::would_block || ec == net::error::try_again) {
        ec.clear();
        co_await c.plain->async_wait(tcp::socket::wait_write,
                                     net::redirect_error(net::use_awaitable, ec));
      }
      if (ec) co_return ec;
    }
    co_return ec;
  }

  net::awaitable<error_code> read_plain(Conn& c) {
    error_code ec;
    char* buf = w_.scratch.data();
    const std::size_t cap = w_.scratch.size();
    for (;;) {
      // Waits for readability with a peek rather than async_wait: Asio 1.74's async_wait
      // re-arms the descriptor with epoll_ctl on every call, while a receive that found the
      // socket drained (fewer bytes than asked) leaves the edge-triggered registration alone.
      // The peeked bytes are not consumed (read_some below takes them), so the shared scratch
      // buffer may be reused by other users before this one resumes.
      co_await c.plain->async_receive(net::buffer(buf, std::min(cap, kPeekBytes)),
                                      tcp::socket::message_peek,
                                      net::redirect_error(net::use_awaitable, ec));
      if (ec == net::error::eof) ec.clear();  // read_some below sees the end of stream too
      if (ec) co_return ec;
      // Drain what is there; the scratch buffer is only used until the next suspension.
      for (;;) {
        const std::size_t n = c.plain->read_some(net::buffer(buf, cap), ec);
        if (ec == net::error::would_block || ec == net::error::try_again) {
          ec.clear();
          break;
        }
        if (ec == net::error::eof) {
          if (parser_.on_eof() == ResponseParser::Result::kDone) co_return error_code{};
          co_return ec;
        }
        if (ec) co_return ec;
        std::size_t used = 0;
        const auto r = parser_.feed(buf, n, used);
        if (r == ResponseParser::Result::kDone) co_return error_code{};
        if (r == ResponseParser::Result::kError) co_return error_code{};
      }
    }
  }

  // io_uring: the request and the read of its answer are queued together (the read waits for
  // the answer without a first attempt); each read takes one of the ring's buffers, parsed and
  // handed back at once.
  net::awaitable<error_code> exchange_ring(uring::Socket& s, const std::string& request) {
    ring_->send(s, request.data(), request.size());
    error_code ec;
    for (bool first = true;; first = false) {
      ring_->receive(s, uring::Ring::kBufferSize, /*poll_first=*/first);
      while (s.receiving && !s.send_error) co_await s.wait();
      if (s.send_error) co_return uring::error_of(s.send_error);  // the read is cut on close
      if (s.recv_res == 0) {
        // A cut connection (deadline, abort) did not end a close-delimited body.
        if (s.was_cut || parser_.on_eof() != ResponseParser::Result::kDone) ec = net::error::eof;
        break;
      }
      if (s.recv_res < 0) {
        ec = uring::error_of(s.recv_res);
        break;
      }
      const std::string_view bytes = s.data();
      std::size_t used = 0;
      const auto r = parser_.feed(bytes.data(), bytes.size(), used);
      s.release_buffer();
      if (r != ResponseParser::Result::kNeedMore) break;
    }
    // The answer is in (or the read failed): the request has been written by now, or fails.
    if (s.sending) {
      s.wake_on_send = true;
      while (s.sending) co_await s.wait();
    }
    if (s.send_error) co_return uring::error_of(s.send_error);
    written_ += request.size();
    co_return ec;
  }

  // io_uring + TLS: the encrypted request and the read of its answer are queued together, as
  // for plain connections; each read's ciphertext is decrypted from the ring's buffer into the
  // worker's scratch buffer, parsed, and the buffer handed back before the next wait.
  net::awaitable<error_code> exchange_ring_tls(uring::Socket& s, uring::TlsLink& t,
                                               const std::string& request) {
    error_code ec;
    if (!t.write(request.data(), request.size(), ec)) co_return ec;
    t.send(*ring_, s);
    // Records OpenSSL already holds (kept from the last read) come first.
    bool done = t.has_input() && decrypt_ring_tls(t, ec);
    for (bool first = true; !done; first = false) {
      ring_->receive(s, uring::Ring::kBufferSize, /*poll_first=*/first);
      while (s.receiving && !s.send_error) co_await s.wait();
      if (s.send_error) co_return uring::error_of(s.send_error);  // the read is cut on close
      if (s.recv_res == 0) {
        // The peer closed without close_notify (a truncated stream, as on Asio: the end of a
        // close-delimited body is accepted), or the deadline cut the connection.
        if (s.was_cut || parser_.on_eof() != ResponseParser::Result::kDone) ec = net::error::eof;
        break;
      }
      if (s.recv_res < 0) {
        ec = uring::error_of(s.recv_res);
        break;
      }
      t.take_input(s);
      done = decrypt_ring_tls(t, ec);
      t.done_reading(s);
    }
    if (s.sending) {
      s.wake_on_send = true;
      while (s.sending) co_await s.wait();
    }
    if (s.send_error) co_return uring::error_of(s.send_error);
    t.sent();
    written_ += request.size();
    co_return ec;
  }

  // Decrypts and parses what `t` holds. True when the response is complete or the read failed
  // (`ec`); false when more ciphertext is needed.
  bool decrypt_ring_tls(uring::TlsLink& t, error_code& ec) {
    char* buf = w_.scratch.data();
    const std::size_t cap = w_.scratch.size();
    for (;;) {
      const std::size_t n = t.read(buf, cap, ec);
      if (n == 0) {
        if (!ec) return false;
        if (ec == net::error::eof && parser_.on_eof() == ResponseParser::Result::kDone) {
          ec.clear();
        }
        return true;
      }
      std::size_t used = 0;
      if (parser_.feed(buf, n, used) != ResponseParser::Result::kNeedMore) return true;
    }
  }

  net::awaitable<error_code> write_tls(Conn& c, const std::string& request) {
    error_code ec;
    co_await net::async_write(*c.tls, net::buffer(request),
                              net::redirect_error(net::use_awaitable, ec));
    co_return ec;
  }

  net::awaitable<error_code> read_tls(Conn& c) {
    error_code ec;
    for (;;) {
      const std::size_t n = co_await c.tls->async_read_some(
          net::buffer(c.tls_buffer), net::redirect_error(net::use_awaitable, ec));
      if (ec == net::error::eof || ec == net::ssl::error::stream_truncated) {
        if (parser_.on_eof() == ResponseParser::Result::kDone) co_return error_code{};
        co_return net::error::eof;
      }
      if (ec) co_return ec;
      std::size_t used = 0;
      const auto r = parser_.feed(c.tls_buffer.data(), n, used);
      if (r != ResponseParser::Result::kNeedMore) co_return error_code{};
    }
  }

  const Tasks& tasks_;
  engine::WorkerContext w_;
  uring::Ring* ring_;  // io_uring: the worker's ring; null on epoll
  std::vector<std::unique_ptr<Conn>> conns_;
  ResponseParser parser_;
  Url redirect_url_;
  std::string redirect_request_;
  Url dynamic_url_;
  std::string request_buf_, headers_buf_, host_buf_, body_buf_, scratch_;  // reused per request
  std::string error_;  // parse_url's message for a dynamic URL (not reported: static text is)
  std::string body_, header_block_;                // captured response parts, for checks
  std::string url_text_;                           // the URL requested, for the record log
  std::size_t target_begin_ = 0, target_end_ = 0;  // the rendered target in request_buf_
  std::uint64_t written_ = 0;   // request bytes written by the current step (every hop)
  proto::BodyDecoder decoder_;  // Content-Encoding, when a check reads the body
  proto::CookieJar jar_;        // this user's cookies
  std::string cookie_value_, cookie_request_;  // a request with the jar's cookies merged in
  const std::vector<tcp::endpoint> no_endpoints_;
  auth::UserAuth auth_;       // this user's tokens, signing buffers, digest nonce count
  bool auth_failed_ = false;  // build_request failed because the request could not be signed
};

}  // namespace

std::unique_ptr<engine::UserSession> Tasks::new_user(engine::WorkerContext& worker) {
  return std::make_unique<Session>(*this, worker);
}

std::shared_ptr<void> Tasks::new_worker_state(engine::WorkerContext& worker) {
  if (!io_uring) return nullptr;
  return uring::worker_ring(worker.io);
}

}  // namespace ld::proto::http1
