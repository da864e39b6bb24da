// The websocket_user session: one Beast WebSocket stream per user, held across steps and
// iterations (tasks run in order per user). connect opens it (a connect to the URL already open
// does nothing), send / recv / sendrecv use it (connecting first when it is not open), close
// runs the closing handshake. Any failure closes the connection; the next step reconnects.
// Timeouts come from the worker's DeadlineSweeper, which closes the socket of an operation past
// its deadline. Per-connection memory is Beast's stream (1.5 KiB read buffer plus a masking
// buffer sized to the largest payload) and the receive buffer.
#include <utility>  // before Asio (Boost 1.74 trap)

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/websocket/error.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/beast/websocket/stream.hpp>

#include "common/connect.hpp"
#include "stats/recorder.hpp"
#include "ws_impl.hpp"

namespace ld::proto::websocket {

namespace {

namespace beast = boost::beast;
namespace ws = beast::websocket;
using boost::system::error_code;
using stats::ErrorInfo;
using stats::ErrorKind;
using tcp = net::ip::tcp;

using PlainStream = ws::stream<tcp::socket>;
using TlsStream = ws::stream<net::ssl::stream<tcp::socket>>;

constexpr std::size_t kKeepReceiveBuffer = 16 * 1024;  // larger receive buffers are released

tcp::socket& lowest(PlainStream& s) { return s.next_layer(); }
tcp::socket& lowest(TlsStream& s) { return s.next_layer().next_layer(); }

bool is_websocket_error(const error_code& ec) {
  return ec.category() == make_error_code(ws::error::closed).category();
}
bool is_http_error(const error_code& ec) {
  return ec.category() == make_error_code(beast::http::error::end_of_stream).category();
}

class Session final : public engine::UserSession {
 public:
  Session(const Tasks& tasks, engine::WorkerContext& w) : tasks_(tasks), w_(w) {
    op_.on_expire = &Session::expire;
    op_.self = this;
    w_.deadlines.add(&op_);
  }

  ~Session() override { w_.deadlines.remove(&op_); }

  void shutdown() noexcept override { drop(); }

  net::awaitable<void> run_step(std::size_t index, Nanos planned) override {
    const Step& step = tasks_.steps[index];
    const bool here = open_ && (current_ == step.endpoint || !step.own_url);
    if (step.op == Op::kConnect) {
      if (!(open_ && current_ == step.endpoint)) co_await connect(step, step.name_id, planned);
      co_return;
    }
    if (step.op == Op::kClose) {
      if (open_) co_await close(step, planned);
      co_return;
    }
    if (!here) {
      // Not connected (or connected elsewhere while the task names its own URL): connect first,
      // recorded as a connect; a failure there is not recorded again as this message.
      if (!co_await connect(step, tasks_.endpoints[step.endpoint].connect_name, planned)) {
        co_return;
      }
      planned = steady_now();
    }
    co_await message(step, planned);
  }

 private:
  static void expire(void* self) noexcept {
    // Closing the socket ends whatever the stream waits on; the waiter sees op_.expired.
    auto* s = static_cast<Session*>(self);
    error_code ignored;
    if (s->plain_) lowest(*s->plain_).close(ignored);
    if (s->tls_) lowest(*s->tls_).close(ignored);
  }

  // Forgets the connection (abruptly) and frees its memory.
  void drop() noexcept {
    error_code ignored;
    if (plain_) lowest(*plain_).close(ignored);
    if (tls_) lowest(*tls_).close(ignored);
    plain_.reset();
    tls_.reset();
    open_ = false;
  }

  ErrorInfo failure(const error_code& ec, const char* stage, const OpScope& op) const {
    if (op.expired()) return op.timed_out();
    // A close frame from the server: Beast answers it and tears the connection down; the
    // error it reports may come from that teardown (ENOTCONN, EOF), so the reason decides.
    int code = 0;
    if (plain_) {
      code = plain_->reason().code;
    } else if (tls_) {
      code = tls_->reason().code;
    }
    if (ec == ws::error::closed || code != 0) {
      return {ErrorKind::kReset, "closed by the server (close frame)", code, false};
    }
    if (ec == beast::http::error::end_of_stream || ec == beast::http::error::partial_message) {
      return {ErrorKind::kReset, "connection closed by peer", 0, false};
    }
    if (is_websocket_error(ec)) return {ErrorKind::kProtocol, "bad WebSocket frame", 0, false};
    if (is_http_error(ec)) return {ErrorKind::kProtocol, "bad handshake response", 0, false};
    return classify_error(ec, stage);
  }

  template <class Stream>
  void configure(Stream& s, const Endpoint& ep) {
    s.auto_fragment(false);
    s.write_buffer_bytes(tasks_.write_buffer);
    s.set_option(ws::stream_base::decorator([&ep, this](ws::request_type& req) {
      req.set(beast::http::field::user_agent, "loaddensity/" LD_WS_VERSION);
      for (std::size_t i = 0; i < ep.headers.size(); ++i) {
        req.set(ep.headers[i].first, ep.dynamic ? rendered_headers_[i] : ep.headers[i].second);
      }
    }));
  }

  // Renders the endpoint's per-request parts (target, header values) for this connect; false
  // when a rendered value would split the handshake request.
  bool render_endpoint(const Endpoint& ep) {
    target_.clear();
    ep.target_tpl.render(target_, *w_.scope);
    bool ok = target_.find_first_of(std::string_view("\r\n\0 ", 4)) == std::string::npos;
    rendered_headers_.resize(ep.headers.size());
    for (std::size_t i = 0; i < ep.headers.size(); ++i) {
      rendered_headers_[i].clear();
      ep.header_tpls[i].render(rendered_headers_[i], *w_.scope);
      ok = ok &&
           rendered_headers_[i].find_first_of(std::string_view("\r\n\0", 3)) == std::string::npos;
    }
    return ok;
  }

  net::awaitable<bool> connect(const Step& step, std::uint32_t name_id, Nanos planned) {
    const Endpoint& ep = tasks_.endpoints[step.endpoint];
    drop();
    current_ = step.endpoint;
    OpScope op(w_, op_, name_id, planned, step.timeout);
    op.rec.error = co_await open_connection(ep, op);
    op.stop();
    if (op.rec.ok()) {
      open_ = true;
    } else {
      drop();
    }
    op.record();
    co_return op.rec.ok();
  }

  net::awaitable<ErrorInfo> open_connection(const Endpoint& ep, OpScope& op) {
    error_code ec;
    if (ep.dynamic && !render_endpoint(ep)) {
      co_return ErrorInfo{ErrorKind::kInvalidRequest,
                          "a placeholder put a space, line break or NUL into the handshake", 0,
                          false};
    }
    const std::string_view target = ep.dynamic ? std::string_view(target_) : ep.url.target;
    ws::response_type res;
    if (ep.ssl) {
      tls_ = std::make_unique<TlsStream>(w_.io, *ep.ssl);
      ErrorInfo e = co_await connect_tcp(lowest(*tls_), ep.url.host, ep.url.port, ep.endpoints, op);
      if (e.kind == ErrorKind::kNone)
        e = co_await tls_handshake(tls_->next_layer(), ep.url.host, op);
      if (e.kind != ErrorKind::kNone) co_return e;
      configure(*tls_, ep);
      co_await tls_->async_handshake(res, ep.url.host_header, target,
                                     net::redirect_error(net::use_awaitable, ec));
    } else {
      plain_ = std::make_unique<PlainStream>(w_.io);
      ErrorInfo e =
          co_await connect_tcp(lowest(*plain_), ep.url.host, ep.url.port, ep.endpoints, op);
      if (e.kind != ErrorKind::kNone) co_return e;
      configure(*plain_, ep);
      co_await plain_->async_handshake(res, ep.url.host_header, target,
                                       net::redirect_error(net::use_awaitable, ec));
    }
    stats::Record& rec = op.rec;
    rec.status = res.result_int();
    if (ec == ws::error::upgrade_declined && !op.expired()) {
      co_return ErrorInfo{ErrorKind::kHttpStatus, "WebSocket upgrade declined: HTTP",
                          static_cast<int>(rec.status), false};
    }
    if (ec) {
      if (is_websocket_error(ec) && !op.expired()) {
        co_return ErrorInfo{ErrorKind::kProtocol, "WebSocket handshake failed", 0, false};
      }
      co_return failure(ec, "WebSocket handshake failed", op);
    }
    co_return ErrorInfo{};
  }

  template <class Stream>
  net::awaitable<error_code> send_on(Stream& s, const Step& step, std::string_view payload) {
    error_code ec;
    s.binary(step.payload.binary);
    co_await s.async_write(net::buffer(payload.data(), payload.size()),
                           net::redirect_error(net::use_awaitable, ec));
    co_return ec;
  }

  template <class Stream>
  net::awaitable<error_code> receive_on(Stream& s) {
    error_code ec;
    co_await s.async_read(rx_, net::redirect_error(net::use_awaitable, ec));
    co_return ec;
  }

  net::awaitable<void> message(const Step& step, Nanos planned) {
    OpScope op(w_, op_, step.name_id, planned, step.timeout);
    stats::Record& rec = op.rec;
    error_code ec;
    if (step.op != Op::kRecv) {
      const char* bad = nullptr;
      const std::string_view payload = step.payload.render(*w_.scope, text_, decoded_, bad);
      if (bad) {
        rec.error = {ErrorKind::kInvalidRequest, bad, 0, false};
      } else if (plain_) {
        ec = co_await send_on(*plain_, step, payload);
      } else {
        ec = co_await send_on(*tls_, step, payload);
      }
      if (ec) {
        rec.error = failure(ec, "send", op);
      } else if (!bad) {
        rec.bytes_out = payload.size();  // only bytes actually written count
      }
    }
    if (!ec && rec.ok() && step.op != Op::kSend) {
      rx_.clear();
      if (plain_) {
        ec = co_await receive_on(*plain_);
      } else {
        ec = co_await receive_on(*tls_);
      }
      if (ec) {
        rec.error = failure(ec, "receive", op);
      } else {
        rec.bytes_in = rx_.size();
        const std::string_view got(static_cast<const char*>(rx_.data().data()), rx_.size());
        if (!step.expect.empty() && got.find(step.expect) == std::string_view::npos) {
          rec.error = {ErrorKind::kAssertion, "expect not in the message", 0, false};
        } else if (step.checks) {
          if (const char* failed =
                  step.checks->apply(checks::ResponseView{0, got, {}}, *w_.scope)) {
            rec.error = {ErrorKind::kAssertion, failed, 0, false};
          }
        }
        if ((!rec.ok() || w_.keep_bodies) && w_.stats.logging()) {
          // The record log keeps the start of the message that failed, or with record_bodies
          // of every message (rx_ is reused).
          fail_text_.assign(got.substr(0, rec.ok() ? w_.keep_bodies : stats::kRecordTextMax));
          rec.text = fail_text_;
        }
      }
      rx_.clear();
      if (rx_.capacity() > kKeepReceiveBuffer) rx_.shrink_to_fit();
    }
    op.stop();
    if (ec) drop();
    op.record();
  }

  net::awaitable<void> close(const Step& step, Nanos planned) {
    OpScope op(w_, op_, step.name_id, planned, step.timeout);
    error_code ec;
    // Sends a close frame, reads until the server's close frame, then closes TCP.
    if (plain_) {
      co_await plain_->async_close(ws::close_code::normal,
                                   net::redirect_error(net::use_awaitable, ec));
    } else {
      co_await tls_->async_close(ws::close_code::normal,
                                 net::redirect_error(net::use_awaitable, ec));
    }
    if (ec && ec != net::error::eof && ec != net::ssl::error::stream_truncated) {
      op.rec.error = failure(ec, "close", op);
    }
    op.stop();
    drop();
    op.record();
  }

  const Tasks& tasks_;
  engine::WorkerContext w_;
  std::unique_ptr<PlainStream> plain_;  // ws:// connection, or
  std::unique_ptr<TlsStream> tls_;      // wss:// connection
  bool open_ = false;
  std::size_t current_ = 0;  // endpoint of the open connection
  beast::flat_buffer rx_;    // the message being received
  std::string fail_text_;    // a failed message's start, for the record log
  // Per-request rendering (reused): payload text, its "hex:" bytes, the handshake target and
  // header values.
  std::string text_, decoded_, target_;
  std::vector<std::string> rendered_headers_;
  engine::TimedOp op_;
};

}  // namespace

std::unique_ptr<engine::UserSession> Tasks::new_user(engine::WorkerContext& worker) {
  return std::make_unique<Session>(*this, worker);
}

}  // namespace ld::proto::websocket
