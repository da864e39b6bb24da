#pragma once
// Redis user template: redis_user (RESP2 over TCP on the worker's io_context).
#include <memory>

#include "loaddensity/protocol/protocol.hpp"

namespace ld::proto::redis {

std::shared_ptr<engine::Protocol> make_protocol();

}  // namespace ld::proto::redis
