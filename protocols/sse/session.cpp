// The sse_user session. A user holds at most one event stream open across steps: `open`
// connects, sends the GET and reads the response head; `wait` parses events out of the body as
// it arrives (chunked, sized or close-delimited, via Beast's parser) until enough matching
// events came; `close` drops the stream. A stream the server ended (or a failed open) is
// reopened by the next open or wait like EventSource does: after the server's `retry` delay,
// with Last-Event-ID. Timeouts come from the worker's DeadlineSweeper, which cancels the
// pending operation; a wait that times out leaves a healthy stream open.
#include <utility>  // before Asio (Boost 1.74 trap)

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <chrono>
#include <limits>
#include <optional>

#include "common/connect.hpp"
#include "event_parser.hpp"
#include "sse_impl.hpp"
#include "stats/recorder.hpp"

namespace ld::proto::sse {

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using boost::system::error_code;
using stats::ErrorInfo;
using stats::ErrorKind;
using tcp = net::ip::tcp;

constexpr std::size_t kBodyBuffer = 4096;  // decoded body bytes per read
constexpr std::size_t kMaxHeader = 16 * 1024;

enum class State {
  kClosed,  // never opened, or closed by a close task: the next open starts a fresh stream
  kOpen,
  kEnded,  // the server ended it or opening failed: the next open resumes it
};

class Session final : public engine::UserSession {
 public:
  Session(const Tasks& tasks, engine::WorkerContext& w) : tasks_(tasks), w_(w) {
    op_.on_expire = &Session::expire;
    op_.self = this;
    w_.deadlines.add(&op_);
  }

  ~Session() override { w_.deadlines.remove(&op_); }

  void shutdown() noexcept override { close_socket(); }

  net::awaitable<void> run_step(std::size_t index, Nanos planned) override {
    const Step& step = tasks_.steps[index];
    switch (step.op) {
      case Op::kOpen:
        if (state_ == State::kOpen && current_ == step.stream) co_return;  // already open
        co_await open_stream(step.stream, step.timeout, planned);
        co_return;
      case Op::kClose:
        close_socket();
        state_ = State::kClosed;
        co_return;
      case Op::kWait:
        if (state_ != State::kOpen || current_ != step.stream) {
          // Reopen (a failure is recorded by the open, not again by the wait).
          if (!co_await open_stream(step.stream, step.timeout, planned)) co_return;
          planned = steady_now();
        }
        co_await wait_events(step, planned);
        co_return;
    }
  }

 private:
  static void expire(void* self) noexcept {
    auto* s = static_cast<Session*>(self);
    if (s->pause_) s->pause_->cancel();
    if (s->state_ != State::kOpen) {
      s->close_socket();  // still opening: the attempt is over
      return;
    }
    // A wait: cancel, not close, so a wait that timed out keeps a healthy stream. The wait
    // checks op_.expired before each read, in case nothing was pending at this moment.
    error_code ignored;
    if (s->tls_) s->tls_->next_layer().cancel(ignored);
    if (s->plain_) s->plain_->cancel(ignored);
  }

  void close_socket() noexcept {
    error_code ignored;
    if (tls_) tls_->next_layer().close(ignored);
    if (plain_) plain_->close(ignored);
    if (state_ == State::kOpen) state_ = State::kEnded;
  }

  static constexpr ErrorInfo kOpenTimedOut{ErrorKind::kTimeout, "timed out opening the stream", 0,
                                           false};

  // Connects and reads the response head; records the open. Returns true when the stream is
  // open.
  net::awaitable<bool> open_stream(std::size_t index, Nanos timeout, Nanos planned) {
    const Stream& st = tasks_.streams[index];
    OpScope op(w_, st.open_name, planned, timeout, kOpenTimedOut);
    stats::Record& rec = op.rec;
    const bool resume = state_ == State::kEnded && current_ == index;
    close_socket();
    if (!resume) {
      resume_id_.clear();
      retry_ms_ = -1;
    }
    current_ = index;
    state_ = State::kEnded;
    op.arm(op_);
    rec.error = co_await connect_and_request(st, resume, op);
    if (op.stop()) {
      close_socket();
      state_ = State::kEnded;
      op.record();
      co_return false;
    }
    if (rec.ok()) {
      state_ = State::kOpen;
      events_.reset();
      first_event_pending_ = true;
      open_planned_ = planned;
      open_start_ = rec.start;
      bytes_ = body_len_;  // body bytes that came with the head
    } else {
      if (op.expired()) rec.error = op.timed_out();
      close_socket();
      state_ = State::kEnded;
    }
    op.record();
    co_return rec.ok();
  }

  net::awaitable<ErrorInfo> connect_and_request(const Stream& st, bool resume, OpScope& op) {
    stats::Record& rec = op.rec;
    error_code ec;
    std::string_view request_head = st.request;
    if (st.dynamic) {  // per-request parts of the URL or headers, rendered at each open
      head_.clear();
      st.head_tpl.render(head_, *w_.scope);
      if (line_breaks(head_) != st.head_breaks) {
        co_return ErrorInfo{ErrorKind::kInvalidRequest,
                            "a placeholder put a line break or NUL into the request", 0, false};
      }
      request_head = head_;
    }
    if (resume && retry_ms_ > 0) {
      // EventSource waits the server's reconnection time before reopening.
      if (!pause_) pause_.emplace(w_.io);
      pause_->expires_after(std::chrono::milliseconds(retry_ms_));
      co_await pause_->async_wait(net::redirect_error(net::use_awaitable, ec));
      if (op.expired()) co_return op.timed_out();
    }
    tls_.reset();
    plain_.reset();
    if (st.ssl) {
      tls_ = std::make_unique<net::ssl::stream<tcp::socket>>(w_.io, *st.ssl);
    } else {
      plain_.emplace(w_.io);
    }
    tcp::socket& sock = tls_ ? tls_->next_layer() : *plain_;
    ErrorInfo e = co_await connect_tcp(sock, st.url.host, st.url.port, st.endpoints, op);
    if (e.kind == ErrorKind::kNone && tls_) e = co_await tls_handshake(*tls_, st.url.host, op);
    if (e.kind != ErrorKind::kNone) co_return e;
    // The request: the compiled head, Last-Event-ID when resuming, the final CRLF.
    tail_.clear();
    if (resume && !resume_id_.empty()) tail_ = "Last-Event-ID: " + resume_id_ + "\r\n";
    tail_ += "\r\n";
    const std::array<net::const_buffer, 2> request{
        net::buffer(request_head.data(), request_head.size()), net::buffer(tail_)};
    rec.bytes_out = request_head.size() + tail_.size();
    if (tls_) {
      co_await net::async_write(*tls_, request, net::redirect_error(net::use_awaitable, ec));
    } else {
      co_await net::async_write(*plain_, request, net::redirect_error(net::use_awaitable, ec));
    }
    if (ec) co_return op.error(ec, "send");
    http_.emplace();
    // A stream has no end. (Not boost::none: Boost 1.74 compares a Content-Length against an
    // empty limit as "exceeded".)
    http_->body_limit(std::numeric_limits<std::uint64_t>::max());
    http_->header_limit(kMaxHeader);
    raw_.clear();
    // Body bytes that arrive with the head are decoded into body_ at once.
    if (!body_) body_ = std::make_unique<char[]>(kBodyBuffer);
    auto& body = http_->get().body();
    body.data = body_.get();
    body.size = kBodyBuffer;
    if (tls_) {
      co_await http::async_read_header(*tls_, raw_, *http_,
                                       net::redirect_error(net::use_awaitable, ec));
    } else {
      co_await http::async_read_header(*plain_, raw_, *http_,
                                       net::redirect_error(net::use_awaitable, ec));
    }
    if (ec == http::error::need_buffer) ec = {};  // the head is complete; body_ is full
    body_pos_ = 0;
    body_len_ = kBodyBuffer - body.size;
    if (ec) {
      if (ec.category() == make_error_code(http::error::end_of_stream).category() &&
          ec != http::error::end_of_stream && ec != http::error::partial_message) {
        co_return ErrorInfo{ErrorKind::kProtocol, "malformed HTTP response", 0, false};
      }
      if (ec == http::error::end_of_stream || ec == http::error::partial_message) {
        co_return ErrorInfo{ErrorKind::kReset, "connection closed by peer", 0, false};
      }
      co_return op.error(ec, "I/O error");
    }
    const auto& head = http_->get();
    rec.status = head.result_int();
    if (rec.status != 200) {
      co_return ErrorInfo{ErrorKind::kHttpStatus, "HTTP", static_cast<int>(rec.status), false};
    }
    const auto ct = head.find(http::field::content_type);
    const std::string_view type = ct == head.end() ? std::string_view{} : ct->value();
    if (type.size() < 17 || !beast::iequals(type.substr(0, 17), "text/event-stream")) {
      co_return ErrorInfo{ErrorKind::kProtocol, "response is not text/event-stream", 0, false};
    }
    co_return ErrorInfo{};
  }

  // Reads the next piece of the body into body_. Sets `ended` when the body is complete.
  net::awaitable<error_code> read_body(bool& ended) {
    error_code ec;
    ended = false;
    if (http_->is_done()) {
      ended = true;
      co_return ec;
    }
    auto& body = http_->get().body();
    body.data = body_.get();
    body.size = kBodyBuffer;
    if (tls_) {
      co_await http::async_read_some(*tls_, raw_, *http_,
                                     net::redirect_error(net::use_awaitable, ec));
    } else {
      co_await http::async_read_some(*plain_, raw_, *http_,
                                     net::redirect_error(net::use_awaitable, ec));
    }
    if (ec == http::error::need_buffer) ec = {};
    body_pos_ = 0;
    body_len_ = kBodyBuffer - body.size;
    bytes_ += body_len_;
    if (!ec && body_len_ == 0 && http_->is_done()) ended = true;
    co_return ec;
  }

  net::awaitable<void> wait_events(const Step& step, Nanos planned) {
    OpScope op(w_, op_, step.name_id, planned, step.timeout);
    stats::Record& rec = op.rec;
    std::uint32_t matched = 0;
    bool unmatched = false;  // events arrived that did not contain `expect`
    bool recorded = false;   // a check failed on a counted event (recorded then)
    std::uint64_t bytes_at_start = bytes_;
    while (matched < step.count) {
      bool ready = false;
      if (body_pos_ < body_len_) {
        body_pos_ +=
            events_.feed(std::string_view(body_.get() + body_pos_, body_len_ - body_pos_), ready);
        if (events_.error()) {
          rec.error = {ErrorKind::kProtocol, "event stream line too long", 0, false};
          close_socket();
          break;
        }
      }
      if (ready) {
        const Nanos now = steady_now();
        remember_resume_state();
        if (first_event_pending_) {
          first_event_pending_ = false;
          stats::Record first;
          first.name_id = tasks_.streams[current_].first_event_name;
          first.planned = open_planned_;
          first.start = open_start_;
          first.end = now;
          w_.record(first);
        }
        if (step.expect.empty() || events_.data().find(step.expect) != std::string_view::npos) {
          rec.end = now;
          rec.bytes_in = bytes_ - bytes_at_start;
          if (step.checks) {  // on the data of the event the wait counts
            const checks::ResponseView reply{0, events_.data(), {}};
            if (const char* failed = step.checks->apply(reply, *w_.scope)) {
              rec.error = {ErrorKind::kAssertion, failed, 0, false};
              rec.text = events_.data();  // the record log keeps its start
              w_.record(rec);
              recorded = true;
              break;  // the wait failed; the stream stays open
            }
          }
          if (w_.keep_bodies) rec.text = events_.data();  // record_bodies: the event data
          w_.record(rec);
          rec.text = {};
          ++matched;
          bytes_at_start = bytes_;
          rec.planned = rec.start = now;  // the next event of this wait is timed from here
          unmatched = false;
        } else {
          unmatched = true;
        }
        continue;
      }
      if (body_pos_ < body_len_) continue;  // (the parser stopped at an event boundary)
      if (op.expired()) {
        rec.error =
            unmatched
                ? ErrorInfo{ErrorKind::kAssertion, "no event matched 'expect' in time", 0, false}
                : ErrorInfo{ErrorKind::kTimeout, "no event before the timeout", 0, false};
        break;
      }
      bool ended = false;
      const error_code ec = co_await read_body(ended);
      if (ended) {
        rec.error = {ErrorKind::kReset, "event stream ended by the server", 0, false};
        close_socket();
        break;
      }
      if (ec) {
        if (op.expired()) {
          rec.error =
              unmatched
                  ? ErrorInfo{ErrorKind::kAssertion, "no event matched 'expect' in time", 0, false}
                  : ErrorInfo{ErrorKind::kTimeout, "no event before the timeout", 0, false};
          if (ec != net::error::operation_aborted) close_socket();
        } else if (ec == http::error::end_of_stream || ec == http::error::partial_message ||
                   is_stale_connection_error(ec)) {
          rec.error = {ErrorKind::kReset, "event stream closed by the server", 0, false};
          close_socket();
        } else if (ec.category() == make_error_code(http::error::end_of_stream).category()) {
          rec.error = {ErrorKind::kProtocol, "malformed HTTP body", 0, false};
          close_socket();
        } else {
          rec.error = classify_error(ec, "I/O error");
          close_socket();
        }
        break;
      }
    }
    op.stop();
    // Every counted event was recorded as it came, and so was a check that failed on one.
    if (matched == step.count || recorded) co_return;
    rec.bytes_in = bytes_ - bytes_at_start;
    op.record();
  }

  // Keeps what a reconnect needs (the parser is reset per connection).
  void remember_resume_state() {
    if (events_.last_id() != resume_id_) resume_id_.assign(events_.last_id());
    if (events_.retry_ms() >= 0) retry_ms_ = events_.retry_ms();
  }

  const Tasks& tasks_;
  engine::WorkerContext w_;
  std::optional<tcp::socket> plain_;
  std::unique_ptr<net::ssl::stream<tcp::socket>> tls_;
  std::optional<http::response_parser<http::buffer_body>> http_;
  beast::flat_buffer raw_;        // socket bytes the HTTP parser has not used yet
  std::unique_ptr<char[]> body_;  // decoded body bytes; [body_pos_, body_len_) not parsed yet
  std::size_t body_pos_ = 0;
  std::size_t body_len_ = 0;
  EventParser events_;
  State state_ = State::kClosed;
  std::size_t current_ = 0;     // stream index of the open (or last opened) stream
  std::string resume_id_;       // last event id, sent as Last-Event-ID on a resume
  std::int64_t retry_ms_ = -1;  // server's reconnection time, -1 = none
  std::string tail_;            // request tail (Last-Event-ID + CRLF)
  std::string head_;            // a dynamic stream's rendered request head
  bool first_event_pending_ = false;
  Nanos open_planned_ = 0;
  Nanos open_start_ = 0;
  std::uint64_t bytes_ = 0;                 // body bytes read on this stream
  std::optional<net::steady_timer> pause_;  // reconnection delay
  engine::TimedOp op_;
};

}  // namespace

std::unique_ptr<engine::UserSession> Tasks::new_user(engine::WorkerContext& worker) {
  return std::make_unique<Session>(*this, worker);
}

}  // namespace ld::proto::sse
