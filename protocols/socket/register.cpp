// Registration of this folder's user types (called from the generated protocol list).
#include "socket/socket.hpp"

void ld_register_socket(ld::engine::ProtocolRegistry& registry) {
  registry.add(ld::proto::socket::make_protocol());
}
