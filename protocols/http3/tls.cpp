// GnuTLS client credentials for QUIC: the task's `verify` (true: the system CA store, false: no
// verification, a string: a CA bundle) and `cert` (a PEM with its key, or [cert, key]), the
// same fields with the same meaning as the HTTP/2 user's. Built once per distinct setting.
#include <gnutls/x509.h>

#include "common/task_fields.hpp"
#include "common/tls_fields.hpp"
#include "http3_impl.hpp"

namespace ld::proto::http3 {

namespace {

// TLS 1.3 only (QUIC), the ciphers and groups ngtcp2's GnuTLS backend supports.
constexpr const char* kPriority =
    "NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305:"
    "+AES-128-CCM:-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1:+GROUP-SECP521R1:"
    "%DISABLE_TLS13_COMPAT_MODE";

}  // namespace

TlsCreds::TlsCreds(bool verify_peer, const std::string& ca, const std::string& cert,
                   const std::string& key)
    : verify(verify_peer) {
  if (gnutls_certificate_allocate_credentials(&cred) != GNUTLS_E_SUCCESS) {
    throw std::runtime_error("GnuTLS: cannot allocate credentials");
  }
  const char* err_pos = nullptr;
  if (gnutls_priority_init(&priority, kPriority, &err_pos) != GNUTLS_E_SUCCESS) {
    gnutls_certificate_free_credentials(cred);
    throw std::runtime_error("GnuTLS: bad priority string");
  }
  if (verify) {
    const int n =
        ca.empty() ? gnutls_certificate_set_x509_system_trust(cred)
                   : gnutls_certificate_set_x509_trust_file(cred, ca.c_str(), GNUTLS_X509_FMT_PEM);
    if (!ca.empty() && n <= 0) {
      const std::string why = n < 0 ? gnutls_strerror(n) : "no certificate in it";
      gnutls_priority_deinit(priority);
      gnutls_certificate_free_credentials(cred);
      field_error("verify", "cannot load CA bundle '" + ca + "': " + why);
    }
  }
  if (!cert.empty()) {
    const int r =
        gnutls_certificate_set_x509_key_file(cred, cert.c_str(), key.c_str(), GNUTLS_X509_FMT_PEM);
    if (r < 0) {
      gnutls_priority_deinit(priority);
      gnutls_certificate_free_credentials(cred);
      field_error("cert", "cannot load client certificate '" + cert + "': " + gnutls_strerror(r));
    }
  }
}

TlsCreds::~TlsCreds() {
  if (priority) gnutls_priority_deinit(priority);
  if (cred) gnutls_certificate_free_credentials(cred);
}

std::shared_ptr<const TlsCreds> TlsSettings::get(const Json& task) {
  const auto [verify, ca, cert, key] = tls_fields(task);
  const std::string k = (verify ? "1|" : "0|") + ca + "|" + cert + "|" + key;
  for (auto& [have, c] : by_key_) {
    if (have == k) return c;
  }
  auto c = std::make_shared<const TlsCreds>(verify, ca, cert, key);
  by_key_.emplace_back(k, c);
  return c;
}

}  // namespace ld::proto::http3
