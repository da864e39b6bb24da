#pragma once
// Raw TCP and UDP user template: socket_user.
#include <memory>

#include "engine/protocol.hpp"

namespace ld::proto::socket {

std::shared_ptr<engine::Protocol> make_protocol();

}  // namespace ld::proto::socket
