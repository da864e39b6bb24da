// Registration of this folder's user types (called from the generated protocol list).
#include "websocket/websocket.hpp"

void ld_register_websocket(ld::engine::ProtocolRegistry& registry) {
  registry.add(ld::proto::websocket::make_protocol());
}
