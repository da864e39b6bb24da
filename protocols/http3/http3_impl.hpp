#pragma once
// Private to protocols/http3: the compiled form of HTTP/3 tasks (the HTTP/2 client's Steps plus
// GnuTLS credentials) and the counters this protocol reports.
#include <gnutls/gnutls.h>

#include <memory>
#include <string>
#include <vector>

#include "http2/http2_impl.hpp"
#include "loaddensity/stats/counters.hpp"

namespace ld::proto::http3 {

// GnuTLS client credentials and priorities for one (verify, CA bundle, client certificate)
// setting, shared by every connection that uses it (read-only once built).
class TlsCreds {
 public:
  TlsCreds(bool verify, const std::string& ca, const std::string& cert, const std::string& key);
  ~TlsCreds();
  TlsCreds(const TlsCreds&) = delete;
  TlsCreds& operator=(const TlsCreds&) = delete;

  gnutls_certificate_credentials_t cred = nullptr;
  gnutls_priority_t priority = nullptr;
  bool verify = true;
};

// One TlsCreds per distinct task `verify`/`cert` setting; a field error when a file is unusable.
class TlsSettings {
 public:
  std::shared_ptr<const TlsCreds> get(const Json& task);

 private:
  std::vector<std::pair<std::string, std::shared_ptr<const TlsCreds>>> by_key_;
};

// The counters of stats/counters.hpp this protocol adds to, registered once.
struct Counters {
  stats::CounterId handshakes, stream_resets, peer_closes, connections_failed, idle_timeouts,
      packets_lost, probe_timeouts;
  static const Counters& get();
};

class Tasks final : public engine::CompiledTasks {
 public:
  std::size_t size() const noexcept override { return base->steps.size(); }
  std::uint32_t name_id(std::size_t i) const noexcept override { return base->steps[i].name_id; }
  Nanos max_timeout() const noexcept override { return base->max_timeout(); }
  std::unique_ptr<engine::UserSession> new_user(engine::WorkerContext& worker) override;

  std::unique_ptr<http2::Tasks> base;                // the requests (http2::Step), auth schemes
  std::vector<std::shared_ptr<const TlsCreds>> tls;  // parallel to base->steps
  std::size_t max_streams = 1;
};

// QUIC idle timeout offered to servers (the connection closes after this long without traffic).
constexpr Nanos kIdleTimeout = 30'000'000'000;

}  // namespace ld::proto::http3
