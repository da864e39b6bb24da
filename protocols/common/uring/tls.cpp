#include "common/uring/tls.hpp"

#include <utility>  // before Asio (Boost 1.74 trap)

#include <openssl/bio.h>
#include <openssl/err.h>
#include <sys/socket.h>

#include <algorithm>
#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <cstring>
#include <new>

#include "common/connect.hpp"
#include "common/net_util.hpp"

namespace ld::proto::uring {

namespace net = boost::asio;
using boost::system::error_code;
using stats::ErrorInfo;

namespace {

long bio_ctrl(BIO*, int cmd, long, void*) {
  return cmd == BIO_CTRL_FLUSH ? 1 : 0;  // nothing is buffered in the BIO itself
}

int bio_create(BIO* b) {
  BIO_set_init(b, 1);
  return 1;
}

}  // namespace

TlsLink::TlsLink(SSL_CTX* ctx, const std::string& host) {
  static BIO_METHOD* const method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "loaddensity ring");
    BIO_meth_set_read_ex(m, &TlsLink::bio_read);
    BIO_meth_set_write_ex(m, &TlsLink::bio_write);
    BIO_meth_set_ctrl(m, &bio_ctrl);
    BIO_meth_set_create(m, &bio_create);
    return m;
  }();
  ssl_ = SSL_new(ctx);
  if (!ssl_) throw std::bad_alloc();
  SSL_set_mode(ssl_, SSL_MODE_RELEASE_BUFFERS);  // no record buffers while idle (as Asio)
  BIO* bio = BIO_new(method);
  if (!bio) {
    SSL_free(ssl_);
    throw std::bad_alloc();
  }
  BIO_set_data(bio, this);
  SSL_set_bio(ssl_, bio, bio);  // one reference, owned by ssl_
  prepare_tls_client(ssl_, host);
  SSL_set_connect_state(ssl_);
}

TlsLink::~TlsLink() { SSL_free(ssl_); }

int TlsLink::bio_read(BIO* b, char* out, std::size_t len, std::size_t* got) {
  auto* t = static_cast<TlsLink*>(BIO_get_data(b));
  BIO_clear_retry_flags(b);
  std::size_t n = 0;
  if (t->kept_pos_ < t->kept_.size()) {
    n = std::min(len, t->kept_.size() - t->kept_pos_);
    std::memcpy(out, t->kept_.data() + t->kept_pos_, n);
    t->kept_pos_ += n;
    if (t->kept_pos_ == t->kept_.size()) {
      t->kept_.clear();
      t->kept_pos_ = 0;
    }
  } else if (!t->in_.empty()) {
    n = std::min(len, t->in_.size());
    std::memcpy(out, t->in_.data(), n);
    t->in_.remove_prefix(n);
  }
  *got = n;
  if (n == 0) {
    BIO_set_retry_read(b);  // the ring reads more
    return 0;
  }
  return 1;
}

int TlsLink::bio_write(BIO* b, const char* in, std::size_t len, std::size_t* put) {
  auto* t = static_cast<TlsLink*>(BIO_get_data(b));
  BIO_clear_retry_flags(b);
  (t->sending_ ? t->later_ : t->out_).append(in, len);
  *put = len;
  return 1;
}

bool TlsLink::write(const char* p, std::size_t n, error_code& ec) {
  while (n > 0) {
    ERR_clear_error();
    const int r = SSL_write(ssl_, p, static_cast<int>(std::min<std::size_t>(n, 1 << 30)));
    if (r <= 0) {
      const int err = SSL_get_error(ssl_, r);
      if (err == SSL_ERROR_ZERO_RETURN) {
        ec = net::error::eof;
      } else if (err == SSL_ERROR_SSL) {
        ec = {static_cast<int>(ERR_get_error()), net::error::get_ssl_category()};
      } else {
        ec = net::error::connection_reset;
      }
      return false;
    }
    p += r;
    n -= static_cast<std::size_t>(r);
  }
  return true;
}

std::size_t TlsLink::read(char* buf, std::size_t cap, error_code& ec) {
  ERR_clear_error();
  const int r = SSL_read(ssl_, buf, static_cast<int>(std::min<std::size_t>(cap, 1 << 30)));
  if (r > 0) return static_cast<std::size_t>(r);
  switch (SSL_get_error(ssl_, r)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
      break;  // (the BIO never refuses a write)
    case SSL_ERROR_ZERO_RETURN:
      ec = net::error::eof;
      break;  // close_notify
    case SSL_ERROR_SSL:
      ec = {static_cast<int>(ERR_get_error()), net::error::get_ssl_category()};
      break;
    default:
      ec = net::error::connection_reset;
      break;
  }
  return 0;
}

void TlsLink::send(Ring& ring, Socket& s) {
  sending_ = true;
  ring.send(s, out_.data(), out_.size());
}

void TlsLink::sent() noexcept {
  sending_ = false;
  out_.clear();
  if (!later_.empty()) out_.swap(later_);  // (rare: written while a send was in flight)
}

void TlsLink::send_now(const Socket& s) noexcept {
  if (!sending_ && !out_.empty()) {
    (void)::send(s.fd, out_.data(), out_.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  }
  out_.clear();
}

void TlsLink::done_reading(Socket& s) {
  if (!in_.empty()) {
    kept_.erase(0, kept_pos_);
    kept_pos_ = 0;
    kept_.append(in_);
    in_ = {};
  }
  s.release_buffer();
}

net::awaitable<ErrorInfo> tls_handshake(Ring& ring, Socket& s, TlsLink& tls, const OpScope& op) {
  for (;;) {
    ERR_clear_error();
    const int r = SSL_do_handshake(tls.ssl());
    const int err = r == 1 ? SSL_ERROR_NONE : SSL_get_error(tls.ssl(), r);
    tls.done_reading(s);  // what the handshake did not consume (a first record) is kept
    if (r == 1) {
      ++ring.stats.tls_handshakes;
      co_return ErrorInfo{};
    }
    if (err != SSL_ERROR_WANT_READ) {
      // As Asio's stream: the alert OpenSSL wrote goes out, then the reason (verification
      // first) or the timeout.
      const auto reason = ERR_peek_error();
      tls.send_now(s);
      if (op.expired()) co_return op.timed_out();
      co_return tls_handshake_error(tls.ssl(), reason);
    }
    // Every byte received was consumed: send this flight and read the next one together.
    const bool wrote = tls.has_output();
    if (wrote) tls.send(ring, s);
    ring.receive(s, Ring::kBufferSize, /*poll_first=*/wrote);
    while (s.receiving && !s.send_error) co_await s.wait();
    if (s.send_error) co_return op.error(error_of(s.send_error), "TLS handshake failed");
    if (s.recv_res <= 0) co_return op.error(error_of(s.recv_res), "TLS handshake failed");
    if (wrote) {
      if (s.sending) {
        s.wake_on_send = true;
        while (s.sending) co_await s.wait();
      }
      if (s.send_error) co_return op.error(error_of(s.send_error), "TLS handshake failed");
      tls.sent();
    }
    tls.take_input(s);
  }
}

}  // namespace ld::proto::uring
