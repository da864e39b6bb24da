#pragma once
// WebSocket user template: websocket_user (ws:// and wss://).
#include <memory>

#include "engine/protocol.hpp"

namespace ld::proto::websocket {

std::shared_ptr<engine::Protocol> make_protocol();

}  // namespace ld::proto::websocket
