// ClientCodec against a real nghttp2 server session in the same process: bytes are pumped
// between the two in memory, so every frame the client sends is parsed by a real HTTP/2
// implementation and every answer is one it really produced.
#include "http2/codec.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <string>
#include <vector>

using ld::proto::http2::ClientCodec;
using ld::proto::http2::CodecListener;
using ld::proto::http2::StreamResult;
using ld::stats::ErrorKind;

namespace {

nghttp2_nv nv(const char* name, const char* value) {
  return {reinterpret_cast<std::uint8_t*>(const_cast<char*>(name)),
          reinterpret_cast<std::uint8_t*>(const_cast<char*>(value)), std::strlen(name),
          std::strlen(value), NGHTTP2_NV_FLAG_NONE};
}

struct Done : CodecListener {
  std::vector<StreamResult*> done;
  int goaways = 0;
  void on_stream_done(StreamResult& s) override { done.push_back(&s); }
  void on_goaway() override { ++goaways; }
};

// A minimal server: records requests; answers each complete request with `status` and `body`
// unless `auto_respond` is false.
struct Server {
  struct Req {
    std::map<std::string, std::string> headers;
    std::string body;
    bool complete = false;
    std::uint32_t rst_code = 0xffffffff;
  };
  nghttp2_session* session = nullptr;
  std::map<std::int32_t, Req> reqs;
  bool auto_respond = true;
  std::string status = "200";
  std::string body = "hello";
  std::vector<std::string> extra;  // name, value, name, value...

  explicit Server(std::uint32_t max_streams = 100) {
    nghttp2_session_callbacks* cb;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_on_header_callback(
        cb, [](nghttp2_session*, const nghttp2_frame* f, const std::uint8_t* n, std::size_t nl,
               const std::uint8_t* v, std::size_t vl, std::uint8_t, void* self) {
          static_cast<Server*>(self)
              ->reqs[f->hd.stream_id]
              .headers[std::string(reinterpret_cast<const char*>(n), nl)] =
              std::string(reinterpret_cast<const char*>(v), vl);
          return 0;
        });
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(
        cb, [](nghttp2_session*, std::uint8_t, std::int32_t id, const std::uint8_t* d,
               std::size_t len, void* self) {
          static_cast<Server*>(self)->reqs[id].body.append(reinterpret_cast<const char*>(d), len);
          return 0;
        });
    nghttp2_session_callbacks_set_on_frame_recv_callback(
        cb, [](nghttp2_session*, const nghttp2_frame* f, void* self) {
          auto& s = *static_cast<Server*>(self);
          if (f->hd.type == NGHTTP2_RST_STREAM)
            s.reqs[f->hd.stream_id].rst_code = f->rst_stream.error_code;
          if ((f->hd.type == NGHTTP2_HEADERS || f->hd.type == NGHTTP2_DATA) &&
              (f->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
            s.reqs[f->hd.stream_id].complete = true;
            if (s.auto_respond) s.respond(f->hd.stream_id);
          }
          return 0;
        });
    nghttp2_session_server_new(&session, cb, this);
    nghttp2_session_callbacks_del(cb);
    const nghttp2_settings_entry limit{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, max_streams};
    nghttp2_submit_settings(session, NGHTTP2_FLAG_NONE, &limit, 1);
  }
  ~Server() { nghttp2_session_del(session); }

  void respond(std::int32_t id, const std::string& st) {
    std::vector<nghttp2_nv> h{nv(":status", st.c_str())};
    for (std::size_t i = 0; i + 1 < extra.size(); i += 2) {
      h.push_back(nv(extra[i].c_str(), extra[i + 1].c_str()));
    }
    nghttp2_data_provider p;
    p.source.ptr = this;
    p.read_callback = [](nghttp2_session*, std::int32_t, std::uint8_t* buf, std::size_t len,
                         std::uint32_t* flags, nghttp2_data_source* src, void*) -> ssize_t {
      const std::string& b = static_cast<Server*>(src->ptr)->body;
      std::memcpy(buf, b.data(), std::min(len, b.size()));
      *flags |= NGHTTP2_DATA_FLAG_EOF;
      return static_cast<ssize_t>(std::min(len, b.size()));
    };
    nghttp2_submit_response(session, id, h.data(), h.size(), body.empty() ? nullptr : &p);
  }
  void respond(std::int32_t id) { respond(id, status); }
};

// Moves bytes both ways until neither side has anything to send.
void pump(ClientCodec& c, Server& s) {
  for (int round = 0; round < 100; ++round) {
    std::vector<std::uint8_t> out;
    ASSERT_TRUE(c.produce(out, 1 << 20));
    if (!out.empty()) ASSERT_GE(nghttp2_session_mem_recv(s.session, out.data(), out.size()), 0);
    std::vector<std::uint8_t> back;
    for (;;) {
      const std::uint8_t* data;
      const ssize_t n = nghttp2_session_mem_send(s.session, &data);
      ASSERT_GE(n, 0);
      if (n == 0) break;
      back.insert(back.end(), data, data + n);
    }
    if (!back.empty()) ASSERT_TRUE(c.feed(back.data(), back.size()));
    if (out.empty() && back.empty()) return;
  }
  FAIL() << "pump did not settle";
}

const nghttp2_nv kGet[] = {nv(":method", "GET"), nv(":scheme", "http"),
                           nv(":authority", "example.test"), nv(":path", "/get?x=1"),
                           nv("user-agent", "t")};

}  // namespace

TEST(Http2Codec, ResponseStatusHeadersAndBodyAreReported) {
  Done l;
  ClientCodec c(l);
  Server s;
  s.extra = {"x-a", "1"};
  StreamResult r;
  ASSERT_TRUE(c.submit(kGet, std::size(kGet), r));
  EXPECT_EQ(c.open_streams(), 1u);
  pump(c, s);
  ASSERT_EQ(l.done.size(), 1u);
  EXPECT_EQ(l.done[0], &r);
  EXPECT_TRUE(r.done);
  EXPECT_EQ(r.error.kind, ErrorKind::kNone);
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.body_bytes, 5u);
  // ":status: 200\r\n" + "x-a: 1\r\n" (+ nothing else from this server)
  EXPECT_EQ(r.header_bytes, (7 + 3 + 4) + (3 + 1 + 4));
  EXPECT_EQ(c.open_streams(), 0u);
  const auto& req = s.reqs.at(r.stream_id);
  EXPECT_EQ(req.headers.at(":method"), "GET");
  EXPECT_EQ(req.headers.at(":path"), "/get?x=1");
  EXPECT_EQ(req.headers.at(":authority"), "example.test");
}

TEST(Http2Codec, RequestBodyIsSentInFull) {
  Done l;
  ClientCodec c(l);
  Server s;
  const std::string body(100000, 'b');  // more than one DATA frame and the default window
  const nghttp2_nv post[] = {nv(":method", "POST"), nv(":scheme", "http"), nv(":authority", "h"),
                             nv(":path", "/post"), nv("content-length", "100000")};
  StreamResult r;
  r.body = &body;
  ASSERT_TRUE(c.submit(post, std::size(post), r));
  for (int i = 0; i < 20 && l.done.empty(); ++i) {
    pump(c, s);
    // The server consumes its receive window as the body arrives.
    nghttp2_session_consume_connection(s.session, 0);
  }
  ASSERT_EQ(l.done.size(), 1u);
  EXPECT_EQ(r.error.kind, ErrorKind::kNone);
  EXPECT_EQ(s.reqs.at(r.stream_id).body, body);
}

TEST(Http2Codec, ManyStreamsOnOneConnection) {
  Done l;
  ClientCodec c(l);
  Server s;
  std::vector<StreamResult> rs(10);
  for (auto& r : rs) ASSERT_TRUE(c.submit(kGet, std::size(kGet), r));
  EXPECT_EQ(c.open_streams(), 10u);
  pump(c, s);
  EXPECT_EQ(l.done.size(), 10u);
  for (auto& r : rs) {
    EXPECT_EQ(r.status, 200u);
    EXPECT_EQ(r.error.kind, ErrorKind::kNone);
  }
  EXPECT_EQ(s.reqs.size(), 10u);
}

TEST(Http2Codec, InformationalResponseIsSkipped) {
  Done l;
  ClientCodec c(l);
  Server s;
  s.auto_respond = false;
  StreamResult r;
  ASSERT_TRUE(c.submit(kGet, std::size(kGet), r));
  pump(c, s);
  const nghttp2_nv cont[] = {nv(":status", "103")};
  nghttp2_submit_headers(s.session, NGHTTP2_FLAG_NONE, r.stream_id, nullptr, cont, 1, nullptr);
  s.respond(r.stream_id, "204");
  pump(c, s);
  ASSERT_EQ(l.done.size(), 1u);
  EXPECT_EQ(r.status, 204u);
}

TEST(Http2Codec, ServerResetIsAResetFailure) {
  Done l;
  ClientCodec c(l);
  Server s;
  s.auto_respond = false;
  StreamResult r;
  ASSERT_TRUE(c.submit(kGet, std::size(kGet), r));
  pump(c, s);
  nghttp2_submit_rst_stream(s.session, NGHTTP2_FLAG_NONE, r.stream_id, NGHTTP2_INTERNAL_ERROR);
  pump(c, s);
  ASSERT_EQ(l.done.size(), 1u);
  EXPECT_EQ(r.error.kind, ErrorKind::kReset);
  EXPECT_EQ(r.error.code, NGHTTP2_INTERNAL_ERROR);
  EXPECT_FALSE(r.refused);
}

TEST(Http2Codec, GoawayRefusesTheStreamsTheServerDidNotProcess) {
  Done l;
  ClientCodec c(l);
  Server s;
  s.auto_respond = false;
  std::vector<StreamResult> rs(3);
  for (auto& r : rs) ASSERT_TRUE(c.submit(kGet, std::size(kGet), r));
  pump(c, s);
  s.respond(rs[0].stream_id);
  nghttp2_submit_goaway(s.session, NGHTTP2_FLAG_NONE, rs[0].stream_id, NGHTTP2_NO_ERROR, nullptr,
                        0);
  pump(c, s);
  EXPECT_EQ(l.goaways, 1);
  EXPECT_TRUE(c.goaway_received());
  EXPECT_FALSE(c.can_submit());
  ASSERT_EQ(l.done.size(), 3u);
  EXPECT_EQ(rs[0].error.kind, ErrorKind::kNone);
  for (int i : {1, 2}) {
    EXPECT_TRUE(rs[i].refused) << i;
    EXPECT_EQ(rs[i].error.kind, ErrorKind::kReset) << i;
  }
  StreamResult late;
  EXPECT_FALSE(c.submit(kGet, std::size(kGet), late));
}

TEST(Http2Codec, CancelledStreamIsResetAndNotReported) {
  Done l;
  ClientCodec c(l);
  Server s;
  s.auto_respond = false;
  StreamResult r;
  ASSERT_TRUE(c.submit(kGet, std::size(kGet), r));
  pump(c, s);
  c.cancel(r);
  EXPECT_EQ(c.open_streams(), 0u);
  pump(c, s);
  EXPECT_EQ(s.reqs.at(r.stream_id).rst_code, NGHTTP2_CANCEL);
  EXPECT_TRUE(l.done.empty());
}

TEST(Http2Codec, GarbageFromTheServerFailsTheConnection) {
  Done l;
  ClientCodec c(l);
  StreamResult a, b;
  ASSERT_TRUE(c.submit(kGet, std::size(kGet), a));
  ASSERT_TRUE(c.submit(kGet, std::size(kGet), b));
  std::vector<std::uint8_t> out;
  ASSERT_TRUE(c.produce(out, 1 << 20));
  const std::string junk = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
  EXPECT_FALSE(c.feed(reinterpret_cast<const std::uint8_t*>(junk.data()), junk.size()));
  ASSERT_NE(c.error(), nullptr);
  EXPECT_FALSE(c.can_submit());
  c.fail_all({ErrorKind::kProtocol, "bad frames", 0, false});
  ASSERT_EQ(l.done.size(), 2u);
  EXPECT_EQ(a.error.kind, ErrorKind::kProtocol);
  EXPECT_EQ(b.error.kind, ErrorKind::kProtocol);
  EXPECT_EQ(c.open_streams(), 0u);
}

TEST(Http2Codec, ForgottenStreamsAreNeverReported) {
  Done l;
  ClientCodec c(l);
  Server s;
  StreamResult r;
  ASSERT_TRUE(c.submit(kGet, std::size(kGet), r));
  c.forget_all();
  pump(c, s);
  EXPECT_TRUE(l.done.empty());
  EXPECT_FALSE(r.done);
}

TEST(Http2Codec, CancelledQueuedRequestDoesNotSendAnotherRequestsBody) {
  Done l;
  ClientCodec c(l);
  Server s(1);  // one stream at a time: the second request waits in the client
  s.auto_respond = false;
  pump(c, s);  // SETTINGS exchanged
  const nghttp2_nv post[] = {nv(":method", "POST"), nv(":scheme", "http"), nv(":authority", "h"),
                             nv(":path", "/p")};
  const std::string body_a = "AAAA", body_b = "BBBB", body_c = "CCCC";
  StreamResult a, b;
  a.body = &body_a;
  b.body = &body_b;
  ASSERT_TRUE(c.submit(post, std::size(post), a));
  ASSERT_TRUE(c.submit(post, std::size(post), b));
  pump(c, s);
  ASSERT_EQ(s.reqs.size(), 1u) << "b is queued behind the server's limit";
  c.cancel(b);
  b.reset();  // the same slot carries a new request
  b.body = &body_c;
  ASSERT_TRUE(c.submit(post, std::size(post), b));
  s.auto_respond = true;
  s.respond(a.stream_id);
  for (int i = 0; i < 5; ++i) pump(c, s);
  ASSERT_EQ(l.done.size(), 2u);
  EXPECT_EQ(a.error.kind, ErrorKind::kNone);
  EXPECT_EQ(b.error.kind, ErrorKind::kNone);
  EXPECT_EQ(s.reqs.at(a.stream_id).body, body_a);
  EXPECT_EQ(s.reqs.at(b.stream_id).body, body_c);
  for (const auto& [id, req] : s.reqs) {
    EXPECT_EQ(req.body.find("B"), std::string::npos) << "stream " << id;
    EXPECT_EQ(req.body.find("CCCCCCCC"), std::string::npos) << "stream " << id;
  }
}

TEST(Http2Codec, SetCookieContentEncodingAndCapturedPartsAreReported) {
  Done l;
  ClientCodec c(l);
  Server s;
  s.extra = {"set-cookie", "a=1; Path=/", "content-encoding", "GZIP", "set-cookie", "b=2", "x-a",
             "1"};
  std::string body, headers;
  StreamResult r;
  r.body_sink = &body;
  r.header_sink = &headers;
  ASSERT_TRUE(c.submit(kGet, std::size(kGet), r));
  pump(c, s);
  ASSERT_EQ(l.done.size(), 1u);
  EXPECT_EQ(r.set_cookies, "a=1; Path=/\nb=2");
  EXPECT_EQ(r.coding, ld::proto::ContentCoding::kGzip);
  EXPECT_EQ(body, "hello");
  EXPECT_NE(headers.find("x-a: 1\r\n"), std::string::npos);
  EXPECT_EQ(headers.find(":status"), std::string::npos);  // pseudo-headers are not captured

  // Without sinks and Set-Cookie nothing is captured, and reset() forgets the last answer.
  s.extra.clear();
  r.reset();
  r.body_sink = r.header_sink = nullptr;
  body.clear();
  ASSERT_TRUE(c.submit(kGet, std::size(kGet), r));
  pump(c, s);
  EXPECT_TRUE(r.set_cookies.empty());
  EXPECT_EQ(r.coding, ld::proto::ContentCoding::kIdentity);
  EXPECT_TRUE(body.empty());
}
