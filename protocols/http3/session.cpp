// The HTTP/3 hot path. Per user: one QUIC connection per origin (host, port, TLS settings)
// carrying up to `max_streams` concurrent requests; the engine runs that many task loops
// ("lanes") over the session, each lane owning one Slot while its request is in flight.
//
// A connection is a connected, non-blocking UDP socket on the worker's io_context, an ngtcp2
// connection (QUIC, TLS 1.3 through GnuTLS) and an nghttp3 connection (HTTP/3) over it. It
// waits for datagrams with a one-byte MSG_PEEK receive (no epoll_ctl per wait), then drains the
// socket into the worker's scratch buffer and feeds ngtcp2; ngtcp2's timers (loss detection,
// ACK delay, idle and handshake timeouts) are one steady_timer per connection, re-armed only
// when the expiry moves earlier. Lanes submit their request, ask for a write and park; finished
// streams resume their lanes in one batch once the datagrams read are processed, and the
// packets produced then leave in one sendmmsg. Nothing here allocates per request once the
// lane buffers have grown, apart from what ngtcp2/nghttp3 allocate per stream.
#include <utility>  // before Asio (Boost 1.74 trap)

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <netinet/in.h>
#include <nghttp3/nghttp3.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>
#include <sys/socket.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstring>

#include "common/body_decoder.hpp"
#include "common/cookie_jar.hpp"
#include "common/http_response.hpp"
#include "common/op_scope.hpp"
#include "http2/codec.hpp"
#include "http2/mem_pool.hpp"
#include "http2/request.hpp"
#include "http3_impl.hpp"
#include "loaddensity/protocol/completion.hpp"
#include "stats/recorder.hpp"

namespace ld::proto::http3 {

namespace {

using boost::system::error_code;
using http2::RequestBuffers;
using http2::Step;
using http2::StreamResult;
using stats::ErrorInfo;
using stats::ErrorKind;
namespace net = boost::asio;
using udp = net::ip::udp;

// The HTTP/2 client's header blocks are submitted to nghttp3 as they are.
static_assert(sizeof(nghttp3_nv) == sizeof(nghttp2_nv) &&
              offsetof(nghttp3_nv, name) == offsetof(nghttp2_nv, name) &&
              offsetof(nghttp3_nv, value) == offsetof(nghttp2_nv, value) &&
              offsetof(nghttp3_nv, namelen) == offsetof(nghttp2_nv, namelen) &&
              offsetof(nghttp3_nv, valuelen) == offsetof(nghttp2_nv, valuelen) &&
              offsetof(nghttp3_nv, flags) == offsetof(nghttp2_nv, flags));
static_assert(NGHTTP3_NV_FLAG_NO_COPY_NAME == NGHTTP2_NV_FLAG_NO_COPY_NAME &&
              NGHTTP3_NV_FLAG_NO_COPY_VALUE == NGHTTP2_NV_FLAG_NO_COPY_VALUE);

constexpr ErrorInfo kPeerClosed{ErrorKind::kReset, "connection closed by peer", 0, false};
constexpr ErrorInfo kStatelessReset{ErrorKind::kReset,
                                    "connection reset by peer (QUIC stateless reset)", 0, false};
constexpr ErrorInfo kIdleTimedOut{ErrorKind::kTimeout, "QUIC idle timeout", 0, false};
constexpr ErrorInfo kHandshakeTimeout{ErrorKind::kTimeout, "QUIC handshake timed out", 0, false};
constexpr ErrorInfo kIcmpUnreachable{ErrorKind::kUnreachable,
                                     "UDP port unreachable (ICMP): nothing listening", 0, false};
constexpr ErrorInfo kNoAlpn{ErrorKind::kProtocol, "server did not negotiate h3 (ALPN)", 0, false};
constexpr ErrorInfo kNoStreams{ErrorKind::kReset, "HTTP/3 request not sent (connection closing)", 0,
                               false};

// ngtcp2 and nghttp3 allocate per stream; their blocks come from the HTTP/2 client's
// thread-local size-class pool.
const ngtcp2_mem kQuicMem{nullptr, http2::pool_malloc, http2::pool_free, http2::pool_calloc,
                          http2::pool_realloc};
const nghttp3_mem kHttp3Mem{nullptr, http2::pool_malloc, http2::pool_free, http2::pool_calloc,
                            http2::pool_realloc};

// Packets per sendmmsg: the write half of the worker's scratch buffer holds this many.
constexpr std::size_t kMaxPackets = 16;
constexpr std::size_t kMaxPacketSize = 1472;
constexpr std::size_t kReadBudget = 64;  // datagrams per wake-up before other handlers run

struct Conn;

struct Slot : RequestBuffers {
  enum class Wait : std::uint8_t { kNone, kConnect, kCredit, kStream };

  net::io_context* io = nullptr;
  engine::TimedOp op;
  StreamResult result;
  Wait wait = Wait::kNone;
  Conn* conn = nullptr;  // what the slot waits on (valid while wait != kNone)
  engine::Park park;
  ErrorInfo wake_error;  // outcome of waiting for a handshake or stream credit
  std::string body, headers;
  std::int64_t stream_id = -1;
  std::size_t open_index = 0;  // in Conn::open
  bool interim = false;        // decoding a 1xx header block
  bool response_done = false;  // the response ended (FIN)
};

void wake(Slot& s) { s.park.wake(*s.io); }

Nanos now() noexcept { return steady_now(); }

// One QUIC connection. Shared by the session (while it is the origin's current connection) and
// its pending handlers, so it outlives the session if needed.
struct Conn final : std::enable_shared_from_this<Conn> {
  enum class State : std::uint8_t { kConnecting, kOpen, kClosed };

  Conn(engine::WorkerContext& w, const Url& url, const TlsCreds* tls)
      : io(w.io),
        stats(w.stats),
        scratch(w.scratch),
        host(url.host),
        port(url.port),
        creds(tls),
        sock(w.io),
        timer(w.io),
        counters(Counters::get()) {}

  ~Conn() {
    if (h3) nghttp3_conn_del(h3);
    if (q) ngtcp2_conn_del(q);
    if (tls) gnutls_deinit(tls);
  }

  net::io_context& io;
  stats::WorkerStats& stats;
  std::span<char> scratch;
  std::string host;
  std::uint16_t port;
  const TlsCreds* creds;
  udp::socket sock;
  net::steady_timer timer;
  const Counters& counters;
  ngtcp2_conn* q = nullptr;
  nghttp3_conn* h3 = nullptr;
  gnutls_session_t tls = nullptr;
  ngtcp2_crypto_conn_ref ref{};
  ngtcp2_path_storage ps{};
  State state = State::kConnecting;
  bool received = false;         // a datagram came back from the server
  bool stateless_reset = false;  // the server answered with a stateless reset
  bool in_io = false;            // inside a handler that writes and resumes when done
  bool write_posted = false;
  bool want_write = false;
  bool resume_posted = false;
  bool counted_close = false;
  Nanos timer_at = 0;  // when the armed timer fires (0: not armed)
  Nanos handshake_timeout = 0;
  char peek[1];
  std::vector<Slot*> queue;        // lanes waiting for the handshake
  std::vector<Slot*> credit_wait;  // lanes waiting for the server to allow another stream
  std::vector<Slot*> open;         // lanes with a stream on this connection
  std::vector<Slot*> ready;        // lanes to resume

  bool usable() const noexcept { return state == State::kOpen; }

  // ---- setup

  ErrorInfo start(const udp::endpoint& ep, Nanos timeout) {
    error_code ec;
    udp::endpoint local;
    // A free loopback port can be handed out as our own ephemeral port: a socket connected to
    // itself would read its own packets. Connect again from another port then.
    for (int attempt = 0; attempt < 4; ++attempt) {
      if (sock.is_open()) sock.close(ec);
      sock.open(ep.protocol(), ec);
      if (!ec) sock.connect(ep, ec);
      if (!ec) sock.non_blocking(true, ec);
      if (!ec) local = sock.local_endpoint(ec);
      if (ec) return classify_error(ec, "connect");
      if (local != ep) break;
    }
    if (local == ep) return kIcmpUnreachable;
    handshake_timeout = timeout;
    ngtcp2_path_storage_init(&ps, reinterpret_cast<const ngtcp2_sockaddr*>(local.data()),
                             static_cast<ngtcp2_socklen>(local.size()),
                             reinterpret_cast<const ngtcp2_sockaddr*>(ep.data()),
                             static_cast<ngtcp2_socklen>(ep.size()), nullptr);
    if (!init_tls()) return {ErrorKind::kTls, "TLS setup failed", 0, false};
    if (!init_quic(timeout)) return {ErrorKind::kProtocol, "QUIC setup failed", 0, false};
    ngtcp2_conn_set_tls_native_handle(q, tls);
    in_io = true;
    write();
    in_io = false;
    if (state == State::kClosed) return failure;
    arm_read();
    update_timer();
    return {};
  }

  bool init_tls() {
    if (gnutls_init(&tls, GNUTLS_CLIENT) != GNUTLS_E_SUCCESS) return false;
    if (gnutls_priority_set(tls, creds->priority) != GNUTLS_E_SUCCESS) return false;
    if (ngtcp2_crypto_gnutls_configure_client_session(tls) != 0) return false;
    ref.get_conn = [](ngtcp2_crypto_conn_ref* r) { return static_cast<Conn*>(r->user_data)->q; };
    ref.user_data = this;
    gnutls_session_set_ptr(tls, &ref);
    if (gnutls_credentials_set(tls, GNUTLS_CRD_CERTIFICATE, creds->cred) != GNUTLS_E_SUCCESS) {
      return false;
    }
    gnutls_datum_t alpn{reinterpret_cast<unsigned char*>(const_cast<char*>("h3")), 2};
    gnutls_alpn_set_protocols(tls, &alpn, 1, GNUTLS_ALPN_MANDATORY);
    error_code ec;
    net::ip::make_address(host, ec);
    const bool is_ip = !ec;
    if (!is_ip) gnutls_server_name_set(tls, GNUTLS_NAME_DNS, host.data(), host.size());
    if (creds->verify) gnutls_session_set_verify_cert(tls, host.c_str(), 0);
    return true;
  }

  bool init_quic(Nanos timeout) {
    ngtcp2_cid dcid, scid;
    dcid.datalen = NGTCP2_MIN_INITIAL_DCIDLEN + 2;
    scid.datalen = 17;
    if (gnutls_rnd(GNUTLS_RND_NONCE, dcid.data, dcid.datalen) != 0 ||
        gnutls_rnd(GNUTLS_RND_NONCE, scid.data, scid.datalen) != 0) {
      return false;
    }
    ngtcp2_settings settings;
    ngtcp2_settings_default(&settings);
    settings.initial_ts = static_cast<ngtcp2_tstamp>(now());
    settings.handshake_timeout = static_cast<ngtcp2_duration>(timeout);
    settings.max_tx_udp_payload_size = kMaxPacketSize;
    ngtcp2_transport_params params;
    ngtcp2_transport_params_default(&params);
    params.initial_max_stream_data_bidi_local = 1 << 20;
    params.initial_max_stream_data_uni = 256 << 10;
    params.initial_max_data = 16 << 20;
    params.initial_max_streams_bidi = 0;
    params.initial_max_streams_uni = 3;
    params.max_idle_timeout = static_cast<ngtcp2_duration>(kIdleTimeout);
    ngtcp2_callbacks cb{};
    cb.client_initial = ngtcp2_crypto_client_initial_cb;
    cb.recv_crypto_data = ngtcp2_crypto_recv_crypto_data_cb;
    cb.encrypt = ngtcp2_crypto_encrypt_cb;
    cb.decrypt = ngtcp2_crypto_decrypt_cb;
    cb.hp_mask = ngtcp2_crypto_hp_mask_cb;
    cb.recv_retry = ngtcp2_crypto_recv_retry_cb;
    cb.update_key = ngtcp2_crypto_update_key_cb;
    cb.delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb;
    cb.delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb;
    cb.get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb;
    cb.version_negotiation = ngtcp2_crypto_version_negotiation_cb;
    cb.rand = [](std::uint8_t* dest, std::size_t len, const ngtcp2_rand_ctx*) {
      gnutls_rnd(GNUTLS_RND_NONCE, dest, len);
    };
    cb.get_new_connection_id = [](ngtcp2_conn*, ngtcp2_cid* cid, std::uint8_t* token,
                                  std::size_t cidlen, void*) {
      cid->datalen = cidlen;
      if (gnutls_rnd(GNUTLS_RND_NONCE, cid->data, cidlen) != 0 ||
          gnutls_rnd(GNUTLS_RND_NONCE, token, NGTCP2_STATELESS_RESET_TOKENLEN) != 0) {
        return NGTCP2_ERR_CALLBACK_FAILURE;
      }
      return 0;
    };
    cb.handshake_completed = &Conn::on_handshake_completed;
    cb.recv_rx_key = &Conn::on_recv_rx_key;
    cb.recv_stream_data = &Conn::on_recv_stream_data;
    cb.acked_stream_data_offset = &Conn::on_acked_stream_data_offset;
    cb.stream_close = &Conn::on_quic_stream_close;
    cb.stream_reset = &Conn::on_stream_reset;
    cb.stream_stop_sending = &Conn::on_stream_stop_sending;
    cb.extend_max_stream_data = &Conn::on_extend_max_stream_data;
    cb.extend_max_local_streams_bidi = &Conn::on_extend_max_streams;
    cb.recv_stateless_reset = [](ngtcp2_conn*, const ngtcp2_pkt_stateless_reset*, void* self) {
      static_cast<Conn*>(self)->stateless_reset = true;
      return 0;
    };
    return ngtcp2_conn_client_new(&q, &dcid, &scid, &ps.path, NGTCP2_PROTO_VER_V1, &cb, &settings,
                                  &params, &kQuicMem, this) == 0;
  }

  // HTTP/3 starts once the 1-RTT keys are in: the control and QPACK streams.
  bool init_http3() {
    nghttp3_callbacks cb{};
    cb.stream_close = &Conn::on_h3_stream_close;
    cb.recv_data = &Conn::on_h3_recv_data;
    cb.deferred_consume = &Conn::on_h3_deferred_consume;
    cb.begin_headers = &Conn::on_h3_begin_headers;
    cb.recv_header = &Conn::on_h3_recv_header;
    cb.end_stream = &Conn::on_h3_end_stream;
    cb.stop_sending = [](nghttp3_conn*, std::int64_t id, std::uint64_t code, void* self, void*) {
      ngtcp2_conn_shutdown_stream_read(static_cast<Conn*>(self)->q, id, code);
      return 0;
    };
    cb.reset_stream = [](nghttp3_conn*, std::int64_t id, std::uint64_t code, void* self, void*) {
      ngtcp2_conn_shutdown_stream_write(static_cast<Conn*>(self)->q, id, code);
      return 0;
    };
    nghttp3_settings settings;
    nghttp3_settings_default(&settings);
    settings.qpack_max_dtable_capacity = 0;  // no dynamic table: nothing to track per field
    settings.qpack_blocked_streams = 0;
    if (nghttp3_conn_client_new(&h3, &cb, &settings, &kHttp3Mem, this) != 0) {
      return false;
    }
    std::int64_t ctrl, enc, dec;
    if (ngtcp2_conn_open_uni_stream(q, &ctrl, nullptr) != 0 ||
        nghttp3_conn_bind_control_stream(h3, ctrl) != 0 ||
        ngtcp2_conn_open_uni_stream(q, &enc, nullptr) != 0 ||
        ngtcp2_conn_open_uni_stream(q, &dec, nullptr) != 0 ||
        nghttp3_conn_bind_qpack_streams(h3, enc, dec) != 0) {
      return false;
    }
    return true;
  }

  // ---- ngtcp2 callbacks (inside read_pkt / handle_expiry / writev_stream)

  static int on_handshake_completed(ngtcp2_conn*, void* self) {
    auto& c = *static_cast<Conn*>(self);
    c.stats.add_counter(c.counters.handshakes);
    gnutls_datum_t proto{};
    if (gnutls_alpn_get_selected_protocol(c.tls, &proto) != 0 || proto.size != 2 ||
        std::memcmp(proto.data, "h3", 2) != 0) {
      c.pending_error = kNoAlpn;
      return NGTCP2_ERR_CALLBACK_FAILURE;
    }
    c.state = State::kOpen;
    for (Slot* s : c.queue) {
      s->wait = Slot::Wait::kNone;
      s->conn = nullptr;
      s->wake_error = {};
      c.ready.push_back(s);
    }
    c.queue.clear();
    return 0;
  }

  static int on_recv_rx_key(ngtcp2_conn*, ngtcp2_crypto_level level, void* self) {
    if (level != NGTCP2_CRYPTO_LEVEL_APPLICATION) return 0;
    return static_cast<Conn*>(self)->init_http3() ? 0 : NGTCP2_ERR_CALLBACK_FAILURE;
  }

  static int on_recv_stream_data(ngtcp2_conn* q, std::uint32_t flags, std::int64_t id,
                                 std::uint64_t, const std::uint8_t* data, std::size_t len,
                                 void* self, void*) {
    auto& c = *static_cast<Conn*>(self);
    if (!c.h3) return NGTCP2_ERR_CALLBACK_FAILURE;
    const nghttp3_ssize n =
        nghttp3_conn_read_stream(c.h3, id, data, len, (flags & NGTCP2_STREAM_DATA_FLAG_FIN) != 0);
    if (n < 0) {
      c.pending_error = {ErrorKind::kProtocol, "HTTP/3 protocol error from server", 0, false};
      return NGTCP2_ERR_CALLBACK_FAILURE;
    }
    ngtcp2_conn_extend_max_stream_offset(q, id, static_cast<std::uint64_t>(n));
    ngtcp2_conn_extend_max_offset(q, static_cast<std::uint64_t>(n));
    return 0;
  }

  static int on_acked_stream_data_offset(ngtcp2_conn*, std::int64_t id, std::uint64_t,
                                         std::uint64_t len, void* self, void*) {
    auto& c = *static_cast<Conn*>(self);
    if (c.h3 && nghttp3_conn_add_ack_offset(c.h3, id, len) != 0) {
      return NGTCP2_ERR_CALLBACK_FAILURE;
    }
    return 0;
  }

  static int on_quic_stream_close(ngtcp2_conn* q, std::uint32_t flags, std::int64_t id,
                                  std::uint64_t code, void* self, void*) {
    auto& c = *static_cast<Conn*>(self);
    // Packets carrying this stream's data that ngtcp2 declared lost (and sent again).
    if (const std::size_t lost = ngtcp2_conn_get_stream_loss_count(q, id)) {
      c.stats.add_counter(c.counters.packets_lost, lost);
    }
    if (!(flags & NGTCP2_STREAM_CLOSE_FLAG_APP_ERROR_CODE_SET)) code = NGHTTP3_H3_NO_ERROR;
    if (c.h3) {
      const int rv = nghttp3_conn_close_stream(c.h3, id, code);
      if (rv != 0 && rv != NGHTTP3_ERR_STREAM_NOT_FOUND) return NGTCP2_ERR_CALLBACK_FAILURE;
    }
    return 0;
  }

  static int on_stream_reset(ngtcp2_conn*, std::int64_t id, std::uint64_t, std::uint64_t,
                             void* self, void*) {
    auto& c = *static_cast<Conn*>(self);
    if (c.h3 && nghttp3_conn_shutdown_stream_read(c.h3, id) != 0) {
      return NGTCP2_ERR_CALLBACK_FAILURE;
    }
    return 0;
  }

  static int on_stream_stop_sending(ngtcp2_conn*, std::int64_t id, std::uint64_t, void* self,
                                    void*) {
    auto& c = *static_cast<Conn*>(self);
    if (c.h3 && nghttp3_conn_shutdown_stream_read(c.h3, id) != 0) {
      return NGTCP2_ERR_CALLBACK_FAILURE;
    }
    return 0;
  }

  static int on_extend_max_stream_data(ngtcp2_conn*, std::int64_t id, std::uint64_t, void* self,
                                       void*) {
    auto& c = *static_cast<Conn*>(self);
    if (c.h3 && nghttp3_conn_unblock_stream(c.h3, id) != 0) return NGTCP2_ERR_CALLBACK_FAILURE;
    return 0;
  }

  static int on_extend_max_streams(ngtcp2_conn*, std::uint64_t, void* self) {
    auto& c = *static_cast<Conn*>(self);
    for (Slot* s : c.credit_wait) {
      s->wait = Slot::Wait::kNone;
      s->conn = nullptr;
      s->wake_error = {};
      c.ready.push_back(s);
    }
    c.credit_wait.clear();
    return 0;
  }

  // ---- nghttp3 callbacks

  void consume(std::int64_t id, std::size_t n) {
    ngtcp2_conn_extend_max_stream_offset(q, id, n);
    ngtcp2_conn_extend_max_offset(q, n);
  }

  static int on_h3_begin_headers(nghttp3_conn*, std::int64_t, void*, void* sud) {
    if (auto* s = static_cast<Slot*>(sud)) s->interim = false;
    return 0;
  }

  static int on_h3_recv_header(nghttp3_conn*, std::int64_t, std::int32_t token,
                               nghttp3_rcbuf* name_buf, nghttp3_rcbuf* value_buf, std::uint8_t,
                               void*, void* sud) {
    auto* s = static_cast<Slot*>(sud);
    if (!s || s->interim) return 0;
    const nghttp3_vec name = nghttp3_rcbuf_get_buf(name_buf);
    const nghttp3_vec value = nghttp3_rcbuf_get_buf(value_buf);
    StreamResult& r = s->result;
    const std::string_view v(reinterpret_cast<const char*>(value.base), value.len);
    if (token == NGHTTP3_QPACK_TOKEN__STATUS) {
      std::uint32_t status = 0;
      for (char ch : v) status = status * 10 + static_cast<std::uint32_t>(ch - '0');
      if (status >= 100 && status < 200) {
        s->interim = true;  // 1xx: wait for the final response
        return 0;
      }
      r.status = status;
    } else if (token == NGHTTP3_QPACK_TOKEN_LOCATION) {
      r.location.assign(v);
    } else if (token == NGHTTP3_QPACK_TOKEN_SET_COOKIE) {
      if (!r.set_cookies.empty()) r.set_cookies.push_back('\n');
      r.set_cookies.append(v);
    } else if (token == NGHTTP3_QPACK_TOKEN_CONTENT_ENCODING) {
      r.coding = parse_content_coding(v);
    }
    r.header_bytes += name.len + value.len + 4;
    if (r.header_sink && name.len > 0 && name.base[0] != ':') {
      r.header_sink->append(reinterpret_cast<const char*>(name.base), name.len);
      r.header_sink->append(": ");
      r.header_sink->append(v);
      r.header_sink->append("\r\n");
    }
    return 0;
  }

  static int on_h3_recv_data(nghttp3_conn*, std::int64_t id, const std::uint8_t* data,
                             std::size_t len, void* self, void* sud) {
    auto& c = *static_cast<Conn*>(self);
    if (auto* s = static_cast<Slot*>(sud)) {
      s->result.body_bytes += len;
      if (s->result.body_sink)
        s->result.body_sink->append(reinterpret_cast<const char*>(data), len);
    }
    c.consume(id, len);
    return 0;
  }

  static int on_h3_deferred_consume(nghttp3_conn*, std::int64_t id, std::size_t n, void* self,
                                    void*) {
    static_cast<Conn*>(self)->consume(id, n);
    return 0;
  }

  static int on_h3_end_stream(nghttp3_conn*, std::int64_t, void*, void* sud) {
    if (auto* s = static_cast<Slot*>(sud)) s->response_done = true;
    return 0;
  }

  // The stream is closed both ways (our data acknowledged): the lane's request is over.
  static int on_h3_stream_close(nghttp3_conn*, std::int64_t, std::uint64_t code, void* self,
                                void* sud) {
    auto& c = *static_cast<Conn*>(self);
    auto* s = static_cast<Slot*>(sud);
    if (!s) return 0;
    StreamResult& r = s->result;
    if (!s->response_done || r.status == 0) {
      if (code == NGHTTP3_H3_REQUEST_REJECTED) {
        r.refused = true;
        r.error = {ErrorKind::kReset, "HTTP/3 request rejected by server", 0, false};
      } else {
        r.error = {ErrorKind::kReset, "stream reset by peer", static_cast<int>(code), false};
      }
      c.stats.add_counter(c.counters.stream_resets);
    }
    c.finish(*s);
    return 0;
  }

  static nghttp3_ssize read_body(nghttp3_conn*, std::int64_t, nghttp3_vec* vec, std::size_t,
                                 std::uint32_t* flags, void*, void* sud) {
    *flags |= NGHTTP3_DATA_FLAG_EOF;
    auto* s = static_cast<Slot*>(sud);
    if (!s || !s->result.body || s->result.body->empty()) return 0;
    vec[0].base = reinterpret_cast<std::uint8_t*>(const_cast<char*>(s->result.body->data()));
    vec[0].len = s->result.body->size();
    return 1;
  }

  // ---- streams

  void finish(Slot& s) {
    remove_open(s);
    s.result.done = true;
    s.wait = Slot::Wait::kNone;
    s.conn = nullptr;
    ready.push_back(&s);
  }

  void remove_open(Slot& s) {
    if (s.open_index >= open.size() || open[s.open_index] != &s) return;
    open[s.open_index] = open.back();
    open[s.open_index]->open_index = s.open_index;
    open.pop_back();
    s.open_index = static_cast<std::size_t>(-1);
  }

  enum class Submit : std::uint8_t { kOk, kNoCredit, kFailed };

  // Opens a stream for the lane's request. `nva` must stay valid until the stream closes.
  Submit submit(Slot& s, const nghttp2_nv* nva, std::size_t n) {
    std::int64_t id = -1;
    const int rv = ngtcp2_conn_open_bidi_stream(q, &id, &s);
    if (rv == NGTCP2_ERR_STREAM_ID_BLOCKED) return Submit::kNoCredit;
    if (rv != 0) return Submit::kFailed;
    static const nghttp3_data_reader reader{&Conn::read_body};
    const bool has_body = s.result.body && !s.result.body->empty();
    if (nghttp3_conn_submit_request(h3, id, reinterpret_cast<const nghttp3_nv*>(nva), n,
                                    has_body ? &reader : nullptr, &s) != 0) {
      ngtcp2_conn_shutdown_stream(q, id, NGHTTP3_H3_INTERNAL_ERROR);
      return Submit::kFailed;
    }
    s.stream_id = id;
    s.interim = s.response_done = false;
    s.open_index = open.size();
    open.push_back(&s);
    schedule_write();
    return Submit::kOk;
  }

  // The lane gave up on its stream (timeout): reset it and forget the lane.
  void cancel(Slot& s) {
    remove_open(s);
    if (state == State::kClosed) return;
    ngtcp2_conn_set_stream_user_data(q, s.stream_id, nullptr);
    nghttp3_conn_set_stream_user_data(h3, s.stream_id, nullptr);
    ngtcp2_conn_shutdown_stream(q, s.stream_id, NGHTTP3_H3_REQUEST_CANCELLED);
    schedule_write();
  }

  // ---- I/O

  void arm_read() {
    sock.async_receive(
        net::buffer(peek, 1), udp::socket::message_peek,
        [self = shared_from_this()](error_code ec, std::size_t) { self->on_readable(ec); });
  }

  void on_readable(error_code ec) {
    if (state == State::kClosed) return;
    in_io = true;
    if (ec) {
      fail(ec == net::error::connection_refused ? kIcmpUnreachable
                                                : classify_error(ec, "I/O error"));
    } else {
      read_packets();
    }
    after_io();
    if (state != State::kClosed) arm_read();
  }

  void read_packets() {
    // The read half of the scratch buffer; the write half is write()'s.
    const std::size_t cap = scratch.size() / 2;
    auto* buf = reinterpret_cast<std::uint8_t*>(scratch.data());
    ngtcp2_pkt_info pi{};
    for (std::size_t i = 0; i < kReadBudget; ++i) {
      const ssize_t n = ::recv(sock.native_handle(), buf, cap, MSG_DONTWAIT);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
        fail(errno == ECONNREFUSED ? kIcmpUnreachable
                                   : ErrorInfo{ErrorKind::kOther, "I/O error", errno, true});
        return;
      }
      received = true;
      const int rv = ngtcp2_conn_read_pkt(q, &ps.path, &pi, buf, static_cast<std::size_t>(n),
                                          static_cast<ngtcp2_tstamp>(now()));
      if (rv != 0) {
        quic_error(rv);
        return;
      }
    }
  }

  void schedule_write() {
    if (in_io) {
      want_write = true;
      return;
    }
    if (write_posted || state == State::kClosed) return;
    write_posted = true;
    net::post(io, [self = shared_from_this()] {
      self->write_posted = false;
      if (self->state == State::kClosed) return;
      self->in_io = true;
      self->after_io();
    });
  }

  // The end of every handler: resume the lanes that finished, send what they and the
  // datagrams read produced, re-arm the timer.
  void after_io() {
    resume_ready();
    in_io = false;
    if (state == State::kClosed) return;
    want_write = false;
    in_io = true;
    write();
    in_io = false;
    if (state != State::kClosed) update_timer();
    if (!ready.empty()) post_resume();  // a failure while writing
  }

  void resume_ready() {
    for (std::size_t i = 0; i < ready.size(); ++i) ready[i]->park.resume_now();
    ready.clear();
  }

  void post_resume() {
    if (resume_posted) return;
    resume_posted = true;
    net::post(io, [self = shared_from_this()] {
      self->resume_posted = false;
      self->resume_ready();
    });
  }

  // Sends everything ngtcp2 and nghttp3 have to send, in batches of one sendmmsg.
  void write() {
    auto* area = reinterpret_cast<std::uint8_t*>(scratch.data()) + scratch.size() / 2;
    const std::size_t max_size =
        std::min(ngtcp2_conn_get_max_tx_udp_payload_size(q), kMaxPacketSize);
    const std::size_t batch =
        std::max<std::size_t>(1, std::min(kMaxPackets, ngtcp2_conn_get_send_quantum(q) / max_size));
    iovec iov[kMaxPackets];
    mmsghdr msgs[kMaxPackets];
    std::size_t npkt = 0;
    ngtcp2_pkt_info pi{};
    const auto ts = static_cast<ngtcp2_tstamp>(now());
    for (;;) {
      std::int64_t stream_id = -1;
      int fin = 0;
      nghttp3_vec vec[16];
      nghttp3_ssize nvec = 0;
      if (h3 && ngtcp2_conn_get_max_data_left(q)) {
        nvec = nghttp3_conn_writev_stream(h3, &stream_id, &fin, vec, 16);
        if (nvec < 0) {
          fail({ErrorKind::kProtocol, "HTTP/3 error", static_cast<int>(nvec), false});
          return;
        }
      }
      ngtcp2_ssize datalen = -1;
      std::uint32_t flags = NGTCP2_WRITE_STREAM_FLAG_MORE;
      if (fin) flags |= NGTCP2_WRITE_STREAM_FLAG_FIN;
      std::uint8_t* dest = area + npkt * kMaxPacketSize;
      const ngtcp2_ssize nwrite = ngtcp2_conn_writev_stream(
          q, &ps.path, &pi, dest, max_size, &datalen, flags, stream_id,
          reinterpret_cast<const ngtcp2_vec*>(vec), static_cast<std::size_t>(nvec), ts);
      if (nwrite < 0) {
        if (nwrite == NGTCP2_ERR_STREAM_DATA_BLOCKED) {
          nghttp3_conn_block_stream(h3, stream_id);
          continue;
        }
        if (nwrite == NGTCP2_ERR_STREAM_SHUT_WR) {
          nghttp3_conn_shutdown_stream_write(h3, stream_id);
          continue;
        }
        if (nwrite == NGTCP2_ERR_WRITE_MORE) {
          if (nghttp3_conn_add_write_offset(h3, stream_id, static_cast<std::size_t>(datalen))) {
            fail({ErrorKind::kProtocol, "HTTP/3 error", 0, false});
            return;
          }
          continue;
        }
        if (send_batch(msgs, iov, npkt)) quic_error(static_cast<int>(nwrite));
        return;
      }
      if (datalen >= 0 &&
          nghttp3_conn_add_write_offset(h3, stream_id, static_cast<std::size_t>(datalen))) {
        fail({ErrorKind::kProtocol, "HTTP/3 error", 0, false});
        return;
      }
      if (nwrite == 0) break;  // nothing more, or congestion limited
      iov[npkt] = {dest, static_cast<std::size_t>(nwrite)};
      ++npkt;
      if (npkt == batch) {
        if (!send_batch(msgs, iov, npkt)) return;
        // Pacing: the rest goes when ngtcp2's timer says (get_expiry includes the pacing time).
        if (batch < kMaxPackets) break;
      }
    }
    if (send_batch(msgs, iov, npkt)) ngtcp2_conn_update_pkt_tx_time(q, ts);
  }

  // Sends n packets; false when the kernel reported ICMP port unreachable (the connection has
  // failed).
  bool send_batch(mmsghdr* msgs, iovec* iov, std::size_t& n) {
    std::size_t done = 0;
    while (done < n) {
      for (std::size_t i = done; i < n; ++i) {
        msgs[i] = {};
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
      }
      const int r = ::sendmmsg(sock.native_handle(), msgs + done, static_cast<unsigned>(n - done),
                               MSG_DONTWAIT);
      if (r < 0) {
        if (errno == EINTR) continue;
        if (errno == ECONNREFUSED) {
          n = 0;
          fail(kIcmpUnreachable);
          return false;
        }
        // A full socket buffer: the packets are lost, as on a network; ngtcp2 sends again.
        break;
      }
      done += static_cast<std::size_t>(r);
    }
    n = 0;
    return true;
  }

  void update_timer() {
    const ngtcp2_tstamp expiry = ngtcp2_conn_get_expiry(q);
    if (expiry == UINT64_MAX) return;
    const auto at = static_cast<Nanos>(expiry);
    if (timer_at != 0 && timer_at <= at) return;  // fires earlier; re-checked then
    timer_at = at;
    timer.expires_at(net::steady_timer::time_point(std::chrono::nanoseconds(at)));
    timer.async_wait([self = shared_from_this()](error_code ec) {
      if (ec == net::error::operation_aborted || self->state == State::kClosed) return;
      self->on_timer();
    });
  }

  void on_timer() {
    timer_at = 0;
    in_io = true;
    const Nanos t = now();
    if (static_cast<ngtcp2_tstamp>(t) >= ngtcp2_conn_get_expiry(q)) {
      const int rv = ngtcp2_conn_handle_expiry(q, static_cast<ngtcp2_tstamp>(t));
      if (rv != 0) quic_error(rv);
    }
    after_io();
  }

  // ---- failures

  ErrorInfo pending_error;  // set by a callback that failed, read by quic_error
  ErrorInfo failure;

  const char* intern(const char* fmt, unsigned long long a, const char* b = "") {
    char text[160];
    std::snprintf(text, sizeof text, fmt, a, b);
    return stats.intern_text(text);
  }

  // What a failed ngtcp2 call means; the connection fails with it.
  void quic_error(int rv) {
    ErrorInfo e;
    bool send_close = true;
    if (pending_error.kind != ErrorKind::kNone) {
      e = pending_error;
    } else if (rv == NGTCP2_ERR_DRAINING || rv == NGTCP2_ERR_CLOSING) {
      send_close = false;
      e = peer_close_error();
    } else if (rv == NGTCP2_ERR_IDLE_CLOSE) {
      send_close = false;
      stats.add_counter(counters.idle_timeouts);
      e = received ? kIdleTimedOut : no_answer();
    } else if (rv == NGTCP2_ERR_HANDSHAKE_TIMEOUT) {
      send_close = false;
      e = received ? kHandshakeTimeout : no_answer();
    } else if (rv == NGTCP2_ERR_CRYPTO) {
      e = tls_error();
    } else {
      e = {ErrorKind::kProtocol,
           intern("QUIC error %llu: %s", static_cast<unsigned>(-rv), ngtcp2_strerror(rv)), rv,
           false};
    }
    if (send_close) send_connection_close(rv);
    fail(e);
  }

  ErrorInfo no_answer() {
    return {ErrorKind::kUnreachable,
            intern("no answer on the UDP port within %llu ms",
                   static_cast<unsigned long long>(handshake_timeout / 1'000'000)),
            0, false};
  }

  ErrorInfo tls_error() {
    if (creds->verify && tls) {
      const unsigned status = gnutls_session_get_verify_cert_status(tls);
      if (status != 0) {
        gnutls_datum_t out{};
        std::string why = "TLS certificate verification failed";
        if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &out, 0) == 0) {
          why += ": ";
          why.append(reinterpret_cast<const char*>(out.data), out.size);
          gnutls_free(out.data);
        }
        return {ErrorKind::kTls, stats.intern_text(why), 0, false};
      }
    }
    const unsigned alert = ngtcp2_conn_get_tls_alert(q);
    return {ErrorKind::kTls, intern("TLS handshake failed (alert %llu)", alert), 0, false};
  }

  ErrorInfo peer_close_error() {
    if (!counted_close) {
      counted_close = true;
      stats.add_counter(counters.peer_closes);
    }
    if (stateless_reset) return kStatelessReset;
    ngtcp2_connection_close_error cc;
    ngtcp2_connection_close_error_default(&cc);
    ngtcp2_conn_get_connection_close_error(q, &cc);
    const auto code = static_cast<unsigned long long>(cc.error_code);
    if (cc.type == NGTCP2_CONNECTION_CLOSE_ERROR_CODE_TYPE_APPLICATION) {
      if (cc.error_code == NGHTTP3_H3_NO_ERROR) return kPeerClosed;
      return {ErrorKind::kProtocol,
              intern("connection closed by peer with application error 0x%llx%s", code,
                     code == NGHTTP3_H3_REQUEST_CANCELLED ? " (H3_REQUEST_CANCELLED)" : ""),
              static_cast<int>(cc.error_code), false};
    }
    if (cc.error_code == 0) return kPeerClosed;
    if (cc.error_code >= 0x100 && cc.error_code <= 0x1ff) {  // CRYPTO_ERROR: a TLS alert
      return {ErrorKind::kTls, intern("TLS alert %llu from peer", code - 0x100), 0, false};
    }
    return {ErrorKind::kProtocol,
            intern("connection closed by peer with transport error 0x%llx", code),
            static_cast<int>(cc.error_code), false};
  }

  void send_connection_close(int liberr) {
    ngtcp2_connection_close_error cc;
    ngtcp2_connection_close_error_default(&cc);
    if (liberr == NGTCP2_ERR_CRYPTO) {
      ngtcp2_connection_close_error_set_transport_error_tls_alert(&cc, ngtcp2_conn_get_tls_alert(q),
                                                                  nullptr, 0);
    } else if (liberr != 0) {
      ngtcp2_connection_close_error_set_transport_error_liberr(&cc, liberr, nullptr, 0);
    } else {
      ngtcp2_connection_close_error_set_application_error(&cc, NGHTTP3_H3_NO_ERROR, nullptr, 0);
    }
    send_close_packet(cc);
  }

  void send_close_packet(const ngtcp2_connection_close_error& cc) {
    std::uint8_t buf[kMaxPacketSize];
    ngtcp2_pkt_info pi{};
    const ngtcp2_ssize n = ngtcp2_conn_write_connection_close(
        q, &ps.path, &pi, buf, sizeof buf, &cc, static_cast<ngtcp2_tstamp>(now()));
    if (n > 0) ::send(sock.native_handle(), buf, static_cast<std::size_t>(n), MSG_DONTWAIT);
  }

  // The connection failed: every lane on it fails with `e` (resumed when the handler ends).
  void fail(const ErrorInfo& e) {
    if (state == State::kClosed) return;
    // An established connection lost to anything but its idle timeout.
    if (state == State::kOpen && e.kind != ErrorKind::kTimeout) {
      stats.add_counter(counters.connections_failed);
    }
    failure = e;
    for (Slot* s : open) {
      s->result.error = e;
      s->result.done = true;
      s->wait = Slot::Wait::kNone;
      s->conn = nullptr;
      ready.push_back(s);
    }
    open.clear();
    for (auto* list : {&queue, &credit_wait}) {
      for (Slot* s : *list) {
        s->wake_error = e;
        s->wait = Slot::Wait::kNone;
        s->conn = nullptr;
        ready.push_back(s);
      }
      list->clear();
    }
    close();
    if (!in_io) post_resume();
  }

  // Closes the socket; ngtcp2/nghttp3/GnuTLS state is freed with the Conn (never from inside
  // one of their callbacks).
  void close() noexcept {
    if (state == State::kClosed) return;
    state = State::kClosed;
    if (q) {
      ngtcp2_conn_stat st;
      ngtcp2_conn_get_conn_stat(q, &st);
      if (st.pto_count) stats.add_counter(counters.probe_timeouts, st.pto_count);
    }
    try {
      timer.cancel();
    } catch (...) {
    }
    error_code ignored;
    sock.close(ignored);
  }

  // The user is going away: tell the server (CONNECTION_CLOSE, H3_NO_ERROR) and close.
  void shutdown() noexcept {
    open.clear();
    queue.clear();
    credit_wait.clear();
    ready.clear();
    if (state == State::kOpen && !ngtcp2_conn_is_in_closing_period(q) &&
        !ngtcp2_conn_is_in_draining_period(q)) {
      send_connection_close(0);
    }
    close();
  }
};

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
      if (c) c->shutdown();
    }
    conns_.clear();
  }

  net::awaitable<void> run_step(std::size_t index, Nanos planned) override {
    const Step& step = tasks_.base->steps[index];
    const TlsCreds* creds = tasks_.tls[index].get();
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
              http2::render_request(step, slot, *w_.scope, auth_, auth_failed_, request_bytes)) {
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
    const bool digest = step.auth && step.auth->type() == auth::Type::kDigest;
    bool challenged = false;
    for (int hop = 0;; ++hop) {
      if (!url->tls) {
        rec.error = {ErrorKind::kProtocol, "redirect to an http:// URL (HTTP/3 is https only)", 0,
                     false};
        break;
      }
      // One request, retried once on a fresh connection if the server refused it unprocessed.
      for (int attempt = 0;; ++attempt) {
        Conn* c = usable(*url, creds);
        if (!c) {
          rec.error = co_await open(slot, *url, creds, url == &step.url ? &step : nullptr, op);
          if (rec.error.kind != ErrorKind::kNone) break;
          c = usable(*url, creds);
          if (!c) {
            rec.error = kPeerClosed;
            break;
          }
        }
        slot.result.reset();
        slot.result.body = body;
        slot.result.body_sink = nullptr;
        slot.result.header_sink = nullptr;
        if (step.checks || w_.keep_bodies) {
          const bool keep = w_.keep_bodies != 0;
          slot.body.clear();
          slot.headers.assign("HTTP/3\r\n");  // checks skip the first (status) line
          if (keep || step.checks->needs_body()) slot.result.body_sink = &slot.body;
          if (keep || step.checks->needs_headers()) slot.result.header_sink = &slot.headers;
        }
        if (digest && !challenged && !slot.result.header_sink) {
          slot.headers.assign("HTTP/3\r\n");
          slot.result.header_sink = &slot.headers;
        }
        const nghttp2_nv* sent_nva = nva;
        std::size_t sent_nvlen = nvlen;
        std::uint64_t sent_bytes = request_bytes;
        if (step.use_jar && !jar_.empty() && http2::with_cookies(slot, jar_, nva, nvlen, *url)) {
          sent_nva = slot.cookie_nva.data();
          sent_nvlen = slot.cookie_nva.size();
          sent_bytes = body->size();
          for (const auto& h : slot.cookie_nva) sent_bytes += h.namelen + h.valuelen + 4;
        }
        Conn::Submit sub = c->submit(slot, sent_nva, sent_nvlen);
        while (sub == Conn::Submit::kNoCredit) {  // wait for the server's MAX_STREAMS
          slot.wait = Slot::Wait::kCredit;
          slot.conn = c;
          c->credit_wait.push_back(&slot);
          co_await slot.park.wait();
          if (slot.wake_error.kind != ErrorKind::kNone) break;
          c = usable(*url, creds);
          if (!c) break;
          sub = c->submit(slot, sent_nva, sent_nvlen);
        }
        if (sub != Conn::Submit::kOk) {
          rec.error = slot.wake_error.kind != ErrorKind::kNone ? slot.wake_error : kNoStreams;
          if (op.expired()) rec.error = op.timed_out();
          break;
        }
        rec.bytes_out += sent_bytes;
        slot.wait = Slot::Wait::kStream;
        slot.conn = c;
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
      if (!slot.result.set_cookies.empty())
        http2::store_cookies(jar_, slot.result.set_cookies, *url);
      const std::uint32_t status = slot.result.status;
      rec.status = status;
      if (digest && status == 401 && hop == 0 && !challenged &&
          auth_.on_challenge(*step.auth, slot.headers)) {
        challenged = true;  // send the request again with the answer
        if (const char* bad =
                http2::render_request(step, slot, *w_.scope, auth_, auth_failed_, request_bytes)) {
          rec.error = {auth_failed_ ? ErrorKind::kAuth : ErrorKind::kInvalidRequest, bad, 0, false};
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
      if (hop == http2::kMaxRedirects) {
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
      if (slot.redirect_url.host == step.url.host && slot.redirect_url.port == step.url.port &&
          slot.redirect_url.tls == step.url.tls) {
        slot.redirect_url.host_header = step.url.host_header;
      }
      url = &slot.redirect_url;
      const bool keep = status == 307 || status == 308;
      http2::build_redirect(step, *base_nva, slot, keep);
      nva = slot.redirect_nva.data();
      nvlen = slot.redirect_nva.size();
      body = keep ? request_body : &kNoBody;
      request_bytes = body->size();
      for (const auto& h : slot.redirect_nva) request_bytes += h.namelen + h.valuelen + 4;
    }
    if (op.stop()) {
      free_.push_back(&slot);
      op.record();
      co_return;
    }
    if (rec.error.kind == ErrorKind::kNone) {
      proto::judge_http_response(step.checks.get(), slot.result.coding, slot.body, slot.headers,
                                 decoder_, *w_.scope, rec, w_.keep_bodies);
    }
    if (w_.stats.logging() && (step.record_url || url != &step.url || step.dynamic)) {
      const bool rendered = url == &step.url && !step.path_tpl.is_static();
      proto::url_text(*url, rendered ? std::string_view(slot.path) : url->target, url_text_);
      rec.url = url_text_;
    }
    free_.push_back(&slot);
    op.record();
  }

 private:
  static inline const std::string kNoBody;
  std::string url_text_;

  static bool same_origin(const Conn& c, const Url& url, const TlsCreds* creds) {
    return c.port == url.port && c.creds == creds && c.host == url.host;
  }

  Conn* usable(const Url& url, const TlsCreds* creds) {
    for (auto& c : conns_) {
      if (c && same_origin(*c, url, creds)) return c->usable() ? c.get() : nullptr;
    }
    return nullptr;
  }

  std::size_t entry(const Url& url, const TlsCreds* creds) {
    for (std::size_t i = 0; i < conns_.size(); ++i) {
      if (conns_[i] && same_origin(*conns_[i], url, creds)) return i;
    }
    for (std::size_t i = 0; i < conns_.size(); ++i) {
      if (!conns_[i]) return i;
    }
    conns_.emplace_back();
    return conns_.size() - 1;
  }

  // Opens a QUIC connection to the origin (or joins the handshake another lane started) and
  // waits until it can carry requests.
  net::awaitable<ErrorInfo> open(Slot& slot, const Url& url, const TlsCreds* creds,
                                 const Step* step, const OpScope& op) {
    const std::size_t i = entry(url, creds);
    std::shared_ptr<Conn> c = conns_[i];
    if (!c || c->state == Conn::State::kClosed) {
      udp::endpoint ep;
      if (step && !step->endpoints.empty()) {
        ep = udp::endpoint(step->endpoints.front().address(), step->endpoints.front().port());
      } else {
        const auto eps = resolve_udp(url.host, url.port);
        if (eps.empty()) co_return ErrorInfo{ErrorKind::kConnect, "DNS lookup failed", 0, false};
        ep = eps.front();
      }
      c = std::make_shared<Conn>(w_, url, creds);
      conns_[i] = c;
      const Nanos timeout = step ? step->timeout : seconds_to_ns(http2::kDefaultTimeoutS);
      const ErrorInfo e = c->start(ep, timeout);
      if (e.kind != ErrorKind::kNone) {
        c->close();
        co_return e;
      }
    }
    if (c->usable()) co_return ErrorInfo{};
    slot.wait = Slot::Wait::kConnect;
    slot.conn = c.get();
    slot.wake_error = {};
    c->queue.push_back(&slot);
    co_await slot.park.wait();
    if (op.expired()) {
      // Nothing came back at all: the port does not answer (a firewall, nothing listening
      // without an ICMP error, a TCP-only server).
      if (!c->received && c->state != Conn::State::kOpen) {
        co_return ErrorInfo{
            ErrorKind::kUnreachable,
            c->intern("no answer on the UDP port within %llu ms",
                      static_cast<unsigned long long>(c->handshake_timeout / 1'000'000)),
            0, false};
      }
      co_return op.timed_out();
    }
    co_return slot.wake_error;
  }

  // TimedOp callback (from the sweeper): give up on whatever the slot waits for.
  static void expire(void* self) {
    Slot& s = *static_cast<Slot*>(self);
    Conn* c = s.conn;
    switch (s.wait) {
      case Slot::Wait::kStream:
        s.wait = Slot::Wait::kNone;
        s.conn = nullptr;
        c->cancel(s);
        wake(s);
        break;
      case Slot::Wait::kConnect:
      case Slot::Wait::kCredit:
        s.wait = Slot::Wait::kNone;
        s.conn = nullptr;
        std::erase(c->queue, &s);
        std::erase(c->credit_wait, &s);
        // The last lane waiting for a handshake gives up on it: the connection goes too.
        if (c->state == Conn::State::kConnecting && c->queue.empty()) c->close();
        wake(s);
        break;
      case Slot::Wait::kNone:
        break;
    }
  }

  const Tasks& tasks_;
  engine::WorkerContext w_;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::vector<Slot*> free_;
  std::vector<std::shared_ptr<Conn>> conns_;
  proto::BodyDecoder decoder_;
  proto::CookieJar jar_;
  auth::UserAuth auth_;
  bool auth_failed_ = false;
};

}  // namespace

std::unique_ptr<engine::UserSession> Tasks::new_user(engine::WorkerContext& worker) {
  return std::make_unique<Session>(*this, worker);
}

}  // namespace ld::proto::http3
