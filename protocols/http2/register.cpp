// Registration of this folder's user types (called from the generated protocol list). HTTP/2
// users fall back to the HTTP/1.1 client with `"http2": false`, so http1 registers first.
#include "http2/http2.hpp"

void ld_register_http2(ld::engine::ProtocolRegistry& registry) {
  registry.add(ld::proto::http2::make_protocol(registry.find_shared("fast_http_user")));
}
