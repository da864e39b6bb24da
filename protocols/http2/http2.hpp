#pragma once
// HTTP/2 user template: async_http_user (also accepted as http2_user). nghttp2 frames, Asio does
// the I/O: h2 over TLS (ALPN "h2") for https URLs, h2c with prior knowledge for http URLs, one
// connection per user and origin carrying up to `max_streams` concurrent requests.
#include <memory>

#include "action/registry.hpp"
#include "core/json_util.hpp"
#include "loaddensity/protocol/protocol.hpp"
#include "params/resolver.hpp"

namespace ld::proto::http2 {

// `http1` serves the tasks when LD_start_test says "http2": false (HTTP/1.1, as the original's
// httpx client did with http2=False); may be null, then "http2": false is a configuration error.
std::shared_ptr<engine::Protocol> make_protocol(std::shared_ptr<engine::Protocol> http1);

// Lets the HTTP/2 user run its tasks on `http3` when LD_start_test says "http3": true (called by
// protocols/http3's registration; without it "http3": true is a configuration error).
void set_http3(engine::Protocol& http2, std::shared_ptr<engine::Protocol> http3);

}  // namespace ld::proto::http2
