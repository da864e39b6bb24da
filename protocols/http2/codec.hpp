#pragma once
// Private to protocols/http2: the client side of one HTTP/2 connection as a pure codec over
// nghttp2 (no sockets, no clock). Bytes go in through feed(), bytes to send come out of
// produce(); finished streams are reported to a listener. The I/O layer (session.cpp) and the
// unit tests (against an in-process nghttp2 server session) drive it the same way.
#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/body_decoder.hpp"
#include "loaddensity/stats/record.hpp"

namespace ld::proto::http2 {

// One request on the connection and what came back. Owned by the caller (a session slot); it
// must stay valid until the codec reports it done, it is cancelled, or the codec is detached.
struct StreamResult {
  // --- request (set by the caller before submit)
  const std::string* body = nullptr;   // request body, may be null (not copied)
  void* owner = nullptr;               // the caller's context, for the listener
  std::string* body_sink = nullptr;    // non-null: the response DATA is appended here
  std::string* header_sink = nullptr;  // non-null: "name: value\r\n" lines appended here
  // --- filled by the codec
  std::int32_t stream_id = 0;
  std::uint32_t status = 0;        // final :status (1xx responses are skipped)
  std::uint64_t header_bytes = 0;  // decoded response header bytes ("name: value\r\n")
  std::uint64_t body_bytes = 0;    // response DATA payload bytes
  std::string location;            // response `location` header (for redirects)
  std::string set_cookies;         // `set-cookie` values, '\n'-separated (empty: none)
  ContentCoding coding = ContentCoding::kIdentity;  // response `content-encoding`
  bool done = false;
  bool refused = false;    // the server did not process it: safe to retry
  stats::ErrorInfo error;  // kNone: a complete response arrived
  // --- codec bookkeeping
  std::size_t body_sent = 0;
  std::size_t open_index = static_cast<std::size_t>(-1);

  // Clears the outcome for a new request (keeps `location`'s capacity).
  void reset() noexcept {
    stream_id = 0;
    status = 0;
    header_bytes = body_bytes = 0;
    location.clear();
    set_cookies.clear();
    coding = ContentCoding::kIdentity;
    done = refused = false;
    error = {};
    body_sent = 0;
  }
};

class CodecListener {
 public:
  virtual ~CodecListener() = default;
  // A stream finished (response complete, reset, refused or failed with the connection).
  // Called from inside feed(), produce() or fail_all(); must not call back into the codec
  // except submit()/cancel() of other streams.
  virtual void on_stream_done(StreamResult& s) = 0;
  // The server sent GOAWAY: no new streams on this connection.
  virtual void on_goaway() {}
};

class ClientCodec {
 public:
  // Local flow-control windows: large, so small responses never wait for WINDOW_UPDATE.
  static constexpr std::int32_t kWindow = (1 << 30) - 1;

  explicit ClientCodec(CodecListener& listener);
  ~ClientCodec();
  ClientCodec(const ClientCodec&) = delete;
  ClientCodec& operator=(const ClientCodec&) = delete;

  // Queues a request (HEADERS, then DATA from `s.body`). `nva` must stay valid until the stream
  // is done (nothing is copied). Returns false when the connection takes no new streams.
  bool submit(const nghttp2_nv* nva, std::size_t count, StreamResult& s);
  // Resets a stream the caller gave up on (RST_STREAM CANCEL); it is not reported.
  void cancel(StreamResult& s);
  // Processes received bytes. False: the peer broke the protocol; the connection is unusable
  // and error() says why (open streams are not reported: call fail_all).
  bool feed(const std::uint8_t* data, std::size_t size);
  // Appends frames to send to `out`, stopping after about `limit` bytes. False on a fatal
  // error.
  bool produce(std::vector<std::uint8_t>& out, std::size_t limit);
  // Reports every open stream done with `error` (the connection failed) and forgets them.
  void fail_all(const stats::ErrorInfo& error);
  // Forgets every open stream without reporting it (the owner is going away).
  void forget_all() noexcept;

  bool want_write() const noexcept;
  bool can_submit() const noexcept;  // no GOAWAY sent or received
  bool goaway_received() const noexcept { return goaway_; }
  std::size_t open_streams() const noexcept { return open_.size(); }
  const char* error() const noexcept { return error_; }

 private:
  static int on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* self);
  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name,
                       std::size_t namelen, const std::uint8_t* value, std::size_t valuelen,
                       std::uint8_t flags, void* self);
  static int on_data(nghttp2_session*, std::uint8_t flags, std::int32_t stream_id,
                     const std::uint8_t* data, std::size_t len, void* self);
  static int on_stream_close(nghttp2_session*, std::int32_t stream_id, std::uint32_t code,
                             void* self);
  static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* self);
  static int on_frame_not_send(nghttp2_session*, const nghttp2_frame* frame, int lib_error,
                               void* self);
  static ssize_t read_body(nghttp2_session*, std::int32_t stream_id, std::uint8_t* buf,
                           std::size_t length, std::uint32_t* flags, nghttp2_data_source* source,
                           void* self);

  StreamResult* lookup(std::int32_t stream_id) noexcept;  // an open stream of ours, or null
  void finish(StreamResult& s) noexcept;                  // remove from open_ and report
  void remove(StreamResult& s) noexcept;

  CodecListener& listener_;
  nghttp2_session* session_ = nullptr;
  std::vector<StreamResult*> open_;     // streams submitted and not yet reported
  StreamResult* headers_of_ = nullptr;  // the stream whose header block is being decoded
  bool goaway_ = false;
  const char* error_ = nullptr;
};

}  // namespace ld::proto::http2
