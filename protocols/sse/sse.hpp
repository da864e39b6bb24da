#pragma once
// Server-Sent Events user template: sse_user.
#include <memory>

#include "action/registry.hpp"
#include "core/json_util.hpp"
#include "loaddensity/protocol/protocol.hpp"
#include "params/resolver.hpp"

namespace ld::proto::sse {

std::shared_ptr<engine::Protocol> make_protocol();

}  // namespace ld::proto::sse
