// Registration of this folder's user type (called from the generated protocol list). The HTTP/2
// user runs its tasks here with "http3": true, so http2 registers first.
#include "http2/http2.hpp"
#include "http3/http3.hpp"

void ld_register_http3(ld::engine::ProtocolRegistry& registry) {
  auto http3 = ld::proto::http3::make_protocol();
  registry.add(http3);
  if (auto http2 = registry.find_shared("async_http_user")) {
    ld::proto::http2::set_http3(*http2, http3);
  }
}
