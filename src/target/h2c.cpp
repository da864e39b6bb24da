// HTTP/2 (h2c, prior knowledge) for the embedded target: an nghttp2 server session fed by a
// read coroutine, answering through route(). Writes and /delay timers complete through
// callbacks that hold the connection state alive and never touch the socket once the serving
// coroutine has returned.
#include "target/h2c.hpp"

#include <nghttp2/nghttp2.h>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cstring>
#include <memory>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace ld::target {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;
using boost::system::error_code;

constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
constexpr std::size_t kBodyLimit = 16u * 1024u * 1024u;  // request bytes; larger: RST_STREAM

struct Stream {
  Request request;
  Reply reply;
  std::vector<std::string> strings;  // response header names and values (nva points here)
  std::vector<nghttp2_nv> nva;
  std::size_t sent = 0;
  std::unique_ptr<net::steady_timer> timer;  // /delay/{s}
};

class Server : public std::enable_shared_from_this<Server> {
 public:
  Server(tcp::socket& socket, const ServerInfo& info) : socket_(socket), info_(info) {
    nghttp2_session_callbacks* cb = nullptr;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, &Server::on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cb, &Server::on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, &Server::on_data);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, &Server::on_frame_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, &Server::on_stream_close);
    nghttp2_session_server_new(&session_, cb, this);
    nghttp2_session_callbacks_del(cb);
    const nghttp2_settings_entry settings[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 128}};
    nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, std::size(settings));
  }
  ~Server() { nghttp2_session_del(session_); }

  // False: the peer broke the protocol (a GOAWAY is queued); the caller flushes and stops.
  bool feed(const char* data, std::size_t size) {
    const ssize_t n =
        nghttp2_session_mem_recv(session_, reinterpret_cast<const std::uint8_t*>(data), size);
    return n >= 0;
  }
  bool done() const {
    return !nghttp2_session_want_read(session_) && !nghttp2_session_want_write(session_);
  }

  void flush() {
    if (writing_ || closed_) return;
    out_.clear();
    while (out_.size() < 64 * 1024) {
      const std::uint8_t* data = nullptr;
      const ssize_t n = nghttp2_session_mem_send(session_, &data);
      if (n <= 0) break;
      out_.insert(out_.end(), data, data + n);
    }
    if (out_.empty()) return;
    writing_ = true;
    net::async_write(socket_, net::buffer(out_),
                     [self = shared_from_this()](error_code ec, std::size_t) {
                       self->writing_ = false;
                       if (self->closed_) return;
                       if (ec) {
                         self->close();
                         return;
                       }
                       self->flush();
                     });
  }

  // Ends the connection's state: no more writes, timers cancelled. The socket is the caller's.
  void close() {
    closed_ = true;
    for (auto& [id, s] : streams_) {
      if (s->timer) s->timer->cancel();
    }
  }

 private:
  Stream* stream(std::int32_t id) {
    auto it = streams_.find(id);
    return it == streams_.end() ? nullptr : it->second.get();
  }

  static int on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* self) {
    auto& srv = *static_cast<Server*>(self);
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
      auto s = std::make_unique<Stream>();
      s->request.version(20);
      srv.streams_[frame->hd.stream_id] = std::move(s);
    }
    return 0;
  }

  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* n,
                       std::size_t nlen, const std::uint8_t* v, std::size_t vlen, std::uint8_t,
                       void* self) {
    auto& srv = *static_cast<Server*>(self);
    Stream* s = srv.stream(frame->hd.stream_id);
    if (!s) return 0;
    add_request_field(s->request, std::string_view(reinterpret_cast<const char*>(n), nlen),
                      std::string_view(reinterpret_cast<const char*>(v), vlen));
    return 0;
  }

  static int on_data(nghttp2_session* session, std::uint8_t, std::int32_t id,
                     const std::uint8_t* data, std::size_t len, void* self) {
    auto& srv = *static_cast<Server*>(self);
    Stream* s = srv.stream(id);
    if (!s) return 0;
    if (s->request.body().size() + len > kBodyLimit) {
      nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, id, NGHTTP2_REFUSED_STREAM);
      return 0;
    }
    s->request.body().append(reinterpret_cast<const char*>(data), len);
    return 0;
  }

  static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* self) {
    auto& srv = *static_cast<Server*>(self);
    if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
        (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
      if (Stream* s = srv.stream(frame->hd.stream_id)) srv.handle(frame->hd.stream_id, *s);
    }
    return 0;
  }

  static int on_stream_close(nghttp2_session*, std::int32_t id, std::uint32_t, void* self) {
    auto& srv = *static_cast<Server*>(self);
    auto it = srv.streams_.find(id);
    if (it != srv.streams_.end()) {
      if (it->second->timer) it->second->timer->cancel();
      srv.streams_.erase(it);
    }
    return 0;
  }

  void handle(std::int32_t id, Stream& s) {
    s.request.prepare_payload();
    route(s.request, info_, s.reply);
    if (s.reply.delay.count() > 0) {
      s.timer = std::make_unique<net::steady_timer>(socket_.get_executor(), s.reply.delay);
      s.timer->async_wait([self = shared_from_this(), id](error_code ec) {
        if (ec || self->closed_) return;
        if (Stream* st = self->stream(id)) {
          self->respond(id, *st);
          self->flush();
        }
      });
      return;
    }
    respond(id, s);
  }

  void respond(std::int32_t id, Stream& s) {
    const Reply& r = s.reply;
    const bool has_body = r.status >= 200 && r.status != 204 && r.status != 304;
    const bool send_body = has_body && s.request.method() != beast::http::verb::head;
    response_fields(r, has_body, s.strings);
    s.nva.clear();
    for (std::size_t i = 0; i + 1 < s.strings.size(); i += 2) {
      s.nva.push_back({reinterpret_cast<std::uint8_t*>(s.strings[i].data()),
                       reinterpret_cast<std::uint8_t*>(s.strings[i + 1].data()),
                       s.strings[i].size(), s.strings[i + 1].size(), NGHTTP2_NV_FLAG_NONE});
    }
    nghttp2_data_provider body;
    body.source.ptr = &s;
    body.read_callback = &Server::read_body;
    nghttp2_submit_response(session_, id, s.nva.data(), s.nva.size(),
                            send_body && !r.body.empty() ? &body : nullptr);
  }

  static ssize_t read_body(nghttp2_session*, std::int32_t, std::uint8_t* buf, std::size_t length,
                           std::uint32_t* flags, nghttp2_data_source* source, void*) {
    auto& s = *static_cast<Stream*>(source->ptr);
    const std::string& body = s.reply.body;
    const std::size_t n = std::min(length, body.size() - s.sent);
    std::memcpy(buf, body.data() + s.sent, n);
    s.sent += n;
    if (s.sent == body.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return static_cast<ssize_t>(n);
  }

  tcp::socket& socket_;
  ServerInfo info_;
  nghttp2_session* session_ = nullptr;
  std::unordered_map<std::int32_t, std::unique_ptr<Stream>> streams_;
  std::vector<std::uint8_t> out_;
  bool writing_ = false;
  bool closed_ = false;
};

}  // namespace

net::awaitable<bool> detect_h2c(tcp::socket& socket, beast::flat_buffer& buffer) {
  for (;;) {
    const std::string_view have(static_cast<const char*>(buffer.data().data()), buffer.size());
    const std::size_t n = std::min(have.size(), kPreface.size());
    if (have.substr(0, n) != kPreface.substr(0, n)) co_return false;
    if (n == kPreface.size()) co_return true;
    error_code ec;
    const std::size_t got = co_await socket.async_read_some(
        buffer.prepare(4096), net::redirect_error(net::use_awaitable, ec));
    if (ec) co_return false;
    buffer.commit(got);
  }
}

net::awaitable<void> serve_h2c(tcp::socket& socket, beast::flat_buffer& buffer,
                               const ServerInfo& info, const bool& stopping) {
  auto srv = std::make_shared<Server>(socket, info);
  bool ok = srv->feed(static_cast<const char*>(buffer.data().data()), buffer.size());
  buffer.consume(buffer.size());
  srv->flush();
  std::vector<char> buf(16 * 1024);
  while (ok && !stopping && !srv->done()) {
    error_code ec;
    const std::size_t n = co_await socket.async_read_some(
        net::buffer(buf), net::redirect_error(net::use_awaitable, ec));
    if (ec || stopping) break;
    ok = srv->feed(buf.data(), n);
    srv->flush();
  }
  srv->close();
}

}  // namespace ld::target
