#pragma once
// TLS on a ring socket (https on the io_uring path). OpenSSL runs over a BIO of our own instead
// of a descriptor: its reads take ciphertext straight from the provided buffer the ring read
// into (no copy, no read buffer on the connection), and its writes append to the connection's
// output, which the ring sends together with the read of the answer. The handshake, SNI,
// certificate checks and client certificates are OpenSSL's, set up as on the Asio TLS stream
// (prepare_tls_client, SSL_MODE_RELEASE_BUFFERS), and failures come back as the same
// ErrorInfo: tls for handshake and verification failures, reset for a peer that closed, the
// operation's timeout when the deadline sweeper cut the socket.
#include <utility>  // before Asio (Boost 1.74 trap)

#include <openssl/ssl.h>

#include <boost/asio/awaitable.hpp>
#include <boost/system/error_code.hpp>
#include <cstddef>
#include <string>
#include <string_view>

#include "common/op_scope.hpp"
#include "common/uring/ring.hpp"

namespace ld::proto::uring {

class TlsLink {
 public:
  // A client connection to `host` (SNI, name checks) with the settings of `ctx`.
  TlsLink(SSL_CTX* ctx, const std::string& host);
  ~TlsLink();
  TlsLink(const TlsLink&) = delete;
  TlsLink& operator=(const TlsLink&) = delete;

  SSL* ssl() const noexcept { return ssl_; }

  // Encrypts [p, p + n) into the output. False (and `ec`) when OpenSSL refuses.
  bool write(const char* p, std::size_t n, boost::system::error_code& ec);
  // Decrypts into [buf, buf + cap): bytes (> 0), or 0 with `ec` clear when it needs more
  // ciphertext, or 0 with `ec` = eof (close_notify) or OpenSSL's error.
  std::size_t read(char* buf, std::size_t cap, boost::system::error_code& ec);

  // Ciphertext waiting to be sent.
  bool has_output() const noexcept { return !out_.empty(); }
  // Queues the send of the output on `s`; until sent(), OpenSSL's writes wait behind it.
  void send(Ring& ring, Socket& s);
  // The send finished: its bytes are gone.
  void sent() noexcept;
  // Sends the output now without waiting (an alert before a failed connection is dropped).
  void send_now(const Socket& s) noexcept;

  // Offers the bytes of s's last read to OpenSSL.
  void take_input(Socket& s) noexcept { in_ = s.data(); }
  // Hands s's read buffer back to the ring; bytes OpenSSL has not consumed are kept for the
  // next read (a copy, only when a record straddles the end of a response).
  void done_reading(Socket& s);
  // Ciphertext received and not consumed yet.
  bool has_input() const noexcept { return !in_.empty() || kept_pos_ < kept_.size(); }

 private:
  static int bio_read(BIO* b, char* out, std::size_t len, std::size_t* got);
  static int bio_write(BIO* b, const char* in, std::size_t len, std::size_t* put);

  SSL* ssl_ = nullptr;
  std::string_view in_;  // the ring buffer's bytes, while its read is being decrypted
  std::string kept_;     // bytes kept from an earlier read (before in_ in the stream)
  std::size_t kept_pos_ = 0;
  std::string out_;    // ciphertext to send
  std::string later_;  // written while out_ was being sent
  bool sending_ = false;
};

// The client handshake on `s` (connected, adopted by `ring`). The last flight (the client's
// Finished with TLS 1.3) may stay in the output, to go out with the first request.
boost::asio::awaitable<stats::ErrorInfo> tls_handshake(Ring& ring, Socket& s, TlsLink& tls,
                                                       const OpScope& op);

}  // namespace ld::proto::uring
