// HTTP/3 for the embedded target: ngtcp2 (QUIC, GnuTLS crypto) and nghttp3 over one UDP socket.
// Threading: everything runs on the io_context the server was given; nothing here locks.
// Lifetimes: connections are owned by `conns` (keyed by a serial number that is never reused);
// timer handlers carry that number and look the connection up, so a handler that outlives its
// connection finds nothing. A connection is deleted only from a top-level handler, never from
// inside an ngtcp2 or nghttp3 callback.
#include "target/h3_server.hpp"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <nghttp3/nghttp3.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>

#include <array>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstring>
#include <ctime>
#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "target/handlers.hpp"

namespace ld::target {
namespace {

namespace net = boost::asio;
using udp = net::ip::udp;
using boost::system::error_code;

constexpr std::size_t kScidLen = 18;                       // our connection IDs
constexpr std::size_t kBodyLimit = 16u * 1024u * 1024u;    // request bytes held per connection
constexpr std::size_t kPacketsPerWrite = 32;               // then yield to other handlers
constexpr ngtcp2_duration kIdleTimeout = 30 * NGTCP2_SECONDS;
constexpr char kPriority[] =
    "NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305:"
    "+AES-128-CCM:%DISABLE_TLS13_COMPAT_MODE";

ngtcp2_tstamp now_ns() {
  return static_cast<ngtcp2_tstamp>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

std::string cid_key(const std::uint8_t* data, std::size_t len) {
  return std::string(reinterpret_cast<const char*>(data), len);
}

void random_bytes(std::uint8_t* dest, std::size_t len, gnutls_rnd_level_t level) {
  if (gnutls_rnd(level, dest, len) != 0) throw std::runtime_error("gnutls_rnd failed");
}

// The self-signed certificate and its key, made once per server (ECDSA P-256, CN=localhost,
// SAN localhost, 127.0.0.1 and ::1), as GnuTLS credentials.
class Credentials {
 public:
  Credentials() {
    gnutls_x509_privkey_t key = nullptr;
    gnutls_x509_crt_t crt = nullptr;
    auto fail = [&](const char* what, int rv) {
      if (crt) gnutls_x509_crt_deinit(crt);
      if (key) gnutls_x509_privkey_deinit(key);
      throw std::runtime_error(std::string("HTTP/3 certificate: ") + what + ": " +
                               gnutls_strerror(rv));
    };
    int rv = gnutls_x509_privkey_init(&key);
    if (rv == 0) {
      rv = gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA,
                                        GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0);
    }
    if (rv != 0) fail("key", rv);
    rv = gnutls_x509_crt_init(&crt);
    if (rv != 0) fail("certificate", rv);
    std::uint8_t serial[16];
    random_bytes(serial, sizeof serial, GNUTLS_RND_NONCE);
    serial[0] &= 0x7f;  // a positive number
    const std::time_t now = std::time(nullptr);
    static constexpr char kName[] = "localhost";
    static constexpr std::uint8_t kV4[] = {127, 0, 0, 1};
    static constexpr std::uint8_t kV6[] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    if ((rv = gnutls_x509_crt_set_version(crt, 3)) != 0 ||
        (rv = gnutls_x509_crt_set_serial(crt, serial, sizeof serial)) != 0 ||
        (rv = gnutls_x509_crt_set_activation_time(crt, now - 3600)) != 0 ||
        (rv = gnutls_x509_crt_set_expiration_time(crt, now + 365 * 24 * 3600)) != 0 ||
        (rv = gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, kName,
                                            sizeof kName - 1)) != 0 ||
        (rv = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, kName,
                                                   sizeof kName - 1, GNUTLS_FSAN_APPEND)) != 0 ||
        (rv = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, kV4, sizeof kV4,
                                                   GNUTLS_FSAN_APPEND)) != 0 ||
        (rv = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, kV6, sizeof kV6,
                                                   GNUTLS_FSAN_APPEND)) != 0 ||
        (rv = gnutls_x509_crt_set_basic_constraints(crt, 0, -1)) != 0 ||
        (rv = gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE)) != 0 ||
        (rv = gnutls_x509_crt_set_key(crt, key)) != 0 ||
        (rv = gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0)) != 0) {
      fail("certificate", rv);
    }
    rv = gnutls_certificate_allocate_credentials(&cred_);
    if (rv == 0) rv = gnutls_certificate_set_x509_key(cred_, &crt, 1, key);
    gnutls_x509_crt_deinit(crt);
    gnutls_x509_privkey_deinit(key);
    crt = nullptr;
    key = nullptr;
    if (rv == 0) rv = gnutls_priority_init(&priority_, kPriority, nullptr);
    if (rv != 0) {
      if (cred_) gnutls_certificate_free_credentials(cred_);
      throw std::runtime_error(std::string("HTTP/3 TLS credentials: ") + gnutls_strerror(rv));
    }
  }
  ~Credentials() {
    gnutls_priority_deinit(priority_);
    gnutls_certificate_free_credentials(cred_);
  }
  Credentials(const Credentials&) = delete;
  Credentials& operator=(const Credentials&) = delete;

  gnutls_certificate_credentials_t cred() const { return cred_; }
  gnutls_priority_t priority() const { return priority_; }

 private:
  gnutls_certificate_credentials_t cred_ = nullptr;
  gnutls_priority_t priority_ = nullptr;
};

// One request stream.
struct Stream {
  Request request;
  Reply reply;
  std::vector<std::string> fields;  // response header names and values (nva points here)
  std::vector<nghttp3_nv> nva;
  std::unique_ptr<net::steady_timer> timer;  // /delay/{s}
  bool body_given = false;
  bool rejected = false;  // its body went over the limit: reset, never answered
};

enum class State { kOpen, kClosing, kDraining };

}  // namespace

struct H3Server::Impl {
  struct Conn {
    Conn(Impl& s, std::uint64_t serial_, const udp::endpoint& from)
        : server(s), serial(serial_), peer(from), timer(s.io) {}

    Impl& server;
    std::uint64_t serial;
    udp::endpoint peer;  // where the connection's packets go (updated from ngtcp2's path)
    std::string origin;
    ngtcp2_crypto_conn_ref conn_ref{};
    ngtcp2_conn* quic = nullptr;
    nghttp3_conn* h3 = nullptr;
    gnutls_session_t tls = nullptr;
    net::steady_timer timer;
    ngtcp2_tstamp armed = std::numeric_limits<ngtcp2_tstamp>::max();
    std::vector<std::string> cids;  // keys in server.by_cid
    std::unordered_map<std::int64_t, std::unique_ptr<Stream>> streams;
    std::size_t body_bytes = 0;  // request body bytes held by open streams
    int h3_error = 0;            // an nghttp3 error seen inside a callback
    State state = State::kOpen;
    ngtcp2_tstamp close_deadline = 0;
    std::vector<std::uint8_t> close_packet;  // resent while closing
    std::size_t packets_while_closing = 0;

    ~Conn() {
      if (h3) nghttp3_conn_del(h3);
      if (quic) ngtcp2_conn_del(quic);
      if (tls) gnutls_deinit(tls);
    }
  };

  net::io_context& io;
  udp::socket socket;
  udp::endpoint local;
  std::string host_port;
  Credentials credentials;
  bool stopping = false;
  std::uint64_t next_serial = 1;
  std::unordered_map<std::uint64_t, std::unique_ptr<Conn>> conns;
  std::unordered_map<std::string, Conn*> by_cid;
  std::array<std::uint8_t, 65536> rx{};
  std::array<std::uint8_t, 65536> tx{};
  udp::endpoint from;

  Impl(net::io_context& ctx, const net::ip::address& address, std::uint16_t port)
      : io(ctx), socket(ctx) {
    error_code ec;
    const udp::endpoint ep(address, port);
    socket.open(ep.protocol(), ec);
    if (!ec) socket.bind(ep, ec);
    if (!ec) socket.non_blocking(true, ec);
    if (ec) {
      throw std::runtime_error("cannot bind HTTP/3 (UDP) on port " + std::to_string(port) + ": " +
                               ec.message());
    }
    local = socket.local_endpoint(ec);
    const std::string host =
        address.is_unspecified() ? "127.0.0.1"
        : address.is_v6()        ? "[" + address.to_string() + "]"
                                 : address.to_string();
    host_port = host + ":" + std::to_string(local.port());
  }

  // --- receiving ---------------------------------------------------------------------------

  void receive() {
    socket.async_receive_from(net::buffer(rx), from, [this](error_code ec, std::size_t n) {
      if (stopping || !socket.is_open()) return;
      if (!ec) on_datagram(rx.data(), n);
      receive();
    });
  }

  void on_datagram(const std::uint8_t* data, std::size_t n) {
    if (n == 0) return;  // ngtcp2 asserts on an empty packet
    ngtcp2_version_cid vc;
    const int rv = ngtcp2_pkt_decode_version_cid(&vc, data, n, kScidLen);
    if (rv == NGTCP2_ERR_VERSION_NEGOTIATION) {
      send_version_negotiation(vc);
      return;
    }
    if (rv != 0) return;  // not QUIC: dropped
    auto it = by_cid.find(cid_key(vc.dcid, vc.dcidlen));
    Conn* conn = it == by_cid.end() ? nullptr : it->second;
    if (!conn) {
      conn = accept(data, n);
      if (!conn) return;
    }
    on_packet(*conn, data, n);
  }

  void send_version_negotiation(const ngtcp2_version_cid& vc) {
    std::uint8_t unused = 0;
    random_bytes(&unused, 1, GNUTLS_RND_NONCE);
    const std::uint32_t versions[] = {NGTCP2_PROTO_VER_V1};
    const ngtcp2_ssize n = ngtcp2_pkt_write_version_negotiation(
        tx.data(), tx.size(), unused, vc.scid, vc.scidlen, vc.dcid, vc.dcidlen, versions,
        std::size(versions));
    if (n > 0) send(from, tx.data(), static_cast<std::size_t>(n));
  }

  // A new connection for an Initial packet, or nullptr (not an Initial, or too many).
  Conn* accept(const std::uint8_t* data, std::size_t n) {
    ngtcp2_pkt_hd hd;
    if (ngtcp2_accept(&hd, data, n) != 0) return nullptr;
    if (conns.size() >= kMaxConnections) return nullptr;
    const std::uint64_t serial = next_serial++;
    auto owned = std::make_unique<Conn>(*this, serial, from);
    Conn& c = *owned;
    c.origin = from.address().to_string();

    ngtcp2_cid scid;
    scid.datalen = kScidLen;
    random_bytes(scid.data, kScidLen, GNUTLS_RND_NONCE);

    ngtcp2_settings settings;
    ngtcp2_settings_default(&settings);
    settings.initial_ts = now_ns();
    ngtcp2_transport_params params;
    ngtcp2_transport_params_default(&params);
    params.initial_max_stream_data_bidi_local = 256 * 1024;
    params.initial_max_stream_data_bidi_remote = 256 * 1024;
    params.initial_max_stream_data_uni = 256 * 1024;
    params.initial_max_data = 1024 * 1024;
    params.initial_max_streams_bidi = 128;
    params.initial_max_streams_uni = 3;
    params.max_idle_timeout = kIdleTimeout;
    params.stateless_reset_token_present = 1;
    random_bytes(params.stateless_reset_token, sizeof params.stateless_reset_token,
                 GNUTLS_RND_RANDOM);
    params.original_dcid = hd.dcid;

    const ngtcp2_path path = make_path(from);
    if (ngtcp2_conn_server_new(&c.quic, &hd.scid, &scid, &path, hd.version, &kQuicCallbacks,
                               &settings, &params, nullptr, &c) != 0) {
      return nullptr;
    }
    if (gnutls_init(&c.tls, GNUTLS_SERVER | GNUTLS_NO_AUTO_SEND_TICKET |
                                GNUTLS_NO_END_OF_EARLY_DATA) != 0) {
      c.tls = nullptr;
      return nullptr;
    }
    static const gnutls_datum_t kAlpn = {
        const_cast<unsigned char*>(reinterpret_cast<const unsigned char*>("h3")), 2};
    c.conn_ref.get_conn = [](ngtcp2_crypto_conn_ref* ref) {
      return static_cast<Conn*>(ref->user_data)->quic;
    };
    c.conn_ref.user_data = &c;
    if (gnutls_priority_set(c.tls, credentials.priority()) != 0 ||
        ngtcp2_crypto_gnutls_configure_server_session(c.tls) != 0 ||
        gnutls_credentials_set(c.tls, GNUTLS_CRD_CERTIFICATE, credentials.cred()) != 0 ||
        gnutls_alpn_set_protocols(c.tls, &kAlpn, 1, GNUTLS_ALPN_MANDATORY) != 0) {
      return nullptr;
    }
    gnutls_session_set_ptr(c.tls, &c.conn_ref);
    ngtcp2_conn_set_tls_native_handle(c.quic, c.tls);

    add_cid(c, scid.data, scid.datalen);
    add_cid(c, hd.dcid.data, hd.dcid.datalen);  // the client's Initials keep using it
    conns.emplace(serial, std::move(owned));
    return &c;
  }

  ngtcp2_path make_path(udp::endpoint& remote) {
    ngtcp2_path path{};
    path.local.addr = reinterpret_cast<ngtcp2_sockaddr*>(local.data());
    path.local.addrlen = static_cast<ngtcp2_socklen>(local.size());
    path.remote.addr = reinterpret_cast<ngtcp2_sockaddr*>(remote.data());
    path.remote.addrlen = static_cast<ngtcp2_socklen>(remote.size());
    return path;
  }

  void add_cid(Conn& c, const std::uint8_t* data, std::size_t len) {
    std::string key = cid_key(data, len);
    by_cid[key] = &c;
    c.cids.push_back(std::move(key));
  }

  void on_packet(Conn& c, const std::uint8_t* data, std::size_t n) {
    if (c.state == State::kDraining) return;
    if (c.state == State::kClosing) {
      // Answer with the CONNECTION_CLOSE again, ever less often (RFC 9000 10.2.1).
      const std::size_t k = ++c.packets_while_closing;
      if ((k & (k - 1)) == 0) send(c.peer, c.close_packet.data(), c.close_packet.size());
      return;
    }
    const ngtcp2_path path = make_path(from);
    const ngtcp2_pkt_info pi{};
    const int rv = ngtcp2_conn_read_pkt(c.quic, &path, &pi, data, n, now_ns());
    if (rv != 0) {
      fail(c, rv);
      return;
    }
    write(c);
  }

  // --- sending -----------------------------------------------------------------------------

  void send(const udp::endpoint& to, const std::uint8_t* data, std::size_t n) {
    error_code ec;
    socket.send_to(net::buffer(data, n), to, 0, ec);  // a full buffer drops it: QUIC resends
  }

  // Writes what the connection has to send (up to kPacketsPerWrite packets, then posts the
  // rest), then arms its timer. May delete the connection.
  void write(Conn& c) {
    const std::size_t max_size = ngtcp2_conn_get_path_max_tx_udp_payload_size(c.quic);
    ngtcp2_path_storage ps;
    ngtcp2_path_storage_zero(&ps);
    ngtcp2_pkt_info pi{};
    const ngtcp2_tstamp ts = now_ns();
    for (std::size_t packets = 0;;) {
      std::int64_t stream_id = -1;
      int fin = 0;
      nghttp3_vec vec[16];
      nghttp3_ssize count = 0;
      if (c.h3 && ngtcp2_conn_get_max_data_left(c.quic)) {
        count = nghttp3_conn_writev_stream(c.h3, &stream_id, &fin, vec, std::size(vec));
        if (count < 0) {
          c.h3_error = static_cast<int>(count);
          fail(c, NGTCP2_ERR_CALLBACK_FAILURE);
          return;
        }
      }
      ngtcp2_ssize accepted = -1;
      std::uint32_t flags = NGTCP2_WRITE_STREAM_FLAG_MORE;
      if (fin) flags |= NGTCP2_WRITE_STREAM_FLAG_FIN;
      const ngtcp2_ssize nwrite = ngtcp2_conn_writev_stream(
          c.quic, &ps.path, &pi, tx.data(), max_size, &accepted, flags, stream_id,
          reinterpret_cast<const ngtcp2_vec*>(vec), static_cast<std::size_t>(count), ts);
      if (nwrite < 0) {
        if (nwrite == NGTCP2_ERR_STREAM_DATA_BLOCKED) {
          nghttp3_conn_block_stream(c.h3, stream_id);
          continue;
        }
        if (nwrite == NGTCP2_ERR_STREAM_SHUT_WR) {
          nghttp3_conn_shutdown_stream_write(c.h3, stream_id);
          continue;
        }
        if (nwrite == NGTCP2_ERR_WRITE_MORE) {
          if (const int rv = nghttp3_conn_add_write_offset(c.h3, stream_id, accepted); rv != 0) {
            c.h3_error = rv;
            fail(c, NGTCP2_ERR_CALLBACK_FAILURE);
            return;
          }
          continue;
        }
        fail(c, static_cast<int>(nwrite));
        return;
      }
      if (accepted >= 0 && c.h3) {
        if (const int rv = nghttp3_conn_add_write_offset(c.h3, stream_id, accepted); rv != 0) {
          c.h3_error = rv;
          fail(c, NGTCP2_ERR_CALLBACK_FAILURE);
          return;
        }
      }
      if (nwrite == 0) break;
      std::memcpy(c.peer.data(), ps.path.remote.addr, ps.path.remote.addrlen);
      c.peer.resize(ps.path.remote.addrlen);
      send(c.peer, tx.data(), static_cast<std::size_t>(nwrite));
      if (++packets == kPacketsPerWrite) {
        ngtcp2_conn_update_pkt_tx_time(c.quic, ts);
        net::post(io, [this, serial = c.serial] {
          if (Conn* again = find(serial); again && again->state == State::kOpen) write(*again);
        });
        arm(c);
        return;
      }
    }
    ngtcp2_conn_update_pkt_tx_time(c.quic, ts);
    arm(c);
  }

  // --- timers, closing ---------------------------------------------------------------------

  Conn* find(std::uint64_t serial) {
    auto it = conns.find(serial);
    return it == conns.end() ? nullptr : it->second.get();
  }

  void arm(Conn& c) {
    const ngtcp2_tstamp expiry =
        c.state == State::kOpen ? ngtcp2_conn_get_expiry(c.quic) : c.close_deadline;
    if (expiry == c.armed) return;
    c.armed = expiry;
    if (expiry == std::numeric_limits<ngtcp2_tstamp>::max()) {
      c.timer.cancel();
      return;
    }
    c.timer.expires_at(std::chrono::steady_clock::time_point(std::chrono::nanoseconds(expiry)));
    c.timer.async_wait([this, serial = c.serial](error_code ec) {
      if (ec || stopping) return;
      if (Conn* conn = find(serial)) on_timer(*conn);
    });
  }

  void on_timer(Conn& c) {
    c.armed = std::numeric_limits<ngtcp2_tstamp>::max();
    const ngtcp2_tstamp now = now_ns();
    if (c.state != State::kOpen) {
      if (now >= c.close_deadline) {
        remove(c);
      } else {
        arm(c);
      }
      return;
    }
    const int rv = ngtcp2_conn_handle_expiry(c.quic, now);
    if (rv != 0) {
      fail(c, rv);
      return;
    }
    write(c);
  }

  // Ends the connection after an error from ngtcp2 (or nghttp3, through c.h3_error): silently
  // when ngtcp2 says so, otherwise with a CONNECTION_CLOSE kept for the closing period.
  void fail(Conn& c, int rv) {
    if (rv == NGTCP2_ERR_DROP_CONN || rv == NGTCP2_ERR_IDLE_CLOSE || rv == NGTCP2_ERR_RETRY) {
      remove(c);
      return;
    }
    const ngtcp2_tstamp now = now_ns();
    c.close_deadline = now + 3 * ngtcp2_conn_get_pto(c.quic);
    if (rv == NGTCP2_ERR_DRAINING) {
      c.state = State::kDraining;
      arm(c);
      return;
    }
    ngtcp2_connection_close_error ccerr;
    ngtcp2_connection_close_error_default(&ccerr);
    if (c.h3_error != 0) {
      ngtcp2_connection_close_error_set_application_error(
          &ccerr, nghttp3_err_infer_quic_app_error_code(c.h3_error), nullptr, 0);
    } else if (rv == NGTCP2_ERR_CRYPTO) {
      ngtcp2_connection_close_error_set_transport_error_tls_alert(
          &ccerr, ngtcp2_conn_get_tls_alert(c.quic), nullptr, 0);
    } else {
      ngtcp2_connection_close_error_set_transport_error_liberr(&ccerr, rv, nullptr, 0);
    }
    if (!close_with(c, ccerr, now)) {
      remove(c);
      return;
    }
    c.state = State::kClosing;
    arm(c);
  }

  // Writes and sends a CONNECTION_CLOSE, keeping it in c.close_packet; false if none was made.
  bool close_with(Conn& c, const ngtcp2_connection_close_error& ccerr, ngtcp2_tstamp now) {
    if (ngtcp2_conn_is_in_closing_period(c.quic) || ngtcp2_conn_is_in_draining_period(c.quic)) {
      return false;
    }
    ngtcp2_path_storage ps;
    ngtcp2_path_storage_zero(&ps);
    ngtcp2_pkt_info pi{};
    const ngtcp2_ssize n = ngtcp2_conn_write_connection_close(
        c.quic, &ps.path, &pi, tx.data(), ngtcp2_conn_get_path_max_tx_udp_payload_size(c.quic),
        &ccerr, now);
    if (n <= 0) return false;
    c.close_packet.assign(tx.data(), tx.data() + n);
    send(c.peer, c.close_packet.data(), c.close_packet.size());
    return true;
  }

  void remove(Conn& c) {
    for (const std::string& key : c.cids) {
      auto it = by_cid.find(key);
      if (it != by_cid.end() && it->second == &c) by_cid.erase(it);
    }
    conns.erase(c.serial);  // destroys the timer: a pending wait completes as aborted
  }

  void close_all() noexcept {
    stopping = true;
    const ngtcp2_tstamp now = now_ns();
    for (auto& [serial, conn] : conns) {
      if (conn->state != State::kOpen) continue;
      ngtcp2_connection_close_error ccerr;
      ngtcp2_connection_close_error_default(&ccerr);
      ngtcp2_connection_close_error_set_application_error(&ccerr, NGHTTP3_H3_NO_ERROR, nullptr,
                                                          0);
      close_with(*conn, ccerr, now);
    }
    by_cid.clear();
    conns.clear();
    error_code ec;
    socket.close(ec);
  }

  // --- HTTP/3 ------------------------------------------------------------------------------

  static Conn& of(void* user_data) { return *static_cast<Conn*>(user_data); }

  // After the 1-RTT keys exist: the HTTP/3 session and its control and QPACK streams.
  static int on_tx_key(ngtcp2_conn*, ngtcp2_crypto_level level, void* user_data) {
    if (level != NGTCP2_CRYPTO_LEVEL_APPLICATION) return 0;
    Conn& c = of(user_data);
    if (c.h3) return 0;
    nghttp3_settings settings;
    nghttp3_settings_default(&settings);
    if (nghttp3_conn_server_new(&c.h3, &kH3Callbacks, &settings, nghttp3_mem_default(), &c) !=
        0) {
      return NGTCP2_ERR_CALLBACK_FAILURE;
    }
    std::int64_t control = -1, qenc = -1, qdec = -1;
    if (ngtcp2_conn_open_uni_stream(c.quic, &control, nullptr) != 0 ||
        ngtcp2_conn_open_uni_stream(c.quic, &qenc, nullptr) != 0 ||
        ngtcp2_conn_open_uni_stream(c.quic, &qdec, nullptr) != 0 ||
        nghttp3_conn_bind_control_stream(c.h3, control) != 0 ||
        nghttp3_conn_bind_qpack_streams(c.h3, qenc, qdec) != 0) {
      return NGTCP2_ERR_CALLBACK_FAILURE;
    }
    return 0;
  }

  static int on_stream_data(ngtcp2_conn* quic, std::uint32_t flags, std::int64_t id,
                            std::uint64_t, const std::uint8_t* data, std::size_t len,
                            void* user_data, void*) {
    Conn& c = of(user_data);
    if (!c.h3) return NGTCP2_ERR_CALLBACK_FAILURE;
    const nghttp3_ssize consumed =
        nghttp3_conn_read_stream(c.h3, id, data, len, flags & NGTCP2_STREAM_DATA_FLAG_FIN);
    if (consumed < 0) {
      c.h3_error = static_cast<int>(consumed);
      return NGTCP2_ERR_CALLBACK_FAILURE;
    }
    ngtcp2_conn_extend_max_stream_offset(quic, id, static_cast<std::uint64_t>(consumed));
    ngtcp2_conn_extend_max_offset(quic, static_cast<std::uint64_t>(consumed));
    return 0;
  }

  static int on_acked(ngtcp2_conn*, std::int64_t id, std::uint64_t, std::uint64_t datalen,
                      void* user_data, void*) {
    Conn& c = of(user_data);
    if (!c.h3) return 0;
    if (const int rv = nghttp3_conn_add_ack_offset(c.h3, id, datalen); rv != 0) {
      c.h3_error = rv;
      return NGTCP2_ERR_CALLBACK_FAILURE;
    }
    return 0;
  }

  static int on_stream_close(ngtcp2_conn* quic, std::uint32_t flags, std::int64_t id,
                             std::uint64_t code, void* user_data, void*) {
    Conn& c = of(user_data);
    if (!(flags & NGTCP2_STREAM_CLOSE_FLAG_APP_ERROR_CODE_SET)) code = NGHTTP3_H3_NO_ERROR;
    if (c.h3) {
      const int rv = nghttp3_conn_close_stream(c.h3, id, code);
      if (rv != 0 && rv != NGHTTP3_ERR_STREAM_NOT_FOUND) {
        c.h3_error = rv;
        return NGTCP2_ERR_CALLBACK_FAILURE;
      }
    }
    if ((id & 0x3) == 0) ngtcp2_conn_extend_max_streams_bidi(quic, 1);  // a client request
    return 0;
  }

  static int on_stream_reset(ngtcp2_conn*, std::int64_t id, std::uint64_t, std::uint64_t,
                             void* user_data, void*) {
    Conn& c = of(user_data);
    if (c.h3) {
      if (const int rv = nghttp3_conn_shutdown_stream_read(c.h3, id); rv != 0) {
        c.h3_error = rv;
        return NGTCP2_ERR_CALLBACK_FAILURE;
      }
    }
    return 0;
  }

  static int on_stop_sending(ngtcp2_conn* quic, std::int64_t id, std::uint64_t code,
                             void* user_data, void* stream_user_data) {
    return on_stream_reset(quic, id, 0, code, user_data, stream_user_data);
  }

  static int on_extend_max_stream_data(ngtcp2_conn*, std::int64_t id, std::uint64_t,
                                       void* user_data, void*) {
    Conn& c = of(user_data);
    if (c.h3) {
      if (const int rv = nghttp3_conn_unblock_stream(c.h3, id); rv != 0) {
        c.h3_error = rv;
        return NGTCP2_ERR_CALLBACK_FAILURE;
      }
    }
    return 0;
  }

  static void on_rand(std::uint8_t* dest, std::size_t len, const ngtcp2_rand_ctx*) {
    gnutls_rnd(GNUTLS_RND_NONCE, dest, len);
  }

  static int on_new_cid(ngtcp2_conn*, ngtcp2_cid* cid, std::uint8_t* token, std::size_t len,
                        void* user_data) {
    Conn& c = of(user_data);
    if (gnutls_rnd(GNUTLS_RND_NONCE, cid->data, len) != 0 ||
        gnutls_rnd(GNUTLS_RND_RANDOM, token, NGTCP2_STATELESS_RESET_TOKENLEN) != 0) {
      return NGTCP2_ERR_CALLBACK_FAILURE;
    }
    cid->datalen = len;
    c.server.add_cid(c, cid->data, cid->datalen);
    return 0;
  }

  static int on_remove_cid(ngtcp2_conn*, const ngtcp2_cid* cid, void* user_data) {
    Conn& c = of(user_data);
    const std::string key = cid_key(cid->data, cid->datalen);
    auto it = c.server.by_cid.find(key);
    if (it != c.server.by_cid.end() && it->second == &c) c.server.by_cid.erase(it);
    std::erase(c.cids, key);
    return 0;
  }

  // nghttp3 callbacks.
  static void extend(Conn& c, std::int64_t id, std::size_t consumed) {
    ngtcp2_conn_extend_max_stream_offset(c.quic, id, consumed);
    ngtcp2_conn_extend_max_offset(c.quic, consumed);
  }

  static int h3_deferred_consume(nghttp3_conn*, std::int64_t id, std::size_t consumed,
                                 void* user_data, void*) {
    extend(of(user_data), id, consumed);
    return 0;
  }

  static int h3_begin_headers(nghttp3_conn* h3, std::int64_t id, void* user_data, void*) {
    Conn& c = of(user_data);
    auto stream = std::make_unique<Stream>();
    stream->request.version(30);
    nghttp3_conn_set_stream_user_data(h3, id, stream.get());
    c.streams[id] = std::move(stream);
    return 0;
  }

  static int h3_recv_header(nghttp3_conn*, std::int64_t, std::int32_t, nghttp3_rcbuf* name,
                            nghttp3_rcbuf* value, std::uint8_t, void*, void* stream_user_data) {
    if (!stream_user_data) return 0;
    auto& s = *static_cast<Stream*>(stream_user_data);
    const nghttp3_vec n = nghttp3_rcbuf_get_buf(name);
    const nghttp3_vec v = nghttp3_rcbuf_get_buf(value);
    add_request_field(s.request,
                      std::string_view(reinterpret_cast<const char*>(n.base), n.len),
                      std::string_view(reinterpret_cast<const char*>(v.base), v.len));
    return 0;
  }

  static int h3_recv_data(nghttp3_conn*, std::int64_t id, const std::uint8_t* data,
                          std::size_t len, void* user_data, void* stream_user_data) {
    Conn& c = of(user_data);
    extend(c, id, len);
    if (!stream_user_data) return 0;
    auto& s = *static_cast<Stream*>(stream_user_data);
    if (s.rejected) return 0;
    if (c.body_bytes + len > kBodyLimit) {
      // Too much held for this connection: the request is refused, the connection kept.
      s.rejected = true;
      ngtcp2_conn_shutdown_stream(c.quic, id, NGHTTP3_H3_REQUEST_REJECTED);
      return 0;
    }
    c.body_bytes += len;
    s.request.body().append(reinterpret_cast<const char*>(data), len);
    return 0;
  }

  static int h3_end_stream(nghttp3_conn*, std::int64_t id, void* user_data,
                           void* stream_user_data) {
    if (!stream_user_data) return 0;
    Conn& c = of(user_data);
    auto& s = *static_cast<Stream*>(stream_user_data);
    if (s.rejected) return 0;
    s.request.prepare_payload();
    const ServerInfo info{c.server.host_port, c.origin};
    route(s.request, info, s.reply);
    if (s.reply.delay.count() > 0) {
      s.timer = std::make_unique<net::steady_timer>(c.server.io, s.reply.delay);
      s.timer->async_wait([server = &c.server, serial = c.serial, id](error_code ec) {
        if (ec || server->stopping) return;
        Conn* conn = server->find(serial);
        if (!conn || conn->state != State::kOpen) return;
        auto it = conn->streams.find(id);
        if (it == conn->streams.end()) return;
        if (const int rv = respond(*conn, id, *it->second); rv != 0) {
          conn->h3_error = rv;
          server->fail(*conn, NGTCP2_ERR_CALLBACK_FAILURE);
          return;
        }
        server->write(*conn);
      });
      return 0;
    }
    return respond(c, id, s);
  }

  static int respond(Conn& c, std::int64_t id, Stream& s) {
    const Reply& r = s.reply;
    const bool has_body = r.status >= 200 && r.status != 204 && r.status != 304;
    const bool send_body =
        has_body && s.request.method() != boost::beast::http::verb::head && !r.body.empty();
    response_fields(r, has_body, s.fields);
    s.nva.clear();
    for (std::size_t i = 0; i + 1 < s.fields.size(); i += 2) {
      s.nva.push_back({reinterpret_cast<std::uint8_t*>(s.fields[i].data()),
                       reinterpret_cast<std::uint8_t*>(s.fields[i + 1].data()),
                       s.fields[i].size(), s.fields[i + 1].size(), NGHTTP3_NV_FLAG_NONE});
    }
    static const nghttp3_data_reader kBody = {&Impl::h3_read_body};
    return nghttp3_conn_submit_response(c.h3, id, s.nva.data(), s.nva.size(),
                                        send_body ? &kBody : nullptr);
  }

  static nghttp3_ssize h3_read_body(nghttp3_conn*, std::int64_t, nghttp3_vec* vec, std::size_t,
                                    std::uint32_t* flags, void*, void* stream_user_data) {
    auto& s = *static_cast<Stream*>(stream_user_data);
    *flags |= NGHTTP3_DATA_FLAG_EOF;
    if (s.body_given) return 0;
    s.body_given = true;
    vec[0].base = reinterpret_cast<std::uint8_t*>(s.reply.body.data());
    vec[0].len = s.reply.body.size();
    return 1;
  }

  static int h3_stream_close(nghttp3_conn*, std::int64_t id, std::uint64_t, void* user_data,
                             void*) {
    Conn& c = of(user_data);
    auto it = c.streams.find(id);
    if (it != c.streams.end()) {
      c.body_bytes -= std::min(c.body_bytes, it->second->request.body().size());
      c.streams.erase(it);  // a pending /delay wait completes as aborted
    }
    return 0;
  }

  static int h3_stop_sending(nghttp3_conn*, std::int64_t id, std::uint64_t code, void* user_data,
                             void*) {
    ngtcp2_conn_shutdown_stream_read(of(user_data).quic, id, code);
    return 0;
  }

  static int h3_reset_stream(nghttp3_conn*, std::int64_t id, std::uint64_t code, void* user_data,
                             void*) {
    ngtcp2_conn_shutdown_stream_write(of(user_data).quic, id, code);
    return 0;
  }

  static ngtcp2_callbacks make_quic_callbacks() {
    ngtcp2_callbacks cb{};
    cb.recv_client_initial = ngtcp2_crypto_recv_client_initial_cb;
    cb.recv_crypto_data = ngtcp2_crypto_recv_crypto_data_cb;
    cb.encrypt = ngtcp2_crypto_encrypt_cb;
    cb.decrypt = ngtcp2_crypto_decrypt_cb;
    cb.hp_mask = ngtcp2_crypto_hp_mask_cb;
    cb.recv_stream_data = &Impl::on_stream_data;
    cb.acked_stream_data_offset = &Impl::on_acked;
    cb.stream_close = &Impl::on_stream_close;
    cb.rand = &Impl::on_rand;
    cb.get_new_connection_id = &Impl::on_new_cid;
    cb.remove_connection_id = &Impl::on_remove_cid;
    cb.update_key = ngtcp2_crypto_update_key_cb;
    cb.stream_reset = &Impl::on_stream_reset;
    cb.extend_max_stream_data = &Impl::on_extend_max_stream_data;
    cb.delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb;
    cb.delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb;
    cb.get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb;
    cb.stream_stop_sending = &Impl::on_stop_sending;
    cb.version_negotiation = ngtcp2_crypto_version_negotiation_cb;
    cb.recv_tx_key = &Impl::on_tx_key;
    return cb;
  }

  static nghttp3_callbacks make_h3_callbacks() {
    nghttp3_callbacks cb{};
    cb.stream_close = &Impl::h3_stream_close;
    cb.recv_data = &Impl::h3_recv_data;
    cb.deferred_consume = &Impl::h3_deferred_consume;
    cb.begin_headers = &Impl::h3_begin_headers;
    cb.recv_header = &Impl::h3_recv_header;
    cb.stop_sending = &Impl::h3_stop_sending;
    cb.end_stream = &Impl::h3_end_stream;
    cb.reset_stream = &Impl::h3_reset_stream;
    return cb;
  }

  static const ngtcp2_callbacks kQuicCallbacks;
  static const nghttp3_callbacks kH3Callbacks;
};

const ngtcp2_callbacks H3Server::Impl::kQuicCallbacks = make_quic_callbacks();
const nghttp3_callbacks H3Server::Impl::kH3Callbacks = make_h3_callbacks();

H3Server::H3Server(net::io_context& io, const net::ip::address& address, std::uint16_t port)
    : impl_(std::make_unique<Impl>(io, address, port)) {}

H3Server::~H3Server() = default;

void H3Server::start() { impl_->receive(); }

void H3Server::close() noexcept { impl_->close_all(); }

std::uint16_t H3Server::port() const noexcept { return impl_->local.port(); }

}  // namespace ld::target
