#include "codec.hpp"
#include "mem_pool.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

namespace ld::proto::http2 {

using stats::ErrorInfo;
using stats::ErrorKind;

namespace {

// Built once: every codec shares the callback table (nghttp2 copies it into the session).
struct Callbacks {
  nghttp2_session_callbacks* cb = nullptr;
  nghttp2_option* opt = nullptr;
  template <class Fn>
  Callbacks(Fn setup) {
    if (nghttp2_session_callbacks_new(&cb) != 0 || nghttp2_option_new(&opt) != 0) {
      throw std::bad_alloc();
    }
    setup(cb, opt);
  }
  ~Callbacks() {
    nghttp2_session_callbacks_del(cb);
    nghttp2_option_del(opt);
  }
};

// nghttp2 allocates per stream (stream object, queued frames, header copies). A thread-local
// free list per 64-byte size class turns those into a pop and a push; blocks above 2 KiB go to
// malloc. Each block carries its class in a 16-byte header, so any thread may free it.
class Pool {
 public:
  static constexpr std::size_t kHeader = 16;
  static constexpr std::size_t kGranule = 64;
  static constexpr std::size_t kClasses = 32;  // up to 2 KiB

  ~Pool() {
    for (auto& head : free_) {
      while (head) {
        Node* n = head;
        head = n->next;
        std::free(n);
      }
    }
  }

  void* allocate(std::size_t size) {
    const std::size_t cls = (size + kGranule - 1) / kGranule;  // 0 for size 0
    if (cls < kClasses) {
      if (Node* n = free_[cls]) {
        free_[cls] = n->next;
        return finish(n, cls);
      }
      void* raw = std::malloc(kHeader + std::max<std::size_t>(cls, 1) * kGranule);
      return raw ? finish(raw, cls) : nullptr;
    }
    void* raw = std::malloc(kHeader + size);
    return raw ? finish(raw, kClasses) : nullptr;
  }

  void release(void* p) noexcept {
    if (!p) return;
    void* raw = static_cast<char*>(p) - kHeader;
    std::size_t cls;
    std::memcpy(&cls, raw, sizeof cls);
    if (cls >= kClasses) {
      std::free(raw);
      return;
    }
    Node* n = static_cast<Node*>(raw);
    n->next = free_[cls];
    free_[cls] = n;
  }

  // Usable bytes of a block (for realloc).
  static std::size_t capacity(void* p, std::size_t fallback) noexcept {
    std::size_t cls;
    std::memcpy(&cls, static_cast<char*>(p) - kHeader, sizeof cls);
    return cls < kClasses ? std::max<std::size_t>(cls, 1) * kGranule : fallback;
  }

  static Pool& local() {
    thread_local Pool pool;
    return pool;
  }

 private:
  struct Node {
    Node* next;
  };
  static void* finish(void* raw, std::size_t cls) noexcept {
    std::memcpy(raw, &cls, sizeof cls);
    return static_cast<char*>(raw) + kHeader;
  }
  Node* free_[kClasses] = {};
};

}  // namespace

void* pool_malloc(std::size_t size, void*) { return Pool::local().allocate(size); }
void pool_free(void* p, void*) { Pool::local().release(p); }
void* pool_calloc(std::size_t n, std::size_t size, void*) {
  void* p = Pool::local().allocate(n * size);
  if (p) std::memset(p, 0, n * size);
  return p;
}
void* pool_realloc(void* p, std::size_t size, void*) {
  if (!p) return Pool::local().allocate(size);
  if (size == 0) {
    Pool::local().release(p);
    return nullptr;
  }
  // Blocks above the largest class came from malloc with the header in front: realloc them.
  const std::size_t cap = Pool::capacity(p, static_cast<std::size_t>(-1));
  if (cap == static_cast<std::size_t>(-1)) {
    void* raw = std::realloc(static_cast<char*>(p) - Pool::kHeader, Pool::kHeader + size);
    return raw ? static_cast<char*>(raw) + Pool::kHeader : nullptr;
  }
  if (size <= cap) return p;
  void* q = Pool::local().allocate(size);
  if (!q) return nullptr;
  std::memcpy(q, p, cap);
  Pool::local().release(p);
  return q;
}

namespace {

nghttp2_mem kPoolMem = {nullptr, pool_malloc, pool_free, pool_calloc, pool_realloc};

ErrorInfo stream_error(std::uint32_t code) {
  switch (code) {
    case NGHTTP2_REFUSED_STREAM:
      return {ErrorKind::kReset, "HTTP/2 stream refused", static_cast<int>(code), false};
    case NGHTTP2_PROTOCOL_ERROR:
      return {ErrorKind::kProtocol, "HTTP/2 stream protocol error", static_cast<int>(code), false};
    default:
      return {ErrorKind::kReset, "HTTP/2 stream reset", static_cast<int>(code), false};
  }
}

}  // namespace

ClientCodec::ClientCodec(CodecListener& listener) : listener_(listener) {
  static const Callbacks callbacks([](nghttp2_session_callbacks* cb, nghttp2_option* opt) {
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, &ClientCodec::on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cb, &ClientCodec::on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, &ClientCodec::on_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, &ClientCodec::on_stream_close);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, &ClientCodec::on_frame_recv);
    nghttp2_session_callbacks_set_on_frame_not_send_callback(cb, &ClientCodec::on_frame_not_send);
    // Streams are paced by the users; the server's limit (once known) queues the excess.
    nghttp2_option_set_peer_max_concurrent_streams(opt, 100);
  });
  if (nghttp2_session_client_new3(&session_, callbacks.cb, this, callbacks.opt, &kPoolMem) != 0) {
    throw std::bad_alloc();
  }
  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, static_cast<std::uint32_t>(kWindow)},
  };
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, std::size(settings));
  nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, kWindow);
}

ClientCodec::~ClientCodec() { nghttp2_session_del(session_); }

bool ClientCodec::submit(const nghttp2_nv* nva, std::size_t count, StreamResult& s) {
  if (!can_submit()) return false;
  nghttp2_data_provider body;
  nghttp2_data_provider* provider = nullptr;
  if (s.body && !s.body->empty()) {
    body.source.ptr = &s;
    body.read_callback = &ClientCodec::read_body;
    provider = &body;
  }
  const std::int32_t id = nghttp2_submit_request(session_, nullptr, nva, count, provider, &s);
  if (id < 0) return false;
  s.stream_id = id;
  s.open_index = open_.size();
  open_.push_back(&s);
  return true;
}

void ClientCodec::cancel(StreamResult& s) {
  if (s.open_index >= open_.size() || open_[s.open_index] != &s) return;
  remove(s);
  // A request still queued (not sent) has no stream yet: it goes out later, its body is not
  // sent (read_body) and its answer is ignored (lookup() no longer finds it); an RST_STREAM
  // before its HEADERS would be a protocol error.
  if (nghttp2_session_set_stream_user_data(session_, s.stream_id, nullptr) == 0) {
    nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, s.stream_id, NGHTTP2_CANCEL);
  }
}

bool ClientCodec::feed(const std::uint8_t* data, std::size_t size) {
  if (error_) return false;
  const ssize_t n = nghttp2_session_mem_recv(session_, data, size);
  if (n < 0) {
    error_ = nghttp2_strerror(static_cast<int>(n));  // static strings
    return false;
  }
  // A connection error nghttp2 detected (bad frames, a peer that does not speak HTTP/2) is not
  // a negative return: the session queues its own GOAWAY (we never send one) and stops.
  if (!goaway_ && !nghttp2_session_check_request_allowed(session_)) {
    error_ = "HTTP/2 connection error";
    return false;
  }
  return true;
}

bool ClientCodec::produce(std::vector<std::uint8_t>& out, std::size_t limit) {
  if (error_) return false;
  const std::size_t start = out.size();
  while (out.size() - start < limit) {
    const std::uint8_t* data = nullptr;
    const ssize_t n = nghttp2_session_mem_send(session_, &data);
    if (n < 0) {
      error_ = nghttp2_strerror(static_cast<int>(n));
      return false;
    }
    if (n == 0) break;
    out.insert(out.end(), data, data + n);
  }
  return true;
}

void ClientCodec::fail_all(const ErrorInfo& error) {
  while (!open_.empty()) {
    StreamResult& s = *open_.back();
    nghttp2_session_set_stream_user_data(session_, s.stream_id, nullptr);
    s.error = error;
    finish(s);
  }
}

void ClientCodec::forget_all() noexcept {
  for (StreamResult* s : open_) {
    nghttp2_session_set_stream_user_data(session_, s->stream_id, nullptr);
    s->open_index = static_cast<std::size_t>(-1);
  }
  open_.clear();
}

bool ClientCodec::want_write() const noexcept { return nghttp2_session_want_write(session_); }

bool ClientCodec::can_submit() const noexcept {
  return !error_ && nghttp2_session_check_request_allowed(session_) != 0;
}

StreamResult* ClientCodec::lookup(std::int32_t stream_id) noexcept {
  auto* s = static_cast<StreamResult*>(nghttp2_session_get_stream_user_data(session_, stream_id));
  if (!s || s->stream_id != stream_id || s->open_index >= open_.size() ||
      open_[s->open_index] != s) {
    return nullptr;
  }
  return s;
}

void ClientCodec::remove(StreamResult& s) noexcept {
  if (headers_of_ == &s) headers_of_ = nullptr;
  StreamResult* last = open_.back();
  open_[s.open_index] = last;
  last->open_index = s.open_index;
  open_.pop_back();
  s.open_index = static_cast<std::size_t>(-1);
}

void ClientCodec::finish(StreamResult& s) noexcept {
  remove(s);
  s.done = true;
  listener_.on_stream_done(s);
}

int ClientCodec::on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* self) {
  auto& c = *static_cast<ClientCodec*>(self);
  c.headers_of_ = frame->hd.type == NGHTTP2_HEADERS ? c.lookup(frame->hd.stream_id) : nullptr;
  return 0;
}

int ClientCodec::on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name,
                           std::size_t namelen, const std::uint8_t* value, std::size_t valuelen,
                           std::uint8_t, void* self) {
  auto& c = *static_cast<ClientCodec*>(self);
  // Header callbacks of one block follow its begin callback with nothing in between, so the
  // stream looked up there is still open and ours.
  StreamResult* s = c.headers_of_;
  if (!s || s->stream_id != frame->hd.stream_id) return 0;
  s->header_bytes += namelen + valuelen + 4;
  if (namelen == 7 && std::memcmp(name, ":status", 7) == 0) {
    std::uint32_t status = 0;
    for (std::size_t i = 0; i < valuelen; ++i) status = status * 10 + (value[i] - '0');
    if (status >= 200) s->status = status;  // 1xx: informational, a final status follows
  } else if (namelen == 8 && std::memcmp(name, "location", 8) == 0) {
    s->location.assign(reinterpret_cast<const char*>(value), valuelen);
  } else if (namelen == 10 && std::memcmp(name, "set-cookie", 10) == 0) {
    if (!s->set_cookies.empty()) s->set_cookies.push_back('\n');
    s->set_cookies.append(reinterpret_cast<const char*>(value), valuelen);
  } else if (namelen == 16 && std::memcmp(name, "content-encoding", 16) == 0) {
    s->coding =
        parse_content_coding(std::string_view(reinterpret_cast<const char*>(value), valuelen));
  }
  if (s->header_sink && namelen > 0 && name[0] != ':') {
    s->header_sink->append(reinterpret_cast<const char*>(name), namelen);
    s->header_sink->append(": ");
    s->header_sink->append(reinterpret_cast<const char*>(value), valuelen);
    s->header_sink->append("\r\n");
  }
  return 0;
}

int ClientCodec::on_data(nghttp2_session*, std::uint8_t, std::int32_t stream_id,
                         const std::uint8_t* data, std::size_t len, void* self) {
  auto& c = *static_cast<ClientCodec*>(self);
  if (StreamResult* s = c.lookup(stream_id)) {
    s->body_bytes += len;
    if (s->body_sink) s->body_sink->append(reinterpret_cast<const char*>(data), len);
  }
  return 0;
}

int ClientCodec::on_stream_close(nghttp2_session*, std::int32_t stream_id, std::uint32_t code,
                                 void* self) {
  auto& c = *static_cast<ClientCodec*>(self);
  StreamResult* s = c.lookup(stream_id);
  if (!s) return 0;
  if (s->error.kind != ErrorKind::kNone) {
    // already decided (RST_STREAM from the server)
  } else if (code != NGHTTP2_NO_ERROR) {
    s->error = stream_error(code);
    s->refused = code == NGHTTP2_REFUSED_STREAM;
  } else if (s->status == 0) {
    s->error = {ErrorKind::kProtocol, "HTTP/2 stream closed without a response", 0, false};
  }
  c.finish(*s);
  return 0;
}

int ClientCodec::on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* self) {
  auto& c = *static_cast<ClientCodec*>(self);
  if (frame->hd.type == NGHTTP2_RST_STREAM) {
    // The server reset the stream (on_stream_close follows with the same code).
    StreamResult* s = c.lookup(frame->hd.stream_id);
    const std::uint32_t code = frame->rst_stream.error_code;
    if (s && code != NGHTTP2_NO_ERROR) {
      s->refused = code == NGHTTP2_REFUSED_STREAM;
      s->error = {ErrorKind::kReset,
                  s->refused ? "HTTP/2 stream refused" : "HTTP/2 stream reset by server",
                  static_cast<int>(code), false};
    }
    return 0;
  }
  if (frame->hd.type == NGHTTP2_GOAWAY && !c.goaway_) {
    c.goaway_ = true;
    c.listener_.on_goaway();
  }
  return 0;
}

int ClientCodec::on_frame_not_send(nghttp2_session*, const nghttp2_frame* frame, int lib_error,
                                   void* self) {
  auto& c = *static_cast<ClientCodec*>(self);
  if (frame->hd.type != NGHTTP2_HEADERS) return 0;
  // A request that never left (GOAWAY arrived first): the stream may not exist yet, so find it
  // by id among ours.
  for (StreamResult* s : c.open_) {
    if (s->stream_id != frame->hd.stream_id) continue;
    nghttp2_session_set_stream_user_data(c.session_, s->stream_id, nullptr);
    s->refused = lib_error == NGHTTP2_ERR_START_STREAM_NOT_ALLOWED ||
                 lib_error == NGHTTP2_ERR_STREAM_CLOSING;
    s->error = {ErrorKind::kReset, "HTTP/2 request not sent (connection closing)", 0, false};
    c.finish(*s);
    break;
  }
  return 0;
}

ssize_t ClientCodec::read_body(nghttp2_session*, std::int32_t stream_id, std::uint8_t* buf,
                               std::size_t length, std::uint32_t* flags,
                               nghttp2_data_source* source, void* self) {
  auto& c = *static_cast<ClientCodec*>(self);
  auto& s = *static_cast<StreamResult*>(source->ptr);
  // A request cancelled before it was sent still goes out later; its StreamResult may already
  // carry another request by then, so give up on that stream (nghttp2 resets it).
  if (s.stream_id != stream_id || s.open_index >= c.open_.size() || c.open_[s.open_index] != &s) {
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  }
  const std::string& body = *s.body;
  const std::size_t n = std::min(length, body.size() - s.body_sent);
  std::memcpy(buf, body.data() + s.body_sent, n);
  s.body_sent += n;
  if (s.body_sent == body.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
  return static_cast<ssize_t>(n);
}

}  // namespace ld::proto::http2
