#pragma once
// WebSocket user template: websocket_user (ws:// and wss://).
#include <memory>

#include "action/registry.hpp"
#include "core/json_util.hpp"
#include "loaddensity/protocol/protocol.hpp"
#include "params/resolver.hpp"

namespace ld::proto::websocket {

std::shared_ptr<engine::Protocol> make_protocol();

}  // namespace ld::proto::websocket
