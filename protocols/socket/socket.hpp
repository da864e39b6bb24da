#pragma once
// Raw TCP and UDP user template: socket_user.
#include <memory>

#include "action/registry.hpp"
#include "core/json_util.hpp"
#include "loaddensity/protocol/protocol.hpp"
#include "params/resolver.hpp"

namespace ld::proto::socket {

std::shared_ptr<engine::Protocol> make_protocol();

}  // namespace ld::proto::socket
