#pragma once
// HTTP/3 user template: http3_user (and async_http_user with "http3": true). QUIC by ngtcp2 with
// GnuTLS, HTTP/3 by nghttp3, on a non-blocking UDP socket of the worker's io_context: one
// connection per user and origin carrying up to `max_streams` concurrent requests.
#include <memory>

#include "loaddensity/protocol/protocol.hpp"

namespace ld::proto::http3 {

std::shared_ptr<engine::Protocol> make_protocol();

}  // namespace ld::proto::http3
